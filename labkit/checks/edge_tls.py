"""Checks at the edge: real curl from this machine to the ingress gateway, over HTTP and HTTPS (labs 08–17).

The probes are in `edge_probe`, what the configuration says about a failure in `edge_hints`; each check
here passes on the state a lab step asks for and fails, with that hint, on any other.
"""
from __future__ import annotations

from ..contract import Lab
from .. import certs as certs_lib
from ..constants import GATEWAY_NAMESPACE
from ..display.colours import short
from . import hints
from .curl_outcomes import describe_expected
from .edge_hints import conflicting_gateways_hint, edge_hint
from .edge_probe import certificate_pem, edge_curl, presented_certificate
from .gateway_config import secret_certificate, server_for
from .mesh import precondition
from .result import CheckResult, checker
from .state import MeshView
from .traffic import snippet


# ---- checks --------------------------------------------------------------------------------------

def _scheme(port, cacert, cert) -> str:
    return "https" if (port or (443 if cacert or cert else 80)) in (443, 8443) else "http"


def _via_title(lab: Lab, host, path="/", expect=200, contains=None, port=None, cacert=None, cert=None,
               key=None) -> str:
    return (f"{_scheme(port, cacert, cert)}://{host}{path} via the ingress gateway: {describe_expected(expect)}"
            + (" with a client certificate" if cert else "") + (f" showing {contains!r}" if contains else ""))


@checker(_via_title)
def via_gateway(result: CheckResult, lab: Lab, host: str, path: str = "/", expect=200, contains: str | None = None,
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
def untrusted_rejected(result: CheckResult, lab: Lab, host: str, path: str = "/") -> None:
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
def credential_missing(result: CheckResult, lab: Lab, host: str, cacert=None) -> None:
    """The Gateway's credentialName names no Secret: the gateway ends the handshake and says why in its log."""
    if not precondition(result, lab):
        return
    view = MeshView(lab)
    found = server_for(view, host, 443)
    name = ((found[1].get("tls") or {}).get("credentialName") if found else None)
    outcome = edge_curl(lab, host, "/", port=443, cacert=cacert)
    exists = name is not None and view.find("Secret", name, GATEWAY_NAMESPACE) is not None
    result.add(outcome.command, outcome.tls_failed, f"{outcome.label}: {outcome.error or outcome.status}",
               f"credentialName {name!r} names an existing Secret, so the gateway has its certificate: set it to a "
               "name that does not exist (wrong-secret) to see the failure." if exists else
               edge_hint(lab, view, host, 443, outcome, cacert=cacert))
    if not name:
        result.add("a server for the host has a credentialName", False, "none found",
                   f"the HTTPS server for {host} on port 443 needs tls.credentialName")
        return
    # As on a cluster: istiod says which secret it cannot find; the gateway's Envoy only waits for it.
    wanted = f"failed to fetch key and certificate for kubernetes://{name}"
    lines = [line for line in lab.logs(GATEWAY_NAMESPACE, "istiod").splitlines() if wanted in line]
    result.add(f"istiod's log says {wanted!r}", bool(lines), snippet("\n".join(lines), "kubernetes://") if lines
               else "no such line", "the Secret exists, so nothing is missing" if exists else
               "look yourself: kubectl logs -n istio-system deploy/istiod | grep " + name)


@checker(lambda lab, host, path="/", cacert=None, cert=None, key=None:
         f"{host} requires a client certificate (MUTUAL)")
def client_cert_required(result: CheckResult, lab: Lab, host: str, path: str = "/", cacert=None, cert=None,
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
    found = server_for(view, host, 443)
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
def foreign_client_rejected(result: CheckResult, lab: Lab, host: str, path: str = "/", cacert=None, cert=None,
                            key=None) -> None:
    if not precondition(result, lab):
        return
    outcome = edge_curl(lab, host, path, port=443, cacert=cacert, cert=cert, key=key)
    hint = ""
    if outcome.answered:
        view = MeshView(lab)
        found = server_for(view, host, 443)
        mode = ((found[1].get("tls") or {}).get("mode") if found else None)
        hint = (f"the server for {host} is {mode}: only MUTUAL verifies client certificates" if mode != "MUTUAL" else
                "the gateway trusts the CA that signed this certificate: is it really from another CA?")
    result.add(outcome.command, outcome.tls_failed, outcome.label + (f": {outcome.error}" if outcome.error else ""),
               hint)


@checker(lambda lab, host, path="/", cacert=None, namespace=None, secret=None, contains=None:
         f"https://{host}{path} reaches the backend's own TLS (PASSTHROUGH)")
def passthrough_serves(result: CheckResult, lab: Lab, host: str, path: str = "/", cacert=None, namespace: str = "",
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
        found = server_for(view, host, 443)
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
def serves_certificate(result: CheckResult, lab: Lab, host: str, cacert=None, port: int = 443) -> None:
    """The TLS handshake for `host` succeeds and curl trusts the certificate (any HTTP status counts: this is
    about the edge, not about what the application answers)."""
    if not precondition(result, lab):
        return
    outcome = edge_curl(lab, host, "/", port=port, cacert=cacert, extra=("-o", "/dev/null"))
    result.add(outcome.command, outcome.answered,
               f"HTTP {outcome.status} after the handshake" if outcome.answered else
               f"{outcome.label}: {outcome.error}",
               "" if outcome.answered else edge_hint(lab, MeshView(lab), host, port, outcome, cacert=cacert))
    conflict = conflicting_gateways_hint(MeshView(lab), host, port)
    if conflict:
        result.add(f"one Gateway serves {host} on port {port}", False, "conflicting Gateways", conflict)
    presented = presented_certificate(lab, host, port)
    if presented is not None:
        info = certs_lib.inspect(certificate_pem(presented))[0]
        valid = any(san == f"DNS:{host}" or (san.startswith("DNS:*.") and host.endswith(san[5:]))
                    for san in info["sans"])
        result.add(f"the certificate names {host}", valid, f"{info['subject']}; SANs {', '.join(info['sans'])}",
                   "the certificate in the credential Secret was made for another host")


# ---- tables ----------------------------------------------------------------------------------------


# ---- tables ----------------------------------------------------------------------------------------

__all__ = ["client_cert_required", "credential_missing", "edge_curl",
           "edge_hint", "foreign_client_rejected", "passthrough_serves", "presented_certificate",
           "serves_certificate", "untrusted_rejected", "via_gateway"]

