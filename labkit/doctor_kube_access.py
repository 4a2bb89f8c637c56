"""Two of `labkit doctor --backend kube`'s checks: native sidecars, and the learner's permissions.

- native sidecars: Istio's auto detection (labkit/model/injection.py) over the nodes' kubelet versions says
  which shape injected pods get; a pod already injected in the lab's namespaces must have that shape
  (otherwise ENABLE_NATIVE_SIDECARS was set by hand, or the pod predates a node upgrade: restart it).
- permissions: one SelfSubjectAccessReview per thing the labs do (`kubectl auth can-i`), in the lab's
  namespace as the workshop prefix maps it, and the read-only look at istio-system; what is missing is
  listed with the RBAC to ask for (deploy/workshop-rbac.yaml).
"""
from __future__ import annotations

import json
from typing import Any

from .backends.kube_prefix import NamespaceMap
from .constants import PROXY_CONTAINER, ROOT_NAMESPACE
from .model.injection import NATIVE_SIDECAR_MIN_KUBELET, native_sidecars_detected

# (verb, group, resource, subresource, in the lab's namespace?) the labs need; the others are in istio-system.
LAB_PERMISSIONS = (
    ("create", "apps", "deployments", "", True), ("patch", "apps", "deployments", "", True),
    ("delete", "apps", "deployments", "", True), ("list", "", "pods", "", True),
    ("create", "", "pods", "exec", True), ("get", "", "pods", "log", True),
    ("create", "", "services", "", True), ("create", "", "secrets", "", True),
    ("patch", "", "namespaces", "", True),
    ("create", "security.istio.io", "peerauthentications", "", True),
    ("create", "security.istio.io", "authorizationpolicies", "", True),
    ("create", "networking.istio.io", "destinationrules", "", True),
    ("create", "networking.istio.io", "virtualservices", "", True),
    ("create", "networking.istio.io", "gateways", "", True),
    ("get", "", "services", "", False),
)
RBAC_FIX = ("ask the cluster admin for the learner role: `kubectl apply -f deploy/workshop-rbac.yaml` and "
            "`labkit workshop-rbac <you> | kubectl apply -f -` (docs/kubernetes.md, Workshops)")


def line(check: str, ok: bool, detail: str, fix: str | None = None) -> dict:
    return {"check": check, "ok": ok, "detail": detail, "fix": None if ok else fix}


def _body(resp: Any) -> Any:
    data = resp.data if hasattr(resp, "data") else resp
    return json.loads(data) if isinstance(data, (bytes, str)) else data


def lab_namespace(prefix: str | None) -> str:
    """The namespace the check asks about: the labs' `foo`, under the workshop prefix if any."""
    return NamespaceMap(prefix).ns("foo")


def native_sidecar_check(k8s, api, prefix: str | None) -> dict:
    name = "native sidecars"
    try:
        nodes = _body(k8s.CoreV1Api(api).list_node(_preload_content=False, _request_timeout=10)).get("items") or []
    except Exception as exc:  # noqa: BLE001 - e.g. Forbidden: the learner may not read nodes
        return line(name, False, f"cannot read the nodes' kubelet versions ({getattr(exc, 'status', exc)})",
                    "your account needs `get`/`list` on nodes (deploy/workshop-rbac.yaml grants it)")
    kubelets = [((n.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", "") for n in nodes]
    native = native_sidecars_detected(kubelets)
    expected = ("istio-proxy is injected as a native sidecar (an init container with restartPolicy Always)"
                if native else "istio-proxy is injected as a regular container (classic sidecar)")
    detail = f"kubelet {', '.join(sorted(set(kubelets))) or '?'}: {expected}"
    mismatched = []
    try:
        pods = _body(k8s.CoreV1Api(api).list_namespaced_pod(
            NamespaceMap(prefix).ns("foo"), _preload_content=False, _request_timeout=10)).get("items") or []
    except Exception:  # noqa: BLE001 - no pods to compare with yet
        pods = []
    for pod in pods:
        spec = pod.get("spec") or {}
        as_init = any(c.get("name") == PROXY_CONTAINER and c.get("restartPolicy") == "Always"
                      for c in spec.get("initContainers") or [])
        as_container = any(c.get("name") == PROXY_CONTAINER for c in spec.get("containers") or [])
        if (as_init or as_container) and as_init != native:
            mismatched.append((pod.get("metadata") or {}).get("name", "?"))
    if mismatched:
        return line(name, False, f"{detail}, but {', '.join(mismatched)} " +
                    ("has a classic sidecar" if native else "has a native sidecar"),
                    "restart the workload (`kubectl rollout restart deploy/NAME`); if it stays so, istiod's "
                    "ENABLE_NATIVE_SIDECARS is set explicitly (the labs work with both shapes)")
    note = "" if native else f" (native sidecars need every kubelet >= 1.{NATIVE_SIDECAR_MIN_KUBELET})"
    return line(name, True, detail + note)


def permission_check(k8s, api, prefix: str | None) -> dict:
    """SelfSubjectAccessReview for each thing the labs do."""
    namespace = lab_namespace(prefix)
    missing: list[str] = []
    for verb, group, resource, sub, in_lab in LAB_PERMISSIONS:
        where = namespace if in_lab else ROOT_NAMESPACE
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": {"namespace": where, "verb": verb, "group": group,
                                                "resource": resource, "subresource": sub,
                                                **({"name": where} if resource == "namespaces" else {})}}}
        try:
            answer = k8s.AuthorizationV1Api(api).create_self_subject_access_review(body, _request_timeout=10)
            allowed = bool(answer.status.allowed)
        except Exception as exc:  # noqa: BLE001
            return line("permissions", False, f"cannot ask the API what you may do ({getattr(exc, 'status', exc)})",
                        RBAC_FIX)
        if not allowed:
            what = f"{resource}/{sub}" if sub else resource
            missing.append(f"{verb} {what}{'.' + group if group else ''} in {where}")
    if missing:
        return line("permissions", False, "missing: " + "; ".join(missing), RBAC_FIX)
    return line("permissions", True, f"everything the labs do in {namespace} (and reading {ROOT_NAMESPACE})")
