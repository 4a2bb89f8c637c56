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
from .mesh import MeshModel
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


def pods_to_recompute(old: MeshModel | None, new: MeshModel) -> set[str] | None:
    """uids of the pods whose proxy config the change from `old` to `new` can touch; None = all."""
    if old is None or not same_topology(old, new):
        return None
    changed = {kind for kind in set(old.policies) | set(new.policies) if old.of_kind(kind) != new.of_kind(kind)}
    if changed - SCOPED_KINDS:
        return None
    if "PeerAuthentication" in changed:
        if any(inferred_service_mode(old, ns) != inferred_service_mode(new, ns) for ns in new.namespaces):
            return None
        if any(_disabled(old, pod) != _disabled(new, pod) for pod in new.pods if pod.sidecar):
            return None
    out: set[str] = set()
    for pod in new.pods:
        if "AuthorizationPolicy" in changed and policies_for(old, pod) != policies_for(new, pod):
            out.add(pod.uid)
        if changed & GATEWAY_KINDS and pod.is_gateway:
            out.add(pod.uid)
        if "PeerAuthentication" in changed and effective_mtls(old, pod) != effective_mtls(new, pod):
            out.add(pod.uid)
    return out
