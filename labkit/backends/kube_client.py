"""KubeLab's plumbing: the API client, discovery (which kinds the cluster serves), reads, and
turning API errors into LabkitErrors. Module-level names here are shared by the kube_* modules."""
from __future__ import annotations

import atexit
import contextlib
import datetime as _dt
import json
import os
import tempfile
from typing import Any, Iterator

from ..errors import LabkitError
from .base import AppliedObject
from .kube_istio_version import unserved_version_error
from .kube_prefix import NamespaceMap

FIELD_MANAGER = "labkit"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "labkit"
CREATED_LABEL = "labkit.dev/created"
OWNER_LABEL = "labkit.dev/owner"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
GATEWAY_SERVICE = "istio-system/istio-ingressgateway"
APPLY_CONTENT_TYPE = "application/apply-patch+yaml"

# Kinds down() looks for (by label) besides those applied in this session; namespaces go last.
CLEANUP_KINDS: list[tuple[str, str]] = [
    ("security.istio.io", "AuthorizationPolicy"),
    ("security.istio.io", "PeerAuthentication"),
    ("security.istio.io", "RequestAuthentication"),
    ("networking.istio.io", "VirtualService"),
    ("networking.istio.io", "DestinationRule"),
    ("networking.istio.io", "Gateway"),
    ("networking.istio.io", "ServiceEntry"),
    ("networking.istio.io", "Sidecar"),
    ("telemetry.istio.io", "Telemetry"),
    ("gateway.networking.k8s.io", "HTTPRoute"),
    ("gateway.networking.k8s.io", "Gateway"),
    ("apps", "Deployment"),
    ("apps", "StatefulSet"),
    ("apps", "DaemonSet"),
    ("batch", "Job"),
    ("", "Pod"),
    ("", "Service"),
    ("", "ServiceAccount"),
    ("", "ConfigMap"),
    ("", "Secret"),
    ("rbac.authorization.k8s.io", "RoleBinding"),
    ("rbac.authorization.k8s.io", "Role"),
    ("", "Namespace"),
]

# When a short kind is served by several groups (Gateway!), the first group here wins.
GROUP_PREFERENCE = ["", "apps", "batch", "networking.istio.io", "security.istio.io",
                    "telemetry.istio.io", "gateway.networking.k8s.io"]
WORKLOAD_KINDS = {
    "deployment": "Deployment", "deployments": "Deployment", "deploy": "Deployment",
    "deployment.apps": "Deployment",
    "statefulset": "StatefulSet", "statefulsets": "StatefulSet", "sts": "StatefulSet",
    "daemonset": "DaemonSet", "daemonsets": "DaemonSet", "ds": "DaemonSet",
}
POD_KINDS = {"pod", "pods", "po"}


def truthy(value: str | None) -> bool:
    return str(value or "").strip().lower() in ("1", "true", "yes", "on")


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)


def server_message(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str) and body.strip():
        try:
            data = json.loads(body)
            if isinstance(data, dict) and data.get("message"):
                return str(data["message"])
        except ValueError:
            return body.strip()[:500]
    reason = getattr(exc, "reason", None)
    status = getattr(exc, "status", None)
    return f"{status} {reason}".strip() if (status or reason) else str(exc)


def load_api_client(context: str | None = None, kubeconfig: str | None = None):
    """An ApiClient from kubeconfig (`kubeconfig` file or $KUBECONFIG/~/.kube/config, `context`),
    else the in-cluster service account (labs run in a pod)."""
    from kubernetes import client, config

    try:
        return config.new_client_from_config(config_file=kubeconfig, context=context, persist_config=False)
    except Exception as exc:  # noqa: BLE001 - ConfigException, missing file, broken YAML
        first = exc
    if kubeconfig is None and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        try:
            cfg = client.Configuration()
            config.load_incluster_config(client_configuration=cfg)
            return client.ApiClient(cfg)
        except Exception:  # noqa: BLE001
            pass
    where = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
    raise LabkitError(f"no usable Kubernetes cluster configuration in {where}"
                      + (f" (context {context!r})" if context else "") + f": {first}",
                      hint="create a cluster (e.g. `kind create cluster`) or point KUBECONFIG / "
                           "kubeconfig= and context= at one; `labkit.doctor_kube.kube_doctor()` checks the setup")


def read_body(resp: Any) -> Any:
    """The body of a raw (unpreloaded) urllib3 response; the connection goes back to the pool."""
    if not hasattr(resp, "data"):
        return resp
    data = resp.data
    release = getattr(resp, "release_conn", None)
    if callable(release):
        with contextlib.suppress(Exception):
            release()
    return data


def url_of(scheme: str, host: str, port: int | None) -> str:
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{scheme}://{host}" + (f":{port}" if port else "")


