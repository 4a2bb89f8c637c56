"""Checks at the edge: real curl from this machine to the ingress gateway, over HTTP and HTTPS (labs 05–08).

Every probe is the command a learner types against a cluster's ingress from a laptop,

    curl --resolve HOST:PORT:IP --cacert ca.crt [--cert client.crt --key client.key] https://HOST:PORT/path

so the Host header and the TLS SNI carry the real host name (as `--resolve` does in Istio's secure-ingress
task), and an outcome is a real HTTP status or curl's exit code: 60 the certificate is not trusted, 7 nothing
listens, and 35/56 (or 16/55) the server ended the handshake (the table: `curl_outcomes`). The gateway port comes from
`lab.gateway_url(port)`, never from a fixed number.
"""
from __future__ import annotations

import difflib
import socket
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .. import certs as certs_lib
from ..constants import GATEWAY_DEPLOYMENT, GATEWAY_NAMESPACE, GATEWAY_PRINCIPAL
from ..errors import LabkitError
from ..model.gateways import CredentialError, ca_credential, credential_cert_pem, has_key_pair
from ..model.hostmatch import host_matches
from ..model.vsbinding import destination_hosts, vs_gateways
from . import hints
from .mesh import precondition
from .result import CheckResult, checker
from .state import MeshView, ref
from .curl_outcomes import Outcome, describe_expected
from .traffic import TIMEOUT_S, snippet



# ---- one request from this machine -----------------------------------------------------------------

def gateway_address(lab, port: int) -> tuple[str, int]:
    """(IP, local port) where the gateway serves Gateway port `port` (80, 443) on this machine."""
    parts = urlsplit(lab.gateway_url(port))
    host = parts.hostname or "127.0.0.1"
    try:
        ip = socket.gethostbyname(host)
    except OSError:
        ip = host
    return ip, parts.port or (443 if parts.scheme == "https" else 80)


@dataclass(frozen=True)
class EdgeOutcome(Outcome):
    """A curl from this machine through the gateway; `command` is what to type to repeat it."""
    command: str = ""
    headers: str = ""

    def header(self, name: str) -> str | None:
        for line in self.headers.splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip().lower() == name.lower():
                return value.strip()
        return None


def edge_curl(lab, host: str, path: str = "/", *, port: int | None = None, cacert=None, cert=None, key=None,
              extra: tuple = ()) -> EdgeOutcome:
    """`curl --resolve host:PORT:IP [--cacert] [--cert --key] SCHEME://host:PORT/path`, run on this machine."""
    port = port or (443 if cacert or cert else 80)
    tls = port in (443, 8443)
    ip, local = gateway_address(lab, port)
    url = f"{'https' if tls else 'http'}://{host}:{local}{path}"
    options: list[str] = ["--resolve", f"{host}:{local}:{ip}"]
    shown: list[str] = list(options)
    for flag, value in (("--cacert", cacert), ("--cert", cert), ("--key", key)):
        if value:
            options += [flag, str(value)]
            shown += [flag, Path(value).name]
    options += list(extra)
    shown += list(extra)
    command = ["curl", "-sS", "--max-time", str(TIMEOUT_S), "-D", "/dev/stderr", "-w", "\n%{http_code}"]
    try:
        out = subprocess.run(command + options + [url], capture_output=True, text=True, timeout=TIMEOUT_S + 5,
                             stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise LabkitError("curl: command not found on this machine", hint="install curl (the labs run the real one)")
    body, _, status = out.stdout.rpartition("\n")
    lines = out.stderr.splitlines()
    errors = [line for line in lines if line.startswith("curl: (")]
    headers = "\n".join(line for line in lines if not line.startswith("curl: ("))
    error = errors[-1].removeprefix("curl: ").strip() if errors else ""
    return EdgeOutcome("this machine", url, status.strip() or "000", out.returncode, error, body,
                       command=" ".join(["curl"] + shown + [url]), headers=headers)


def presented_certificate(lab, host: str, port: int = 443):
    """The certificate the gateway port shows a client that asks for `host` (SNI), trusted or not;
    None when no TLS session starts. What `openssl s_client -servername host` prints."""
    from cryptography import x509
    ip, local = gateway_address(lab, port)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((ip, local), timeout=TIMEOUT_S) as sock:
            with context.wrap_socket(sock, server_hostname=host) as tls:
                der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError):
        return None
    return x509.load_der_x509_certificate(der) if der else None


