"""Workshop namespace prefixing: many learners share one cluster, each in their own namespaces.

Pure functions, no cluster access. With the prefix ``alice`` the lab's namespace ``foo`` becomes
``alice-foo`` everywhere a resource names a namespace:

* ``metadata.namespace`` of every namespaced object, and the name of ``Namespace`` objects;
* AuthorizationPolicy ``source.namespaces`` / ``notNamespaces``, ``principals`` /
  ``notPrincipals`` (``cluster.local/ns/<ns>/sa/<sa>``) and ``when`` conditions on
  ``source.namespace`` / ``source.principal``;
* VirtualService ``gateways`` (``<ns>/<name>``, also inside matches), ``sourceNamespace``, and
  destination hosts ``<svc>.<ns>[.svc[.cluster.local]]`` (routes, mirrors);
* Gateway and Sidecar hosts in the ``<ns>/<host>`` form;
* DestinationRule ``host`` and ``subjectAltNames`` (``spiffe://.../ns/<ns>/sa/...``);
* ``exportTo`` lists, Kubernetes Gateway API ``parentRefs``/``backendRefs``/``from`` namespaces,
  RoleBinding subjects, ExternalName services;
* ServiceEntry ``hosts``, AuthorizationPolicy ``to.operation.hosts``/``notHosts`` (with ports),
  VirtualService ``tls[].match[].sniHosts``, ``delegate.namespace`` and gateways named as hosts
  (``gw.ns.svc.cluster.local``), the host part of ``ns/host``, and service URLs in pod env values
  (web-frontend's ``CUSTOMER_SERVICE_URL``).

At run time (``map_command`` / ``unmap_text``), for what the checks and notebooks pass and read back:
a command run in a pod (``lab.exec``) has its service hosts mapped wherever they stand (URLs such as
``http://httpbin.bar:8000/ip``, ``Host:`` headers, ``--resolve``, ``openssl -connect``, inside ``sh -c``
scripts) and its SPIFFE ids / principals (``spiffe://cluster.local/ns/foo/sa/x``); what comes back (exec
output, logs, proxy config) is shown with the lab's names, so a check's expected SPIFFE id
(``spiffe://cluster.local/ns/foo/sa/sleep``) is compared with what the learner's pods really report.

System namespaces (``istio-system``, the mesh root namespace, and ``kube-*``) are never prefixed.
A host of the short form ``<svc>.<ns>`` is only rewritten when ``<ns>`` is one of the lab's
namespaces (``known``), so ``example.com`` stays ``example.com``; the FQDN form
``<svc>.<ns>.svc.cluster.local`` is unambiguous and always rewritten.

``unmap_object`` is the inverse: objects read back from the cluster are shown to the learner with
the namespaces of the lab (``foo``), as the notebooks expect.
"""
from __future__ import annotations

import copy
import re
from typing import Any, Callable, Iterable, overload

from ..errors import LabkitError
from ..model.hostmatch import VS_ROUTE_SECTIONS

#: Namespaces shared by the whole cluster: never prefixed.
SYSTEM_NAMESPACES = frozenset({"istio-system", "kube-system", "kube-public", "kube-node-lease"})

_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_PRINCIPAL_RE = re.compile(r"^(?P<head>(?:spiffe://)?[^/]*/ns/)(?P<ns>[^/]+)(?P<tail>/sa/.*)?$")
_SPECIAL_EXPORT = {".", "*", "~"}
POD_TEMPLATE_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"})

NsFunc = Callable[[str], str]


def normalize_prefix(prefix: str | None) -> str | None:
    """``"alice"``, ``"alice-"`` → ``"alice"``; empty → None. Raises on a prefix that is no DNS label."""
    if prefix is None:
        return None
    text = str(prefix).strip().rstrip("-")
    if not text:
        return None
    if not _LABEL_RE.match(text) or len(text) > 40:
        raise LabkitError(f"namespace prefix {prefix!r} is not usable",
                          hint="use lower-case letters, digits and '-', at most 40 characters "
                               "(e.g. LABKIT_NAMESPACE_PREFIX=alice)")
    return text


