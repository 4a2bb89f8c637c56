"""The ingress gateway's configuration as the edge hints read it: Gateway servers, their hosts and
credentials, and where their routes go. The rules themselves (host matching, which CA a MUTUAL server
trusts) are labkit.model's."""
from __future__ import annotations

from ..constants import GATEWAY_NAMESPACE
from ..model.gateways import CredentialError, ca_credential, credential_cert_pem, gateways_for, server_dns_names
from ..model.hostmatch import host_matches
from ..model.vsbinding import destination_hosts, vs_gateways
from .state import MeshView


def gateway_pods(view: MeshView):
    return [p for p in view.model.pods if p.is_gateway]


def gateway_selector(gateway: dict) -> dict:
    return (gateway.get("spec") or {}).get("selector") or {}


def selects_a_gateway(view: MeshView, gateway: dict) -> bool:
    """Whether some gateway pod runs this Gateway (the model's rule: gateways_for)."""
    return any(gateway in gateways_for(view.model, p) for p in gateway_pods(view))


def server_hosts(server: dict) -> list[str]:
    return server_dns_names(server)


def servers_on(view: MeshView, port: int, host: str | None = None) -> list[tuple[dict, dict]]:
    """(Gateway, server) pairs with a server on Gateway port `port` (whose hosts match `host`)."""
    out = []
    for gateway in view.of_kind("Gateway"):
        for server in (gateway.get("spec") or {}).get("servers") or []:
            if int((server.get("port") or {}).get("number") or 0) != port:
                continue
            if host is None or any(host_matches(h.lower(), host.lower()) for h in server_hosts(server)):
                out.append((gateway, server))
    return out


def secret_certificate(view: MeshView, namespace: str, name: str) -> str | None:
    pem = credential_cert_pem(view.model.secret(namespace, name))
    return pem.decode(errors="replace") if pem else None


def gateway_ca(view: MeshView, name: str) -> str | None:
    """The CA a MUTUAL server with `credentialName: name` trusts: what the gateway's Envoy really gets."""
    try:
        return ca_credential(view.model, GATEWAY_NAMESPACE, name).decode()
    except CredentialError:
        return None


def server_for(view: MeshView, host: str, port: int) -> tuple[dict, dict] | None:
    found = servers_on(view, port, host)
    exact = [(g, s) for g, s in found if host.lower() in [h.lower() for h in server_hosts(s)]]
    return (exact or found)[0] if (exact or found) else None


def route_destinations(view: MeshView, host: str, port: int) -> list[tuple[dict, str, int | None]]:
    """(VirtualService, destination FQDN, port) of the routes the gateway uses for `host`."""
    refs = {f"{g['metadata']['namespace']}/{g['metadata']['name']}" for g, _ in servers_on(view, port, host)}
    out = []
    for vs in view.of_kind("VirtualService"):
        spec = vs.get("spec") or {}
        if not any(host_matches(h.lower(), host.lower()) for h in spec.get("hosts") or []):
            continue
        if not any(g in refs for g in vs_gateways(vs)):
            continue
        out += [(vs, fqdn, port) for fqdn, port in destination_hosts(vs)]
    return out
