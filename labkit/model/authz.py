"""Which AuthorizationPolicies apply to a workload (istio-semantics.md §3)."""
from __future__ import annotations

from .gateway_deploy import automated_gateway_of
from .kinds import GATEWAY_API_GROUP
from .mesh import ROOT_NAMESPACE, MeshModel, Pod, workload_selector

SUPPORTED_ACTIONS = ("ALLOW", "DENY")


def target_refs(policy: dict) -> list[dict]:
    spec = policy.get("spec") or {}
    return list(spec.get("targetRefs") or []) + ([spec["targetRef"]] if spec.get("targetRef") else [])


def targets_pod(policy: dict, pod: Pod) -> bool:
    """A policy with `targetRefs` applies to the pods of the Gateways it names (kind Gateway, group
    gateway.networking.k8s.io, in the policy's namespace), and its selector is not used (istio.io
    AuthorizationPolicy reference, "targetRefs"; pilot/pkg/model/policyattachment.go)."""
    gateway = automated_gateway_of(pod.labels)
    return gateway is not None and pod.namespace == policy["metadata"]["namespace"] and any(
        ref.get("kind") == "Gateway" and ref.get("group") == GATEWAY_API_GROUP and ref.get("name") == gateway
        for ref in target_refs(policy))


def policies_for(model: MeshModel, pod: Pod) -> list[dict]:
    """Policies in the pod's namespace or the root namespace whose selector (if any) matches the pod, or
    whose targetRefs name the pod's Gateway."""
    out = []
    for policy in model.of_kind("AuthorizationPolicy"):
        namespace = policy["metadata"]["namespace"]
        if namespace not in (pod.namespace, ROOT_NAMESPACE):
            continue
        if target_refs(policy):
            if targets_pod(policy, pod):
                out.append(policy)
        elif pod.matches(workload_selector(policy)):
            out.append(policy)
    return out


def action_of(policy: dict) -> str:
    return (policy.get("spec") or {}).get("action") or "ALLOW"


def by_action(policies: list[dict]) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for policy in policies:
        grouped.setdefault(action_of(policy), []).append(policy)
    return grouped


def unsupported(policies: list[dict]) -> list[str]:
    """Human messages for what the local mesh cannot enforce (AUDIT, CUSTOM, JWT fields)."""
    notes = []
    for policy in policies:
        name = f"{policy['metadata']['name']}.{policy['metadata']['namespace']}"
        action = action_of(policy)
        if action not in SUPPORTED_ACTIONS:
            notes.append(f"AuthorizationPolicy {name}: action {action} is not supported on the local mesh "
                         "(AUDIT only marks requests; CUSTOM needs an external authorizer); it is ignored")
        for rule in (policy.get("spec") or {}).get("rules") or []:
            for entry in rule.get("from") or []:
                source = entry.get("source") or {}
                if source.get("requestPrincipals") or source.get("notRequestPrincipals"):
                    notes.append(f"AuthorizationPolicy {name}: requestPrincipals need RequestAuthentication "
                                 "(JWT), which the local mesh does not run; such rules never match")
    return notes


def source_principals(policy: dict) -> list[str]:
    """The principals an AuthorizationPolicy's rules name under from.source.principals."""
    return [p for rule in (policy.get("spec") or {}).get("rules") or [] for source in rule.get("from") or []
            for p in (source.get("source") or {}).get("principals") or []]


def allows_anyone(policy: dict) -> bool:
    """An ALLOW rule without `from` matches every caller (with or without an identity)."""
    return any(not rule.get("from") for rule in (policy.get("spec") or {}).get("rules") or [])