class NamespaceMap:
    """Maps lab namespaces to cluster namespaces for one learner (identity when prefix is None)."""

    def __init__(self, prefix: str | None = None):
        self.prefix = normalize_prefix(prefix)

    @property
    def enabled(self) -> bool:
        return self.prefix is not None

    def __repr__(self) -> str:
        return f"NamespaceMap(prefix={self.prefix!r})"

    # -- single names -------------------------------------------------------------------------
    def is_system(self, namespace: str | None) -> bool:
        return namespace in SYSTEM_NAMESPACES

    @overload
    def ns(self, namespace: str) -> str: ...

    @overload
    def ns(self, namespace: None) -> None: ...

    def ns(self, namespace: str | None) -> str | None:
        """Lab namespace → cluster namespace. Idempotent: an already prefixed name is kept."""
        if namespace is None or not self.enabled or not isinstance(namespace, str):
            return namespace
        if not namespace or namespace in SYSTEM_NAMESPACES or "*" in namespace:
            return namespace
        if namespace.startswith(f"{self.prefix}-"):
            return namespace
        mapped = f"{self.prefix}-{namespace}"
        if len(mapped) > 63:
            raise LabkitError(f"namespace {namespace!r} with prefix {self.prefix!r} is longer than "
                              "63 characters", kind="Namespace", name=mapped,
                              hint="use a shorter LABKIT_NAMESPACE_PREFIX")
        return mapped

    @overload
    def unns(self, namespace: str) -> str: ...

    @overload
    def unns(self, namespace: None) -> None: ...

    def unns(self, namespace: str | None) -> str | None:
        """Cluster namespace → lab namespace (strips this learner's prefix)."""
        if namespace is None or not self.enabled or not isinstance(namespace, str):
            return namespace
        head = f"{self.prefix}-"
        if namespace.startswith(head) and len(namespace) > len(head):
            return namespace[len(head):]
        return namespace

    def owns(self, namespace: str | None) -> bool:
        """Whether this learner may see the cluster namespace (own prefixed ones and system ones)."""
        if not self.enabled or namespace is None:
            return True
        return namespace in SYSTEM_NAMESPACES or namespace.startswith(f"{self.prefix}-")

    # -- whole objects ------------------------------------------------------------------------
    def map_object(self, obj: dict, known: Iterable[str] = ()) -> dict:
        """A deep copy of `obj` with every namespace reference prefixed.

        `known` are the lab's namespaces (unprefixed): short ``svc.ns`` hosts are rewritten only
        for those.
        """
        if not self.enabled:
            return copy.deepcopy(obj)
        known_set = {k for k in known if k}
        return transform_object(obj, self.ns, lambda label: label in known_set)

    def unmap_object(self, obj: dict) -> dict:
        """A deep copy of `obj` as the lab sees it (this learner's prefix removed)."""
        if not self.enabled:
            return copy.deepcopy(obj)
        head = f"{self.prefix}-"
        return transform_object(obj, self.unns, lambda label: label.startswith(head))

    def map_host(self, host: str, known: Iterable[str] = ()) -> str:
        known_set = set(known)
        return map_host(host, self.ns, lambda label: label in known_set) if self.enabled else host

    # -- run time: commands sent into pods and what comes back ------------------------------------
    def map_command(self, command: list[str], known: Iterable[str] = ()) -> list[str]:
        """A command for `exec` with the lab's service hosts and SPIFFE ids turned into the cluster's."""
        if not self.enabled:
            return list(command)
        known_set = {k for k in known if k}
        return [map_text(arg, self.ns, lambda label: label in known_set) if isinstance(arg, str) else arg
                for arg in command]

    def unmap_text(self, text: str) -> str:
        """Output read from the cluster (exec, logs, config dumps) with this learner's namespaces shown as the
        lab's: every cluster namespace of the learner is `<prefix>-<ns>`, so the prefix is dropped wherever such
        a name starts (host names, `/ns/<ns>/` in SPIFFE ids, Envoy cluster names, log fields)."""
        if not self.enabled or not isinstance(text, str):
            return text
        return re.sub(rf"(?<![A-Za-z0-9_-]){re.escape(self.prefix or '')}-(?=[a-z0-9])", "", text)

    def unmap_json(self, value: Any) -> Any:
        """`unmap_text` over every string of parsed JSON (keys included)."""
        if isinstance(value, str):
            return self.unmap_text(value)
        if isinstance(value, list):
            return [self.unmap_json(v) for v in value]
        if isinstance(value, dict):
            return {self.unmap_text(k) if isinstance(k, str) else k: self.unmap_json(v) for k, v in value.items()}
        return value


# -- building blocks (pure, shared by map and unmap) -------------------------------------------

