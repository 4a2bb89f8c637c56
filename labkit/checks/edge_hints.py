"""Why a request through the ingress gateway did not get what a check expected, read from the configuration."""
from __future__ import annotations

import difflib
from pathlib import Path

from ..contract import Lab
from .. import certs as certs_lib
from ..constants import GATEWAY_NAMESPACE, GATEWAY_PRINCIPAL
from ..errors import LabkitError
from ..model.gateways import has_key_pair
from ..model.hostmatch import host_matches
from ..model.vsbinding import vs_gateways
from . import hints
from .authz_hints import caller_denied_hint
from .edge_probe import EdgeOutcome, certificate_pem, certificate_summary, presented_certificate
from .gateway_config import (gateway_ca, gateway_pods, gateway_selector, route_destinations, selects_a_gateway,
                             server_for, server_hosts, servers_on)
from .state import MeshView, ref


def credential_hint(view: MeshView, name: str | None) -> str:
    """Why the gateway holds no certificate for a credentialName ("" when the secret looks right)."""
    if not name:
        return "the server has no tls.credentialName: name the Secret that holds the certificate and key."
    secret = view.find("Secret", name, GATEWAY_NAMESPACE)
    if secret is None:
        here = sorted(s["metadata"]["name"] for s in view.of_kind("Secret", GATEWAY_NAMESPACE))
        elsewhere = sorted(s["metadata"]["namespace"] for s in view.of_kind("Secret") if s["metadata"]["name"] == name)
        text = f"credentialName {name!r} names no Secret in {GATEWAY_NAMESPACE}"
        close = difflib.get_close_matches(name, here, n=1, cutoff=0.7)
        if close:
            text += f" (did you mean {close[0]!r}?)"
        elif elsewhere:
            text += (f"; a Secret {name!r} exists in {', '.join(elsewhere)}, but the gateway reads secrets from its "
                     f"own namespace ({GATEWAY_NAMESPACE})")
        else:
            text += f" (secrets there: {', '.join(here) or 'none'})"
        return text + (". The gateway's log (lab.logs('istio-system', 'istio-ingressgateway'); kubectl logs -n "
                       "istio-system -l istio=ingressgateway) says 'failed to fetch key and certificate for "
                       f"kubernetes://{name}'.")
    data = view.model.secret(GATEWAY_NAMESPACE, name) or {}
    if not has_key_pair(data):
        return (f"Secret {GATEWAY_NAMESPACE}/{name} lacks tls.crt/tls.key (keys: {', '.join(sorted(data)) or 'none'}): "
                "create it with kubectl create secret tls NAME --cert=... --key=...")
    return ""


def listener_hint(view: MeshView, port: int) -> str:
    """Why nothing listens on a Gateway port (curl exit 7)."""
    gateways = view.of_kind("Gateway")
    if not gateways:
        return (f"no Gateway resource: apply one with selector istio: ingressgateway and a server on port {port} "
                "(kubectl get gateway -A lists none).")
    on_port = servers_on(view, port)
    if not on_port:
        listed = "; ".join(f"{ref(g)}: " + ", ".join(str((s.get('port') or {}).get('number'))
                                                    for s in (g.get('spec') or {}).get('servers') or [])
                           for g in gateways)
        return f"no Gateway has a server on port {port} (ports now: {listed})."
    labels = "; ".join(", ".join(f"{k}={v}" for k, v in sorted(p.labels.items()) if not k.startswith(
        ("labkit.io/", "pod-template-hash", "service.istio.io/"))) for p in gateway_pods(view))
    wrong = [g for g, _ in on_port if not selects_a_gateway(view, g)]
    if wrong:
        return (f"Gateway {ref(wrong[0])} has selector {gateway_selector(wrong[0])}, but the ingress gateway pod's labels "
                f"are {labels}: no gateway proxy takes this Gateway, so nothing listens on port {port}. "
                "Use selector istio: ingressgateway.")
    return ""


def binding_hint(view: MeshView, host: str, port: int) -> str:
    """Why the gateway answers 404: no server lists the host, or no VirtualService binds to that server."""
    found = servers_on(view, port, host)
    if not found:
        hosts = sorted({h for _, s in servers_on(view, port) for h in server_hosts(s)})
        return (f"no Gateway server on port {port} lists host {host} (hosts now: {', '.join(hosts) or 'none'}): "
                "add it to the server's hosts.")
    refs = {f"{g['metadata']['namespace']}/{g['metadata']['name']}" for g, _ in found}
    services = [v for v in view.of_kind("VirtualService")
                if any(host_matches(h.lower(), host.lower()) or host_matches(host.lower(), h.lower())
                       for h in (v.get("spec") or {}).get("hosts") or [])]
    if not services:
        return (f"no VirtualService lists host {host} under hosts: write one with hosts: [{host}] and "
                f"gateways: [{sorted(refs)[0]}].")
    for vs in services:
        named = vs_gateways(vs)
        if not any(g in refs for g in named):
            written = (vs.get("spec") or {}).get("gateways") or ["(none: that means mesh only)"]
            return (f"VirtualService {ref(vs)} lists gateways {written}, which means {named}; the Gateway for "
                    f"{host} is {sorted(refs)[0]}. A bare name is looked up in the VirtualService's own namespace "
                    f"({vs['metadata']['namespace']}): write {sorted(refs)[0]}.")
    tls_only = [g for g, s in found if (s.get("tls") or {}).get("mode") == "PASSTHROUGH"]
    if tls_only:
        return (f"the server for {host} is PASSTHROUGH: the VirtualService needs a tls: route matching "
                f"sniHosts: [{host}], not http:.")
    return f"a VirtualService for {host} is bound, but no http route matches this path."


