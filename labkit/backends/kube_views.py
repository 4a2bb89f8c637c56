"""Pure helpers that read Pod/Deployment dicts the way kubectl shows them (READY, STATUS, RESTARTS)."""
from __future__ import annotations

from typing import Any

from ..constants import PROXY_CONTAINER

SIDECAR = PROXY_CONTAINER
POD_COLUMNS = ["namespace", "pod", "ready", "sidecar", "status", "restarts", "ip"]


def _native_sidecars(spec: dict) -> list[dict]:
    """Init containers with restartPolicy Always (Kubernetes native sidecars) run for the pod's life."""
    return [c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]


def has_sidecar(pod: dict) -> bool:
    """The pod has Istio's proxy: a container or a (native sidecar) init container named istio-proxy."""
    spec = pod.get("spec") or {}
    names = [c.get("name") for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])]
    return SIDECAR in names


def default_container(pod: dict) -> str | None:
    """The first container that is not the Istio sidecar (what `kubectl exec` would pick)."""
    containers = (pod.get("spec") or {}).get("containers") or []
    for c in containers:
        if c.get("name") != SIDECAR:
            return c.get("name")
    return containers[0].get("name") if containers else None


def ready_counts(pod: dict) -> tuple[int, int]:
    """(ready, total) containers, native sidecars included, as kubectl's READY column."""
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    names = [c.get("name") for c in spec.get("containers") or []]
    sidecars = [c.get("name") for c in _native_sidecars(spec)]
    ready = sum(1 for s in status.get("containerStatuses") or [] if s.get("ready") and s.get("name") in names)
    ready += sum(1 for s in status.get("initContainerStatuses") or []
                 if s.get("ready") and s.get("name") in sidecars)
    return ready, len(names) + len(sidecars)


def restarts(pod: dict) -> int:
    status = pod.get("status") or {}
    sidecars = {c.get("name") for c in _native_sidecars(pod.get("spec") or {})}
    total = sum(int(s.get("restartCount") or 0) for s in status.get("containerStatuses") or [])
    total += sum(int(s.get("restartCount") or 0) for s in status.get("initContainerStatuses") or []
                 if s.get("name") in sidecars)
    return total


def pod_status(pod: dict) -> str:
    """kubectl's STATUS column, simplified: Terminating, Init:x/y, a waiting reason, or the phase."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    spec = pod.get("spec") or {}
    if meta.get("deletionTimestamp"):
        return "Terminating"
    reason = status.get("reason") or status.get("phase") or "Unknown"
    sidecars = {c.get("name") for c in _native_sidecars(spec)}
    inits = spec.get("initContainers") or []
    regular_inits = [c for c in inits if c.get("name") not in sidecars]
    for i, st in enumerate(s for s in status.get("initContainerStatuses") or [] if s.get("name") not in sidecars):
        state = st.get("state") or {}
        term = state.get("terminated")
        if term and term.get("exitCode") == 0:
            continue
        if term:
            return f"Init:{term.get('reason') or 'Error'}"
        waiting = state.get("waiting")
        if waiting and waiting.get("reason") and waiting.get("reason") != "PodInitializing":
            return f"Init:{waiting['reason']}"
        return f"Init:{i}/{len(regular_inits)}"
    running = False
    for st in reversed(status.get("containerStatuses") or []):
        state = st.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif (state.get("terminated") or {}).get("reason"):
            reason = state["terminated"]["reason"]
        elif state.get("running"):
            running = True
    if reason == "Completed" and running:
        reason = "Running"
    return reason


def pod_ready(pod: dict) -> bool:
    """Ready condition true and not being deleted."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    ready, total = ready_counts(pod)
    return total > 0 and ready == total and (pod.get("status") or {}).get("phase") == "Running"


def pod_row(pod: dict, namespace: str | None = None) -> dict[str, Any]:
    meta = pod.get("metadata") or {}
    ready, total = ready_counts(pod)
    return {
        "namespace": namespace if namespace is not None else meta.get("namespace"),
        "pod": meta.get("name"),
        "ready": f"{ready}/{total}",
        "sidecar": has_sidecar(pod),
        "status": pod_status(pod),
        "restarts": restarts(pod),
        "ip": (pod.get("status") or {}).get("podIP") or "",
    }


def rollout_state(deployment: dict) -> tuple[bool, str]:
    """(done, why not) like `kubectl rollout status deployment/NAME`."""
    meta = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    name = meta.get("name")
    want = spec.get("replicas", 1)
    if want is None:
        want = 1
    if int(status.get("observedGeneration") or 0) < int(meta.get("generation") or 0):
        return False, f"deployment {name}: waiting for the controller to see the new spec"
    updated = int(status.get("updatedReplicas") or 0)
    replicas = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    if updated < want:
        return False, f"deployment {name}: {updated} of {want} new replicas updated"
    if replicas > updated:
        return False, f"deployment {name}: {replicas - updated} old replicas pending termination"
    if available < updated:
        return False, f"deployment {name}: {available} of {updated} updated replicas available"
    return True, ""


def selector_string(selector: dict | None) -> str:
    """A LabelSelector (matchLabels and matchExpressions) as a label selector query string."""
    if not selector:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)
