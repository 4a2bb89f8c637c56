"""The Lab API on a real Kubernetes cluster with Istio (kind, k3d, minikube, a cloud cluster).

Every write is a server-side apply (field manager ``labkit``, ``force=true``) and every object
labkit writes carries ``app.kubernetes.io/managed-by=labkit``; objects labkit created also carry
``labkit.dev/created=true`` and, in a workshop, ``labkit.dev/owner=<prefix>``. `down()` deletes
exactly those, found by label selector, and releases labkit's fields on pre-existing objects it
only changed (e.g. a label on the ``default`` namespace). Nothing else is ever deleted.

Workshops: with ``namespace_prefix="alice"`` (or ``LABKIT_NAMESPACE_PREFIX``) the lab namespace
``foo`` is ``alice-foo`` on the cluster (see `kube_prefix`); results are shown with lab names.
Writes to ``istio-system`` (mesh-wide) or of cluster-scoped kinds are refused in a workshop
unless ``allow_mesh_wide=True`` (``LABKIT_ALLOW_MESH_WIDE=1``).
"""
from __future__ import annotations

import atexit
import contextlib
import datetime as _dt
import json
import os
import shutil
import tempfile
import time
from typing import Any, Iterator

from ..errors import LabkitError
from ..resources.loader import load_documents
from .base import AppliedObject, EnvironmentItem, ExecResult, LabBase, YamlSource
from .kube_exec import run_exec
from .kube_images import image_map_from_env, rewrite_images
from .kube_prefix import SYSTEM_NAMESPACES, NamespaceMap, namespaces_in
from .progress import Progress
from .kube_views import POD_COLUMNS, default_container, pod_ready, pod_row, pod_status, \
    rollout_state, selector_string

FIELD_MANAGER = "labkit"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "labkit"
CREATED_LABEL = "labkit.dev/created"
OWNER_LABEL = "labkit.dev/owner"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
GATEWAY_SERVICE = "istio-system/istio-ingressgateway"
APPLY_CONTENT_TYPE = "application/apply-patch+yaml"

# Kinds down() looks for (by label) besides those applied in this session; namespaces go last.
CLEANUP_KINDS: list[tuple[str, str]] = [
    ("security.istio.io", "AuthorizationPolicy"),
    ("security.istio.io", "PeerAuthentication"),
    ("security.istio.io", "RequestAuthentication"),
    ("networking.istio.io", "VirtualService"),
    ("networking.istio.io", "DestinationRule"),
    ("networking.istio.io", "Gateway"),
    ("networking.istio.io", "ServiceEntry"),
    ("networking.istio.io", "Sidecar"),
    ("telemetry.istio.io", "Telemetry"),
    ("gateway.networking.k8s.io", "HTTPRoute"),
    ("gateway.networking.k8s.io", "Gateway"),
    ("apps", "Deployment"),
    ("apps", "StatefulSet"),
    ("apps", "DaemonSet"),
    ("batch", "Job"),
    ("", "Pod"),
    ("", "Service"),
    ("", "ServiceAccount"),
    ("", "ConfigMap"),
    ("", "Secret"),
    ("rbac.authorization.k8s.io", "RoleBinding"),
    ("rbac.authorization.k8s.io", "Role"),
    ("", "Namespace"),
]

# When a short kind is served by several groups (Gateway!), the first group here wins.
GROUP_PREFERENCE = ["", "apps", "batch", "networking.istio.io", "security.istio.io",
                    "telemetry.istio.io", "gateway.networking.k8s.io"]

WORKLOAD_KINDS = {
    "deployment": "Deployment", "deployments": "Deployment", "deploy": "Deployment",
    "deployment.apps": "Deployment",
    "statefulset": "StatefulSet", "statefulsets": "StatefulSet", "sts": "StatefulSet",
    "daemonset": "DaemonSet", "daemonsets": "DaemonSet", "ds": "DaemonSet",
}
POD_KINDS = {"pod", "pods", "po"}

PROXY_CONFIG_TYPES = {
    "bootstrap": "BootstrapConfigDump",
    "cluster": "ClustersConfigDump", "clusters": "ClustersConfigDump",
    "listener": "ListenersConfigDump", "listeners": "ListenersConfigDump",
    "route": "RoutesConfigDump", "routes": "RoutesConfigDump",
    "secret": "SecretsConfigDump", "secrets": "SecretsConfigDump",
    "endpoint": "EndpointsConfigDump", "endpoints": "EndpointsConfigDump",
}


def _truthy(value: str | None) -> bool:
    return str(value or "").strip().lower() in ("1", "true", "yes", "on")


def _now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)


def _server_message(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str) and body.strip():
        try:
            data = json.loads(body)
            if isinstance(data, dict) and data.get("message"):
                return str(data["message"])
        except ValueError:
            return body.strip()[:500]
    reason = getattr(exc, "reason", None)
    status = getattr(exc, "status", None)
    return f"{status} {reason}".strip() if (status or reason) else str(exc)


def load_api_client(context: str | None = None, kubeconfig: str | None = None):
    """An ApiClient from kubeconfig (`kubeconfig` file or $KUBECONFIG/~/.kube/config, `context`),
    else the in-cluster service account (labs run in a pod)."""
    from kubernetes import client, config

    try:
        return config.new_client_from_config(config_file=kubeconfig, context=context, persist_config=False)
    except Exception as exc:  # noqa: BLE001 - ConfigException, missing file, broken YAML
        first = exc
    if kubeconfig is None and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        try:
            cfg = client.Configuration()
            config.load_incluster_config(client_configuration=cfg)
            return client.ApiClient(cfg)
        except Exception:  # noqa: BLE001
            pass
    where = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
    raise LabkitError(f"no usable Kubernetes cluster configuration in {where}"
                      + (f" (context {context!r})" if context else "") + f": {first}",
                      hint="create a cluster (e.g. `kind create cluster`) or point KUBECONFIG / "
                           "kubeconfig= and context= at one; `labkit.doctor_kube.kube_doctor()` checks the setup")


