"""Labs 15–17: checks for the capstone's faults, and the verification flow as a table (seed 004).

`verification_flow(lab, namespace, service)` walks the flow a mesh operator follows when mTLS or
authorization misbehaves: mesh-wide policy, namespace and workload policy, sidecars, DestinationRules,
client/server TLS pairings, AuthorizationPolicies, and what the proxies really logged. Each row names the
real-cluster command, what labkit found, and whether it looks wrong. Run it again after each fix.
"""
from __future__ import annotations

import time

from ..contract import Lab
from ..errors import LabkitError
from ..model.destrule import AUTO, applies_to_host
from ..model.peerauth import DISABLE, STRICT
from . import hints
from ..model.authz import source_principals
from .authz_hints import allow_policies, caller_denied_hint, record_refusal
from .clients import principal_of
from .mesh import precondition
from .result import CheckResult, checker
from .state import ROOT_NAMESPACE, MeshView, policy_mode, policy_selector, ref
from .targets import service_or_fail, split_target
from .traffic import curl

FLUSH_WAIT_S = 2.0


def _split(target: str) -> tuple[str, str, int]:
    return split_target(target, 80)


def _wait_for_call(lab: Lab, since: float, source: str, destination_prefix: tuple[str, ...]):
    """The evidence row of a call made after `since` (access logs are flushed every 200 ms locally)."""
    deadline = time.monotonic() + FLUSH_WAIT_S
    while True:
        calls = lab.evidence(since=since).calls
        rows = calls[(calls.source == source) & calls.destination.str.startswith(destination_prefix)]
        if len(rows) or time.monotonic() > deadline:
            return rows.iloc[-1].to_dict() if len(rows) else None
        time.sleep(0.1)


@checker(lambda lab, client_namespace, client, target, path="/":
         f"{client}.{client_namespace} → {target} is mutual TLS")
def mtls_between(result: CheckResult, lab: Lab, client_namespace: str, client: str, target: str, path: str = "/") -> None:
    """The client's sidecar sends mTLS (no DestinationRule turns it off), the server's sidecar takes it, and the
    access logs show the call as mTLS. An authorization 403 still counts: that call did arrive over mTLS."""
    if not precondition(result, lab):
        return
    view = MeshView(lab)
    found = service_or_fail(result, view, target, 80)
    if found is None:
        return
    service, namespace, port = found
    name = service.name
    since = time.time() - 0.05
    seen = curl(lab, client_namespace, target, path, client=client)
    refused = seen.status == "503" or not seen.answered
    result.add(f"{seen.client} → {seen.target}: no 503 or reset", not refused, seen.label,
               hints.failed_call(view, client_namespace, True, namespace, name, port, seen) if refused else "")
    tls = view.client_tls(client_namespace, service, port)
    sends = tls.mode in (AUTO, "ISTIO_MUTUAL")
    result.add("the client's sidecar sends mTLS (auto mTLS or ISTIO_MUTUAL)", sends,
               f"{tls.mode} ({'DestinationRule ' + hints.rule_ref(tls.rule) if tls.rule else 'no DestinationRule'})",
               "" if sends else hints.destination_rule(view, client_namespace, namespace, name, port, "ISTIO_MUTUAL"))
    pods = view.endpoints(service)
    bare = [p.name for p in pods if not view.has_sidecar(namespace, p.name)]
    result.add(f"{name}.{namespace} has a sidecar to terminate mTLS", bool(pods) and not bare,
               ", ".join(bare) + " without a sidecar" if bare else f"{len(pods)} pod(s), all with a sidecar",
               hints.missing_sidecar(view, namespace, bare[0]) if bare else
               ("" if pods else f"no pod behind {name}.{namespace}"))
    if refused or bare:
        return
    call = _wait_for_call(lab, since, f"{client_namespace}/{client}", (f"{namespace}/", f"service:{name}.{namespace}"))
    result.add("the access logs show the call as mTLS (lab.evidence())", bool(call and call.get("mtls") is True),
               f"mtls={call.get('mtls')}, caller {call.get('client_identity')}" if call else "no call logged",
               "" if call else "lab.logs(namespace, pod, container='istio-proxy') shows each sidecar's access log")