def looks_like_kind(text: str) -> bool:
    """'PeerAuthentication', 'gateway.networking.istio.io', 'pods' — not YAML text or a file path."""
    stripped = text.strip()
    if not stripped or "\n" in stripped or ":" in stripped or " " in stripped:
        return False
    if stripped.endswith((".yaml", ".yml", ".json")) or os.path.exists(stripped):
        return False
    return all(part.replace("-", "").isalnum() for part in stripped.replace("/", ".").split("."))


class KubeApi:
    # Set by KubeLab.__init__; declared here so each part of the class knows them.
    context: str | None
    kubeconfig: str | None
    _own_client: bool
    api_client: Any
    nsmap: NamespaceMap
    allow_mesh_wide: bool
    image_map: dict[str, str]
    gateway_service: str
    poll_interval: float
    core: Any
    _dyn: Any
    _cache_file: str | None
    _all_resources: list | None
    _touched_namespaces: set[str]
    _touched_kinds: dict[tuple[str, str], None]
    _lab_namespaces: set[str]
    _owned_namespaces: set[str] | None
    _ensured_namespaces: set[str]
    cleaned: list[AppliedObject]

    @property
    def namespace_prefix(self) -> str | None:
        return self.nsmap.prefix

    def namespace(self, name: str) -> str:
        """The cluster namespace of a lab namespace (``foo`` → ``alice-foo`` in a workshop)."""
        return self.nsmap.ns(name)

    # ---------------------------------------------------------------- plumbing
    @property
    def dyn(self):
        """The `kubernetes.dynamic.DynamicClient` (discovery is cached in a per-process temp file)."""
        if self._dyn is None:
            from kubernetes.dynamic import DynamicClient

            if self._cache_file is None:
                fd, self._cache_file = tempfile.mkstemp(prefix="labkit-discovery-", suffix=".json")
                os.close(fd)
                os.remove(self._cache_file)
                atexit.register(remove_quietly, self._cache_file)
            with self._errors("connect"):
                self._dyn = DynamicClient(self.api_client, cache_file=self._cache_file)
        return self._dyn

    @contextlib.contextmanager
    def _errors(self, action: str, kind: str | None = None, name: str | None = None,
                namespace: str | None = None) -> Iterator[None]:
        """Turn client/HTTP errors into LabkitError with coordinates as the learner wrote them."""
        from kubernetes.client.exceptions import ApiException

        shown_ns = self.nsmap.unns(namespace) if namespace else namespace
        try:
            yield
        except LabkitError:
            raise
        except ApiException as exc:
            status = getattr(exc, "status", None)
            message = server_message(exc)
            hint = None
            if status == 404:
                hint = "check the name and namespace; lab.get(kind) lists what exists"
            elif status == 403:
                hint = ("your cluster account may not do this (RBAC); in a workshop ask the instructor"
                        if "being terminated" not in message else
                        "the namespace is still being deleted; wait a few seconds and retry")
            elif status == 409:
                hint = "someone else changed the object meanwhile; retry"
            elif status in (400, 422):
                hint = "the API server rejected the resource; fix the field it names"
            elif status == 0 or status is None:
                hint = "the API server could not be reached or refused the stream"
            raise LabkitError(f"{action} failed: {message}", kind=kind, name=name, namespace=shown_ns,
                              hint=hint) from None
        except (OSError, ConnectionError) as exc:
            raise self._unreachable(exc) from None
        except Exception as exc:  # urllib3 MaxRetryError and friends
            if type(exc).__module__.startswith("urllib3"):
                raise self._unreachable(exc) from None
            raise

    def _unreachable(self, exc: Exception) -> LabkitError:
        host = getattr(getattr(self.api_client, "configuration", None), "host", "?")
        return LabkitError(f"cannot reach the Kubernetes API server at {host}: {exc}",
                           hint="is the cluster running? `kubectl cluster-info`; "
                                "`labkit.doctor_kube.kube_doctor()` checks the whole setup")

    def _req(self, method: str, resource, **kwargs) -> dict:
        """A dynamic-client call returning plain JSON (dict)."""
        fn = getattr(self.dyn, method)
        resp = fn(resource, serialize=False, **kwargs)
        data = read_body(resp)
        if isinstance(data, bytes):
            data = data.decode("utf-8")
        if isinstance(data, str):
            return json.loads(data) if data.strip() else {}
        return data or {}

    def _resource(self, api_version: str, kind: str):
        from kubernetes.dynamic.exceptions import ResourceNotFoundError, ResourceNotUniqueError

        group, _, version = str(api_version).rpartition("/")
        try:
            with self._errors("discovery", kind=kind):
                if group:
                    return self.dyn.resources.get(prefix="apis", group=group, api_version=version, kind=kind)
                return self.dyn.resources.get(prefix="api", api_version=version, kind=kind)
        except ResourceNotUniqueError:
            found = [r for r in self._served() if r.kind == kind and r.group_version == api_version]
            if found:
                return found[0]
            raise
        except ResourceNotFoundError:
            if group.endswith("istio.io"):
                served = sorted({r.api_version for r in self._served() if r.group == group and r.kind == kind})
                raise unserved_version_error(api_version, kind, served) from None
            raise LabkitError(f"the cluster does not serve {kind} in {api_version}", kind=kind, field="apiVersion",
                              hint="check apiVersion and kind; `kubectl api-resources` lists what the cluster "
                                   "serves") from None

    def _served(self, refresh: bool = False) -> list:
        """Every resource the cluster serves (lists and subresources excluded)."""
        from kubernetes.dynamic.resource import ResourceList

        if self._all_resources is None or refresh:
            with self._errors("discovery"):
                if refresh:
                    self.dyn.resources.invalidate_cache()
                found = self.dyn.resources.search()
            self._all_resources = [r for r in found if not isinstance(r, ResourceList)
                                   and r.name and "/" not in r.name]
        return self._all_resources

    def resolve_kind(self, text: str):
        """A dynamic Resource for ``Kind``, ``Kind.group``, ``plural``, a short name or ``group/version/Kind``."""
        text = str(text).strip()
        if text.count("/") >= 1:
            api_version, _, kind = text.rpartition("/")
            return self._resource(api_version, kind)
        base, _, group = text.partition(".")
        needle = base.lower()
        for refresh in (False, True):
            cands = []
            for r in self._served(refresh=refresh):
                if group and r.group != group:
                    continue
                names = {str(r.kind).lower(), str(r.name).lower(), str(r.singular_name or "").lower()}
                names.update(s.lower() for s in (r.short_names or []))
                if needle in names:
                    cands.append(r)
            if cands:
                break
        else:
            istio = needle in {"peerauthentication", "authorizationpolicy", "virtualservice",
                               "destinationrule", "gateway", "serviceentry", "sidecar",
                               "requestauthentication"}
            raise LabkitError(f"the cluster serves no kind {text!r}", kind=text,
                              hint="install Istio (kube_doctor() checks it)" if istio
                              else "`kubectl api-resources` lists the kinds the cluster serves")
        preferred = [r for r in cands if r.preferred] or cands
        groups = sorted({r.group for r in preferred},
                        key=lambda g: GROUP_PREFERENCE.index(g) if g in GROUP_PREFERENCE else 99)
        best = [r for r in preferred if r.group == groups[0]]
        if len(groups) > 1 and groups[0] not in GROUP_PREFERENCE:
            raise LabkitError(f"kind {text!r} is served by several API groups: {', '.join(groups)}",
                              kind=text, hint=f"write it as {base}.<group>, e.g. {base}.{groups[0]}")
        return best[0]

    def _is_namespace_kind(self, resource) -> bool:
        return resource.kind == "Namespace" and not resource.group

    def _fetch(self, resource, name: str, namespace: str | None) -> dict | None:
        """GET one object; None when it does not exist."""
        from kubernetes.client.exceptions import ApiException

        try:
            return self._req("get", resource, name=name, namespace=namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            with self._errors("get", kind=resource.kind, name=name, namespace=namespace):
                raise

    def _list(self, resource, namespace: str | None = None, label_selector: str | None = None) -> list[dict]:
        kwargs: dict[str, Any] = {}
        if label_selector:
            kwargs["label_selector"] = label_selector
        from kubernetes.client.exceptions import ApiException

        with self._errors("list", kind=resource.kind, namespace=namespace):
            try:
                data = self._req("get", resource, namespace=namespace if resource.namespaced else None, **kwargs)
            except ApiException as exc:
                if exc.status != 403 or namespace is not None or not resource.namespaced:
                    raise
                # A namespace-scoped role (a workshop learner) may not list across namespaces: list the
                # lab's own namespaces one by one instead.
                data = {"items": []}
                for own in sorted(self._own_namespaces()):
                    data["items"] += self._req("get", resource, namespace=own, **kwargs).get("items") or []
        items = data.get("items") or []
        for item in items:
            item.setdefault("apiVersion", resource.group_version)
            item.setdefault("kind", resource.kind)
        return items

    def _own_namespaces(self) -> set[str]:
        """The cluster namespaces this lab works in: written to, or the learner's found on the cluster."""
        lab = self._lab_namespaces | (self._owned_namespaces or set())
        return {self.nsmap.ns(n) for n in lab} | self._touched_namespaces | self._ensured_namespaces

    def _served_groups(self) -> set[str]:
        with self._errors("discovery"):
            data = json.loads(read_body(self.dyn.request("GET", "/apis", serialize=False)))
        return {g.get("name") for g in data.get("groups") or []}

    def _resource_by_group(self, group: str, kind: str):
        with self._errors("discovery", kind=kind):
            if group:
                found = self.dyn.resources.search(prefix="apis", group=group, kind=kind)
            else:
                found = self.dyn.resources.search(prefix="api", api_version="v1", kind=kind)
        from kubernetes.dynamic.resource import ResourceList

        found = [r for r in found if not isinstance(r, ResourceList)]
        if not found:
            raise LabkitError(f"{kind}.{group} not served", kind=kind)
        found.sort(key=lambda r: not r.preferred)
        return found[0]
