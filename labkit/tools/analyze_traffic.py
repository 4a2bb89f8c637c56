"""Analyzer checks on traffic resources: Gateway, VirtualService, DestinationRule (istio-semantics §2, §4, §5)."""
from __future__ import annotations

from typing import Iterator

from ..certs import inspect
from ..errors import LabkitError
from ..model.mesh import Pod
from ..model.destrule import applies_to_host
from ..model.gateways import (CA_SUFFIX, ca_pem, ca_secret, credential_cert_pem, has_key_pair, server_dns_names,
                              server_hosts_for_namespace)
from ..model.hostmatch import hosts_overlap, route_destinations
from ..model.mesh import secret_data
from ..model.serviceentry import entry_for_host
from ..model.protocol import UNSUPPORTED, istio_protocol
from ..model.vsbinding import MESH, resolve_host, vs_gateways
from .analyze_base import Context, Message, message
from .common import selector_string



def gateway_pods(ctx: Context, gateway: dict) -> list[Pod]:
    """Pods a Gateway's selector picks, in any namespace; no selector means every gateway workload."""
    selector = (gateway.get("spec") or {}).get("selector") or {}
    if not selector:
        return [p for p in ctx.model.pods if p.is_gateway]
    return ctx.pods_matching(selector)


def _servers(gateway: dict) -> list[dict]:
    return (gateway.get("spec") or {}).get("servers") or []


def _split_ref(ref: str, default_namespace: str) -> tuple[str, str]:
    namespace, _, name = ref.rpartition("/")
    return namespace or default_namespace, name


# ---- Gateway -------------------------------------------------------------------------------------

def check_gateways(ctx: Context) -> Iterator[Message]:
    for gateway in ctx.of_kind("Gateway"):
        pods = gateway_pods(ctx, gateway)
        if not pods:
            selector = selector_string((gateway.get("spec") or {}).get("selector"))
            yield message("IST0101", gateway, f'Referenced selector not found: "{selector}"')
            continue
        yield from _credentials(ctx, gateway, pods[0].namespace)
        yield from _ports(ctx, gateway, pods)


def _credentials(ctx: Context, gateway: dict, secret_namespace: str) -> Iterator[Message]:
    """credentialName is looked up in the gateway pod's namespace, not the Gateway's (§4)."""
    for server in _servers(gateway):
        tls = server.get("tls") or {}
        for name in [tls.get("credentialName")] + list(tls.get("credentialNames") or []):
            if not name:
                continue
            secret = ctx.find("Secret", secret_namespace, name)
            if secret is None:
                yield message("IST0101", gateway, f'Referenced credentialName not found: "{name}"')
                continue
            problem = _credential_problem(ctx, secret, tls.get("mode"))
            if problem:
                meta = gateway["metadata"]
                yield message("IST0161", gateway,
                              f"The credential referenced by the Gateway {meta['name']} in namespace "
                              f"{meta['namespace']} is invalid, which can cause the traffic not to work as "
                              f"expected: {problem}")


def _credential_problem(ctx: Context, secret: dict, mode: str | None) -> str | None:
    data = secret_data(secret)
    cert = credential_cert_pem(data)
    if cert is None or not has_key_pair(data):
        return f"secret {secret['metadata']['name']} has no tls.crt/tls.key (or cert/key)"
    try:
        leaf = inspect(cert)[0]
    except (LabkitError, ValueError) as exc:
        return f"the certificate does not parse ({exc})"
    if leaf["expired"]:
        return f"the certificate expired on {leaf['not_after']:%Y-%m-%d}"
    if mode == "MUTUAL":
        companion = ctx.find("Secret", secret["metadata"]["namespace"], secret["metadata"]["name"] + CA_SUFFIX)
        if ca_pem(ca_secret(data, secret_data(companion) if companion else None)) is None:
            return "MUTUAL needs a CA (ca.crt in the secret, or a <name>-cacert secret)"
    return None


