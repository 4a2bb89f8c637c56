"""Which VirtualServices apply where: to sidecars ("mesh") or to named gateways (istio-semantics §4–5)."""
from __future__ import annotations

from dataclasses import dataclass

from . import fqdn
from .gatewayapi import internal_virtual_services
from .hostmatch import exported_to, host_matches, route_destinations
from .mesh import MeshModel, Service

MESH = "mesh"


def _gateway_key(name: str, namespace: str) -> str:
    return name if name == MESH or "/" in name else f"{namespace}/{name}"


def vs_gateways(vs: dict) -> list[str]:
    """`ns/name` for each gateway, or "mesh"; the default is mesh only; bare names are the VS's namespace."""
    namespace = vs["metadata"]["namespace"]
    gateways = (vs.get("spec") or {}).get("gateways") or [MESH]
    return [_gateway_key(g, namespace) for g in gateways]


def resolve_host(host: str, namespace: str) -> str:
    """A VS or destination host as an FQDN where it names a service (short names → the VS namespace)."""
    # istiod's ResolveShortnameToFQDN (model/fqdn.py): only dotless names are completed.
    return fqdn.resolve(host, namespace)


def destination_hosts(vs: dict) -> list[tuple[str, int | None]]:
    """(FQDN, port or None) of each route destination of a VirtualService, short names resolved."""
    namespace = vs["metadata"]["namespace"]
    return [(resolve_host(d["host"], namespace), (d.get("port") or {}).get("number"))
            for _, _, _, d in route_destinations(vs) if d.get("host")]


def mesh_virtual_services(model: MeshModel, client_namespace: str, service: Service) -> list[dict]:
    """VirtualServices bound to `mesh` that take over traffic to `service` for this client namespace."""
    out = []
    for vs in model.of_kind("VirtualService"):
        if MESH not in vs_gateways(vs) or not exported_to(vs, client_namespace):
            continue
        hosts = [resolve_host(h, vs["metadata"]["namespace"]) for h in (vs.get("spec") or {}).get("hosts") or []]
        if any(host_matches(h, service.fqdn) for h in hosts):
            out.append(vs)
    return out


def gateway_virtual_services(model: MeshModel, gateway: str, proxy_namespace: str) -> list[dict]:
    """VirtualServices naming `gateway` ("ns/name") and exported to the gateway proxy's namespace, with those
    istiod converted from Gateway API routes (they name only internal Gateways)."""
    return [vs for vs in model.of_kind("VirtualService") + internal_virtual_services(model)
            if gateway in vs_gateways(vs) and exported_to(vs, proxy_namespace)]


# ---- which match conditions apply to one proxy -----------------------------------------------------

@dataclass(frozen=True)
class RouteContext:
    """Who is building routes: istiod drops match conditions that cannot apply to this proxy and port."""
    port: int | None            # the listener's port: the Service port (sidecar) or the server port (gateway)
    gateway: str = MESH         # "mesh" or the gateway's "ns/name"
    labels: dict | None = None  # the proxy's pod labels (None: unknown, sourceLabels not checked)
    namespace: str | None = None


def match_applies(match: dict | None, vs_namespace: str, ctx: RouteContext) -> bool:
    """istiod's port check plus sourceMatchHTTP: `gateways` wins outright, else sourceLabels and sourceNamespace."""
    match = match or {}
    if match.get("port") and ctx.port is not None and match["port"] != ctx.port:
        return False
    if match.get("gateways"):
        return ctx.gateway in [_gateway_key(g, vs_namespace) for g in match["gateways"]]
    labels = match.get("sourceLabels") or {}
    if ctx.labels is not None and any(ctx.labels.get(k) != v for k, v in labels.items()):
        return False
    return not match.get("sourceNamespace") or ctx.namespace is None or match["sourceNamespace"] == ctx.namespace


def applicable_rule(rule: dict, vs_namespace: str, ctx: RouteContext) -> dict | None:
    """The rule with only the match conditions that apply here; None when it had some and none apply."""
    matches = rule.get("match")
    if not matches:
        return rule
    kept = [m for m in matches if match_applies(m, vs_namespace, ctx)]
    if not kept:
        return None
    return rule if len(kept) == len(matches) else {**rule, "match": kept}
