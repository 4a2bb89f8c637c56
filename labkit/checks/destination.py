"""Checks on the client side of TLS (DestinationRule modes) and on single calls."""
from __future__ import annotations

from ..contract import Lab
from ..model.destrule import server_identities
from ..model.peerauth import STRICT
from . import hints
from .clients import client_has_sidecar
from .mesh import precondition
from .result import CheckResult, checker
from .state import MeshView
from .targets import service_or_fail, split_target
from .curl_outcomes import describe_expected
from .traffic import curl, hop, snippet


def _split(target: str) -> tuple[str, str, int]:
    return split_target(target, 8000)


def _client_tls_in_force(result: CheckResult, lab: Lab, client_namespace: str, target: str):
    """(view, service, namespace, port, client TLS, how it reads) for a DestinationRule check, or None when the
    lab is not ready or the target is unknown (the result already says why)."""
    if not precondition(result, lab):
        return None
    view = MeshView(lab)
    found = service_or_fail(result, view, target, 8000)
    if found is None:
        return None
    service, namespace, port = found
    tls = view.client_tls(client_namespace, service, port)
    shown = f"{tls.mode} from DestinationRule {hints.rule_ref(tls.rule)}" if tls.rule else "no DestinationRule: auto mTLS"
    return view, service, namespace, port, tls, shown


@checker(lambda lab, client_namespace, target, mode: f"curl.{client_namespace} → {target} uses tls mode {mode}")
def dr_mode(result: CheckResult, lab: Lab, client_namespace: str, target: str, mode: str) -> None:
    """The DestinationRule in effect for this client sets `mode`, and the traffic shows it."""
    found = _client_tls_in_force(result, lab, client_namespace, target)
    if found is None:
        return
    view, service, namespace, port, tls, shown = found
    service_name = service.name
    config_hint = hints.destination_rule(view, client_namespace, namespace, service_name, port, mode)
    result.add(f"a DestinationRule sets {mode}", tls.rule is not None and tls.mode == mode, shown, config_hint)
    seen = hop(lab, client_namespace, target)
    strict = any(view.effective(p).for_port((service.port(port) or service.ports[0]).target_port) == STRICT
                 for p in view.endpoints(service))
    if mode == "DISABLE":
        if strict:
            result.add("the STRICT server refuses the plaintext (503)", seen.outcome.status == "503", seen.outcome.label)
        else:
            result.add("the request arrives as plaintext (no X-Forwarded-Client-Cert)",
                       seen.outcome.answered and not seen.mtls, seen.xfcc or seen.outcome.label,
                       "it still arrives over mTLS: no DISABLE rule is in effect for this client (see above)"
                       if seen.mtls else
                       hints.failed_call(view, client_namespace, True, namespace, service_name, port, seen.outcome))
    elif mode == "ISTIO_MUTUAL":
        result.add("the request arrives over mTLS (X-Forwarded-Client-Cert)", seen.outcome.answered and seen.mtls,
                   f"caller {seen.caller}" if seen.mtls else seen.outcome.label,
                   hints.failed_call(view, client_namespace, True, namespace, service_name, port, seen.outcome))
    else:  # SIMPLE / MUTUAL: the server app speaks TLS itself; the sidecar originates it
        ok = seen.outcome.answered and seen.outcome.status.startswith("2")
        result.add("the sidecar's TLS connection is answered", ok, seen.outcome.label,
                   hints.failed_call(view, client_namespace, True, namespace, service_name, port, seen.outcome))


@checker(lambda lab, client_namespace, target: f"curl.{client_namespace} → {target} accepts only the server's "
         "own identity (secure naming)")
def server_identity_pinned(result: CheckResult, lab: Lab, client_namespace: str, target: str) -> None:
    """A DestinationRule pins the SPIFFE ids the client accepts (`subjectAltNames`), the server's real one is
    among them, and a real request gets through over mTLS."""
    found = _client_tls_in_force(result, lab, client_namespace, target)
    if found is None:
        return
    view, service, namespace, port, tls, shown = found
    pinned = list((tls.settings or {}).get("subjectAltNames") or [])
    result.add("a DestinationRule with ISTIO_MUTUAL lists subjectAltNames", tls.mode == "ISTIO_MUTUAL" and bool(pinned),
               f"{shown}; subjectAltNames: {pinned or 'none'}",
               hints.destination_rule(view, client_namespace, namespace, service.name, port, "ISTIO_MUTUAL"))
    real = sorted({p.spiffe_id for p in view.endpoints(service)})
    accepted = server_identities(tls, view.endpoints(service))
    result.add("the server's certificate carries one of them", bool(real) and set(real) <= set(accepted),
               f"{service.name}.{namespace} runs as {', '.join(real) or 'nothing (no endpoints)'}",
               "the server's SPIFFE id is spiffe://<trust domain>/ns/<its namespace>/sa/<its pods' service account>; "
               f"kubectl get pods -n {namespace} -o jsonpath='{{..serviceAccountName}}' shows the account")
    seen = hop(lab, client_namespace, target)
    result.add("the request is answered over mTLS", seen.outcome.answered and seen.mtls,
               f"caller {seen.caller}" if seen.mtls else seen.outcome.label,
               hints.failed_call(view, client_namespace, True, namespace, service.name, port, seen.outcome))


def _responds_title(lab: Lab, client_namespace, target, expect=200, path="/", contains=None) -> str:
    text = f" showing {contains!r}" if contains else ""
    return f"curl.{client_namespace} → {target}{path}: {describe_expected(expect)}{text}"


@checker(_responds_title)
def responds(result: CheckResult, lab: Lab, client_namespace: str, target: str, expect=200, path: str = "/",
             contains: str | None = None) -> None:
    """One request from a client pod gets the expected status (or curl error such as "reset")."""
    if not precondition(result, lab):
        return
    view = MeshView(lab)
    service, namespace, port = _split(target)
    outcome = curl(lab, client_namespace, target, path, with_body=contains is not None)
    ok = outcome.matches(expect)
    hint = ""
    if not ok:
        if outcome.answered and str(expect) == "reset":
            hint = hints.not_strict(view, namespace, service, port)
        else:
            hint = hints.failed_call(view, client_namespace, client_has_sidecar(view, client_namespace), namespace,
                                     service, port, outcome)
    result.add(f"{outcome.client} → {outcome.target}", ok, f"{outcome.label} (expected {describe_expected(expect)})",
               hint)
    if contains is not None:
        result.add(f"the response shows {contains!r}", contains in outcome.body, snippet(outcome.body, contains))