class KubeLab(LabBase):
    """Labs on a real cluster with Istio. `KubeLab(context=None, namespace_prefix=None, kubeconfig=None,
    api_client=None)`; usually obtained as ``labkit.connect("kube")`` or with ``LABKIT_BACKEND=kube``."""

    backend = "kube"
    settle_seconds = 20.0  # istiod pushes to every proxy of a real cluster take seconds

    def __init__(self, context: str | None = None, namespace_prefix: str | None = None,
                 kubeconfig: str | None = None, api_client=None, *, allow_mesh_wide: bool | None = None,
                 image_map: dict[str, str] | None = None, gateway_service: str | None = None,
                 poll_interval: float = 1.0):
        from kubernetes import client

        self.context = context or os.environ.get("LABKIT_KUBE_CONTEXT") or None
        self.kubeconfig = kubeconfig
        self._own_client = api_client is None
        self.api_client = api_client if api_client is not None else load_api_client(self.context, kubeconfig)
        prefix = namespace_prefix if namespace_prefix is not None else os.environ.get("LABKIT_NAMESPACE_PREFIX")
        self.nsmap = NamespaceMap(prefix)
        self.allow_mesh_wide = (_truthy(os.environ.get("LABKIT_ALLOW_MESH_WIDE"))
                                if allow_mesh_wide is None else bool(allow_mesh_wide))
        self.image_map = image_map_from_env() if image_map is None else dict(image_map)
        self.gateway_service = gateway_service or os.environ.get("LABKIT_GATEWAY_SERVICE") or GATEWAY_SERVICE
        self.poll_interval = poll_interval
        self.core = client.CoreV1Api(self.api_client)
        self._dyn = None
        self._cache_file: str | None = None
        self._all_resources: list | None = None
        self._touched_namespaces: set[str] = set()   # cluster names
        self._touched_kinds: dict[tuple[str, str], None] = {}
        self._lab_namespaces: set[str] = set()       # lab (unprefixed) names seen
        self._ensured_namespaces: set[str] = set()
        self.cleaned: list[AppliedObject] = []

    @classmethod
    def connect(cls, **options) -> "KubeLab":
        return cls(**options)

    # ---------------------------------------------------------------- the contract's lifecycle
    @property
    def running(self) -> bool:
        return True  # a cluster outlives this process; an unreachable one fails the first call with a hint

    def ensure_running(self) -> None:
        return None

    def environment(self) -> list[EnvironmentItem]:
        return []  # what a cluster needs is checked by doctor()

    def __repr__(self) -> str:
        host = getattr(getattr(self.api_client, "configuration", None), "host", "?")
        pre = f", namespace_prefix={self.nsmap.prefix!r}" if self.nsmap.enabled else ""
        return f"KubeLab({host}{pre})"

    @property
    def namespace_prefix(self) -> str | None:
        return self.nsmap.prefix

    def namespace(self, name: str) -> str:
        """The cluster namespace of a lab namespace (``foo`` → ``alice-foo`` in a workshop)."""
        return self.nsmap.ns(name)

    # ---------------------------------------------------------------- plumbing
    @property
    def dyn(self):
        """The `kubernetes.dynamic.DynamicClient` (discovery is cached in a per-process temp file)."""
        if self._dyn is None:
            from kubernetes.dynamic import DynamicClient

            if self._cache_file is None:
                fd, self._cache_file = tempfile.mkstemp(prefix="labkit-discovery-", suffix=".json")
                os.close(fd)
                os.remove(self._cache_file)
                atexit.register(_remove_quietly, self._cache_file)
            with self._errors("connect"):
                self._dyn = DynamicClient(self.api_client, cache_file=self._cache_file)
        return self._dyn

    @contextlib.contextmanager
    def _errors(self, action: str, kind: str | None = None, name: str | None = None,
                namespace: str | None = None) -> Iterator[None]:
        """Turn client/HTTP errors into LabkitError with coordinates as the learner wrote them."""
        from kubernetes.client.exceptions import ApiException

        shown_ns = self.nsmap.unns(namespace) if namespace else namespace
        try:
            yield
        except LabkitError:
            raise
        except ApiException as exc:
            status = getattr(exc, "status", None)
            message = _server_message(exc)
            hint = None
            if status == 404:
                hint = "check the name and namespace; lab.get(kind) lists what exists"
            elif status == 403:
                hint = ("your cluster account may not do this (RBAC); in a workshop ask the instructor"
                        if "being terminated" not in message else
                        "the namespace is still being deleted; wait a few seconds and retry")
            elif status == 409:
                hint = "someone else changed the object meanwhile; retry"
            elif status in (400, 422):
                hint = "the API server rejected the resource; fix the field it names"
            elif status == 0 or status is None:
                hint = "the API server could not be reached or refused the stream"
            raise LabkitError(f"{action} failed: {message}", kind=kind, name=name, namespace=shown_ns,
                              hint=hint) from None
        except (OSError, ConnectionError) as exc:
            raise self._unreachable(exc) from None
        except Exception as exc:  # urllib3 MaxRetryError and friends
            if type(exc).__module__.startswith("urllib3"):
                raise self._unreachable(exc) from None
            raise

    def _unreachable(self, exc: Exception) -> LabkitError:
        host = getattr(getattr(self.api_client, "configuration", None), "host", "?")
        return LabkitError(f"cannot reach the Kubernetes API server at {host}: {exc}",
                           hint="is the cluster running? `kubectl cluster-info`; "
                                "`labkit.doctor_kube.kube_doctor()` checks the whole setup")

    def _req(self, method: str, resource, **kwargs) -> dict:
        """A dynamic-client call returning plain JSON (dict)."""
        fn = getattr(self.dyn, method)
        resp = fn(resource, serialize=False, **kwargs)
        data = _read(resp)
        if isinstance(data, bytes):
            data = data.decode("utf-8")
        if isinstance(data, str):
            return json.loads(data) if data.strip() else {}
        return data or {}

    def _resource(self, api_version: str, kind: str):
        from kubernetes.dynamic.exceptions import ResourceNotFoundError, ResourceNotUniqueError

        group, _, version = str(api_version).rpartition("/")
        try:
            with self._errors("discovery", kind=kind):
                if group:
                    return self.dyn.resources.get(prefix="apis", group=group, api_version=version, kind=kind)
                return self.dyn.resources.get(prefix="api", api_version=version, kind=kind)
        except ResourceNotUniqueError:
            found = [r for r in self._served() if r.kind == kind and r.group_version == api_version]
            if found:
                return found[0]
            raise
        except ResourceNotFoundError:
            hint = ("Istio's CRDs are missing: install Istio (istioctl install --set profile=demo -y); "
                    "kube_doctor() checks it" if "istio.io" in str(api_version)
                    else "check apiVersion and kind; `kubectl api-resources` lists what the cluster serves")
            raise LabkitError(f"the cluster does not serve {kind} in {api_version}", kind=kind,
                              field="apiVersion", hint=hint) from None

    def _served(self, refresh: bool = False) -> list:
        """Every resource the cluster serves (lists and subresources excluded)."""
        from kubernetes.dynamic.resource import ResourceList

        if self._all_resources is None or refresh:
            with self._errors("discovery"):
                if refresh:
                    self.dyn.resources.invalidate_cache()
                found = self.dyn.resources.search()
            self._all_resources = [r for r in found if not isinstance(r, ResourceList)
                                   and r.name and "/" not in r.name]
        return self._all_resources

    def resolve_kind(self, text: str):
        """A dynamic Resource for ``Kind``, ``Kind.group``, ``plural``, a short name or ``group/version/Kind``."""
        text = str(text).strip()
        if text.count("/") >= 1:
            api_version, _, kind = text.rpartition("/")
            return self._resource(api_version, kind)
        base, _, group = text.partition(".")
        needle = base.lower()
        for refresh in (False, True):
            cands = []
            for r in self._served(refresh=refresh):
                if group and r.group != group:
                    continue
                names = {str(r.kind).lower(), str(r.name).lower(), str(r.singular_name or "").lower()}
                names.update(s.lower() for s in (r.short_names or []))
                if needle in names:
                    cands.append(r)
            if cands:
                break
        else:
            istio = needle in {"peerauthentication", "authorizationpolicy", "virtualservice",
                               "destinationrule", "gateway", "serviceentry", "sidecar",
                               "requestauthentication"}
            raise LabkitError(f"the cluster serves no kind {text!r}", kind=text,
                              hint="install Istio (kube_doctor() checks it)" if istio
                              else "`kubectl api-resources` lists the kinds the cluster serves")
        preferred = [r for r in cands if r.preferred] or cands
        groups = sorted({r.group for r in preferred},
                        key=lambda g: GROUP_PREFERENCE.index(g) if g in GROUP_PREFERENCE else 99)
        best = [r for r in preferred if r.group == groups[0]]
        if len(groups) > 1 and groups[0] not in GROUP_PREFERENCE:
            raise LabkitError(f"kind {text!r} is served by several API groups: {', '.join(groups)}",
                              kind=text, hint=f"write it as {base}.<group>, e.g. {base}.{groups[0]}")
        return best[0]

    def _is_namespace_kind(self, resource) -> bool:
        return resource.kind == "Namespace" and not resource.group

    # ---------------------------------------------------------------- guards & labels
    def _guard_write(self, kind: str, name: str, namespace: str | None, namespaced: bool,
                     action: str = "write") -> None:
        if not self.nsmap.enabled or self.allow_mesh_wide:
            return
        hint = ("in a shared (workshop) cluster this step changes every learner's mesh: the instructor "
                "does it once, or use a namespace-level policy in your own namespace. On a cluster of "
                "your own: KubeLab(allow_mesh_wide=True) or LABKIT_ALLOW_MESH_WIDE=1")
        if namespaced and namespace in SYSTEM_NAMESPACES:
            raise LabkitError(f"refusing to {action} in the shared namespace {namespace} "
                              f"(workshop prefix {self.nsmap.prefix!r})",
                              kind=kind, name=name, namespace=namespace, hint=hint)
        if not namespaced:
            if kind == "Namespace" and name not in SYSTEM_NAMESPACES:
                return
            raise LabkitError(f"refusing to {action} a cluster-wide {kind} in a workshop "
                              f"(prefix {self.nsmap.prefix!r})", kind=kind, name=name, hint=hint)

    def _labels(self, created: bool) -> dict[str, str]:
        labels = {MANAGED_BY_LABEL: MANAGED_BY_VALUE}
        if created:
            labels[CREATED_LABEL] = "true"
        if self.nsmap.enabled:
            labels[OWNER_LABEL] = str(self.nsmap.prefix)
        return labels

    def _selector(self, created: bool) -> str:
        parts = [f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}",
                 f"{CREATED_LABEL}=true" if created else f"!{CREATED_LABEL}"]
        parts.append(f"{OWNER_LABEL}={self.nsmap.prefix}" if self.nsmap.enabled else f"!{OWNER_LABEL}")
        return ",".join(parts)

    def _fetch(self, resource, name: str, namespace: str | None) -> dict | None:
        """GET one object; None when it does not exist."""
        from kubernetes.client.exceptions import ApiException

        try:
            return self._req("get", resource, name=name, namespace=namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            with self._errors("get", kind=resource.kind, name=name, namespace=namespace):
                raise

    # ---------------------------------------------------------------- apply / delete / get
    def apply(self, source: YamlSource, namespace: str | None = None) -> list[AppliedObject]:
        """Server-side apply of every document; returns created/configured/unchanged per object.

        `namespace` is `kubectl apply -n`: the namespace of documents that name none.
        """
        docs = load_documents(source)
        if not docs:
            raise LabkitError("no resources found in the input")
        for i, doc in enumerate(docs):
            self._check_doc(doc, i)
            doc_ns = (doc.get("metadata") or {}).get("namespace")
            if namespace and doc_ns and doc_ns != namespace:
                raise LabkitError(f"the document's namespace {doc_ns!r} does not match the namespace "
                                  f"{namespace!r} given to apply", kind=doc.get("kind"),
                                  name=doc["metadata"]["name"], namespace=doc_ns, field="metadata.namespace",
                                  hint="drop one of the two")
        if namespace:
            docs = [dict(d, metadata={**d["metadata"], "namespace": d["metadata"].get("namespace") or namespace})
                    if d.get("kind") != "Namespace" else d for d in docs]
        order = sorted(range(len(docs)), key=lambda i: (0 if docs[i].get("kind") in
                                                        ("Namespace", "CustomResourceDefinition") else 1, i))
        lab_namespaces = namespaces_in(docs)
        self._lab_namespaces |= {n for n in lab_namespaces if n}
        batch_namespaces = {self.nsmap.ns(d["metadata"]["name"]) for d in docs if d.get("kind") == "Namespace"}
        return [self._apply_one(docs[i], batch_namespaces) for i in order]

    @staticmethod
    def _check_doc(doc: dict, index: int) -> None:
        where = f"document {index + 1}"
        if not isinstance(doc.get("apiVersion"), str) or not doc.get("apiVersion"):
            raise LabkitError(f"{where} has no apiVersion", kind=doc.get("kind"), field="apiVersion",
                              hint="every resource needs apiVersion, kind and metadata.name")
        if not isinstance(doc.get("kind"), str) or not doc.get("kind"):
            raise LabkitError(f"{where} has no kind", field="kind",
                              hint="every resource needs apiVersion, kind and metadata.name")
        meta = doc.get("metadata")
        if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta.get("name"):
            hint = ("generateName is not supported by server-side apply; give a fixed name"
                    if isinstance(meta, dict) and meta.get("generateName") else
                    "every resource needs metadata.name")
            raise LabkitError(f"{where} has no metadata.name", kind=doc.get("kind"), field="metadata.name",
                              hint=hint)

    def _apply_one(self, doc: dict, batch_namespaces: set[str]) -> AppliedObject:
        kind, api_version = doc["kind"], doc["apiVersion"]
        resource = self._resource(api_version, kind)
        obj = rewrite_images(doc, self.image_map)
        obj = dict(obj)
        meta = dict(obj.get("metadata") or {})
        for key in ("resourceVersion", "uid", "creationTimestamp", "managedFields", "generation",
                    "selfLink", "deletionTimestamp"):
            meta.pop(key, None)
        if resource.namespaced:
            meta["namespace"] = meta.get("namespace") or "default"
        else:
            meta.pop("namespace", None)
        obj["metadata"] = meta
        obj.pop("status", None)
        obj = self.nsmap.map_object(obj, known=self._lab_namespaces)
        meta = obj["metadata"]
        name, namespace = meta["name"], meta.get("namespace")
        self._guard_write(kind, name, namespace, resource.namespaced, "write")
        with self._errors("apply", kind=kind, name=name, namespace=namespace):
            existing = self._fetch(resource, name, namespace)
        was_created = existing is None or \
            ((existing.get("metadata") or {}).get("labels") or {}).get(CREATED_LABEL) == "true"
        labels = dict(meta.get("labels") or {})
        labels.update(self._labels(was_created))
        meta["labels"] = labels
        if namespace and self.nsmap.enabled and namespace not in batch_namespaces:
            self._ensure_namespace(namespace)
        with self._errors("apply", kind=kind, name=name, namespace=namespace):
            result = self._req("server_side_apply", resource, body=obj, name=name, namespace=namespace,
                               field_manager=FIELD_MANAGER, force_conflicts=True)
        before = (existing or {}).get("metadata", {}).get("resourceVersion") if existing else None
        after = (result.get("metadata") or {}).get("resourceVersion")
        if existing is None:
            action = "created"
        elif before is not None and before == after:
            action = "unchanged"
        else:
            action = "configured"
        self._touched_kinds[(resource.group, resource.kind)] = None
        if namespace:
            self._touched_namespaces.add(namespace)
        if self._is_namespace_kind(resource):
            self._touched_namespaces.add(name)
            self._ensured_namespaces.add(name)
        shown_name = self.nsmap.unns(name) if self._is_namespace_kind(resource) else name
        return AppliedObject(kind, shown_name, self.nsmap.unns(namespace) if namespace else None, action)

    def _ensure_namespace(self, namespace: str) -> None:
        """Workshop mode: create the learner's prefixed namespace when a lab writes into it first."""
        if namespace in self._ensured_namespaces or namespace in SYSTEM_NAMESPACES:
            return
        resource = self._resource("v1", "Namespace")
        with self._errors("apply", kind="Namespace", name=namespace):
            if self._fetch(resource, namespace, None) is None:
                body = {"apiVersion": "v1", "kind": "Namespace",
                        "metadata": {"name": namespace, "labels": self._labels(True)}}
                self._req("server_side_apply", resource, body=body, name=namespace,
                          field_manager=FIELD_MANAGER, force_conflicts=True)
                self._touched_namespaces.add(namespace)
        self._ensured_namespaces.add(namespace)

    def delete(self, source: YamlSource | str, name: str | None = None, namespace: str | None = None,
               *, ignore_missing: bool = False) -> list[AppliedObject]:
        """Delete by YAML (same documents as applied) or by kind and name."""
        targets: list[tuple[Any, str, str | None]] = []
        if name is not None or (isinstance(source, str) and _looks_like_kind(source)):
            if name is None:
                raise LabkitError(f"delete by kind needs a name: lab.delete({source!r}, 'NAME', namespace='NS')",
                                  kind=str(source))
            targets.append((self.resolve_kind(str(source)), name, namespace))
        else:
            docs = load_documents(source)
            for i, doc in enumerate(docs):
                self._check_doc(doc, i)
            docs = sorted(docs, key=lambda d: 1 if d.get("kind") == "Namespace" else 0)
            for doc in docs:
                resource = self._resource(doc["apiVersion"], doc["kind"])
                targets.append((resource, doc["metadata"]["name"], doc["metadata"].get("namespace")))
        out = []
        for resource, obj_name, lab_ns in targets:
            ns = self.nsmap.ns(lab_ns or "default") if resource.namespaced else None
            real_name = self.nsmap.ns(obj_name) if self._is_namespace_kind(resource) else obj_name
            self._guard_write(resource.kind, real_name, ns, resource.namespaced, "delete")
            from kubernetes.client.exceptions import ApiException
            try:
                self._req("delete", resource, name=real_name, namespace=ns)
            except ApiException as exc:
                if exc.status == 404:
                    if ignore_missing:
                        continue
                    raise LabkitError("not found, nothing deleted", kind=resource.kind, name=obj_name,
                                      namespace=self.nsmap.unns(ns) if ns else None,
                                      hint="pass ignore_missing=True to skip objects that do not exist") from None
                with self._errors("delete", kind=resource.kind, name=real_name, namespace=ns):
                    raise
            except Exception as exc:  # connection problems
                with self._errors("delete", kind=resource.kind, name=real_name, namespace=ns):
                    raise exc
            shown = self.nsmap.unns(real_name) if self._is_namespace_kind(resource) else real_name
            out.append(AppliedObject(resource.kind, shown, self.nsmap.unns(ns) if ns else None, "deleted"))
        return out

    def _list(self, resource, namespace: str | None = None, label_selector: str | None = None) -> list[dict]:
        kwargs: dict[str, Any] = {}
        if label_selector:
            kwargs["label_selector"] = label_selector
        with self._errors("list", kind=resource.kind, namespace=namespace):
            data = self._req("get", resource, namespace=namespace if resource.namespaced else None, **kwargs)
        items = data.get("items") or []
        for item in items:
            item.setdefault("apiVersion", resource.group_version)
            item.setdefault("kind", resource.kind)
        return items

    def get(self, kind: str, name: str | None = None, namespace: str | None = None) -> list[dict]:
        """Objects of a kind as dicts, namespaces shown as the lab names them."""
        resource = self.resolve_kind(kind)
        ns = self.nsmap.ns(namespace) if (resource.namespaced and namespace) else None
        if name is not None:
            real_name = self.nsmap.ns(name) if self._is_namespace_kind(resource) else name
            if resource.namespaced and ns is None:
                items = [i for i in self._list(resource) if (i.get("metadata") or {}).get("name") == real_name]
            else:
                with self._errors("get", kind=resource.kind, name=real_name, namespace=ns):
                    one = self._fetch(resource, real_name, ns)
                items = [one] if one else []
        else:
            items = self._list(resource, ns)
        if self.nsmap.enabled:
            if self._is_namespace_kind(resource):
                items = [i for i in items if self.nsmap.owns((i.get("metadata") or {}).get("name"))]
            elif resource.namespaced:
                items = [i for i in items if self.nsmap.owns((i.get("metadata") or {}).get("namespace"))]
        out = [self.nsmap.unmap_object(i) for i in items]
        out.sort(key=lambda o: ((o.get("metadata") or {}).get("namespace") or "",
                                (o.get("metadata") or {}).get("name") or ""))
        return out

    def label_namespace(self, namespace: str, labels: dict) -> None:
        """`kubectl label namespace NS k=v --overwrite` (a None value removes the label)."""
        resource = self._resource("v1", "Namespace")
        real = self.nsmap.ns(namespace)
        self._guard_write("Namespace", real, None, False, "label")
        body = {"metadata": {"labels": {str(k): (None if v is None else str(v)) for k, v in labels.items()}}}
        from kubernetes.client.exceptions import ApiException
        try:
            self._req("patch", resource, body=body, name=real, content_type="application/merge-patch+json",
                      field_manager=FIELD_MANAGER)
        except ApiException as exc:
            if exc.status == 404:
                raise LabkitError(f'namespaces "{namespace}" not found', kind="Namespace", name=namespace) from None
            with self._errors("label", kind="Namespace", name=real):
                raise

    def reset(self, resources: YamlSource | None = None, timeout: float = 120) -> None:
        """Remove everything labkit created (waiting until its namespaces are gone), then apply `resources`."""
        self.down()
        gone = [o.name for o in self.cleaned if o.kind == "Namespace" and o.action == "deleted"]
        self._wait_namespaces_gone([self.nsmap.ns(n) for n in gone], timeout)
        if resources:
            self.apply(resources)

    def _wait_namespaces_gone(self, namespaces: list[str], timeout: float) -> None:
        if not namespaces:
            return
        resource = self._resource("v1", "Namespace")
        deadline = time.monotonic() + timeout
        pending = list(namespaces)
        while pending:
            with self._errors("get", kind="Namespace"):
                pending = [n for n in pending if self._fetch(resource, n, None) is not None]
            if not pending:
                return
            if time.monotonic() > deadline:
                raise LabkitError(f"namespaces still terminating after {timeout:g}s: {', '.join(pending)}",
                                  kind="Namespace", hint="`kubectl get ns` shows them; finalizers may be stuck")
            time.sleep(self.poll_interval)

    # ---------------------------------------------------------------- pods
    def _pods(self, namespace: str | None) -> list[dict]:
        items = self._list(self._resource("v1", "Pod"), namespace)
        return [p for p in items if self.nsmap.owns((p.get("metadata") or {}).get("namespace"))]

    def pods(self, namespace: str | None = None):
        """pandas DataFrame: namespace, pod, ready ("2/2"), sidecar, status, restarts, ip."""
        import pandas as pd

        ns = self.nsmap.ns(namespace) if namespace else None
        rows = [pod_row(p, self.nsmap.unns((p.get("metadata") or {}).get("namespace"))) for p in self._pods(ns)]
        rows.sort(key=lambda r: (r["namespace"] or "", r["pod"] or ""))
        return pd.DataFrame(rows, columns=POD_COLUMNS)

    def wait_ready(self, namespace: str | None = None, timeout: float = 60) -> None:
        """Block until the deployments are rolled out and every pod is ready (progress bar in notebooks)."""
        if namespace:
            namespaces: list[str | None] = [self.nsmap.ns(namespace)]
        elif self._touched_namespaces:
            namespaces = list(sorted(self._touched_namespaces))
        else:
            namespaces = [None]
        label = f"pods in {namespace}" if namespace else "pods"
        progress = Progress(f"waiting for {label}")
        deadline = time.monotonic() + float(timeout)
        deploy_res = self._resource("apps/v1", "Deployment")
        while True:
            pods: list[dict] = []
            pending: list[str] = []
            for ns in namespaces:
                pods.extend(self._pods(ns))
                for d in self._list(deploy_res, ns):
                    if not self.nsmap.owns((d.get("metadata") or {}).get("namespace")):
                        continue
                    done, why = rollout_state(d)
                    if not done:
                        pending.append(why)
            live = [p for p in pods if (p.get("status") or {}).get("phase") != "Succeeded"
                    and not (p.get("metadata") or {}).get("deletionTimestamp")]
            ready = [p for p in live if pod_ready(p)]
            not_ready = [p for p in live if not pod_ready(p)]
            text = pending[0] if pending else (
                f"waiting for {not_ready[0]['metadata']['name']} ({pod_status(not_ready[0])})" if not_ready else "")
            progress.update(len(ready), len(live), text)
            if not pending and not not_ready:
                progress.close(True, f"{len(ready)}/{len(live)} pods ready")
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                progress.close(False, "timed out")
                raise self._not_ready_error(namespace, timeout, not_ready, pending)
            time.sleep(min(self.poll_interval, remaining))

    def _not_ready_error(self, namespace, timeout, not_ready: list[dict], pending: list[str]) -> LabkitError:
        lines = []
        statuses = []
        for p in not_ready[:10]:
            row = pod_row(p, self.nsmap.unns(p["metadata"].get("namespace")))
            statuses.append(row["status"])
            lines.append(f"{row['namespace']}/{row['pod']} {row['ready']} {row['status']}")
        lines.extend(pending[:5])
        hint = "lab.pods() shows the pods; lab.logs(namespace, pod) and `kubectl describe pod` say why"
        if any(s in ("ImagePullBackOff", "ErrImagePull", "Init:ImagePullBackOff", "Init:ErrImagePull")
               for s in statuses):
            hint = ("an image cannot be pulled: without internet mirror the images and set LABKIT_IMAGE_MAP "
                    "(see docs/kubernetes.md)")
        elif any("CrashLoopBackOff" in s for s in statuses):
            hint = "a container keeps crashing: lab.logs(namespace, pod) shows why"
        where = f" in {namespace}" if namespace else ""
        return LabkitError(f"pods{where} not ready after {timeout:g}s: " + "; ".join(lines),
                           namespace=namespace, hint=hint)

    def _pick_pod(self, namespace: str, target: str) -> dict:
        """A pod by name, or a Running pod of a deployment/statefulset/daemonset (``NAME`` or ``kind/NAME``)."""
        kind, sep, name = target.partition("/")
        if not sep:
            kind, name = "", target
        kind = kind.lower()
        pod_res = self._resource("v1", "Pod")
        if kind in POD_KINDS or not kind:
            with self._errors("get", kind="Pod", name=name, namespace=namespace):
                pod = self._fetch(pod_res, name, namespace)
            if pod is not None:
                return pod
            if kind:
                raise LabkitError("no such pod", kind="Pod", name=name, namespace=self.nsmap.unns(namespace),
                                  hint="lab.pods(namespace) lists the pods")
        workload_kinds = [WORKLOAD_KINDS[kind]] if kind in WORKLOAD_KINDS else (
            ["Deployment", "StatefulSet", "DaemonSet"] if not kind else [])
        if not workload_kinds:
            raise LabkitError(f"cannot run in {target!r}: give a pod or deployment name", kind=kind,
                              name=name, namespace=self.nsmap.unns(namespace))
        for wkind in workload_kinds:
            res = self._resource("apps/v1", wkind)
            with self._errors("get", kind=wkind, name=name, namespace=namespace):
                workload = self._fetch(res, name, namespace)
            if workload is None:
                continue
            selector = selector_string((workload.get("spec") or {}).get("selector"))
            pods = self._list(pod_res, namespace, selector or None)
            running = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"
                       and not (p.get("metadata") or {}).get("deletionTimestamp")]
            running.sort(key=lambda p: (not pod_ready(p), p["metadata"].get("name")))
            if not running:
                raise LabkitError(f"{wkind.lower()} {name} has no running pod", kind=wkind, name=name,
                                  namespace=self.nsmap.unns(namespace),
                                  hint=f"wait for it: lab.wait_ready({self.nsmap.unns(namespace)!r})")
            return running[0]
        raise LabkitError("no pod or deployment of that name", kind="Pod", name=name,
                          namespace=self.nsmap.unns(namespace), hint="lab.pods(namespace) lists the pods")

    def exec(self, namespace: str, target: str, command: list[str], *, container: str | None = None,
             timeout: float = 30) -> ExecResult:
        """Run a command in a pod's container (default: the first that is not istio-proxy)."""
        from kubernetes.client.exceptions import ApiException

        ns = self.nsmap.ns(namespace)
        if isinstance(command, str):
            raise LabkitError("command must be a list, e.g. ['curl', '-s', 'http://httpbin.foo:8000/ip']")
        pod = self._pick_pod(ns, target)
        pod_name = pod["metadata"]["name"]
        container = container or default_container(pod)
        try:
            return run_exec(self.core, ns, pod_name, container, list(command), timeout)
        except ApiException as exc:
            raise LabkitError(f"exec failed: {_server_message(exc)}", kind="Pod", name=pod_name, namespace=namespace,
                              hint=f"is container {container!r} running? lab.pods({namespace!r}) shows the pod") from None
        except (OSError, ConnectionError) as exc:
            raise self._unreachable(exc) from None

    def restart(self, namespace: str, target: str) -> None:
        """`kubectl rollout restart`: patch the pod template's restartedAt annotation."""
        ns = self.nsmap.ns(namespace)
        kind, sep, name = target.partition("/")
        if not sep:
            kind, name = "deployment", target
        wkind = WORKLOAD_KINDS.get(kind.lower())
        if wkind is None:
            raise LabkitError(f"cannot restart {target!r}: only deployments, statefulsets and daemonsets restart",
                              name=target, namespace=namespace)
        resource = self._resource("apps/v1", wkind)
        body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: _now_iso()}}}}}
        with self._errors("restart", kind=wkind, name=name, namespace=ns):
            self._req("patch", resource, body=body, name=name, namespace=ns,
                      content_type="application/strategic-merge-patch+json", field_manager=FIELD_MANAGER)

    def logs(self, namespace: str, target: str, container: str | None = None, tail: int | None = None) -> str:
        """A container's log; ``container="istio-proxy"`` is the sidecar's Envoy access log."""
        ns = self.nsmap.ns(namespace)
        pod = self._pick_pod(ns, target)
        pod_name = pod["metadata"]["name"]
        container = container or default_container(pod)
        kwargs: dict[str, Any] = {"_preload_content": False}
        if container:
            kwargs["container"] = container
        if tail is not None:
            kwargs["tail_lines"] = int(tail)
        with self._errors("logs", kind="Pod", name=pod_name, namespace=ns):
            resp = self.core.read_namespaced_pod_log(pod_name, ns, **kwargs)
        data = _read(resp)
        return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)

    # ---------------------------------------------------------------- gateway
    def gateway_url(self, port: int = 80, scheme: str | None = None) -> str:
        """URL of the ingress gateway for a Gateway server port (80 → http, 443 → https).

        ``LABKIT_GATEWAY_URL`` (port 80) / ``LABKIT_SECURE_GATEWAY_URL`` (port 443) /
        ``LABKIT_GATEWAY_URL_<port>`` win; else the istio-ingressgateway Service: its LoadBalancer
        address, else its NodePort on a node's address.
        """
        port = int(port)
        scheme = scheme or ("https" if port in (443, 8443) else "http")
        env = os.environ.get(f"LABKIT_GATEWAY_URL_{port}")
        if not env and port == 80 and scheme == "http":
            env = os.environ.get("LABKIT_GATEWAY_URL")
        if not env and port == 443 and scheme == "https":
            env = os.environ.get("LABKIT_SECURE_GATEWAY_URL")
        if env:
            return env.rstrip("/")
        svc_ns, _, svc_name = self.gateway_service.rpartition("/")
        svc_ns = svc_ns or "istio-system"
        resource = self._resource("v1", "Service")
        with self._errors("get", kind="Service", name=svc_name, namespace=svc_ns):
            svc = self._fetch(resource, svc_name, svc_ns)
        if svc is None:
            raise LabkitError("the Istio ingress gateway service does not exist", kind="Service", name=svc_name,
                              namespace=svc_ns, hint="install Istio with the demo profile "
                              "(istioctl install --set profile=demo -y) or set LABKIT_GATEWAY_URL")
        spec = svc.get("spec") or {}
        ports = spec.get("ports") or []
        match = next((p for p in ports if int(p.get("port") or 0) == port), None)
        if match is None:
            have = ", ".join(str(p.get("port")) for p in ports)
            raise LabkitError(f"the ingress gateway service has no port {port} (it has {have})", kind="Service",
                              name=svc_name, namespace=svc_ns, hint="use a Gateway server port the service exposes")
        default_port = (scheme == "http" and port == 80) or (scheme == "https" and port == 443)
        for ingress in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
            host = ingress.get("ip") or ingress.get("hostname")
            if host:
                return _url(scheme, host, None if default_port else port)
        node_port = match.get("nodePort")
        if node_port and spec.get("type") in ("NodePort", "LoadBalancer"):
            address = self._node_address()
            if address:
                return _url(scheme, address, int(node_port))
        raise LabkitError(f"cannot tell how to reach the ingress gateway (service type {spec.get('type')}, "
                          "no load balancer address, no node port)", kind="Service", name=svc_name,
                          namespace=svc_ns,
                          hint=f"port-forward it: kubectl -n {svc_ns} port-forward svc/{svc_name} 8080:{port} "
                               f"and set LABKIT_GATEWAY_URL=http://127.0.0.1:8080")

    def _node_address(self) -> str | None:
        nodes = self._list(self._resource("v1", "Node"))
        for wanted in ("ExternalIP", "InternalIP"):
            for node in nodes:
                for addr in (node.get("status") or {}).get("addresses") or []:
                    if addr.get("type") == wanted and addr.get("address"):
                        return addr["address"]
        return None

    # ---------------------------------------------------------------- istioctl views
    def proxy_config_json(self, namespace: str, pod: str, kind: str = "cluster", *,
                     use_istioctl: bool | None = None) -> Any:
        """Envoy's config of a pod's sidecar as parsed JSON, as `istioctl proxy-config <kind> <pod>.<ns> -o json`.

        Uses istioctl when it is installed (and the lab came from a kubeconfig), else
        ``pilot-agent request GET config_dump`` inside the istio-proxy container.
        `kind`: cluster, listener, route, endpoint, secret, bootstrap or all.
        """
        kind = kind.lower()
        if kind not in PROXY_CONFIG_TYPES and kind not in ("all", "config_dump"):
            raise LabkitError(f"unknown proxy-config kind {kind!r}",
                              hint="use cluster, listener, route, endpoint, secret, bootstrap or all")
        ns = self.nsmap.ns(namespace)
        pod_obj = self._pick_pod(ns, pod)
        pod_name = pod_obj["metadata"]["name"]
        istioctl = shutil.which("istioctl")
        if use_istioctl is None:
            use_istioctl = bool(istioctl) and self._own_client
        if use_istioctl and istioctl:
            import sh

            args = ["proxy-config", "all" if kind == "config_dump" else kind, f"{pod_name}.{ns}", "-o", "json"]
            if self.context:
                args += ["--context", self.context]
            if self.kubeconfig:
                args += ["--kubeconfig", str(self.kubeconfig)]
            try:
                out = sh.Command(istioctl)(*args, _timeout=120)
                return json.loads(str(out))
            except Exception as exc:  # noqa: BLE001 - fall back to the in-pod dump
                istioctl_error = exc
        else:
            istioctl_error = None
        # The same in-pod dump the tools read (one access path), with endpoints when they are asked for.
        dump = self.mesh_access().config_dump(
            namespace, pod_name, include_eds=kind in ("endpoint", "endpoints"),
            why=f" (istioctl also failed: {istioctl_error})" if istioctl_error else "")
        return select_config(dump, kind)

    # ---------------------------------------------------------------- clean-up
    def down(self, keep: bool = False) -> None:
        """Delete every object labkit created (label-scoped, this learner's only); keep=True leaves them."""
        self.cleaned = []
        if keep:
            return
        from kubernetes.client.exceptions import ApiException
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        served_groups = self._served_groups()
        kinds: dict[tuple[str, str], None] = {}
        for group, kind in list(CLEANUP_KINDS[:-1]) + list(self._touched_kinds):
            if (group, kind) != ("", "Namespace"):
                kinds[(group, kind)] = None
        kinds[("", "Namespace")] = None
        created_sel, touched_sel = self._selector(True), self._selector(False)
        for group, kind in kinds:
            if group and group not in served_groups:
                continue
            try:
                resource = self._resource_by_group(group, kind)
            except (LabkitError, ResourceNotFoundError):
                continue
            for item in self._list_for_cleanup(resource, created_sel):
                meta = item.get("metadata") or {}
                name, ns = meta.get("name"), meta.get("namespace")
                if not self._may_clean(resource, name, ns):
                    continue
                try:
                    self._req("delete", resource, name=name, namespace=ns)
                except ApiException as exc:
                    if exc.status != 404:
                        with self._errors("delete", kind=resource.kind, name=name, namespace=ns):
                            raise
                    continue
                shown = self.nsmap.unns(name) if self._is_namespace_kind(resource) else name
                self.cleaned.append(AppliedObject(resource.kind, str(shown), self.nsmap.unns(ns) if ns else None,
                                                  "deleted"))
            for item in self._list_for_cleanup(resource, touched_sel):
                self._release(resource, item)
        self._touched_namespaces.clear()
        self._ensured_namespaces.clear()

    def _may_clean(self, resource, name: str | None, ns: str | None) -> bool:
        if not self.nsmap.enabled:
            return True
        if self._is_namespace_kind(resource):
            return self.nsmap.owns(name) and name not in SYSTEM_NAMESPACES
        return self.nsmap.owns(ns) if resource.namespaced else True

    def _release(self, resource, item: dict) -> None:
        """Give up labkit's fields on an object labkit changed but did not create (apply an empty config)."""
        from kubernetes.client.exceptions import ApiException

        meta = item.get("metadata") or {}
        name, ns = meta.get("name"), meta.get("namespace")
        if not self._may_clean(resource, name, ns):
            return
        body = {"apiVersion": resource.group_version, "kind": resource.kind, "metadata": {"name": name}}
        if ns:
            body["metadata"]["namespace"] = ns
        try:
            self._req("server_side_apply", resource, body=body, name=name, namespace=ns,
                      field_manager=FIELD_MANAGER, force_conflicts=True)
        except ApiException:
            return  # e.g. a required field only labkit set: leave the object as it is
        shown = self.nsmap.unns(name) if self._is_namespace_kind(resource) else name
        self.cleaned.append(AppliedObject(resource.kind, str(shown), self.nsmap.unns(ns) if ns else None, "released"))

    def _served_groups(self) -> set[str]:
        with self._errors("discovery"):
            data = json.loads(_read(self.dyn.request("GET", "/apis", serialize=False)))
        return {g.get("name") for g in data.get("groups") or []}

    def _resource_by_group(self, group: str, kind: str):
        with self._errors("discovery", kind=kind):
            if group:
                found = self.dyn.resources.search(prefix="apis", group=group, kind=kind)
            else:
                found = self.dyn.resources.search(prefix="api", api_version="v1", kind=kind)
        from kubernetes.dynamic.resource import ResourceList

        found = [r for r in found if not isinstance(r, ResourceList)]
        if not found:
            raise LabkitError(f"{kind}.{group} not served", kind=kind)
        found.sort(key=lambda r: not r.preferred)
        return found[0]

    def _list_for_cleanup(self, resource, selector: str) -> list[dict]:
        from kubernetes.client.exceptions import ApiException

        try:
            return self._req("get", resource, label_selector=selector).get("items") or []
        except ApiException as exc:
            if exc.status == 404:
                return []
            if exc.status != 403 or not resource.namespaced:
                with self._errors("list", kind=resource.kind):
                    raise
        # no cluster-wide list permission (workshop RBAC): per namespace
        items: list[dict] = []
        for ns in sorted(self._touched_namespaces | self._ensured_namespaces):
            try:
                items.extend(self._req("get", resource, namespace=ns, label_selector=selector).get("items") or [])
            except ApiException:
                continue
        return items

    def close(self) -> None:
        """Close the HTTP connections (the lab's objects stay)."""
        if self._own_client:
            with contextlib.suppress(Exception):
                self.api_client.close()


