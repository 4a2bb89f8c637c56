"""Reads and writes on resources (get, list, watch, create, update, patch, delete) over the one store."""
from __future__ import annotations

import copy
import json
import time


import yaml

from ..errors import LabkitError
from ..resources.store import Store, StoreConflict
from ..resources.validate import validate
from .objects import Objects
from .patch import json_merge, json_patch, server_side_apply, strategic_merge
from .registry import Resource
from .selectors import field_selector, label_selector
from .status import ApiError, already_exists, bad_request, from_labkit, method_not_allowed, not_found
from .tables import table
from .views import now

WATCH_POLL = 0.2
WRITE_RETRIES = 10
# Kinds whose status the API renders from the running mesh; their stored objects keep only what was written.
RENDERED_STATUS = ("Pod", "Deployment", "Service", "Namespace")
SYSTEM_WRITES = ("Pod",)   # pods belong to the deployment controller; writes only touch their metadata


class Request:
    """What a resource request asks for, parsed from the URL."""

    def __init__(self, resource: Resource, version: str, namespace: str | None, name: str,
                 query: dict[str, list[str]], accept: str):
        """name: "" for requests on the collection."""
        self.resource, self.version, self.namespace, self.name = resource, version, namespace, name
        self.query, self.accept = query, accept

    def param(self, key: str, default: str | None = None) -> str | None:
        return self.query.get(key, [default])[0]

    @property
    def wants_table(self) -> bool:
        return "as=Table" in self.accept

    @property
    def dry_run(self) -> bool:
        return "All" in self.query.get("dryRun", [])


def _list_kind(resource: Resource) -> str:
    return resource.kind + "List"