@checker(lambda lab, target, allowed, denied, path="/":
         f"only {allowed[1]}.{allowed[0]} may call {target} ({denied[1]}.{denied[0]} gets 403)")
def only_caller_allowed(result: CheckResult, lab: Lab, target: str, allowed: tuple[str, str], denied: tuple[str, str],
                        path: str = "/") -> None:
    """`allowed` (namespace, deployment) gets 200 from `target`; `denied`, another caller with a sidecar, gets
    Envoy's 403 `RBAC: access denied`."""
    if not precondition(result, lab):
        return
    view = MeshView(lab)
    name, namespace, port = _split(target)
    if view.service(name, namespace) is None:
        result.add(f"service {target}", False, "not found", hints.missing_deployment(view, namespace, name))
        return
    good = curl(lab, allowed[0], target, path, client=allowed[1], with_body=True)
    principal = principal_of(view, *allowed)
    ok = good.answered and good.status == "200"
    hint = ""
    if not ok:
        hint = (caller_denied_hint(view, namespace, name, principal) if good.status == "403" else
                hints.failed_call(view, allowed[0], True, namespace, name, port, good))
    result.add(f"{good.client} ({principal}) → {target}: 200", ok, good.label, hint)
    bad = curl(lab, denied[0], target, path, client=denied[1], with_body=True)
    record_refusal(result, view, bad, denied[0], namespace, name, port, principal_of(view, *denied), target)


# ---- access logs, as a table ------------------------------------------------------------------------

# ---- the verification flow -------------------------------------------------------------------------

OK, LOOK, INFO = "ok", "look here", "info"


