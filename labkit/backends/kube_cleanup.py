"""KubeLab's clean-up: `down()` deletes exactly what labkit created and releases its fields elsewhere."""
from __future__ import annotations

import contextlib
import time

from ..errors import LabkitError
from .base import AppliedObject, YamlSource
from .kube_prefix import SYSTEM_NAMESPACES
from .kube_client import CLEANUP_KINDS, CREATED_LABEL, FIELD_MANAGER, MANAGED_BY_LABEL, OWNER_LABEL
from .kube_restore import restore_patch

RESTORE_MANAGER = "labkit-restore"   # the field manager of the values down() puts back
from .kube_pods import KubePods


class KubeCleanup(KubePods):
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
        patch = restore_patch(item, (MANAGED_BY_LABEL, CREATED_LABEL, OWNER_LABEL))
        if patch is not None:
            # Put back what labkit overwrote (a mode taken with force, a label changed), then drop its marks.
            with self._errors("restore", kind=resource.kind, name=name, namespace=ns):
                self._req("patch", resource, body=patch, name=name, namespace=ns,
                          content_type="application/merge-patch+json", field_manager=RESTORE_MANAGER)
        shown = self.nsmap.unns(name) if self._is_namespace_kind(resource) else name
        self.cleaned.append(AppliedObject(resource.kind, str(shown), self.nsmap.unns(ns) if ns else None, "released"))

    def _list_for_cleanup(self, resource, selector: str) -> list[dict]:
        from kubernetes.client.exceptions import ApiException

        try:
            return self._req("get", resource, label_selector=selector).get("items") or []
        except ApiException as exc:
            if exc.status == 404:
                return []
            if exc.status != 403:
                with self._errors("list", kind=resource.kind):
                    raise
        if not resource.namespaced:
            return self._own_namespaces_matching(resource, selector) if self._is_namespace_kind(resource) else []
        # no cluster-wide list permission (workshop RBAC): per namespace
        items: list[dict] = []
        for ns in sorted(self._touched_namespaces | self._ensured_namespaces):
            try:
                items.extend(self._req("get", resource, namespace=ns, label_selector=selector).get("items") or [])
            except ApiException:
                continue
        return items

    def _own_namespaces_matching(self, resource, selector: str) -> list[dict]:
        """Without the right to list namespaces (a learner's role): this lab's own, read one by one, that
        carry the selector's labels (`k=v` and `!k` terms, the only ones labkit's selectors use)."""
        found = []
        for name in sorted(self._own_namespaces()):
            try:
                item = self._fetch(resource, name, None)
            except LabkitError:
                continue
            labels = ((item or {}).get("metadata") or {}).get("labels") or {}
            terms = [t for t in selector.split(",") if t]
            if item and all((t[1:] not in labels) if t.startswith("!") else
                            labels.get(t.split("=", 1)[0]) == t.split("=", 1)[1] for t in terms):
                found.append(item)
        return found

    def close(self) -> None:
        """Close the HTTP connections (the lab's objects stay)."""
        if self._own_client:
            with contextlib.suppress(Exception):
                self.api_client.close()
