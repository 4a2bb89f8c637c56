"""The deployment controller and the sidecar injector, as pure functions over stored objects.

Injection happens only when a pod is created (Istio's mutating webhook), so labelling a namespace
changes nothing for running pods until a restart replaces them; that is what lab 01 shows.
"""
from __future__ import annotations

import copy
import hashlib
import json
import secrets as random_names

from ..constants import PROXY_CONTAINER
from .addressing import MAX_POD_INDEX
from ..errors import LabkitError

PROXY_IMAGE = "docker.io/istio/proxyv2:1.28.0"
DEPLOYMENT_LABEL = "labkit.io/deployment"
HASH_LABEL = "pod-template-hash"


def template_hash(deployment: dict) -> str:
    template = deployment["spec"]["template"]
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


def wants_sidecar(namespace_labels: dict, pod_labels: dict, pod_annotations: dict) -> bool:
    """Istio's injection decision for a new pod (namespace label, then pod label/annotation)."""
    pod_choice = pod_labels.get("sidecar.istio.io/inject", pod_annotations.get("sidecar.istio.io/inject"))
    ns_choice = namespace_labels.get("istio-injection")
    if ns_choice == "disabled":
        return False
    if pod_choice is not None and str(pod_choice).lower() == "false":
        return False
    if ns_choice == "enabled" or "istio.io/rev" in namespace_labels:
        return True
    return pod_choice is not None and str(pod_choice).lower() == "true"


def _make_pod(deployment: dict, namespace_labels: dict, index: int, thash: str) -> dict:
    meta = deployment["metadata"]
    template = copy.deepcopy(deployment["spec"]["template"])
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    annotations = dict((template.get("metadata") or {}).get("annotations") or {})
    labels[DEPLOYMENT_LABEL] = meta["name"]
    labels[HASH_LABEL] = thash
    spec = template.get("spec") or {}
    if not any(c.get("image", "").find("istio/proxyv2") >= 0 for c in spec.get("containers", [])) \
            and wants_sidecar(namespace_labels, labels, annotations):
        spec.setdefault("containers", []).append({"name": PROXY_CONTAINER, "image": PROXY_IMAGE})
        labels["security.istio.io/tlsMode"] = "istio"
        labels.setdefault("service.istio.io/canonical-name", labels.get("app", meta["name"]))
        annotations["sidecar.istio.io/status"] = f'{{"containers":["{PROXY_CONTAINER}"]}}'
    name = f"{meta['name']}-{thash[:9]}-{random_names.token_hex(3)[:5]}"
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": meta["namespace"], "labels": labels,
                         "annotations": annotations},
            "spec": spec, "status": {"index": index}}


def reconcile_pods(objects: list[dict]) -> tuple[list[dict], list[tuple[str, str, str]]]:
    """Pods to create and pod keys to delete so each Deployment runs `replicas` current pods."""
    namespaces = {o["metadata"]["name"]: o["metadata"].get("labels") or {} for o in objects
                  if o["kind"] == "Namespace"}
    deployments = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects
                   if o["kind"] == "Deployment"}
    pods = [o for o in objects if o["kind"] == "Pod"]
    used = {int(p.get("status", {}).get("index", 0)) for p in pods}
    create: list[dict] = []
    delete: list[tuple[str, str, str]] = []
    for pod in pods:
        owner = (pod["metadata"]["namespace"], pod["metadata"]["labels"].get(DEPLOYMENT_LABEL))
        deployment = deployments.get(owner)
        if deployment is None or pod["metadata"]["labels"].get(HASH_LABEL) != template_hash(deployment):
            delete.append(("Pod", pod["metadata"]["namespace"], pod["metadata"]["name"]))
    doomed = {key[2] for key in delete}
    for (namespace, name), deployment in sorted(deployments.items()):
        thash = template_hash(deployment)
        current = [p for p in pods if p["metadata"]["name"] not in doomed
                   and p["metadata"]["namespace"] == namespace
                   and p["metadata"]["labels"].get(DEPLOYMENT_LABEL) == name]
        replicas = deployment["spec"].get("replicas", 1)
        for extra in current[replicas:]:
            delete.append(("Pod", namespace, extra["metadata"]["name"]))
        for _ in range(replicas - len(current)):
            index = next((i for i in range(2, MAX_POD_INDEX + 1) if i not in used), None)
            if index is None:
                raise LabkitError(f"the local mesh holds at most {MAX_POD_INDEX - 1} pods", kind="Deployment",
                                  name=name, namespace=namespace)
            used.add(index)
            create.append(_make_pod(deployment, namespaces.get(namespace, {}), index, thash))
    return create, delete
