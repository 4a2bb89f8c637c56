"""KubeLab's writes: server-side apply and delete, the workshop write guards and labkit's labels, get."""
from __future__ import annotations

from typing import Any

from ..errors import LabkitError
from ..resources.loader import load_documents
from .base import AppliedObject, YamlSource
from .kube_images import rewrite_images
from .kube_prefix import SYSTEM_NAMESPACES, namespaces_in
from .kube_restore import RESTORE_ANNOTATION, record_for_apply, record_for_labels
from .kube_client import (CREATED_LABEL, FIELD_MANAGER, MANAGED_BY_LABEL, MANAGED_BY_VALUE, OWNER_LABEL, KubeApi,
                          looks_like_kind)


class KubeWrites(KubeApi):
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

    def _refuse_other_learners(self, labels: dict, kind: str, name: str, namespace: str | None) -> None:
        """Never take an object another learner's labkit wrote (a shared Secret or Gateway in istio-system)."""
        owner = labels.get(OWNER_LABEL)
        if owner and owner != (self.nsmap.prefix or ""):
            raise LabkitError(f"{kind} {name} belongs to another learner ({OWNER_LABEL}={owner}); refusing to "
                              "overwrite it", kind=kind, name=name, namespace=namespace,
                              hint="use a name of your own, or ask the instructor; a shared object in "
                                   "istio-system is set up once for everybody")

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
        obj = self.nsmap.map_object(obj, known=self._known_lab_namespaces())
        meta = obj["metadata"]
        name, namespace = meta["name"], meta.get("namespace")
        self._guard_write(kind, name, namespace, resource.namespaced, "write")
        with self._errors("apply", kind=kind, name=name, namespace=namespace):
            existing = self._fetch(resource, name, namespace)
        existing_labels = ((existing or {}).get("metadata") or {}).get("labels") or {}
        self._refuse_other_learners(existing_labels, kind, name, namespace)
        was_created = existing is None or existing_labels.get(CREATED_LABEL) == "true"
        labels = dict(meta.get("labels") or {})
        labels.update(self._labels(was_created))
        meta["labels"] = labels
        if existing is not None and not was_created:
            # Remember what this apply overwrites, so down() can put it back (kube_restore).
            meta["annotations"] = {**(meta.get("annotations") or {}),
                                   RESTORE_ANNOTATION: record_for_apply(existing, obj)}
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

    def _known_lab_namespaces(self) -> set[str]:
        """The lab namespaces short hosts (`httpbin.bar`) may name: those applied through this lab, plus, in a
        workshop, the learner's namespaces already on the cluster (labelled with the owner), so a kernel
        restart does not forget them. Without permission to list namespaces only the first are known."""
        if self.nsmap.enabled and self._owned_namespaces is None:
            self._owned_namespaces = set()
            try:
                found = self._list(self._resource("v1", "Namespace"), None, f"{OWNER_LABEL}={self.nsmap.prefix}")
            except LabkitError:
                found = []  # e.g. Forbidden for a namespace-scoped learner role
            for item in found:
                name = (item.get("metadata") or {}).get("name") or ""
                if self.nsmap.owns(name):
                    self._owned_namespaces.add(self.nsmap.unns(name))
        return self._lab_namespaces | (self._owned_namespaces or set())

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
        if name is not None or (isinstance(source, str) and looks_like_kind(source)):
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
                # As `kubectl delete -f FILE -n NS`: a document's own namespace wins, else the one given.
                targets.append((resource, doc["metadata"]["name"], doc["metadata"].get("namespace") or namespace))
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
        wanted = {str(k): (None if v is None else str(v)) for k, v in labels.items()}
        body: dict = {"metadata": {"labels": dict(wanted)}}
        with self._errors("label", kind="Namespace", name=real):
            existing = self._fetch(resource, real, None)
        existing_labels = ((existing or {}).get("metadata") or {}).get("labels") or {}
        if existing is not None and existing_labels.get(CREATED_LABEL) != "true":
            # A namespace labkit did not create: mark it and remember the labels' values, for down() to restore.
            self._refuse_other_learners(existing_labels, "Namespace", real, None)
            body["metadata"]["labels"].update({k: v for k, v in self._labels(False).items()})
            body["metadata"]["annotations"] = {RESTORE_ANNOTATION: record_for_labels(existing, wanted)}
        from kubernetes.client.exceptions import ApiException
        try:
            self._req("patch", resource, body=body, name=real, content_type="application/merge-patch+json",
                      field_manager=FIELD_MANAGER)
        except ApiException as exc:
            if exc.status == 404:
                raise LabkitError(f'namespaces "{namespace}" not found', kind="Namespace", name=namespace) from None
            with self._errors("label", kind="Namespace", name=real):
                raise