def destination_hint(view: MeshView, host: str, port: int, outcome) -> str:
    """Why the gateway routes but the destination fails (503) or refuses (403)."""
    for vs, fqdn, dest_port in route_destinations(view, host, port):
        service = view.model.service_by_fqdn(fqdn)
        if service is None:
            return (f"VirtualService {ref(vs)} routes to {fqdn}, which is no Service: check the destination host "
                    "(short names are resolved in the VirtualService's namespace).")
        if dest_port and service.port(int(dest_port)) is None:
            ports = ", ".join(str(p.port) for p in service.ports)
            return (f"VirtualService {ref(vs)} routes to port {dest_port}, but Service {service.namespace}/"
                    f"{service.name} has port(s) {ports}.")
        sp = service.port(int(dest_port)) if dest_port else (service.ports[0] if service.ports else None)
        if sp is None:
            continue
        if outcome.status == "403":
            return caller_denied_hint(view, service.namespace, service.name, GATEWAY_PRINCIPAL)
        return hints.failed_call(view, GATEWAY_NAMESPACE, True, service.namespace, service.name, sp.port, outcome)
    return ""


def client_cert_hint(view: MeshView, server: dict, cert) -> str:
    name = (server.get("tls") or {}).get("credentialName")
    ca = gateway_ca(view, name) if name else None
    if ca is None:
        return (f"mode MUTUAL needs the CA that signs client certificates: add ca.crt to Secret {name!r} or create "
                f"Secret {name}-cacert (key ca.crt or cacert) in {GATEWAY_NAMESPACE}.")
    if not cert:
        return "the server is MUTUAL: it requires a client certificate (curl --cert client.crt --key client.key)."
    try:
        ok, reason = certs_lib.verify_chain(Path(cert).read_bytes(), ca.encode())
    except (OSError, LabkitError) as exc:
        return f"the client certificate cannot be read: {exc}"
    if not ok:
        return (f"the client certificate is {reason}: the gateway trusts only the CA in "
                f"kubernetes://{name}-cacert (or the secret's ca.crt).")
    return ""


def trust_hint(lab: Lab, view: MeshView, host: str, port: int, cacert) -> str:
    """Why curl does not trust the certificate the gateway presents (exit 60)."""
    if not cacert:
        return ("curl does not trust the certificate: pass --cacert with the CA that signed it (for a self-signed "
                "certificate, the certificate file itself).")
    presented = presented_certificate(lab, host, port)
    if presented is None:
        return ""
    try:
        ok, reason = certs_lib.verify_chain(certificate_pem(presented), Path(cacert).read_bytes(), hostname=host)
    except (OSError, LabkitError) as exc:
        return f"the --cacert file cannot be read: {exc}"
    if ok:
        return ""
    found = server_for(view, host, port)
    name = ((found[1].get("tls") or {}).get("credentialName") if found else None) or "?"
    return (f"the gateway presents {certificate_summary(presented)} (Secret {name}), which is {reason}; "
            f"--cacert {Path(cacert).name} must be the CA that signed it.")


def edge_hint(lab: Lab, view: MeshView, host: str, port: int, outcome: EdgeOutcome, *, cacert=None, cert=None) -> str:
    """The likely cause of an unexpected outcome at the gateway, read from the configuration."""
    if outcome.exit_code == 7:
        return listener_hint(view, port)
    if outcome.exit_code == 60:
        return trust_hint(lab, view, host, port, cacert)
    if outcome.tls_failed or (outcome.tls and not outcome.answered):
        found = server_for(view, host, port)
        if found is None:
            hosts = sorted({h for _, s in servers_on(view, port) for h in server_hosts(s)})
            return (f"no server on port {port} lists host {host} (hosts: {', '.join(hosts) or 'none'}): the gateway "
                    f"has no certificate for this name (SNI) and ends the handshake.")
        gateway, server = found
        mode = (server.get("tls") or {}).get("mode")
        if mode == "PASSTHROUGH":
            return (f"Gateway {ref(gateway)} passes TLS for {host} through: the backend must serve TLS itself, and a "
                    f"VirtualService tls: route with sniHosts: [{host}] must send it there.")
        if not mode:
            return f"Gateway {ref(gateway)}: the {host} server on port {port} has no tls: block (mode, credentialName)."
        problem = credential_hint(view, (server.get("tls") or {}).get("credentialName"))
        if problem:
            return problem
        if mode == "MUTUAL":
            return client_cert_hint(view, server, cert)
        return ""
    if outcome.status == "404":
        return binding_hint(view, host, port)
    if outcome.status in ("503", "403"):
        return destination_hint(view, host, port, outcome)
    return ""