def _read(resp: Any) -> Any:
    """The body of a raw (unpreloaded) urllib3 response; the connection goes back to the pool."""
    if not hasattr(resp, "data"):
        return resp
    data = resp.data
    release = getattr(resp, "release_conn", None)
    if callable(release):
        with contextlib.suppress(Exception):
            release()
    return data


def _url(scheme: str, host: str, port: int | None) -> str:
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{scheme}://{host}" + (f":{port}" if port else "")


def _looks_like_kind(text: str) -> bool:
    """'PeerAuthentication', 'gateway.networking.istio.io', 'pods' — not YAML text or a file path."""
    stripped = text.strip()
    if not stripped or "\n" in stripped or ":" in stripped or " " in stripped:
        return False
    if stripped.endswith((".yaml", ".yml", ".json")) or os.path.exists(stripped):
        return False
    return all(part.replace("-", "").isalnum() for part in stripped.replace("/", ".").split("."))


def select_config(dump: dict, kind: str) -> Any:
    """The part of an Envoy config_dump istioctl's `proxy-config <kind> -o json` shows."""
    kind = kind.lower()
    if kind in ("all", "config_dump"):
        return dump
    type_name = PROXY_CONFIG_TYPES[kind]
    # Exact type name: "ScopedRoutesConfigDump" also ends with "RoutesConfigDump" and comes first.
    section = next((c for c in dump.get("configs") or []
                    if str(c.get("@type", "")).rsplit(".", 1)[-1] == type_name), None)
    if section is None:
        return [] if kind not in ("bootstrap", "secret", "secrets") else {}
    if type_name == "BootstrapConfigDump":
        return section.get("bootstrap", section)
    if type_name == "ClustersConfigDump":
        return [c.get("cluster") for c in (section.get("static_clusters") or [])
                + (section.get("dynamic_active_clusters") or []) if c.get("cluster")]
    if type_name == "ListenersConfigDump":
        out = [c.get("listener") for c in section.get("static_listeners") or [] if c.get("listener")]
        out += [(c.get("active_state") or {}).get("listener") for c in section.get("dynamic_listeners") or []
                if (c.get("active_state") or {}).get("listener")]
        return out
    if type_name == "RoutesConfigDump":
        return [c.get("route_config") for c in (section.get("static_route_configs") or [])
                + (section.get("dynamic_route_configs") or []) if c.get("route_config")]
    if type_name == "EndpointsConfigDump":
        return [c.get("endpoint_config") for c in (section.get("static_endpoint_configs") or [])
                + (section.get("dynamic_endpoint_configs") or []) if c.get("endpoint_config")]
    return section
