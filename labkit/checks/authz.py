"""Checks on AuthorizationPolicy as traffic shows it (labs 12–17): who gets 200, who gets Envoy's
`403 RBAC: access denied`, who is reset before any policy is read (a plaintext caller of a STRICT server).

The callers are real: curl on this machine through the ingress gateway (whose identity is
`cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account`), curl in a pod with a sidecar
(a mesh identity, but not the allowed one), curl in a pod without a sidecar (no identity at all).
"""
from __future__ import annotations

from ..contract import Lab
from ..constants import GATEWAY_PRINCIPAL
from ..model.authz import action_of, allows_anyone, source_principals
from ..model.mesh import workload_selector
from . import hints
from .authz_hints import DENIED_BODY, caller_allowed_hint, caller_denied_hint, record_refusal
from .clients import NO_MTLS_CLIENT, NO_PLAINTEXT_CLIENT, pick_client, principal_of
from .curl_outcomes import describe_expected
from .edge_hints import edge_hint
from .edge_probe import edge_curl
from .mesh import precondition
from .result import CheckResult, checker
from .state import MeshView, ref
from .targets import split_target
from .traffic import curl, snippet


# ---- checks --------------------------------------------------------------------------------------

@checker(lambda lab, namespace, service, host, port=80, path="/get":
         f"only the ingress gateway may call {service}.{namespace}")
def only_gateway_allowed(result: CheckResult, lab: Lab, namespace: str, service: str, host: str, port: int = 80,
                         path: str = "/get") -> None:
    """Through the gateway: 200. From a pod with a sidecar (a mesh identity, not the gateway's): 403
    `RBAC: access denied`. From a pod without a sidecar (plaintext into STRICT): reset (curl 56)."""
    if not precondition(result, lab):
        return
    view = MeshView(lab)
    if view.service(service, namespace) is None:
        result.add(f"service {service}.{namespace}", False, "not found",
                   hints.missing_deployment(view, namespace, service))
        return
    outcome = edge_curl(lab, host, path, port=80)
    ok = outcome.matches(200)
    hint = ""
    if not ok:
        hint = (caller_denied_hint(view, namespace, service, GATEWAY_PRINCIPAL) if outcome.status == "403"
                else edge_hint(lab, view, host, 80, outcome))
    result.add(f"through the gateway: {outcome.command}", ok, outcome.label, hint)

    client = pick_client(view, sidecar=True, prefer=(namespace,))
    if client is None:
        result.add("from a pod with a sidecar", False, "no curl pod with a sidecar", NO_MTLS_CLIENT)
    else:
        seen = curl(lab, client[0], f"{service}.{namespace}:{port}", path, client=client[1], with_body=True)
        denied = seen.status == "403" and DENIED_BODY in seen.body
        principal = principal_of(view, *client)
        hint = ""
        if not denied:
            hint = (caller_allowed_hint(view, namespace, service, principal) if seen.answered and seen.status != "403"
                    else hints.failed_call(view, client[0], True, namespace, service, port, seen))
        result.add(f"from {seen.client} (sidecar, identity {principal}): 403 {DENIED_BODY}", denied,
                   f"{seen.label}: {snippet(seen.body, 'RBAC') if seen.answered else seen.error}", hint)

    bare = pick_client(view, sidecar=False, prefer=("legacy",))
    if bare is None:
        result.add("from a pod without a sidecar", False, "no curl pod without a sidecar", NO_PLAINTEXT_CLIENT)
    else:
        seen = curl(lab, bare[0], f"{service}.{namespace}:{port}", path, client=bare[1])
        result.add(f"from {seen.client} (no sidecar): reset", seen.reset, f"{seen.label}: {seen.error or seen.status}",
                   "" if seen.reset else hints.not_strict(view, namespace, service, port))


def _pages_title(lab: Lab, host, path="/productpage", every=(), some=(), none=(), loads=4, expect=200) -> str:
    parts = [f"every load shows {t!r}" for t in every] + [f"one shows {t!r}" for t in some] + \
        [f"none shows {t!r}" for t in none]
    return f"http://{host}{path} over {loads} loads: " + ("; ".join(parts) or describe_expected(expect))


