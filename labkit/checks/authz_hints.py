"""Why a caller is denied (403) or let in by AuthorizationPolicy, read from the policies that apply."""
from __future__ import annotations

import difflib

from ..model.authz import action_of, allows_anyone, policies_for, source_principals
from ..model.mesh import workload_selector
from . import hints
from .result import CheckResult
from .state import MeshView, labels_text, ref
from .traffic import Outcome, snippet


DENIED_BODY = "RBAC: access denied"


def allow_policies(view: MeshView, namespace: str, service_name: str) -> tuple[list, list[dict]]:
    """(pods behind the service, ALLOW policies that apply to them)."""
    service = view.service(service_name, namespace)
    pods = view.endpoints(service) if service else []
    found: dict[str, dict] = {}
    for pod in pods:
        for policy in policies_for(view.model, pod):
            if action_of(policy) == "ALLOW":
                found[ref(policy)] = policy
    return pods, list(found.values())


def caller_denied_hint(view: MeshView, namespace: str, service_name: str, principal: str) -> str:
    """Why a caller with identity `principal` gets 403 from `service_name.namespace`."""
    pods, allows = allow_policies(view, namespace, service_name)
    if not allows:
        return "a DENY policy matches this caller (kubectl get authorizationpolicy -n " + namespace + ")."
    causes, named = [], set()
    for policy in allows:
        if not (policy.get("spec") or {}).get("rules"):
            causes.append(f"{ref(policy)} has no rules (allow-nothing): it denies every request to the workloads "
                          "it selects.")
            continue
        allowed = source_principals(policy)
        if principal in allowed:
            causes.append(f"{ref(policy)} lists {principal}, so a `to` (methods, paths) or `when` condition of the "
                          "rule does not match this request.")
            continue
        close = difflib.get_close_matches(principal, allowed, n=1, cutoff=0.6)
        if close:  # say it once: the near miss and the real identity (not again as a typo below)
            named.add(ref(policy))
            causes.append(f"{ref(policy)} allows {close[0]}, almost but not the caller's identity {principal}: "
                          "write it exactly (cluster.local/ns/<namespace>/sa/<service account>).")
        else:
            causes.append(f"{ref(policy)} allows {', '.join(allowed) or 'no principal'}, not {principal}.")
    causes.extend(t for t in hints.principal_typos(view, namespace) if t.split(": ", 1)[0] not in named)
    return hints.join(causes)


def caller_allowed_hint(view: MeshView, namespace: str, service_name: str, principal: str | None) -> str:
    """Why a caller that should be denied got through."""
    pods, allows = allow_policies(view, namespace, service_name)
    if not pods:
        return f"no pod behind {service_name}.{namespace}."
    unguarded = [p.name for p in pods if not view.has_sidecar(namespace, p.name)]
    if unguarded:
        return (f"{unguarded[0]} has no sidecar, so nothing enforces any policy there: "
                + hints.missing_sidecar(view, namespace, unguarded[0]))
    if not allows:
        selectors = [(ref(p), workload_selector(p))
                     for p in view.model_policies("AuthorizationPolicy", namespace)]
        if selectors:
            name, selector = selectors[0]
            return (f"no ALLOW policy applies to {service_name}'s pods: {name} selects {selector}, but the pods' "
                    f"labels are {labels_text(pods[0].labels)}.")
        return (f"no AuthorizationPolicy applies to {service_name}.{namespace}: without an ALLOW policy every caller "
                "is allowed. Apply one that selects its pods and allows only the wanted principal.")
    for policy in allows:
        if allows_anyone(policy):
            return (f"{ref(policy)} has a rule without `from`, which matches every caller (`rules: [{{}}]`, or a "
                    "rule with only `to`): put the allowed principal under `from: - source: principals: [...]`.")
        if principal and principal in source_principals(policy):
            return f"{ref(policy)} allows {principal} itself."
    return ""


def record_refusal(result: CheckResult, view: MeshView, seen: Outcome, caller_namespace: str, namespace: str,
                   service: str, port: int, principal: str, target: str) -> None:
    """One item of a check: the curl `seen` (from a caller with identity `principal`) must be refused with
    Envoy's 403 `RBAC: access denied`; if it was not, the hint says why (a policy that lets it in, or why
    the call failed otherwise)."""
    refused = seen.status == "403" and DENIED_BODY in seen.body
    hint = ""
    if not refused:
        hint = (caller_allowed_hint(view, namespace, service, principal) if seen.answered else
                hints.failed_call(view, caller_namespace, True, namespace, service, port, seen))
    result.add(f"{seen.client} ({principal}) → {target}: 403 {DENIED_BODY}", refused,
               f"{seen.label}: {snippet(seen.body, 'RBAC') if seen.answered else seen.error}", hint)
