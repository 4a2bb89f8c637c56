"""The resource types the local API serves: every kind the store validates, plus Pods and Events.

Names, short names, verbs and categories follow what a cluster with Istio reports in
`kubectl api-resources` (short names from Istio's CRDs: pa, ap, ra, dr, gw, vs, se).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..resources.schema import KINDS

READ_ONLY = ("get", "list", "watch")
ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Resource:
    kind: str
    group: str
    versions: tuple[str, ...]   # preferred first
    plural: str
    namespaced: bool
    short: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    categories: tuple[str, ...] = ()
    key: str = ""               # the store's key for the kind (model/kinds.py); "" = the kind itself

    @property
    def store_key(self) -> str:
        return self.key or self.kind

    @property
    def version(self) -> str:
        return self.versions[0]

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def builtin(self) -> bool:
        """Kubernetes' own types take strategic merge patches; custom resources only JSON merge patches."""
        return self.group in ("", "apps")

    def group_version(self, version: str | None = None) -> str:
        version = version or self.version
        return f"{self.group}/{version}" if self.group else version


def _plural(kind: str) -> str:
    lower = kind.lower()
    if lower.endswith("y") and lower[-2:-1] not in "aeiou":
        return lower[:-1] + "ies"
    if lower.endswith("s"):
        return lower + "es"
    return lower + "s"


def _preferred_first(versions: tuple[str, ...]) -> tuple[str, ...]:
    # The API server prefers the most stable version: v1 over v1beta1 over v1alpha3.
    order = {"v1": 0, "v1beta1": 1, "v1alpha3": 2}
    return tuple(sorted(versions, key=lambda v: order.get(v, 9)))


ISTIO_CATEGORIES = {
    "networking.istio.io": ("istio-io", "networking-istio-io"),
    "security.istio.io": ("istio-io", "security-istio-io"),
    "gateway.networking.k8s.io": ("gateway-api",),
}


def _build() -> dict[str, Resource]:
    resources = [
        Resource("Pod", "", ("v1",), "pods", True, ("po",), categories=("all",)),
        Resource("Event", "", ("v1",), "events", True, ("ev",), verbs=READ_ONLY),
        Resource("Endpoints", "", ("v1",), "endpoints", True, ("ep",), verbs=READ_ONLY),
        # Rendered from each Service and its selected pods (kubeapi/objects.py), as the controllers keep them.
        Resource("EndpointSlice", "discovery.k8s.io", ("v1",), "endpointslices", True, verbs=READ_ONLY),
        # Rendered from the Deployments and their pods (kubeapi/objects.py), so read-only here.
        Resource("ReplicaSet", "apps", ("v1",), "replicasets", True, ("rs",), verbs=READ_ONLY, categories=("all",)),
        # Reviews answer questions about the caller (`kubectl auth whoami`, `kubectl auth can-i`).
        Resource("SelfSubjectReview", "authentication.k8s.io", ("v1",), "selfsubjectreviews", False,
                 verbs=("create",)),
        Resource("SelfSubjectAccessReview", "authorization.k8s.io", ("v1",), "selfsubjectaccessreviews", False,
                 verbs=("create",)),
        Resource("SelfSubjectRulesReview", "authorization.k8s.io", ("v1",), "selfsubjectrulesreviews", False,
                 verbs=("create",)),
        # What every cluster with Istio has, rendered rather than stored (kubeapi/cluster_objects.py).
        Resource("Node", "", ("v1",), "nodes", False, ("no",), verbs=READ_ONLY),
        Resource("MutatingWebhookConfiguration", "admissionregistration.k8s.io", ("v1",),
                 "mutatingwebhookconfigurations", False, categories=("api-extensions",), verbs=READ_ONLY),
    ]
    for info in KINDS.values():
        categories: tuple[str, ...] = ISTIO_CATEGORIES.get(info.group, ())
        if info.kind in ("Service", "Deployment"):
            categories = ("all",)
        resources.append(Resource(info.kind, info.group, _preferred_first(info.versions), _plural(info.kind),
                                  info.namespaced, tuple(info.short), categories=categories, key=info.key))
    # Two groups serve `gateways` (Istio's and the Gateway API's): resources are told apart by group too.
    return {f"{r.plural}.{r.group}": r for r in resources}


RESOURCES: dict[str, Resource] = _build()
# Errors name a kind; Istio's Gateway keeps the plain name (the Gateway API's is reached by its key).
BY_KIND: dict[str, Resource] = {r.store_key: r for r in RESOURCES.values()}


def groups() -> dict[str, list[str]]:
    """Group name → versions served (preferred first), "" being the core group."""
    out: dict[str, list[str]] = {}
    for resource in RESOURCES.values():
        versions = out.setdefault(resource.group, [])
        for version in resource.versions:
            if version not in versions:
                versions.append(version)
    for group, versions in out.items():
        out[group] = list(_preferred_first(tuple(versions)))
    return out


def lookup(group: str, version: str, plural: str) -> Resource | None:
    resource = RESOURCES.get(f"{plural}.{group}")
    if resource is None or version not in resource.versions:
        return None
    return resource