def verification_flow(lab: Lab, namespace: str, service: str, port: int | None = None, since=None):
    """Seed 004's verification flow for one service, as a table: step, the command on a real cluster, what
    labkit found, and a verdict (ok / look here / info). `since` (time.time()) limits the last step to the
    calls logged after it."""
    import pandas as pd
    view = MeshView(lab)
    svc = view.service(service, namespace)
    if svc is None:
        raise LabkitError(f"no Service {service} in namespace {namespace}",
                          hint=hints.missing_deployment(view, namespace, service))
    sp = svc.port(port) if port else (svc.ports[0] if svc.ports else None)
    pods = view.endpoints(svc)
    rows = []

    def row(step, command, found, verdict):
        rows.append({"step": step, "on a cluster": command, "found": found, "verdict": verdict})

    mesh = [p for p in view.peer_authentications(ROOT_NAMESPACE) if not policy_selector(p)]
    row("1. mesh-wide PeerAuthentication", "kubectl get peerauthentication -n istio-system",
        ", ".join(f"{ref(p)}: {policy_mode(p)}" for p in mesh) or "none (the default is PERMISSIVE)", INFO)
    local = view.peer_authentications(namespace)
    row("2. namespace and workload PeerAuthentication", f"kubectl get peerauthentication -n {namespace}",
        ", ".join(f"{ref(p)}: {policy_mode(p)}" + (f" for {policy_selector(p)}" if policy_selector(p) else "")
                  for p in local) or "none", INFO)
    bare = [p.name for p in pods if not view.has_sidecar(namespace, p.name)]
    row("3. sidecars on the service's pods", f"kubectl get pods -n {namespace} -l {_selector_text(svc)}",
        (f"{len(pods)} pod(s); without a sidecar: {', '.join(bare)}" if bare else f"{len(pods)} pod(s), all 2/2")
        if pods else "no pods", LOOK if bare or not pods else OK)
    modes = []
    for pod in pods:
        if view.has_sidecar(namespace, pod.name):
            effective = view.effective(pod)
            modes.append(f"{pod.name}: {effective.for_port(sp.target_port) if sp else effective.mode}"
                         f" ({', '.join(effective.applied) or 'no policy'})")
        else:
            modes.append(f"{pod.name}: not enforced (no sidecar)")
    row("4. effective mTLS mode", f"istioctl x describe pod <pod> -n {namespace}", "; ".join(modes) or "-",
        LOOK if bare else INFO)
    rules = [r for r in view.model_policies("DestinationRule")
             if applies_to_host(r, svc.fqdn)]
    strict = any(view.has_sidecar(namespace, p.name) and sp and view.effective(p).for_port(sp.target_port) == STRICT
                 for p in pods)
    disabling = [r for r in rules if _dr_mode(r) == DISABLE]
    row("5. DestinationRules for the host", f"kubectl get destinationrule -A | grep {service}",
        ", ".join(f"{ref(r)}: {_dr_mode(r) or '-'}" for r in rules) or "none (auto mTLS)",
        LOOK if disabling and strict else INFO)
    try:
        table = lab.tls_status(service=f"{service}.{namespace}")
        conflicts = table[table.status != "OK"]
        meshed = conflicts[conflicts.client_sidecar.astype(bool)]     # a TLS mismatch between two proxies
        outside = conflicts[~conflicts.client_sidecar.astype(bool)]   # plaintext callers that STRICT refuses
        parts = []
        if len(meshed):
            parts.append(", ".join(f"{c} → {e}" for c, e in zip(meshed.client, meshed.expected))
                         + f" ({meshed.reason.iloc[0]})")
        if len(outside):
            parts.append(", ".join(outside.client) + " (no sidecar) → reset: what STRICT is for, unless they must "
                         "call it")
        found = f"{len(table)} client pairing(s)" + (": " + "; ".join(parts) if parts else ", no conflict")
        row("6. client ↔ server TLS", "istioctl authn tls-check (retired) / lab.tls_status()", found,
            LOOK if len(meshed) else OK if not len(outside) else INFO)
    except (LabkitError, AttributeError):
        pass
    _, allows = allow_policies(view, namespace, service)
    typos = hints.principal_typos(view, namespace)
    row("7. AuthorizationPolicies", f"kubectl get authorizationpolicy -n {namespace} -o yaml",
        "; ".join(f"{ref(p)} allows {', '.join(source_principals(p)) or 'per its rules'}" for p in allows)
        or "none: every caller is allowed", LOOK if typos else INFO)
    try:
        calls = lab.evidence(since=since).calls
        prefix = tuple(f"{namespace}/{p.deployment or p.name}" for p in pods) + (f"service:{service}.{namespace}",)
        mine = calls[calls.destination.isin(prefix)]
        if len(mine):
            by_code = ", ".join(f"{'reset' if c == 0 else c}×{n}" for c, n in sorted(mine.code.value_counts().items()))
            plain = mine.mtls.map(lambda v: v is False)
            accepted = mine[plain & (mine.code > 0) & (mine.code < 400)]   # plaintext that got in: a hole
            broken = mine[mine.code >= 500]                                # e.g. 503: a TLS mismatch
            notes = [f"{len(accepted)} accepted in plaintext" if len(accepted) else "",
                     f"{len(broken)} failed with 5xx" if len(broken) else "",
                     f"{int((mine.code == 403).sum())} refused by a policy (403)" if (mine.code == 403).any() else "",
                     f"{int((mine.code == 0).sum())} reset" if (mine.code == 0).any() else ""]
            row("8. what the proxies logged", "kubectl logs <pod> -c istio-proxy / Kiali",
                f"{len(mine)} call(s): {by_code}; " + "; ".join(n for n in notes if n),
                LOOK if len(accepted) or len(broken) else OK)
        else:
            row("8. what the proxies logged", "kubectl logs <pod> -c istio-proxy / Kiali", "no calls yet", INFO)
    except (LabkitError, OSError):
        pass
    frame = pd.DataFrame(rows, columns=["step", "on a cluster", "found", "verdict"])
    colours = {OK: "background-color: #c8e6c9", LOOK: "background-color: #ffcdd2", INFO: ""}
    return frame.style.format(escape="html").map(lambda v: colours.get(v, ""), subset=["verdict"]).hide(
        axis="index").set_properties(subset=["found"], **{"text-align": "left"})


def _dr_mode(rule: dict) -> str | None:
    return (((rule.get("spec") or {}).get("trafficPolicy") or {}).get("tls") or {}).get("mode")


def _selector_text(service) -> str:
    selector = getattr(service, "selector", None) or {}
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or "<labels>"


__all__ = ["mtls_between", "only_caller_allowed", "verification_flow"]
