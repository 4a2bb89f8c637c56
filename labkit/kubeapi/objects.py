"""Reading the store as the API server serves it: rendered views, apiVersion of the request, selectors."""
from __future__ import annotations

from typing import Callable

from ..model.gateway_deploy import load_balancer_ips
from ..model.kinds import kind_key
from ..model.owners import owner_deployment
from ..resources.store import BUILTIN_NAMESPACES, Store
from .registry import Resource
from .views import deployment_view, namespace_view, pod_view, seconds, service_view


class Objects:
    def __init__(self, store: Store, read_status: Callable[[], dict],
                 events: Callable[[str | None], list[dict]] = lambda namespace: []):
        """read_status: the mesh's published status ({"observed_generation", "pods": [rows]}); events: the
        Events the mesh owner recorded, by namespace (None: all)."""
        self.store = store
        self.read_status = read_status
        self.events = events

    def resource_version(self) -> str:
        return str(self.store.generation)

    def stored(self, kind: str, name: str, namespace: str = "") -> dict | None:
        """The object as stored; the namespaces every cluster has exist even before anything is written to them."""
        found = self.store.get(kind, name, namespace)
        if found is None and kind == "Namespace" and name in BUILTIN_NAMESPACES:
            return self._builtin_namespace(name, self.store.list())
        return found

    @staticmethod
    def _builtin_namespace(name: str, stored: list[dict]) -> dict:
        created = min((o["metadata"].get("creationTimestamp", "") for o in stored), default="") or None
        return {"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": name, "uid": f"labkit-namespace-{name}", "creationTimestamp": created,
                             "resourceVersion": "1"}}

    def list(self, resource: Resource, namespace: str | None, version: str | None = None) -> list[dict]:
        if resource.kind == "Event":
            return self.events(namespace)
        if resource.kind == "Endpoints":
            return []  # endpoints live in the mesh model
        generation, stored = self.store.snapshot()
        objects = [o for o in stored if kind_key(o) == resource.store_key
                   and (namespace is None or o["metadata"].get("namespace") == namespace)]
        if resource.kind in ("Pod", "Deployment"):
            status = self.read_status()
            rows = {(r["namespace"], r["pod"]): r for r in status["pods"]}
            pods = {(p["metadata"]["namespace"], p["metadata"]["name"]):
                    pod_view(p, rows.get((p["metadata"]["namespace"], p["metadata"]["name"])))
                    for p in stored if p["kind"] == "Pod"}
            if resource.kind == "Pod":
                objects = [pods[(o["metadata"]["namespace"], o["metadata"]["name"])] for o in objects]
            else:
                observed = status["observed_generation"]
                objects = [deployment_view(
                    o, [pods[(p["metadata"]["namespace"], p["metadata"]["name"])] for p in stored
                        if p["kind"] == "Pod" and p["metadata"]["namespace"] == o["metadata"]["namespace"]
                        and owner_deployment(p["metadata"]) == o["metadata"]["name"]],
                    observed >= int(o["metadata"].get("resourceVersion", 0))) for o in objects]
        elif resource.kind == "Service":
            objects = [service_view(o, load_balancer_ips(o, stored)) for o in objects]
        elif resource.kind == "Namespace":
            names = {o["metadata"]["name"] for o in objects}
            objects += [self._builtin_namespace(n, stored) for n in BUILTIN_NAMESPACES if n not in names]
            objects = [namespace_view(o) for o in objects]
        for obj in objects:
            obj["apiVersion"] = resource.group_version(version)
            if obj["metadata"].get("creationTimestamp"):
                obj["metadata"]["creationTimestamp"] = seconds(obj["metadata"]["creationTimestamp"])
        return sorted(objects, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))

    def get(self, resource: Resource, namespace: str | None, name: str, version: str | None = None) -> dict | None:
        return next((o for o in self.list(resource, namespace, version) if o["metadata"]["name"] == name), None)