def certificate_pem(cert) -> str:
    from cryptography.hazmat.primitives import serialization
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def certificate_summary(cert) -> str:
    info = certs_lib.inspect(certificate_pem(cert))[0]
    return f"subject {info['subject']}, issuer {info['issuer']}"


def gateway_log(lab) -> str:
    try:
        return lab.logs(GATEWAY_NAMESPACE, GATEWAY_DEPLOYMENT)
    except LabkitError:
        return ""


# ---- the configuration, as the hints read it ---------------------------------------------------------

def gateway_pods(view: MeshView):
    return [p for p in view.model.pods if p.is_gateway]


def _selector(gateway: dict) -> dict:
    return (gateway.get("spec") or {}).get("selector") or {}


def selects_a_gateway(view: MeshView, gateway: dict) -> bool:
    selector = _selector(gateway)
    return any(all(p.labels.get(k) == v for k, v in selector.items()) for p in gateway_pods(view))


def server_hosts(server: dict) -> list[str]:
    return [h.split("/", 1)[1] if "/" in h else h for h in server.get("hosts") or []]


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


def _server_for(view: MeshView, host: str, port: int) -> tuple[dict, dict] | None:
    found = servers_on(view, port, host)
    exact = [(g, s) for g, s in found if host.lower() in [h.lower() for h in server_hosts(s)]]
    return (exact or found or [None])[0]


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
        return (f"Gateway {ref(wrong[0])} has selector {_selector(wrong[0])}, but the ingress gateway pod's labels "
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


def _route_destinations(view: MeshView, host: str, port: int) -> list[tuple[dict, str, int | None]]:
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


def destination_hint(view: MeshView, host: str, port: int, outcome) -> str:
    """Why the gateway routes but the destination fails (503) or refuses (403)."""
    for vs, fqdn, dest_port in _route_destinations(view, host, port):
        parts = fqdn.split(".")
        service = view.service(parts[0], parts[1]) if len(parts) > 2 and parts[2] == "svc" else None
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
            from .authz import caller_denied_hint
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


def trust_hint(lab, view: MeshView, host: str, port: int, cacert) -> str:
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
    found = _server_for(view, host, port)
    name = ((found[1].get("tls") or {}).get("credentialName") if found else None) or "?"
    return (f"the gateway presents {certificate_summary(presented)} (Secret {name}), which is {reason}; "
            f"--cacert {Path(cacert).name} must be the CA that signed it.")


def edge_hint(lab, view: MeshView, host: str, port: int, outcome: EdgeOutcome, *, cacert=None, cert=None) -> str:
    """The likely cause of an unexpected outcome at the gateway, read from the configuration."""
    if outcome.exit_code == 7:
        return listener_hint(view, port)
    if outcome.exit_code == 60:
        return trust_hint(lab, view, host, port, cacert)
    if outcome.tls_failed or (outcome.tls and not outcome.answered):
        found = _server_for(view, host, port)
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


# ---- checks --------------------------------------------------------------------------------------

def _scheme(port, cacert, cert) -> str:
    return "https" if (port or (443 if cacert or cert else 80)) in (443, 8443) else "http"


def _via_title(lab, host, path="/", expect=200, contains=None, port=None, cacert=None, cert=None, key=None) -> str:
    return (f"{_scheme(port, cacert, cert)}://{host}{path} via the ingress gateway: {describe_expected(expect)}"
            + (" with a client certificate" if cert else "") + (f" showing {contains!r}" if contains else ""))


@checker(_via_title)
def via_gateway(result: CheckResult, lab, host: str, path: str = "/", expect=200, contains: str | None = None,
                port: int | None = None, cacert=None, cert=None, key=None) -> None:
    """One request from this machine through the ingress gateway (HTTP, or HTTPS when a CA or client cert is
    given) gets `expect`: a status, or "refused", "TLS failure", "untrusted"."""
    if not precondition(result, lab):
        return
    outcome = edge_curl(lab, host, path, port=port, cacert=cacert, cert=cert, key=key)
    ok = outcome.matches(expect)
    hint = "" if ok else edge_hint(lab, MeshView(lab), host, port or (443 if cacert or cert else 80), outcome,
                                   cacert=cacert, cert=cert)
    if not ok and not hint and outcome.answered:
        hint = (f"the request got through ({outcome.status}), so what this step should break is not in place: did the "
                "cell above apply? (kubectl get gateway,virtualservice,destinationrule,authorizationpolicy -A)"
                if outcome.status.startswith("2") else
                f"the application behind the gateway answered {outcome.status}: {short(outcome.body, 160)}")
    result.add(outcome.command, ok, f"{outcome.label}{': ' + outcome.error if outcome.error else ''} "
                                    f"(expected {describe_expected(expect)})", hint)
    if contains is not None:
        result.add(f"the response shows {contains!r}", contains in outcome.body, snippet(outcome.body, contains))


@checker(lambda lab, host, path="/": f"without --cacert, curl rejects the certificate for {host} (exit 60)")
def untrusted_rejected(result: CheckResult, lab, host: str, path: str = "/") -> None:
    """A self-signed (or private-CA) certificate is not in the system's trust store: curl stops with exit 60."""
    if not precondition(result, lab):
        return
    outcome = edge_curl(lab, host, path, port=443)
    hint = ""
    if not outcome.matches("untrusted"):
        hint = ("curl trusted the certificate without --cacert: it is signed by a CA in this machine's trust store"
                if outcome.answered else edge_hint(lab, MeshView(lab), host, 443, outcome))
    result.add(outcome.command, outcome.matches("untrusted"), f"{outcome.label}: {outcome.error or outcome.status}",
               hint)


@checker(lambda lab, host, cacert=None: f"{host}: the handshake fails and the gateway log names the missing secret")
def credential_missing(result: CheckResult, lab, host: str, cacert=None) -> None:
    """The Gateway's credentialName names no Secret: the gateway ends the handshake and says why in its log."""
    if not precondition(result, lab):
        return
    view = MeshView(lab)
    found = _server_for(view, host, 443)
    name = ((found[1].get("tls") or {}).get("credentialName") if found else None)
    outcome = edge_curl(lab, host, "/", port=443, cacert=cacert)
    exists = bool(name) and view.find("Secret", name, GATEWAY_NAMESPACE) is not None
    result.add(outcome.command, outcome.tls_failed, f"{outcome.label}: {outcome.error or outcome.status}",
               f"credentialName {name!r} names an existing Secret, so the gateway has its certificate: set it to a "
               "name that does not exist (wrong-secret) to see the failure." if exists else
               edge_hint(lab, view, host, 443, outcome, cacert=cacert))
    if not name:
        result.add("a server for the host has a credentialName", False, "none found",
                   f"the HTTPS server for {host} on port 443 needs tls.credentialName")
        return
    wanted = f"failed to fetch key and certificate for kubernetes://{name}"
    log = gateway_log(lab)
    lines = [line for line in log.splitlines() if wanted in line or ("initial fetch timed out" in line
                                                                     and "Secret" in line)]
    result.add(f"the gateway log says {wanted!r}", bool(lines), snippet("\n".join(lines), "kubernetes://") if lines
               else "no such line", "the Secret exists, so nothing is missing" if exists else
               "on a cluster istiod logs it: kubectl logs -n istio-system deploy/istiod | grep " + name)


@checker(lambda lab, host, path="/", cacert=None, cert=None, key=None:
         f"{host} requires a client certificate (MUTUAL)")
def client_cert_required(result: CheckResult, lab, host: str, path: str = "/", cacert=None, cert=None,
                         key=None) -> None:
    """With a client certificate from the trusted CA the request gets through; without one the TLS session is
    refused (curl shows 'tlsv13 alert certificate required', or only the dropped connection)."""
    if not precondition(result, lab):
        return
    view = MeshView(lab)
    good = edge_curl(lab, host, path, port=443, cacert=cacert, cert=cert, key=key)
    ok = good.answered and good.status.startswith("2")
    result.add(good.command, ok, good.label + (f": {good.error}" if good.error else ""),
               "" if ok else edge_hint(lab, view, host, 443, good, cacert=cacert, cert=cert))
    bare = edge_curl(lab, host, path, port=443, cacert=cacert)
    found = _server_for(view, host, 443)
    mode = ((found[1].get("tls") or {}).get("mode") if found else None)
    hint = ""
    if bare.answered:
        hint = (f"the server for {host} is {mode}, which does not require a client certificate: set tls.mode: MUTUAL"
                if mode != "MUTUAL" else "the gateway let a client without a certificate in")
    elif not bare.tls_failed:
        hint = edge_hint(lab, view, host, 443, bare, cacert=cacert)
    result.add(bare.command + "   (no client certificate)", bare.tls_failed,
               bare.label + (f": {bare.error}" if bare.error else ""), hint)


@checker(lambda lab, host, path="/", cacert=None, cert=None, key=None:
         f"{host} rejects a client certificate from another CA")
def foreign_client_rejected(result: CheckResult, lab, host: str, path: str = "/", cacert=None, cert=None,
                            key=None) -> None:
    if not precondition(result, lab):
        return
    outcome = edge_curl(lab, host, path, port=443, cacert=cacert, cert=cert, key=key)
    hint = ""
    if outcome.answered:
        view = MeshView(lab)
        found = _server_for(view, host, 443)
        mode = ((found[1].get("tls") or {}).get("mode") if found else None)
        hint = (f"the server for {host} is {mode}: only MUTUAL verifies client certificates" if mode != "MUTUAL" else
                "the gateway trusts the CA that signed this certificate: is it really from another CA?")
    result.add(outcome.command, outcome.tls_failed, outcome.label + (f": {outcome.error}" if outcome.error else ""),
               hint)


@checker(lambda lab, host, path="/", cacert=None, namespace=None, secret=None, contains=None:
         f"https://{host}{path} reaches the backend's own TLS (PASSTHROUGH)")
def passthrough_serves(result: CheckResult, lab, host: str, path: str = "/", cacert=None, namespace: str = "",
                       secret: str = "", contains: str | None = None) -> None:
    """The gateway forwards the TLS bytes untouched: the client sees the certificate of the backend's Secret
    `namespace/secret`, and the response comes from the backend, not from an Envoy."""
    if not precondition(result, lab):
        return
    view = MeshView(lab)
    outcome = edge_curl(lab, host, path, port=443, cacert=cacert)
    ok = outcome.answered and outcome.status.startswith("2")
    result.add(outcome.command, ok, outcome.label + (f": {outcome.error}" if outcome.error else ""),
               "" if ok else edge_hint(lab, view, host, 443, outcome, cacert=cacert))
    if contains is not None:
        result.add(f"the response shows {contains!r}", contains in outcome.body, snippet(outcome.body, contains))
    presented = presented_certificate(lab, host)
    backend_pem = secret_certificate(view, namespace, secret)
    if backend_pem is None:
        result.add(f"Secret {namespace}/{secret} holds the backend's certificate", False, "not found",
                   hints.missing_secrets(view, namespace, "") or f"create Secret {secret} in namespace {namespace}")
        return
    backend = certs_lib.inspect(backend_pem)[0]
    seen = certs_lib.inspect(certificate_pem(presented))[0] if presented is not None else None
    same = seen is not None and seen["fingerprint_sha256"] == backend["fingerprint_sha256"]
    hint = ""
    if presented is None:
        hint = edge_hint(lab, view, host, 443, outcome, cacert=cacert) or "no TLS session started for this host"
    elif not same:
        found = _server_for(view, host, 443)
        mode = ((found[1].get("tls") or {}).get("mode") if found else None)
        hint = (f"the gateway terminates TLS for {host} itself (mode {mode}) and shows its own credential: use "
                "protocol TLS (or HTTPS) with tls.mode: PASSTHROUGH and a VirtualService tls: route"
                if mode and mode != "PASSTHROUGH" else
                "the gateway does not pass this host's TLS through to the backend")
    result.add(f"the client sees the backend's certificate ({backend['subject']})", same,
               f"presented: {seen['subject']}, issuer {seen['issuer']}" if seen else "no certificate", hint)
    server = outcome.header("server")
    if outcome.answered and server is not None:
        result.add("no proxy terminated TLS on the way (the response's Server header is the backend's)",
                   server != "istio-envoy", f"Server: {server}",
                   "istio-envoy answered: the gateway terminated TLS and proxied HTTP")


@checker(lambda lab, host, cacert=None, port=443: f"the gateway completes TLS for {host} with a trusted certificate")
def serves_certificate(result: CheckResult, lab, host: str, cacert=None, port: int = 443) -> None:
    """The TLS handshake for `host` succeeds and curl trusts the certificate (any HTTP status counts: this is
    about the edge, not about what the application answers)."""
    if not precondition(result, lab):
        return
    outcome = edge_curl(lab, host, "/", port=port, cacert=cacert, extra=("-o", "/dev/null"))
    result.add(outcome.command, outcome.answered,
               f"HTTP {outcome.status} after the handshake" if outcome.answered else
               f"{outcome.label}: {outcome.error}",
               "" if outcome.answered else edge_hint(lab, MeshView(lab), host, port, outcome, cacert=cacert))
    presented = presented_certificate(lab, host, port)
    if presented is not None:
        info = certs_lib.inspect(certificate_pem(presented))[0]
        valid = any(san == f"DNS:{host}" or (san.startswith("DNS:*.") and host.endswith(san[5:]))
                    for san in info["sans"])
        result.add(f"the certificate names {host}", valid, f"{info['subject']}; SANs {', '.join(info['sans'])}",
                   "the certificate in the credential Secret was made for another host")


# ---- tables ----------------------------------------------------------------------------------------

def short(body: str, width: int = 80) -> str:
    """The start of a response body on one line (tags dropped): enough to recognise it."""
    import re
    body = re.sub(r"<(style|script)\b.*?</\1>", " ", body or "", flags=re.S | re.I)
    text = " ".join(re.sub(r"<[^>]+>", " ", body).split())
    return text if len(text) <= width else text[:width] + "…"


RED = "#ffcdd2"


def _colour(value) -> str:
    from ..widgets import outcome_colour
    text = str(value)
    if text[:1].isdigit():
        return outcome_colour(text)
    return f"background-color: {RED}; text-align: center"


def edge_table(lab, requests: dict[str, dict]):
    """One row per named request (label → `edge_curl` keyword arguments, with `host` and `path`): the command,
    and what came back, coloured (2xx green, 403 orange, 503 grey, refused/TLS failures red)."""
    import pandas as pd
    rows = []
    for label, spec in requests.items():
        spec = dict(spec)
        host, path = spec.pop("host"), spec.pop("path", "/")
        outcome = edge_curl(lab, host, path, **spec)
        rows.append({"request": label, "result": outcome.label, "curl says": outcome.error or short(outcome.body),
                     "command": outcome.command})
    frame = pd.DataFrame(rows, columns=["request", "result", "curl says", "command"])
    return frame.style.format(escape="html").map(_colour, subset=["result"]).hide(axis="index")


__all__ = ["EdgeOutcome", "GATEWAY_PRINCIPAL", "client_cert_required", "credential_missing", "edge_curl",
           "edge_hint", "edge_table", "foreign_client_rejected", "passthrough_serves", "presented_certificate",
           "serves_certificate", "untrusted_rejected", "via_gateway"]

