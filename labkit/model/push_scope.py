"""Which proxies a change concerns: istiod's push scoping (pilot/pkg/xds/proxy_dependencies.go
ProxyNeedsPush), kept conservative.

An AuthorizationPolicy reaches only the workloads it selects (its namespace, or every namespace from
the root namespace); a Gateway only the gateway proxies; a PeerAuthentication the workloads whose
effective mode it changes, and every client only when what clients see changes (a namespace/mesh
level mode, or DISABLE on some endpoint: auto mTLS, destrule.client_tls and endpoint_wants_mtls).
Anything else (Services, endpoints, pods, DestinationRule, VirtualService, Secrets) may change any
proxy's config, so every proxy is recomputed; each config is pushed only if it really changed.
"""
from __future__ import annotations

from .authz import policies_for
from .kinds import K8S_GATEWAY
from .mesh import ROOT_NAMESPACE, MeshModel, workload_selector
from .peerauth import DISABLE, effective_mtls, inferred_service_mode

# Istio's Gateway and the Gateway API's kinds reach only gateway proxies: istiod turns Gateway API objects into
# internal Gateways and VirtualServices bound to those gateways alone (model/gatewayapi.py), so a route change,
# or the status istiod writes back, never changes a sidecar's config.
GATEWAY_KINDS = {"Gateway", "GatewayClass", K8S_GATEWAY, "HTTPRoute", "TLSRoute", "TCPRoute", "ReferenceGrant"}
SCOPED_KINDS = {"AuthorizationPolicy", "PeerAuthentication"} | GATEWAY_KINDS


def same_topology(old: MeshModel | None, new: MeshModel) -> bool:
    """Same namespaces, pods, services, ServiceEntries (their hosts are names pods resolve) and secrets: pod
    networks and mounted secrets stay as they are."""
    return old is not None and old.subnet == new.subnet and old.namespaces == new.namespaces \
        and old.pods == new.pods and old.services == new.services and old.secrets == new.secrets \
        and old.of_kind("ServiceEntry") == new.of_kind("ServiceEntry")


def _disabled(model: MeshModel, pod) -> tuple:
    """What a client's cluster sees of this endpoint's PeerAuthentication: DISABLE or not, per port."""
    mtls = effective_mtls(model, pod)
    return mtls.mode == DISABLE, tuple(sorted((port, mode == DISABLE) for port, mode in mtls.port_modes.items()))


def _changed(old: MeshModel, new: MeshModel, kind: str) -> list[dict]:
    """The objects of `kind` added, removed or changed between the models (both versions of a changed one)."""
    def by_key(model: MeshModel) -> dict:
        return {(o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in model.of_kind(kind)}
    before, after = by_key(old), by_key(new)
    out: list[dict] = []
    for key in set(before) | set(after):
        if before.get(key) != after.get(key):
            out.extend(o for o in (before.get(key), after.get(key)) if o is not None)
    return out


def _candidates(model: MeshModel, changed: list[dict], *, by_selector: bool) -> list:
    """The pods a change of these namespaced policies can reach: everything from the root namespace, else the
    pods of each policy's namespace (only those its selector matches when `by_selector`: a workload-level
    PeerAuthentication applies to the pods it selects and no other). Found through the model's index of
    pods by namespace, so a change in one namespace is not weighed against every pod of the mesh."""
    if any(o["metadata"]["namespace"] == ROOT_NAMESPACE for o in changed):
        return list(model.pods)
    out: dict[str, object] = {}
    for policy in changed:
        selector = workload_selector(policy) if by_selector else {}
        for pod in model.pods_in(policy["metadata"]["namespace"]):
            if pod.matches(selector):
                out[pod.uid] = pod
    return list(out.values())


def pods_to_recompute(old: MeshModel | None, new: MeshModel) -> set[str] | None:
    """uids of the pods whose proxy config the change from `old` to `new` can touch; None = all.

    Proportional to what changed: only the pods the changed policies can reach are weighed (a workload's
    PeerAuthentication weighs that workload's pods, not the mesh's)."""
    if old is None or not same_topology(old, new):
        return None
    changed = {kind for kind in set(old.policies) | set(new.policies) if old.of_kind(kind) != new.of_kind(kind)}
    if changed - SCOPED_KINDS:
        return None
    out: set[str] = set()
    if "PeerAuthentication" in changed:
        peer = _changed(old, new, "PeerAuthentication")
        namespaces = {o["metadata"]["namespace"] for o in peer}
        if ROOT_NAMESPACE in namespaces:
            namespaces = set(new.namespaces)
        if any(inferred_service_mode(old, ns) != inferred_service_mode(new, ns) for ns in namespaces):
            return None
        reached = _candidates(new, peer, by_selector=True)
        if any(_disabled(old, pod) != _disabled(new, pod) for pod in reached if pod.sidecar):
            return None
        out |= {pod.uid for pod in reached if effective_mtls(old, pod) != effective_mtls(new, pod)}
    if "AuthorizationPolicy" in changed:
        # targetRefs may name a Gateway rather than select labels: weigh the whole namespace.
        reached = _candidates(new, _changed(old, new, "AuthorizationPolicy"), by_selector=False)
        out |= {pod.uid for pod in reached if policies_for(old, pod) != policies_for(new, pod)}
    if changed & GATEWAY_KINDS:
        out |= {pod.uid for pod in new.pods if pod.is_gateway}
    return out


def keep_client_view(old: MeshModel, new: MeshModel) -> None:
    """For a change pods_to_recompute scoped (not None): what clients see of every service (its endpoints,
    DestinationRules, the mTLS its endpoints take) is as before, so the new model reuses the old one's
    translations of it. The untouched parts of a pushed proxy are then neither derived nor encoded again
    (the encoder recognises them by identity), which made a one-workload change cost in proportion to the
    mesh's services."""
    new.client_view = old.client_view
