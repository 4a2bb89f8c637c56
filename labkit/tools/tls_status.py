"""Per client → service port: what TLS the client sends, what the server accepts, and whether they clash.

This is what `istioctl authn tls-check` showed before Istio 1.6 removed it (istio-semantics §9). It is
computed from the model with the same functions the sidecar builders use (`effective_mtls`,
`client_tls`, `endpoint_wants_mtls`), so it predicts what the proxies will do; `evidence` shows what
they did. A service is looked at per endpoint workload, because auto mTLS decides per endpoint.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..model.destrule import AUTO, client_tls, endpoint_wants_mtls
from ..model.gatewayapi import internal_virtual_services
from ..model.mesh import ROOT_NAMESPACE, MeshModel, Pod, Service, ServicePort
from ..model.peerauth import DISABLE, PERMISSIVE, STRICT, effective_mtls
from ..model.protocol import inbound_passes_app_tls
from ..model.vsbinding import MESH, destination_hosts, vs_gateways
from .common import has_proxy, workload_id

ISTIO_MUTUAL, PLAINTEXT = "ISTIO_MUTUAL", "plaintext"
OK, CONFLICT, CHECK = "OK", "CONFLICT", "CHECK"
NO_SIDECAR = "-"
SYSTEM_NAMESPACES = (ROOT_NAMESPACE, "kube-system")

COLUMNS = ["client", "client_sidecar", "host", "server", "server_sidecar", "target_port", "server_mode",
           "server_policy", "client_tls", "client_rule", "mtls", "status", "expected", "reason"]


@dataclass(frozen=True)
class ClientSide:
    proxy: bool
    mode: str   # ISTIO_MUTUAL, plaintext, SIMPLE or MUTUAL, as sent to this endpoint
    rule: str   # what decided it
    destination_rule: str | None = None   # "name.namespace" when a DestinationRule decided


@dataclass(frozen=True)
class ServerSide:
    proxy: bool
    mode: str   # STRICT, PERMISSIVE, DISABLE, or "-" without a sidecar
    policy: str
    passes_app_tls: bool = False   # the port hands non-mesh TLS to the app (model/protocol.py)


@dataclass(frozen=True)
class Verdict:
    status: str
    expected: str
    reason: str


def client_side(model: MeshModel, client: Pod, service: Service, port: ServicePort, endpoint: Pod | None) -> ClientSide:
    if not has_proxy(client):
        return ClientSide(False, PLAINTEXT, "no sidecar")
    tls = client_tls(model, client.namespace, service, port.port, client)
    if tls.mode == AUTO:
        mtls = endpoint is not None and endpoint_wants_mtls(model, endpoint, port.target_port, tls)
        return ClientSide(True, ISTIO_MUTUAL if mtls else PLAINTEXT, "auto mTLS")
    if tls.rule is None:
        return ClientSide(True, PLAINTEXT, "auto mTLS off: namespace/mesh PeerAuthentication DISABLE")
    mode = PLAINTEXT if tls.mode == "DISABLE" else tls.mode
    return ClientSide(True, mode, f"DestinationRule {tls.rule} ({tls.mode})", tls.rule)


def server_side(model: MeshModel, endpoint: Pod, target_port: int) -> ServerSide:
    if not endpoint.sidecar:
        return ServerSide(False, NO_SIDECAR, "no sidecar: the app takes plaintext")
    effective = effective_mtls(model, endpoint)
    policy = ", ".join(effective.applied) or f"none (default {PERMISSIVE})"
    if target_port in effective.port_modes:
        policy += f" (portLevelMtls {target_port})"
    mode = effective.for_port(target_port)
    return ServerSide(True, mode, policy,
                      inbound_passes_app_tls(model.inbound_protocol(endpoint, target_port), mode))


def verdict(client: ClientSide, server: ServerSide) -> Verdict:
    """The outcome Istio gives this pairing (istio-semantics §1, §2, §6)."""
    origination = client.mode in ("SIMPLE", "MUTUAL")
    refused = "503" if client.proxy else "connection reset (curl 56)"
    if not server.proxy:
        if client.mode == ISTIO_MUTUAL:
            return Verdict(CONFLICT, "503", "Istio mTLS to a pod without a sidecar: nothing there terminates it")
        if origination:
            return Verdict(CHECK, "depends on the app", "TLS origination: works only if the app itself serves TLS")
        return Verdict(OK, "200", "plaintext to a workload without a sidecar")
    if client.mode == ISTIO_MUTUAL:
        if server.mode == DISABLE:
            return Verdict(CONFLICT, "503", "the server is DISABLE (plaintext only) but the client sends mTLS")
        return Verdict(OK, "200", f"mTLS, accepted by {server.mode}")
    if client.mode == PLAINTEXT:
        if server.mode == STRICT:
            who = "the client sends plaintext" if client.proxy else "the client has no sidecar, so it sends plaintext"
            return Verdict(CONFLICT, refused, f"{who}; STRICT accepts only mTLS and resets the connection")
        return Verdict(OK, "200", f"plaintext, accepted by {server.mode}")
    if server.passes_app_tls:
        return Verdict(CHECK, "depends on the app",
                       "non-mesh TLS passes through the sidecar to the app: works only if the app serves TLS")
    if server.mode == PERMISSIVE:
        return Verdict(CONFLICT, "503", "TLS origination to a port declared HTTP: its sidecar has no chain for "
                                        "non-mesh TLS and closes the connection")
    return Verdict(CONFLICT, "503", f"TLS origination with a non-mesh certificate; {server.mode} does not accept it")


def _representatives(pods: list[Pod], key) -> list[Pod]:
    """One pod per group: pods of one workload behave alike unless their sidecar or mode differs."""
    seen: dict = {}
    for pod in sorted(pods, key=lambda p: p.name):
        seen.setdefault(key(pod), pod)
    return list(seen.values())


def gateway_routed_hosts(model: MeshModel) -> set[str]:
    """FQDNs that VirtualServices bound to a gateway send traffic to (with those istiod makes of Gateway API
    routes): the gateway is their client."""
    hosts = set()
    for vs in model.of_kind("VirtualService") + internal_virtual_services(model):
        if all(g == MESH for g in vs_gateways(vs)):
            continue
        hosts |= {fqdn for fqdn, _ in destination_hosts(vs)}
    return hosts


def _matches_client(pod: Pod, wanted: str | None) -> bool:
    return wanted is None or wanted in (pod.namespace, workload_id(pod), f"{pod.namespace}/{pod.name}")


def _matches_service(service: Service, port: ServicePort, wanted: str | None) -> bool:
    if wanted is None:
        return True
    host, _, number = wanted.partition(":")
    if number and str(port.port) != number:
        return False
    return host in (service.name, f"{service.name}.{service.namespace}", f"{service.name}.{service.namespace}.svc",
                    service.fqdn) or host == service.namespace


def rows(model: MeshModel, client: str | None = None, service: str | None = None) -> list[dict]:
    gateway_hosts = gateway_routed_hosts(model)
    clients = _representatives([p for p in model.pods if _matches_client(p, client)],
                               key=lambda p: (workload_id(p), has_proxy(p)))
    out = []
    for svc in sorted(model.services, key=lambda s: (s.namespace, s.name)):
        if svc.namespace in SYSTEM_NAMESPACES:
            continue
        endpoints = model.endpoints(svc)
        if endpoints and all(p.is_gateway for p in endpoints):
            continue  # a gateway's own Service (a Gateway API gateway's `<name>-istio`): not a mesh destination
        for sp in svc.ports:
            if not _matches_service(svc, sp, service):
                continue
            servers = _representatives(endpoints, key=lambda p: (workload_id(p), p.sidecar,
                                                                 server_side(model, p, sp.target_port)))
            for pod in clients:
                if pod.is_gateway and svc.fqdn not in gateway_hosts and client is None:
                    continue
                candidates: list[Pod | None] = list(servers) or [None]
                for endpoint in candidates:
                    out.append(_row(model, pod, svc, sp, endpoint))
    return out


def _row(model: MeshModel, pod: Pod, svc: Service, sp: ServicePort, endpoint: Pod | None) -> dict:
    client = client_side(model, pod, svc, sp, endpoint)
    row = {"client": workload_id(pod), "client_sidecar": has_proxy(pod), "host": f"{svc.fqdn}:{sp.port}",
           "target_port": sp.target_port, "client_tls": client.mode, "client_rule": client.rule,
           "destination_rule": client.destination_rule}
    if endpoint is None:
        return {**row, "server": "(no endpoints)", "server_sidecar": False, "server_mode": NO_SIDECAR,
                "server_policy": "", "mtls": False, "status": CHECK, "expected": "503 (no healthy upstream)",
                "reason": "the Service selects no pods"}
    server = server_side(model, endpoint, sp.target_port)
    result = verdict(client, server)
    return {**row, "server": workload_id(endpoint), "server_sidecar": endpoint.sidecar, "server_mode": server.mode,
            "server_policy": server.policy, "mtls": client.mode == ISTIO_MUTUAL and result.status == OK,
            "status": result.status, "expected": result.expected, "reason": result.reason}


def tls_status(model: MeshModel, client: str | None = None, service: str | None = None,
               conflicts_only: bool = False) -> pd.DataFrame:
    """The TLS status table. `client`: a namespace or `ns/workload`; `service`: `name.ns[:port]` or a FQDN."""
    table = pd.DataFrame(rows(model, client, service), columns=COLUMNS)
    if conflicts_only:
        table = table[table.status != OK]
    return table.reset_index(drop=True)