def _ports(ctx: Context, gateway: dict, pods: list[Pod]) -> Iterator[Message]:
    exposed = set()
    for pod in pods:
        for service in ctx.model.services_of(pod):
            exposed |= {p.port for p in service.ports}
    selector = selector_string((gateway.get("spec") or {}).get("selector"))
    for server in _servers(gateway):
        number = (server.get("port") or {}).get("number")
        if number not in exposed:
            yield message("IST0162", gateway,
                          f"The gateway is listening on a target port (port {number}) that is not defined in the "
                          f"Service associated with its workload instances (Pod selector {selector}). If you need "
                          "to access the gateway port through the gateway Service, it will not be available.")


def check_conflicting_gateways(ctx: Context) -> Iterator[Message]:
    """Same selector and port with overlapping hosts on two Gateways (IST0145, as conflictinggateway.go)."""
    table: dict[tuple[str, int | None], dict[str, list[str]]] = {}
    for gateway in ctx.of_kind("Gateway"):
        key_selector = selector_string((gateway.get("spec") or {}).get("selector"))
        name = f"{gateway['metadata']['namespace']}/{gateway['metadata']['name']}"
        for server in _servers(gateway):
            slot = table.setdefault((key_selector, (server.get("port") or {}).get("number")), {})
            slot.setdefault(name, []).extend(_bare_hosts(server))
    for gateway in ctx.of_kind("Gateway"):
        key_selector = selector_string((gateway.get("spec") or {}).get("selector"))
        name = f"{gateway['metadata']['namespace']}/{gateway['metadata']['name']}"
        for server in _servers(gateway):
            port = (server.get("port") or {}).get("number")
            others = sorted(other for other, hosts in table.get((key_selector, port), {}).items()
                            if other != name and any(hosts_overlap(h, o) for h in _bare_hosts(server) for o in hosts))
            if others:
                yield message("IST0145", gateway,
                              f"Conflict with gateways {','.join(others)} (workload selector {key_selector}, port "
                              f"{port}, hosts {','.join(server.get('hosts') or [])}).")


def _bare_hosts(server: dict) -> list[str]:
    return server_dns_names(server)


# ---- VirtualService ------------------------------------------------------------------------------

def _destinations(vs: dict) -> Iterator[dict]:
    return (d for _, _, _, d in route_destinations(vs) if d.get("host"))


def _has_subset(ctx: Context, fqdn: str, subset: str) -> bool:
    for rule in ctx.of_kind("DestinationRule"):
        spec = rule.get("spec") or {}
        if applies_to_host(rule, fqdn) and \
                any(s.get("name") == subset for s in spec.get("subsets") or []):
            return True
    return False


def check_virtual_services(ctx: Context) -> Iterator[Message]:
    for vs in ctx.of_kind("VirtualService"):
        namespace = vs["metadata"]["namespace"]
        written = (vs.get("spec") or {}).get("gateways") or []
        for ref, resolved in zip(written or [MESH], vs_gateways(vs)):
            if resolved == MESH:
                continue
            gw_namespace, gw_name = _split_ref(resolved, namespace)
            gateway = ctx.find("Gateway", gw_namespace, gw_name)
            if gateway is None:
                yield message("IST0101", vs, f'Referenced gateway not found: "{ref}"')
            else:
                yield from _hosts_in_gateway(vs, gateway)
        seen = set()
        for destination in _destinations(vs):
            host, subset = destination["host"], destination.get("subset")
            if "*" in host or (host, subset) in seen:
                continue
            seen.add((host, subset))
            fqdn = resolve_host(host, namespace)
            # Istio's destination host analyzer looks in the whole registry: Services and ServiceEntry hosts.
            if ctx.model.service_by_fqdn(fqdn) is None and entry_for_host(ctx.model, namespace, fqdn) is None:
                yield message("IST0101", vs, f'Referenced host not found: "{host}"')
            elif subset and not _has_subset(ctx, fqdn, subset):
                yield message("IST0101", vs, f'Referenced host+subset in destinationrule not found: "{host}+{subset}"')


