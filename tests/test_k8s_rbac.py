"""Kubernetes RBAC as labkit/model/k8s_rbac.py decides it (the one rule behind the local API's authorization and
istiod's credential check), case by case against Kubernetes' documented behaviour."""
from __future__ import annotations

from labkit.model.k8s_rbac import Request, User, allowed, rules_for

ALICE = User("alice", ("labkit-learners", "system:authenticated"))


def role(kind, name, rules, namespace=None):
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"kind": kind, "metadata": meta, "rules": rules}


def binding(kind, name, ref_kind, ref, subjects, namespace=None):
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"kind": kind, "metadata": meta, "roleRef": {"kind": ref_kind, "name": ref}, "subjects": subjects}


LEARNER = role("ClusterRole", "learner", [{"apiGroups": [""], "resources": ["pods", "pods/exec"],
                                           "verbs": ["get", "list", "create"]},
                                          {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]}])
RBAC = [LEARNER, binding("RoleBinding", "alice", "ClusterRole", "learner", [{"kind": "User", "name": "alice"}],
                         "alice-foo")]


def test_a_rolebinding_grants_its_clusterrole_only_in_its_namespace():
    assert allowed(RBAC, ALICE, Request("list", "pods", "", "alice-foo"))
    assert not allowed(RBAC, ALICE, Request("list", "pods", "", "bob-foo"))
    assert not allowed(RBAC, ALICE, Request("list", "pods", "", None)), "not cluster-wide"
    assert allowed(RBAC, ALICE, Request("create", "pods", "", "alice-foo", "x", "exec"))
    assert not allowed(RBAC, ALICE, Request("get", "pods", "", "alice-foo", "x", "log")), "subresources are named"
    assert not allowed(RBAC, ALICE, Request("delete", "pods", "", "alice-foo", "x"))
    assert not allowed(RBAC, User("bob", ("labkit-learners",)), Request("list", "pods", "", "alice-foo"))
    # The Namespace object alice-foo is "in" alice-foo (RequestInfo), so the RoleBinding covers it.
    assert allowed(RBAC, ALICE, Request("get", "namespaces", "", "alice-foo", "alice-foo"))


def test_groups_wildcards_resource_names_and_cluster_bindings():
    rbac = [role("ClusterRole", "reader", [{"apiGroups": ["*"], "resources": ["pods/*"], "verbs": ["get"]},
                                           {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"],
                                            "resourceNames": ["mine"]}]),
            binding("ClusterRoleBinding", "readers", "ClusterRole", "reader",
                    [{"kind": "Group", "name": "labkit-learners"}])]
    assert allowed(rbac, ALICE, Request("get", "pods", "", "any", "p", "log"))
    assert not allowed(rbac, ALICE, Request("get", "pods", "", "any", "p")), "pods/* is not pods"
    assert allowed(rbac, ALICE, Request("get", "secrets", "", "any", "mine"))
    assert not allowed(rbac, ALICE, Request("get", "secrets", "", "any", "istio-ca-secret"))
    assert not allowed(rbac, ALICE, Request("list", "secrets", "", "any")), "resourceNames never allow list"
    assert not allowed(rbac, User("carol", ("system:authenticated",)), Request("get", "pods", "", "x", "p", "log"))


def test_bootstrap_roles_and_service_accounts():
    admin = User("labkit-admin", ("system:masters", "system:authenticated"))
    assert allowed([], admin, Request("delete", "nodes", "", None, "n"))
    assert allowed([], ALICE, Request("get", path="/apis/security.istio.io/v1"))
    assert allowed([], ALICE, Request("create", "selfsubjectaccessreviews", "authorization.k8s.io"))
    assert not allowed([], ALICE, Request("get", path="/metrics"))
    sa = User.service_account("foo", "sleep")
    rbac = [role("Role", "secrets", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}], "foo"),
            binding("RoleBinding", "sa", "Role", "secrets", [{"kind": "ServiceAccount", "name": "sleep"}], "foo")]
    assert allowed(rbac, sa, Request("list", "secrets", "", "foo")), "the subject's namespace defaults to the binding's"
    assert not allowed(rbac, User.service_account("bar", "sleep"), Request("list", "secrets", "", "foo"))
    assert {"verbs": ["list"], "apiGroups": [""], "resources": ["secrets"]} in rules_for(rbac, sa, "foo")
