"""`istioctl x describe pod` for one pod: its proxy and identity, and every resource that applies to it.

Pure on the model; the certificate comes from a callback so that the caller decides where to read
it (the proxy's live SDS secret on either backend) and tests can pass a fixed one.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Callable

from ..model.authz import action_of, policies_for
from ..model.mesh import ROOT_NAMESPACE, MeshModel, Pod, Service, workload_selector
from ..model.peerauth import effective_mtls, ignored_policies
from ..model.destrule import applies_to_host
from ..model.vsbinding import MESH, destination_hosts, vs_gateways
from .common import find_pod, has_proxy, workload_name

CertLookup = Callable[[Pod], "dict | None"]


@dataclass
class PodDescription:
    namespace: str
    pod: str
    workload: str
    proxy: str | None                      # "sidecar", "gateway" or None
    service_account: str
    spiffe_id: str | None
    certificate: dict | None               # the leaf of the proxy's `default` secret (certs.inspect fields)
    ports: list[int]
    mtls_mode: str | None                  # None without a sidecar: nothing enforces a mode
    port_modes: dict = field(default_factory=dict)
    peer_authentications: list[str] = field(default_factory=list)
    services: list[dict] = field(default_factory=list)   # name, namespace, ports: [(name, port, protocol, target)]
    destination_rules: list[dict] = field(default_factory=list)
    virtual_services: list[dict] = field(default_factory=list)
    authorization_policies: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def text(self) -> str:
        lines = [f"Pod: {self.pod}", f"   Namespace: {self.namespace}   Workload: {self.workload}",
                 f"   Pod Ports: {', '.join(str(p) for p in self.ports) or '(none)'}"]
        lines.append(f"   Proxy: {self.proxy or 'none (no istio-proxy container)'}")
        lines.append(f"   Service account: {self.service_account}")
        if self.spiffe_id:
            lines.append(f"   Identity: {self.spiffe_id}")
        lines.extend(self._certificate_lines())
        for service in self.services:
            lines.append("--------------------")
            lines.append(f"Service: {service['name']}.{service['namespace']}")
            for name, port, protocol, target in service["ports"]:
                lines.append(f"   Port: {name} {port}/{protocol} targets pod port {target}")
        for rule in self.destination_rules:
            lines.append(f"DestinationRule: {rule['name']} for \"{rule['host']}\"")
            lines.append(f"   Traffic Policy TLS Mode: {rule['tls_mode'] or '(unset: auto mTLS)'}")
            if rule["subsets"]:
                lines.append(f"   Matching subsets: {', '.join(rule['matching_subsets']) or '(none)'}")
        for vs in self.virtual_services:
            lines.append(f"VirtualService: {vs['name']} (gateways: {', '.join(vs['gateways'])}; "
                         f"hosts: {', '.join(vs['hosts'])})")
        lines.append("--------------------")
        if self.mtls_mode is None:
            lines.append("Effective PeerAuthentication: not enforced (no sidecar; the app accepts plaintext)")
        else:
            lines.append("Effective PeerAuthentication:")
            lines.append(f"   Workload mTLS mode: {self.mtls_mode}")
            if self.port_modes:
                lines.append("   Port Level mTLS mode:")
                lines.extend(f"      {port}: {mode}" for port, mode in sorted(self.port_modes.items()))
        if self.peer_authentications:
            lines.append("Applied PeerAuthentication:")
            lines.append("   " + ", ".join(self.peer_authentications))
        policies = ", ".join(f"{p['name']} ({p['action']})" for p in self.authorization_policies)
        lines.append(f"RBAC policies: {policies or '(none: every request allowed)'}")
        lines.extend(f"WARNING {w}" for w in self.warnings)
        return "\n".join(lines)

    def _certificate_lines(self) -> list[str]:
        if not self.proxy:
            return []
        cert = self.certificate
        if not cert:
            return ["   Certificate: (not available from the proxy)"]
        state = "EXPIRED" if cert.get("expired") else "NOT YET VALID" if cert.get("not_yet_valid") else "valid"
        window = f"{cert['not_before']:%Y-%m-%d %H:%M} → {cert['not_after']:%Y-%m-%d %H:%M} UTC"
        return [f"   Certificate: {state}, {window} ({cert['days_left'] * 24:.1f} h left), "
                f"issuer {cert['issuer'] or '(empty)'}"]

    def __str__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(self.text())}</pre>"

    def _repr_pretty_(self, printer, cycle) -> None:  # text/plain in notebooks: istioctl's text, not the fields
        printer.text(self.text())


def _destination_hosts(vs: dict) -> set[str]:
    return {fqdn for fqdn, _ in destination_hosts(vs)}


def _destination_rules(model: MeshModel, pod: Pod, services: list[Service]) -> tuple[list[dict], list[str]]:
    rules, warnings = [], []
    for rule in model.of_kind("DestinationRule"):
        spec = rule.get("spec") or {}
        if not any(applies_to_host(rule, s.fqdn) for s in services):
            continue
        subsets = spec.get("subsets") or []
        matching = [s["name"] for s in subsets if pod.matches(s.get("labels"))]
        name = f"{rule['metadata']['name']}.{rule['metadata']['namespace']}"
        rules.append({"name": name, "host": spec.get("host"), "subsets": [s["name"] for s in subsets],
                      "matching_subsets": matching,
                      "tls_mode": ((spec.get("trafficPolicy") or {}).get("tls") or {}).get("mode")})
        if subsets and not matching:
            warnings.append(f"POD DOES NOT MATCH ANY SUBSETS of DestinationRule {name}")
    return rules, warnings


def _would_target(policy: dict, pod: Pod) -> bool:
    """Whether an ignored PeerAuthentication was meant for this pod: learners expect to see those here."""
    namespace = policy["metadata"]["namespace"]
    selector = workload_selector(policy)
    return namespace in (pod.namespace, ROOT_NAMESPACE) and pod.matches(selector)


def describe(model: MeshModel, namespace: str, target: str, certificate: CertLookup | None = None) -> PodDescription:
    pod = find_pod(model, namespace, target)
    services = model.services_of(pod)
    proxy = "gateway" if pod.is_gateway else "sidecar" if pod.sidecar else None
    effective = effective_mtls(model, pod) if pod.sidecar else None
    rules, warnings = _destination_rules(model, pod, services)
    fqdns = {s.fqdn for s in services}
    virtual_services = [{"name": f"{vs['metadata']['name']}.{vs['metadata']['namespace']}",
                         "gateways": vs_gateways(vs), "hosts": list((vs.get("spec") or {}).get("hosts") or [])}
                        for vs in model.of_kind("VirtualService") if _destination_hosts(vs) & fqdns]
    for vs in virtual_services:
        exposed = [g for g in vs["gateways"] if g != MESH]
        if exposed:
            vs["exposed_on"] = exposed
    ignored = [(p, why) for p, why in ignored_policies(model) if _would_target(p, pod)]
    warnings += [f"PeerAuthentication {p['metadata']['name']}.{p['metadata']['namespace']} is ignored: {why}"
                 for p, why in ignored]
    if not has_proxy(pod):
        warnings.append("no sidecar: the pod sends and accepts plaintext only; STRICT servers reset its calls")
    cert = certificate(pod) if certificate and has_proxy(pod) else None
    return PodDescription(
        namespace=pod.namespace, pod=pod.name, workload=workload_name(pod), proxy=proxy,
        service_account=pod.service_account, spiffe_id=pod.spiffe_id if has_proxy(pod) else None, certificate=cert,
        ports=pod.container_ports, mtls_mode=effective.mode if effective else None,
        port_modes=dict(effective.port_modes) if effective else {},
        peer_authentications=list(effective.applied) if effective else [],
        services=[{"name": s.name, "namespace": s.namespace,
                   "ports": [(p.name, p.port, p.istio_protocol or p.protocol, p.target_port) for p in s.ports]} for s in services],
        destination_rules=rules, virtual_services=virtual_services,
        authorization_policies=[{"name": f"{p['metadata']['name']}.{p['metadata']['namespace']}",
                                 "action": action_of(p)} for p in policies_for(model, pod)],
        warnings=warnings)
