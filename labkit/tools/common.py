"""Small helpers the tools share: naming workloads and finding a pod as kubectl would."""
from __future__ import annotations

from ..errors import LabkitError
from ..model.mesh import MeshModel, Pod


def workload_name(pod: Pod) -> str:
    """The deployment a pod belongs to; a bare pod (or a cluster pod without labkit's label) by app label or name."""
    return pod.deployment or pod.labels.get("app") or pod.name


def workload_id(pod: Pod) -> str:
    return f"{pod.namespace}/{workload_name(pod)}"


def has_proxy(pod: Pod) -> bool:
    return pod.sidecar or pod.is_gateway


def selector_string(labels: dict | None) -> str:
    """A label selector as Kubernetes prints it (keys sorted): what istioctl puts in its messages."""
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items()))


def find_pod(model: MeshModel, namespace: str, target: str) -> Pod:
    """A pod by name, or the first pod of a deployment (like `kubectl exec deploy/NAME`)."""
    target = target.split("/", 1)[1] if "/" in target else target
    pods = [p for p in model.pods if p.namespace == namespace]
    for pod in pods:
        if pod.name == target:
            return pod
    owned = [p for p in pods if workload_name(p) == target]
    if owned:
        return sorted(owned, key=lambda p: p.name)[0]
    names = ", ".join(sorted({workload_name(p) for p in pods})) or "none"
    raise LabkitError(f'no pod or deployment "{target}" in namespace "{namespace}"', hint=f"workloads there: {names}")


def dump_section(dump: dict, type_name: str) -> dict:
    """One section of an Envoy config_dump by its type, e.g. "RoutesConfigDump" (not ScopedRoutesConfigDump)."""
    return next((c for c in dump.get("configs") or [] if str(c.get("@type", "")).endswith("." + type_name)), {})
