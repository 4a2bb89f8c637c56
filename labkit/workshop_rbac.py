"""A shared workshop cluster's RBAC: the learner roles (labkit/data/workshop-rbac.yaml, also
deploy/workshop-rbac.yaml) and, per learner, their namespaces and the RoleBindings giving them those.

Kubernetes cannot let a user create only namespaces with a given prefix (RBAC `resourceNames` never
apply to `create`), so the instructor creates each learner's namespaces beforehand; the learner's labs
(`LABKIT_NAMESPACE_PREFIX=alice`) then apply into `alice-foo`, `alice-bar`, ... and `lab.down()` empties
them without deleting them (labkit only deletes what it created).

    labkit workshop-rbac alice bob | kubectl apply -f -
"""
from __future__ import annotations

from pathlib import Path

import yaml

from .backends.kube_prefix import NamespaceMap

ROLES_FILE = Path(__file__).parent / "data" / "workshop-rbac.yaml"
LEARNER_GROUP = "labkit-learners"
LEARNER_ROLE = "labkit-learner"
# Every namespace the labs write to (their YAML and the samples they apply).
LAB_NAMESPACES = ("default", "foo", "bar", "legacy", "backend", "frontend", "demo", "shop", "assets", "lab")


def roles() -> list[dict]:
    """The roles shared by all learners (apply once)."""
    return [d for d in yaml.safe_load_all(ROLES_FILE.read_text()) if d]


def learner_objects(learner: str, namespaces: tuple[str, ...] | list[str] = LAB_NAMESPACES) -> list[dict]:
    """The learner's namespaces (named as their prefix maps the labs' ones) and a RoleBinding of the
    labkit-learner ClusterRole to the user `learner` in each."""
    nsmap = NamespaceMap(learner)
    out: list[dict] = []
    for lab_namespace in namespaces:
        namespace = nsmap.ns(lab_namespace)
        out.append({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": namespace, "labels": {"app.kubernetes.io/part-of": "labkit-workshop",
                                                               "labkit.dev/learner": learner}}})
        out.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                    "metadata": {"name": f"{LEARNER_ROLE}-{learner}", "namespace": namespace,
                                 "labels": {"app.kubernetes.io/part-of": "labkit-workshop"}},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": LEARNER_ROLE},
                    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": learner}]})
    return out


def workshop_yaml(learners: list[str], with_roles: bool = True) -> str:
    docs = (roles() if with_roles else []) + [d for learner in learners for d in learner_objects(learner)]
    return yaml.safe_dump_all(docs, sort_keys=False)
