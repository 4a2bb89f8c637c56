"""Kubernetes RBAC: may a user (or a service account) do a verb on a resource? The one home of the rule.

Asked by istiod's credential check (a sidecar gets a DestinationRule `credentialName` only when its
service account may `list` secrets in its namespace: istio/istio pilot/pkg/credentials/kube/secrets.go
Authorize) and by the local Kubernetes API, which authorizes every request of a user other than the
lab's admin with it (kubeapi/authz.py), so a workshop learner's kubeconfig is tested as on a cluster.

Rules followed (Kubernetes "Using RBAC Authorization"; kubernetes/plugin/pkg/auth/authorizer/rbac/rbac.go
and pkg/apis/rbac/v1/evaluation_helpers.go):
- a RoleBinding grants a Role of its namespace, or a ClusterRole, within its namespace only; a
  ClusterRoleBinding grants a ClusterRole everywhere, cluster-scoped resources included;
- subjects: a User by name, a Group by name, a ServiceAccount (its namespace defaults to the binding's)
  as the user `system:serviceaccount:<ns>:<name>`, in the groups `system:serviceaccounts`,
  `system:serviceaccounts:<ns>` and `system:authenticated`;
- a rule allows when verb, apiGroup and resource (`pods/exec` for a subresource, `pods/*`, `*/exec`, `*`)
  match and, if it names resourceNames, the request names one of them (so never `list` or `create`);
  non-resource URLs match exactly or by a trailing `*`;
- a request on a Namespace object itself is in that namespace (RequestInfo), so a RoleBinding in
  `alice-foo` may grant `get`/`patch` on namespace `alice-foo`;
- nothing is denied explicitly: allowed when any binding allows. The API server's bootstrap roles are
  always there (BOOTSTRAP): cluster-admin for the group system:masters, system:basic-user (the
  self-reviews) and system:discovery (discovery, /version, /openapi) for every authenticated user.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from .mesh import MeshModel

RBAC_KINDS = ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")
AUTHENTICATED = "system:authenticated"


def _cluster_role(name: str, rules: list[dict]) -> dict:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name},
            "rules": rules}


def _cluster_binding(name: str, role: str, group: str) -> dict:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}]}


# plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go: the roles every API server starts with.
BOOTSTRAP = (
    _cluster_role("cluster-admin", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                                    {"nonResourceURLs": ["*"], "verbs": ["*"]}]),
    _cluster_binding("cluster-admin", "cluster-admin", "system:masters"),
    _cluster_role("system:basic-user", [{"apiGroups": ["authorization.k8s.io"], "verbs": ["create"],
                                         "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]},
                                        {"apiGroups": ["authentication.k8s.io"], "verbs": ["create"],
                                         "resources": ["selfsubjectreviews"]}]),
    _cluster_binding("system:basic-user", "system:basic-user", AUTHENTICATED),
    _cluster_role("system:discovery", [{"nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz",
                                                            "/livez", "/readyz", "/version", "/version/",
                                                            "/openapi", "/openapi/*"], "verbs": ["get"]}]),
    _cluster_binding("system:discovery", "system:discovery", AUTHENTICATED),
)


@dataclass(frozen=True)
class Request:
    """What is asked (the authorizer's attributes). `path` set means a non-resource request."""
    verb: str
    resource: str = ""
    group: str = ""
    namespace: str | None = None
    name: str = ""
    subresource: str = ""
    path: str = ""

    @property
    def resource_text(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...] = ()

    @staticmethod
    def service_account(namespace: str, name: str) -> "User":
        return User(f"system:serviceaccount:{namespace}:{name}",
                    ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", AUTHENTICATED))


def _resource_matches(rule: dict, request: Request) -> bool:
    resources = rule.get("resources") or []
    wanted = request.resource_text
    if "*" in resources or wanted in resources:
        return True
    return bool(request.subresource) and (f"{request.resource}/*" in resources
                                          or f"*/{request.subresource}" in resources)


def _url_matches(rule: dict, path: str) -> bool:
    return any(u == path or (u.endswith("*") and path.startswith(u[:-1])) for u in rule.get("nonResourceURLs") or [])


def rule_allows(rule: dict, request: Request) -> bool:
    verbs = rule.get("verbs") or []
    if not ("*" in verbs or request.verb in verbs):
        return False
    if request.path:
        return _url_matches(rule, request.path)
    groups = rule.get("apiGroups") or []
    if not ("*" in groups or request.group in groups) or not _resource_matches(rule, request):
        return False
    names = rule.get("resourceNames") or []
    return not names or request.name in names


def _subject_matches(subject: dict, user: User, binding_namespace: str | None) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return name == user.name
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        return user.name == f"system:serviceaccount:{subject.get('namespace') or binding_namespace}:{name}"
    return False


def _role_rules(objects: list[dict], ref: dict, binding_namespace: str | None) -> list[dict]:
    kind, name = ref.get("kind"), ref.get("name")
    for role in objects:
        meta = role.get("metadata") or {}
        if role.get("kind") == kind and meta.get("name") == name and \
                (kind == "ClusterRole" or meta.get("namespace") == binding_namespace):
            return list(role.get("rules") or [])
    return []


def rules_for(rbac: Iterable[dict], user: User, namespace: str | None) -> list[dict]:
    """Every rule granted to the user for requests in `namespace` (None: cluster-scoped requests)."""
    objects = list(BOOTSTRAP) + [o for o in rbac if o.get("kind") in RBAC_KINDS]
    rules: list[dict] = []
    for binding in objects:
        kind, meta = binding.get("kind"), binding.get("metadata") or {}
        if kind == "RoleBinding" and (namespace is None or meta.get("namespace") != namespace):
            continue
        if kind not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        scope = meta.get("namespace") if kind == "RoleBinding" else None
        if any(_subject_matches(s, user, scope) for s in binding.get("subjects") or []):
            ref = binding.get("roleRef") or {}
            if kind == "ClusterRoleBinding" and ref.get("kind") != "ClusterRole":
                continue
            rules += _role_rules(objects, ref, scope)
    return rules


def allowed(rbac: Iterable[dict], user: User, request: Request) -> bool:
    """Whether RBAC lets the user make the request (rbac: the cluster's Roles, ClusterRoles and bindings)."""
    return any(rule_allows(rule, request) for rule in rules_for(rbac, user, request.namespace))


def service_account_may(model: MeshModel, namespace: str, service_account: str, verb: str, resource: str) -> bool:
    """Whether `verb` on `resource` (core group) in `namespace` is allowed for the service account."""
    rbac = [o for kind in RBAC_KINDS for o in model.of_kind(kind)]
    return allowed(rbac, User.service_account(namespace, service_account),
                   Request(verb, resource, "", namespace))