def map_host(host: Any, f: NsFunc, short_ok: Callable[[str], bool]) -> Any:
    """Rewrite the namespace label of a service host name.

    ``svc.ns.svc.cluster.local`` / ``svc.ns.svc`` / ``*.ns.svc.cluster.local`` always; the short
    ``svc.ns`` only when ``short_ok(ns)``. Anything else is returned unchanged.
    """
    if not isinstance(host, str) or not host or "/" in host:
        return host
    labels = host.split(".")
    if len(labels) >= 3 and labels[2] == "svc" and labels[1]:
        labels[1] = f(labels[1])
        return ".".join(labels)
    if len(labels) == 2 and labels[0] and labels[1] and short_ok(labels[1]):
        labels[1] = f(labels[1])
        return ".".join(labels)
    return host


def map_host_port(host: Any, f: NsFunc, short_ok: Callable[[str], bool]) -> Any:
    """`map_host` for a host that may carry a port (AuthorizationPolicy `to.operation.hosts`: ``httpbin.foo:8000``)."""
    if not isinstance(host, str) or ":" not in host:
        return map_host(host, f, short_ok)
    name, _, port = host.rpartition(":")
    return f"{map_host(name, f, short_ok)}:{port}" if port.isdigit() else host


def map_url(value: Any, f: NsFunc, short_ok: Callable[[str], bool]) -> Any:
    """The service host inside a URL (``http://customers.backend:80/x`` → ``http://customers.alice-backend:80/x``),
    as a pod's env names its upstream (web-frontend's CUSTOMER_SERVICE_URL); other values are kept."""
    if not isinstance(value, str) or "://" not in value:
        return value
    scheme, _, rest = value.partition("://")
    authority, slash, path = rest.partition("/")
    return f"{scheme}://{map_host_port(authority, f, short_ok)}{slash}{path}"


# A host name as it stands in a command line: dotted labels, maybe a leading `*.`.
_HOST_TOKEN = re.compile(r"(?<![A-Za-z0-9_.-])(?:\*\.)?[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+")
_SPIFFE_NS = re.compile(r"(/ns/)([a-z0-9]([-a-z0-9]*[a-z0-9])?)(?=/sa/)")


def map_text(text: str, f: NsFunc, short_ok: Callable[[str], bool]) -> str:
    """Service hosts (`map_host`: FQDN and `.svc` forms always, `svc.ns` when `short_ok(ns)`) and the
    namespace of SPIFFE ids / principals (`.../ns/<ns>/sa/...`) anywhere in a piece of text."""
    text = _SPIFFE_NS.sub(lambda m: m.group(1) + f(m.group(2)), text)
    return _HOST_TOKEN.sub(lambda m: map_host(m.group(0), f, short_ok), text)


def map_ns_slash(value: Any, f: NsFunc, host: Callable[[Any], Any] | None = None) -> Any:
    """``ns/name`` (VirtualService gateways, Gateway/Sidecar hosts) → ``f(ns)/name``; ``./x``, ``*/x``, ``~/x``
    keep their namespace part. `host`, when given, maps the name part too (``./httpbin.foo.svc.cluster.local``)."""
    if not isinstance(value, str) or "/" not in value:
        return value
    ns, rest = value.split("/", 1)
    if host is not None:
        rest = host(rest)
    if ns in _SPECIAL_EXPORT or not ns:
        return f"{ns}/{rest}"
    return f"{f(ns)}/{rest}"


def map_principal(value: Any, f: NsFunc) -> Any:
    """``cluster.local/ns/foo/sa/x`` or ``spiffe://cluster.local/ns/foo/sa/x`` → prefixed ``foo``."""
    if not isinstance(value, str):
        return value
    m = _PRINCIPAL_RE.match(value)
    if not m or "*" in m.group("ns"):
        return value
    return f"{m.group('head')}{f(m.group('ns'))}{m.group('tail') or ''}"


def _map_list(values: Any, fn: Callable[[Any], Any]) -> Any:
    if isinstance(values, list):
        return [fn(v) for v in values]
    return values


def _map_export(values: Any, f: NsFunc) -> Any:
    return _map_list(values, lambda v: v if v in _SPECIAL_EXPORT else f(v))