@checker(_pages_title)
def pages_show(result: CheckResult, lab: Lab, host: str, path: str = "/productpage", every=(), some=(), none=(),
               loads: int = 4, expect=200) -> None:
    """Load a page several times through the gateway (port 80): Bookinfo's product page differs by which
    reviews version answered, so "one load shows" and "no load shows" need several."""
    if not precondition(result, lab):
        return
    outcomes = [edge_curl(lab, host, path, port=80) for _ in range(loads)]
    ok = all(o.matches(expect) for o in outcomes)
    view = MeshView(lab)
    result.add(f"{loads}× {outcomes[0].command}", ok, ", ".join(o.label for o in outcomes),
               "" if ok else edge_hint(lab, view, host, 80, next(o for o in outcomes if not o.matches(expect))))
    bodies = [o.body for o in outcomes]
    for text in every:
        seen = sum(text in b for b in bodies)
        result.add(f"every load shows {text!r}", seen == loads, f"{seen} of {loads}", authz_summary(view, host))
    for text in some:
        seen = sum(text in b for b in bodies)
        result.add(f"at least one load shows {text!r}", seen > 0, f"{seen} of {loads}", authz_summary(view, host))
    for text in none:
        seen = sum(text in b for b in bodies)
        shown = next((snippet(b, text) for b in bodies if text in b), "")
        result.add(f"no load shows {text!r}", seen == 0, f"{seen} of {loads}" + (f": {shown}" if shown else ""),
                   authz_summary(view, host))


def authz_summary(view: MeshView, host: str) -> str:
    """Which callers the ALLOW policies of the namespaces behind a host let in, and principal typos."""
    namespaces = sorted({v["metadata"]["namespace"] for v in view.of_kind("VirtualService")
                         if host in ((v.get("spec") or {}).get("hosts") or [])})
    parts = []
    for namespace in namespaces:
        for policy in view.model_policies("AuthorizationPolicy", namespace):
            selector = workload_selector(policy) or "every workload"
            rules = (policy.get("spec") or {}).get("rules")
            who = ", ".join(source_principals(policy)) or ("anyone" if rules and allows_anyone(policy) else
                                                     "nobody" if not rules else "anyone matching its rules")
            parts.append(f"{ref(policy)} ({action_of(policy)}, {selector}): {who}")
        parts.extend(hints.principal_typos(view, namespace))
    if not parts:
        return ""
    return ("A workload with an ALLOW policy accepts only callers a rule matches; each caller's identity is "
            "cluster.local/ns/<namespace>/sa/<service account>. Policies now: " + "; ".join(parts))


def _refuses_title(lab, caller, targets, path="/") -> str:
    return f"{caller[1]}.{caller[0]} (another mesh identity) is refused by {', '.join(targets)}"


@checker(_refuses_title)
def refuses_other_callers(result: CheckResult, lab, caller: tuple[str, str], targets, path: str = "/") -> None:
    """Each target answers `caller` (namespace, deployment; a pod with a sidecar, whose identity no policy
    names) with Envoy's 403 `RBAC: access denied`. A page that loads proves the allowed caller gets in; only
    a refused stranger proves nobody else does (an ALLOW rule `- {}` or one without `from` lets anyone in)."""
    if not precondition(result, lab):
        return
    view = MeshView(lab)
    principal = principal_of(view, *caller)
    for target in targets:
        name, namespace, port = split_target(target, 80)
        if view.service(name, namespace) is None:
            result.add(f"service {target}", False, "not found", hints.missing_deployment(view, namespace, name))
            continue
        seen = curl(lab, caller[0], target, path, client=caller[1], with_body=True)
        record_refusal(result, view, seen, caller[0], namespace, name, port, principal, target)


__all__ = ["caller_allowed_hint", "caller_denied_hint", "only_gateway_allowed", "pages_show",
           "refuses_other_callers"]
