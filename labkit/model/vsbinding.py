"""Which VirtualServices apply where: to sidecars ("mesh") or to named gateways (istio-semantics §4–5)."""
from __future__ import annotations

from .addressing import fqdn
from .mesh import MeshModel, Service

MESH = "mesh"


def vs_gateways(vs: dict) -> list[str]:
    """`ns/name` for each gateway, or "mesh"; the default is mesh only; bare names are the VS's namespace."""
    namespace = vs["metadata"]["namespace"]
    gateways = (vs.get("spec") or {}).get("gateways") or [MESH]
    return [g if g == MESH or "/" in g else f"{namespace}/{g}" for g in gateways]


def _visible(vs: dict, client_namespace: str) -> bool:
    export = (vs.get("spec") or {}).get("exportTo") or ["*"]
    return "*" in export or client_namespace in export or ("." in export and client_namespace == vs["metadata"]["namespace"])


def resolve_host(host: str, namespace: str) -> str:
    """A VS or destination host as an FQDN where it names a service (short names → the VS namespace)."""
    host = host.lower()
    if "*" in host:
        return host
    parts = host.split(".")
    if len(parts) == 1:
        return fqdn(host, namespace)
    if len(parts) == 2:
        return fqdn(parts[0], parts[1])
    if len(parts) == 3 and parts[2] == "svc":
        return fqdn(parts[0], parts[1])
    return host


def host_matches(pattern: str, host: str) -> bool:
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return pattern == host


def mesh_virtual_services(model: MeshModel, client_namespace: str, service: Service) -> list[dict]:
    """VirtualServices bound to `mesh` that take over traffic to `service` for this client namespace."""
    out = []
    for vs in model.of_kind("VirtualService"):
        if MESH not in vs_gateways(vs) or not _visible(vs, client_namespace):
            continue
        hosts = [resolve_host(h, vs["metadata"]["namespace"]) for h in (vs.get("spec") or {}).get("hosts") or []]
        if any(host_matches(h, service.fqdn) for h in hosts):
            out.append(vs)
    return out