def _hosts_in_gateway(vs: dict, gateway: dict) -> Iterator[Message]:
    """Every VS host must overlap a host of a server that admits the VS's namespace (§4 hosts table)."""
    vs_namespace, gw_namespace = vs["metadata"]["namespace"], gateway["metadata"]["namespace"]
    allowed = [host for server in _servers(gateway)
               for host in server_hosts_for_namespace(server, gw_namespace, vs_namespace)]
    missing = [h for h in (vs.get("spec") or {}).get("hosts") or [] if not any(hosts_overlap(h, a) for a in allowed)]
    if missing:
        yield message("IST0132", vs,
                      f"one or more host [{' '.join(missing)}] defined in VirtualService "
                      f"{vs_namespace}/{vs['metadata']['name']} not found in Gateway "
                      f"{gw_namespace}/{gateway['metadata']['name']}.")


# ---- DestinationRule -----------------------------------------------------------------------------

def check_destination_rules(ctx: Context) -> Iterator[Message]:
    for rule in ctx.of_kind("DestinationRule"):
        spec = rule.get("spec") or {}
        services = [s for s in ctx.model.services if applies_to_host(rule, s.fqdn)]
        if not services:
            yield message("IST0174", rule,
                          f'DestinationRule for non-existent service registry host "{spec.get("host")}".')
        endpoints = [p for s in services for p in ctx.model.endpoints(s)]
        for subset in spec.get("subsets") or []:
            if services and not any(p.matches(subset.get("labels")) for p in endpoints):
                yield message("IST0173", rule,
                              f"The Subset {subset.get('name')} defined in the DestinationRule does not select any "
                              "pods, which may lead to 503 UH (NoHealthyUpstream).")
        yield from _server_verification(rule)


def _unverified(tls: dict | None, rule: dict) -> bool:
    if not tls or tls.get("mode") not in ("SIMPLE", "MUTUAL") or tls.get("caCertificates"):
        return False
    if tls.get("insecureSkipVerify"):
        return False
    return not (tls.get("credentialName") and (rule.get("spec") or {}).get("workloadSelector"))


def _server_verification(rule: dict) -> Iterator[Message]:
    spec, meta = rule.get("spec") or {}, rule["metadata"]
    policy = spec.get("trafficPolicy") or {}
    tls = policy.get("tls") or {}
    if _unverified(tls, rule):
        yield message("IST0128", rule,
                      f"DestinationRule {meta['name']} in namespace {meta['namespace']} has TLS mode set to "
                      f"{tls['mode']} but no caCertificates are set to validate server identity for host: "
                      f"{spec.get('host')}")
    for entry in policy.get("portLevelSettings") or []:
        port_tls = entry.get("tls")
        if _unverified(port_tls, rule):
            yield message("IST0129", rule,
                          f"DestinationRule {meta['name']} in namespace {meta['namespace']} has TLS mode set to "
                          f"{port_tls['mode']} but no caCertificates are set to validate server identity for host: "
                          f"{spec.get('host')} at port {(entry.get('port') or {}).get('number')}")


def check_port_names(ctx: Context) -> Iterator[Message]:
    """IST0118 (Info) for each Service port Istio must sniff: its name (or appProtocol) names no protocol.
    As istioctl's PortNameAnalyzer (pkg/config/analysis/analyzers/service/portname.go), control-plane
    Services (label `istio`, or `release: istio`) are skipped."""
    for service in ctx.of_kind("Service"):
        labels = service["metadata"].get("labels") or {}
        if "istio" in labels or labels.get("release") == "istio":
            continue
        for port in (service.get("spec") or {}).get("ports") or []:
            if istio_protocol(port.get("name"), port.get("appProtocol"), port.get("port"),
                              port.get("protocol")) != UNSUPPORTED:
                continue
            target = port.get("targetPort", port.get("port"))
            yield message("IST0118", service, f"Port name {port.get('name', '')} (port: {port.get('port')}, "
                                              f"targetPort: {target}) doesn't follow the naming convention of "
                                              f"Istio port.")