class ResourceHandlers:
    def __init__(self, store: Store, objects: Objects, on_write):
        self.store, self.objects, self.on_write = store, objects, on_write

    # -- reads ------------------------------------------------------------------------------------
    def matching(self, req: Request) -> list[dict]:
        by_labels = label_selector(req.param("labelSelector"))
        by_fields = field_selector(req.param("fieldSelector"))
        return [o for o in self.objects.list(req.resource, req.namespace, req.version) if by_labels(o) and by_fields(o)]

    def get(self, req: Request) -> dict:
        obj = self.objects.get(req.resource, req.namespace, req.name, req.version)
        if obj is None:
            raise not_found(req.resource, req.name)
        if req.wants_table:
            return table(req.resource.store_key, [obj], self.objects.resource_version(), req.param("includeObject"))
        return obj

    def list(self, req: Request) -> dict:
        version = self.objects.resource_version()
        items = self.matching(req)
        if req.wants_table:
            return table(req.resource.store_key, items, version, req.param("includeObject"))
        return {"kind": _list_kind(req.resource), "apiVersion": req.resource.group_version(req.version),
                "metadata": {"resourceVersion": version}, "items": items}

    def watch_events(self, req: Request, stopping):
        """Yield watch events (dicts) until `stopping` is set or timeoutSeconds pass.

        The store is polled: every change of an object as the API renders it (its pods' readiness
        included) is one event, which is what `kubectl get -w`, `rollout status` and `wait` follow."""
        timeout = float(req.param("timeoutSeconds") or 1800)
        deadline = time.monotonic() + timeout
        resource_version = req.param("resourceVersion")
        known: dict[str, tuple[str, dict]] = {}
        first = True
        current = {self._uid(o): o for o in self.matching(req)}
        initial = req.param("sendInitialEvents") == "true"
        if initial or resource_version in (None, "", "0"):
            for obj in current.values():
                yield self._event("ADDED", obj, req, first)
                first = False
        if initial:
            # WatchList (client-go's streaming list): a bookmark marks the end of the initial events.
            yield {"type": "BOOKMARK", "object": {
                "kind": req.resource.kind, "apiVersion": req.resource.group_version(req.version),
                "metadata": {"resourceVersion": self.objects.resource_version(),
                             "annotations": {"k8s.io/initial-events-end": "true"}}}}
        known = {uid: (json.dumps(o, sort_keys=True), o) for uid, o in current.items()}
        while not stopping.is_set() and time.monotonic() < deadline:
            yield None   # a heartbeat: lets the caller notice a client that went away
            stopping.wait(WATCH_POLL)
            current = {self._uid(o): o for o in self.matching(req)}
            for uid, obj in current.items():
                text = json.dumps(obj, sort_keys=True)
                if uid not in known:
                    yield self._event("ADDED", obj, req, first)
                elif known[uid][0] != text:
                    yield self._event("MODIFIED", obj, req, first)
                else:
                    continue
                first = False
                known[uid] = (text, obj)
            for uid in [u for u in known if u not in current]:
                yield self._event("DELETED", known.pop(uid)[1], req, first)
                first = False

    @staticmethod
    def _uid(obj: dict) -> str:
        meta = obj["metadata"]
        return meta.get("uid") or f"{meta.get('namespace')}/{meta['name']}"

    def _event(self, kind: str, obj: dict, req: Request, first: bool) -> dict:
        if req.wants_table:
            shown = table(req.resource.store_key, [obj], obj["metadata"].get("resourceVersion", ""),
                          req.param("includeObject"))
            if not first:
                shown["columnDefinitions"] = []   # headers travel with the first event only
            return {"type": kind, "object": shown}
        return {"type": kind, "object": obj}

    # -- writes -----------------------------------------------------------------------------------
    def _store(self, req: Request, doc: dict, expect: str | None | bool,
               keep_owners: bool = False) -> tuple[dict, str]:
        """Validate and store one object; expect: resourceVersion read, None = must not exist, False = any."""
        resource = req.resource
        doc = copy.deepcopy(doc)
        doc.setdefault("apiVersion", resource.group_version(req.version))
        doc.setdefault("kind", resource.kind)
        meta = doc.setdefault("metadata", {})
        name = meta.get("name") or req.name or ""
        if resource.namespaced:
            if meta.get("namespace") and req.namespace and meta["namespace"] != req.namespace:
                raise bad_request("the namespace of the provided object does not match the namespace sent "
                                  "on the request")
            meta["namespace"] = req.namespace or meta.get("namespace") or "default"
        if resource.kind in RENDERED_STATUS:
            doc.pop("status", None)
        if resource.kind == "Namespace":
            doc.pop("spec", None)
            labels = meta.get("labels") or {}
            labels.pop("kubernetes.io/metadata.name", None)
        if not keep_owners:
            meta.pop("managedFields", None)   # only server-side apply records field owners here
        if resource.kind == "Secret" and not doc.get("type"):
            doc["type"] = "Opaque"   # the API server's default
        key = (resource.store_key, meta.get("namespace", "") if resource.namespaced else "", name)
        try:
            if req.dry_run:
                return (doc if resource.kind in SYSTEM_WRITES else validate(doc, meta.get("namespace") or "default"),
                        "created")
            expected = None if expect is False or expect is True else {key: expect}
            results = self.store.apply([doc], system=resource.kind in SYSTEM_WRITES, expect=expected)
            stored, action = results[0]
        except LabkitError as exc:
            raise from_labkit(exc, resource, name, req.version)
        self.on_write()
        return stored, action

    def _rendered(self, req: Request, stored: dict) -> dict:
        meta = stored["metadata"]
        return self.objects.get(req.resource, meta.get("namespace") if req.resource.namespaced else None,
                                meta["name"], req.version) or stored

    def create(self, req: Request, body: dict) -> tuple[int, dict]:
        if not isinstance(body, dict):
            raise bad_request("the body of the request was not an object")
        if body.get("kind") and body["kind"] != req.resource.kind:
            raise bad_request(f"the kind of the provided object ({body['kind']}) does not match the "
                              f"resource ({req.resource.plural})")
        if "generateName" in body.get("metadata", {}) and not body["metadata"].get("name"):
            import secrets
            body["metadata"]["name"] = body["metadata"]["generateName"] + secrets.token_hex(3)[:5]
        name = (body.get("metadata") or {}).get("name") or ""
        if req.resource.kind == "Namespace" and self.objects.stored("Namespace", name) is not None:
            raise already_exists(req.resource, name)   # default, istio-system, kube-system always exist
        stored, _ = self._store(req, body, None)
        return 201, stored if req.dry_run else self._rendered(req, stored)

    def replace(self, req: Request, body: dict) -> dict:
        version = (body.get("metadata") or {}).get("resourceVersion")
        if self.objects.stored(req.resource.store_key, req.name, req.namespace or "") is None:
            raise not_found(req.resource, req.name)
        stored, _ = self._store(req, body, version or False)
        return self._rendered(req, stored)

    def patch(self, req: Request, body: bytes, content_type: str) -> tuple[int, dict]:
        kind = content_type.split(";")[0].strip()
        for attempt in range(WRITE_RETRIES):
            current = self.objects.stored(req.resource.store_key, req.name, req.namespace or "")
            try:
                if kind == "application/apply-patch+yaml":
                    applied = yaml.safe_load(body)
                    if not isinstance(applied, dict):
                        raise bad_request("the server-side apply body must be an object")
                    doc = server_side_apply(current, applied, req.param("fieldManager") or "unknown",
                                            req.resource.group_version(req.version), now())
                else:
                    if current is None:
                        raise not_found(req.resource, req.name)
                    patch = json.loads(body or b"{}")
                    if kind == "application/merge-patch+json":
                        doc = json_merge(current, patch)
                    elif kind == "application/strategic-merge-patch+json":
                        if not req.resource.builtin:
                            raise ApiError(415, "UnsupportedMediaType",
                                           "strategic merge patch is not supported for custom resources; "
                                           "use --type=merge")
                        doc = strategic_merge(current, patch)
                    elif kind == "application/json-patch+json":
                        doc = json_patch(current, patch)
                    else:
                        raise ApiError(415, "UnsupportedMediaType", f"the media type {kind!r} is not supported")
            except (ValueError, yaml.YAMLError) as exc:
                raise bad_request(f"the body of the request could not be decoded: {exc}")
            if current is not None:
                precondition = (doc.get("metadata") or {}).get("resourceVersion")
                if precondition and precondition != current["metadata"].get("resourceVersion"):
                    raise from_labkit(StoreConflict("the object has been modified"), req.resource, req.name,
                                      req.version)
                doc.setdefault("metadata", {})["name"] = req.name
            try:
                in_store = current is not None and self.store.get(
                    req.resource.store_key, req.name, req.namespace or "") is not None
                read = current["metadata"].get("resourceVersion") if current is not None and in_store else None
                stored, action = self._store(req, doc, read, kind == "application/apply-patch+yaml")
            except ApiError as exc:
                if exc.reason in ("Conflict", "AlreadyExists") and attempt < WRITE_RETRIES - 1:
                    continue   # someone wrote in between: patch the newer version, as the API server does
                raise
            return (201 if current is None else 200), self._rendered(req, stored)
        raise from_labkit(StoreConflict("the object has been modified"), req.resource, req.name, req.version)

    def scale(self, req: Request, method: str, body: bytes, content_type: str) -> dict:
        """deployments/NAME/scale (autoscaling/v1 Scale), what `kubectl scale` reads and patches."""
        if method in ("PUT", "PATCH"):
            try:
                change = json.loads(body or b"{}")
            except ValueError as exc:
                raise bad_request(f"the body of the request could not be decoded: {exc}")
            if "json-patch" in content_type:
                change = json_patch({"spec": {}}, change)
            replicas = (change.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int):
                raise bad_request("spec.replicas must be an integer")
            patch = json.dumps({"spec": {"replicas": replicas}}).encode()
            self.patch(req, patch, "application/merge-patch+json")
        elif method != "GET":
            raise method_not_allowed()
        deployment = self.get(Request(req.resource, req.version, req.namespace, req.name, {}, ""))
        meta = deployment["metadata"]
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                             if k in meta},
                "spec": {"replicas": deployment["spec"].get("replicas", 1)},
                "status": {"replicas": deployment["status"].get("replicas", 0),
                           "selector": ",".join(f"{k}={v}" for k, v in
                                                deployment["spec"]["selector"]["matchLabels"].items())}}

    def delete(self, req: Request) -> dict:
        key = (req.resource.store_key, (req.namespace or "") if req.resource.namespaced else "", req.name)
        shown = self.objects.get(req.resource, req.namespace, req.name, req.version)
        if shown is None:
            raise not_found(req.resource, req.name)
        if req.dry_run:
            return shown
        self.store.delete([key], ignore_missing=True)
        self.on_write()
        return shown
