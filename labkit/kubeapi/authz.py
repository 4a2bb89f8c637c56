"""Who is calling (the client certificate's CN and O, as the API server's x509 authenticator reads them) and
whether RBAC lets them: every request goes through here (the rule itself is labkit/model/k8s_rbac.py).

The answers are the API server's: 403 `pods is forbidden: User "alice" cannot list resource "pods" in API
group "" in the namespace "bob-foo"`, and the self-reviews behind `kubectl auth whoami` / `auth can-i`
(`--list` too).
"""
from __future__ import annotations

from ..model.k8s_rbac import AUTHENTICATED, RBAC_KINDS, Request, User, allowed, rules_for
from ..resources.store import Store
from .status import ApiError

VERBS = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def user_of(subject: dict[str, list[str]]) -> User | None:
    """The user named by a certificate subject: CN is the name, each O a group (x509 request authenticator)."""
    names = subject.get("commonName") or []
    if not names:
        return None
    return User(names[0], tuple(subject.get("organizationName") or []) + (AUTHENTICATED,))


def request_of(method: str, group: str, resource: str, namespace: str | None, name: str, sub: str | None,
               watch: bool) -> Request:
    """The authorizer's attributes of a resource request (apiserver's RequestInfo)."""
    verb = VERBS.get(method, method.lower())
    if method == "GET" and not name:
        verb = "watch" if watch else "list"
    elif method == "DELETE" and not name:
        verb = "deletecollection"
    if sub in ("exec", "attach", "portforward"):
        verb = "create"   # also over a WebSocket upgrade (a GET): authorized as create (Kubernetes >= 1.35)
    if resource == "namespaces" and name:
        namespace = name  # a Namespace object is in itself
    return Request(verb, resource, group, namespace, name, sub or "")


def forbidden(user: User, request: Request) -> ApiError:
    """apiserver's responsewriters.forbiddenMessage: `deployments.apps "x" is forbidden: User ...`."""
    if request.path:
        return ApiError(403, "Forbidden", f'forbidden: User "{user.name}" cannot {request.verb} path "{request.path}"')
    qualified = f"{request.resource}.{request.group}" if request.group else request.resource
    what = f'{qualified} "{request.name}"' if request.name else qualified
    where = f'in the namespace "{request.namespace}"' if request.namespace else "at the cluster scope"
    message = (f'{what} is forbidden: User "{user.name}" cannot {request.verb} resource '
               f'"{request.resource_text}" in API group "{request.group}" {where}')
    return ApiError(403, "Forbidden", message, {"name": request.name, "group": request.group,
                                                 "kind": request.resource})


class Authorizer:
    def __init__(self, store: Store):
        self.store = store

    def rbac(self) -> list[dict]:
        return [o for o in self.store.list() if o["kind"] in RBAC_KINDS]

    def check(self, user: User, request: Request) -> None:
        if not allowed(self.rbac(), user, request):
            raise forbidden(user, request)

    def access_review(self, user: User, spec: dict) -> dict:
        """SelfSubjectAccessReview status for spec.resourceAttributes / nonResourceAttributes."""
        attrs = spec.get("resourceAttributes")
        if attrs is not None:
            request = Request(attrs.get("verb", ""), attrs.get("resource", ""), attrs.get("group", ""),
                              attrs.get("namespace") or None, attrs.get("name", ""), attrs.get("subresource", ""))
        else:
            other = spec.get("nonResourceAttributes") or {}
            request = Request(other.get("verb", ""), path=other.get("path", "/"))
        if allowed(self.rbac(), user, request):
            return {"allowed": True, "reason": f'RBAC: allowed for user "{user.name}"'}
        return {"allowed": False}

    def rules_review(self, user: User, spec: dict) -> dict:
        """SelfSubjectRulesReview status: the rules that apply in spec.namespace (`kubectl auth can-i --list`)."""
        rules = rules_for(self.rbac(), user, spec.get("namespace") or None)
        resource_rules = [{k: r[k] for k in ("verbs", "apiGroups", "resources", "resourceNames") if r.get(k)}
                          for r in rules if not r.get("nonResourceURLs")]
        non_resource = [{"verbs": r.get("verbs") or [], "nonResourceURLs": r["nonResourceURLs"]}
                        for r in rules if r.get("nonResourceURLs")]
        return {"resourceRules": resource_rules, "nonResourceRules": non_resource, "incomplete": False}