def _dig(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _dicts(value: Any) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def transform_object(obj: dict, f: NsFunc, short_ok: Callable[[str], bool]) -> dict:
    """Apply the namespace function `f` to every namespace reference in a copy of `obj`."""
    out = copy.deepcopy(obj)
    if not isinstance(out, dict):
        return out
    kind = out.get("kind") or ""
    group = str(out.get("apiVersion") or "").rpartition("/")[0]
    meta = out.get("metadata")
    if isinstance(meta, dict):
        if isinstance(meta.get("namespace"), str):
            meta["namespace"] = f(meta["namespace"])
        if kind == "Namespace" and group == "" and isinstance(meta.get("name"), str):
            meta["name"] = f(meta["name"])
    if group == "rbac.authorization.k8s.io":
        return _rbac(out, f)
    spec = out.get("spec")
    if not isinstance(spec, dict):
        return out
    host = lambda h: map_host(h, f, short_ok)  # noqa: E731

    if "exportTo" in spec:
        spec["exportTo"] = _map_export(spec["exportTo"], f)

    if kind in POD_TEMPLATE_KINDS or (kind == "Pod" and group == ""):
        _pod_env(spec if kind == "Pod" else _dig(spec, "template", "spec"), lambda v: map_url(v, f, short_ok))
    if group.endswith("istio.io"):
        if kind == "AuthorizationPolicy":
            _authz(spec, f, lambda h: map_host_port(h, f, short_ok))
        elif kind == "ServiceEntry":
            if "hosts" in spec:
                spec["hosts"] = _map_list(spec["hosts"], host)
        elif kind == "VirtualService":
            _virtual_service(spec, f, host)
        elif kind == "DestinationRule":
            if "host" in spec:
                spec["host"] = host(spec["host"])
            _subject_alt_names(spec, f)
        elif kind == "Gateway":
            for server in _dicts(spec.get("servers")):
                if "hosts" in server:
                    server["hosts"] = _map_list(server["hosts"], lambda h: map_ns_slash(h, f, host))
        elif kind == "Sidecar":
            for egress in _dicts(spec.get("egress")):
                if "hosts" in egress:
                    egress["hosts"] = _map_list(egress["hosts"], lambda h: map_ns_slash(h, f, host))
    elif group == "gateway.networking.k8s.io":
        for ref in _dicts(spec.get("parentRefs")):
            if isinstance(ref.get("namespace"), str):
                ref["namespace"] = f(ref["namespace"])
        for rule in _dicts(spec.get("rules")):
            for ref in _dicts(rule.get("backendRefs")):
                if isinstance(ref.get("namespace"), str):
                    ref["namespace"] = f(ref["namespace"])
        for src in _dicts(spec.get("from")):  # ReferenceGrant
            if isinstance(src.get("namespace"), str):
                src["namespace"] = f(src["namespace"])
        # Gateway: certificateRefs in other namespaces, and allowedRoutes selecting namespaces by the label
        # every namespace carries with its own name (kubernetes.io/metadata.name).
        frontend = _dig(spec, "tls", "frontend") or {}
        validations = [_dig(frontend, "default", "validation")] + [
            _dig(entry, "tls", "validation") for entry in _dicts(frontend.get("perPort"))]
        refs = [ref for listener in _dicts(spec.get("listeners"))
                for ref in _dicts(_dig(listener, "tls", "certificateRefs"))]
        refs += [ref for validation in validations if isinstance(validation, dict)
                 for ref in _dicts(validation.get("caCertificateRefs"))]
        for ref in refs:
            if isinstance(ref.get("namespace"), str):
                ref["namespace"] = f(ref["namespace"])
        for listener in _dicts(spec.get("listeners")):
            labels = _dig(listener, "allowedRoutes", "namespaces", "selector", "matchLabels")
            if isinstance(labels, dict) and isinstance(labels.get("kubernetes.io/metadata.name"), str):
                labels["kubernetes.io/metadata.name"] = f(labels["kubernetes.io/metadata.name"])
    elif kind == "Service" and group == "" and spec.get("type") == "ExternalName":
        if "externalName" in spec:
            spec["externalName"] = host(spec["externalName"])
    return out


def _rbac(out: dict, f: NsFunc) -> dict:
    for subject in _dicts(out.get("subjects")):
        if subject.get("kind") == "ServiceAccount" and isinstance(subject.get("namespace"), str):
            subject["namespace"] = f(subject["namespace"])
    return out


def _pod_env(pod_spec: Any, url: Callable[[Any], Any]) -> None:
    if not isinstance(pod_spec, dict):
        return
    for container in _dicts(pod_spec.get("containers")) + _dicts(pod_spec.get("initContainers")):
        for env in _dicts(container.get("env")):
            if "value" in env:
                env["value"] = url(env["value"])


def _authz(spec: dict, f: NsFunc, host: Callable[[Any], Any]) -> None:
    for rule in _dicts(spec.get("rules")):
        for entry in _dicts(rule.get("to")):
            operation = entry.get("operation")
            if isinstance(operation, dict):
                for key in ("hosts", "notHosts"):
                    if key in operation:
                        operation[key] = _map_list(operation[key], host)
        for entry in _dicts(rule.get("from")):
            source = entry.get("source")
            if not isinstance(source, dict):
                continue
            for key in ("namespaces", "notNamespaces"):
                if key in source:
                    source[key] = _map_list(source[key], lambda v: f(v) if isinstance(v, str) else v)
            for key in ("principals", "notPrincipals"):
                if key in source:
                    source[key] = _map_list(source[key], lambda v: map_principal(v, f))
        for cond in _dicts(rule.get("when")):
            key = cond.get("key") or ""
            if key == "source.namespace":
                fn = lambda v: f(v) if isinstance(v, str) else v  # noqa: E731
            elif key == "source.principal":
                fn = lambda v: map_principal(v, f)  # noqa: E731
            else:
                continue
            for field in ("values", "notValues"):
                if field in cond:
                    cond[field] = _map_list(cond[field], fn)


def _gateway_ref(value: Any, f: NsFunc, host: Callable[[Any], Any]) -> Any:
    """A VirtualService's gateway: ``ns/name``, or ``name.ns.svc.cluster.local`` (a host), or ``mesh``."""
    return map_ns_slash(value, f) if isinstance(value, str) and "/" in value else host(value)


def _virtual_service(spec: dict, f: NsFunc, host: Callable[[Any], Any]) -> None:
    if "gateways" in spec:
        spec["gateways"] = _map_list(spec["gateways"], lambda g: _gateway_ref(g, f, host))
    if "hosts" in spec:
        spec["hosts"] = _map_list(spec["hosts"], host)
    for proto in VS_ROUTE_SECTIONS:
        for route in _dicts(spec.get(proto)):
            for match in _dicts(route.get("match")):
                if "gateways" in match:
                    match["gateways"] = _map_list(match["gateways"], lambda g: _gateway_ref(g, f, host))
                if isinstance(match.get("sourceNamespace"), str):
                    match["sourceNamespace"] = f(match["sourceNamespace"])
                if "sniHosts" in match:
                    match["sniHosts"] = _map_list(match["sniHosts"], host)
            delegate = route.get("delegate")
            if isinstance(delegate, dict) and isinstance(delegate.get("namespace"), str):
                delegate["namespace"] = f(delegate["namespace"])
            for dest in _dicts(route.get("route")):
                d = dest.get("destination")
                if isinstance(d, dict) and "host" in d:
                    d["host"] = host(d["host"])
            mirror = route.get("mirror")
            if isinstance(mirror, dict) and "host" in mirror:
                mirror["host"] = host(mirror["host"])
            for m in _dicts(route.get("mirrors")):
                d = m.get("destination")
                if isinstance(d, dict) and "host" in d:
                    d["host"] = host(d["host"])


def _subject_alt_names(spec: dict, f: NsFunc) -> None:
    policies = []
    tp = spec.get("trafficPolicy")
    if isinstance(tp, dict):
        policies.append(tp)
        policies.extend(p for p in _dicts(tp.get("portLevelSettings")))
    for subset in _dicts(spec.get("subsets")):
        stp = subset.get("trafficPolicy")
        if isinstance(stp, dict):
            policies.append(stp)
            policies.extend(p for p in _dicts(stp.get("portLevelSettings")))
    for policy in policies:
        tls = policy.get("tls")
        if isinstance(tls, dict) and "subjectAltNames" in tls:
            tls["subjectAltNames"] = _map_list(tls["subjectAltNames"], lambda v: map_principal(v, f))


def namespaces_in(docs: Iterable[dict]) -> set[str]:
    """The lab namespaces a batch of documents names (metadata.namespace and Namespace objects)."""
    out: set[str] = set()
    for doc in docs:
        meta = doc.get("metadata") if isinstance(doc, dict) else None
        if not isinstance(meta, dict):
            continue
        if isinstance(meta.get("namespace"), str):
            out.add(meta["namespace"])
        if doc.get("kind") == "Namespace" and isinstance(meta.get("name"), str):
            out.add(meta["name"])
    return out
