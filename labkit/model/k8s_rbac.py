"""Kubernetes RBAC, the part Istio asks about: may a service account `list` secrets in a namespace?

istiod serves a sidecar the key and certificate of a DestinationRule `credentialName` only when a
SubjectAccessReview for (verb list, resource secrets, the proxy's namespace, user
system:serviceaccount:<ns>:<sa>) is allowed (istio/istio pilot/pkg/credentials/kube/secrets.go
Authorize). Rules followed (Kubernetes "Using RBAC Authorization"): a RoleBinding grants a Role of its
namespace or a ClusterRole within its namespace; a ClusterRoleBinding grants a ClusterRole everywhere;
subjects are a ServiceAccount (name + namespace), or the groups system:serviceaccounts and
system:serviceaccounts:<ns>; "*" matches any apiGroup, resource or verb; a rule with resourceNames does
not allow `list`.
"""
from __future__ import annotations

from .mesh import MeshModel


def _rule_allows(rule: dict, verb: str, resource: str) -> bool:
    groups, resources, verbs = rule.get("apiGroups") or [], rule.get("resources") or [], rule.get("verbs") or []
    if rule.get("resourceNames") and verb == "list":
        return False
    return (("" in groups or "*" in groups) and (resource in resources or "*" in resources)
            and (verb in verbs or "*" in verbs))


def _subject_matches(subject: dict, namespace: str, service_account: str, binding_namespace: str | None) -> bool:
    kind = subject.get("kind")
    if kind == "ServiceAccount":
        return subject.get("name") == service_account and (subject.get("namespace") or binding_namespace) == namespace
    if kind == "Group":
        return subject.get("name") in ("system:serviceaccounts", f"system:serviceaccounts:{namespace}")
    if kind == "User":
        return subject.get("name") == f"system:serviceaccount:{namespace}:{service_account}"
    return False


def _role_rules(model: MeshModel, ref: dict, binding_namespace: str | None) -> list[dict]:
    kind, name = ref.get("kind"), ref.get("name")
    for role in model.of_kind(kind or ""):
        meta = role["metadata"]
        if meta["name"] == name and (kind == "ClusterRole" or meta.get("namespace") == binding_namespace):
            return list(role.get("rules") or [])
    return []


def service_account_may(model: MeshModel, namespace: str, service_account: str, verb: str, resource: str) -> bool:
    """Whether `verb` on `resource` (core group) in `namespace` is allowed for the service account."""
    for binding in model.of_kind("RoleBinding"):
        if binding["metadata"].get("namespace") != namespace:
            continue
        if any(_subject_matches(s, namespace, service_account, namespace) for s in binding.get("subjects") or []):
            if any(_rule_allows(r, verb, resource) for r in _role_rules(model, binding.get("roleRef") or {}, namespace)):
                return True
    for binding in model.of_kind("ClusterRoleBinding"):
        if any(_subject_matches(s, namespace, service_account, None) for s in binding.get("subjects") or []):
            ref = binding.get("roleRef") or {}
            if ref.get("kind") == "ClusterRole" and any(_rule_allows(r, verb, resource)
                                                        for r in _role_rules(model, ref, None)):
                return True
    return False
