"""Reading the store as the API server serves it: rendered views, apiVersion of the request, selectors."""
from __future__ import annotations

import builtins

from typing import Callable

from ..model.addressing import fqdn
from ..model.deployments import HASH_LABEL, template_hash
from ..model.mesh import build_model
from ..model.gateway_deploy import load_balancer_ips
from ..model.kinds import kind_key
from ..model.owners import owner_deployment
from ..constants import ROOT_NAMESPACE
from ..resources.store import BUILTIN_NAMESPACES, Store
from . import cluster_objects
from .cluster_objects import Cluster
from .registry import Resource
from .views import (deployment_view, endpoint_slice_view, endpoints_view, namespace_view, pod_view,
                    replica_set_view, seconds, service_view, with_owner_uids)


class Objects:
    def __init__(self, store: Store, read_status: Callable[[], dict],
                 events: Callable[[str | None], list[dict]] = lambda namespace: [], cluster: Cluster | None = None):
        """read_status: the mesh's published status ({"observed_generation", "pods": [rows]}); events: the
        Events the mesh owner recorded, by namespace (None: all); cluster: what the node, istiod and the
        injector webhook show (labkit/kubeapi/cluster_objects.py)."""
        self.store = store
        self.read_status = read_status
        self.events = events
        self.cluster = cluster or Cluster()

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
        generation, stored = self.store.snapshot()
        rendered = self._cluster_objects(resource.kind, namespace, stored)
        objects = [o for o in stored if kind_key(o) == resource.store_key
                   and (namespace is None or o["metadata"].get("namespace") == namespace)]
        if resource.kind in ("Pod", "Deployment", "ReplicaSet"):
            status = self.read_status()
            rows = {(r["namespace"], r["pod"]): r for r in status["pods"]}
            deployments = {(d["metadata"]["namespace"], d["metadata"]["name"]): d
                           for d in stored if d["kind"] == "Deployment"}
            pods = {(p["metadata"]["namespace"], p["metadata"]["name"]): with_owner_uids(
                    pod_view(p, rows.get((p["metadata"]["namespace"], p["metadata"]["name"]))),
                    deployments.get((p["metadata"]["namespace"], owner_deployment(p["metadata"]))))
                    for p in stored if p["kind"] == "Pod"}

            def owned(deployment: dict) -> builtins.list[dict]:
                meta = deployment["metadata"]
                return [pod for (ns, _), pod in pods.items() if ns == meta["namespace"]
                        and owner_deployment(pod["metadata"]) == meta["name"]]

            if resource.kind == "Pod":
                objects = [pods[(o["metadata"]["namespace"], o["metadata"]["name"])] for o in objects]
            elif resource.kind == "Deployment":
                observed = status["observed_generation"]
                objects = [deployment_view(o, owned(o), observed >= int(o["metadata"].get("resourceVersion", 0)))
                           for o in objects]
            else:
                objects = [rs for d in deployments.values() if namespace is None or d["metadata"]["namespace"] == namespace
                           for rs in self._replica_sets(d, owned(d))]
        elif resource.kind in ("Endpoints", "EndpointSlice"):
            objects = self._endpoints(resource.kind, stored, namespace)
        elif resource.kind == "Service":
            objects = [service_view(o, load_balancer_ips(o, stored)) for o in objects]
        elif resource.kind == "Namespace":
            names = {o["metadata"]["name"] for o in objects}
            objects += [self._builtin_namespace(n, stored) for n in BUILTIN_NAMESPACES if n not in names]
            objects = [namespace_view(o) for o in objects]
        objects += rendered
        served = []
        for obj in objects:
            # Copies of what changes: the stored objects the snapshot handed out are shared (Store.snapshot).
            obj = {**obj, "apiVersion": resource.group_version(version), "metadata": dict(obj["metadata"])}
            if obj["metadata"].get("creationTimestamp"):
                obj["metadata"]["creationTimestamp"] = seconds(obj["metadata"]["creationTimestamp"])
            served.append(obj)
        return sorted(served, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))

    def _cluster_objects(self, kind: str, namespace: str | None,
                         stored: builtins.list[dict]) -> builtins.list[dict]:
        """The node, istiod and the injector webhook: rendered, with the age of the oldest stored object."""
        if kind not in ("Node", "MutatingWebhookConfiguration", "Pod", "Deployment"):
            return []
        if kind in ("Pod", "Deployment") and namespace not in (None, ROOT_NAMESPACE):
            return []
        created = min((o["metadata"].get("creationTimestamp", "") for o in stored), default="") or None
        cluster = Cluster(self.cluster.node_ip, self.cluster.istiod_ip, self.cluster.native_sidecars, created)
        if kind == "Node":
            return [cluster_objects.node(cluster)]
        if kind == "MutatingWebhookConfiguration":
            return cluster_objects.webhook_configurations(cluster)
        if kind == "Pod":
            return [cluster_objects.istiod_pod(cluster)]
        istiod = cluster_objects.istiod_deployment(cluster)
        return [deployment_view(istiod, [cluster_objects.istiod_pod(cluster)], True)]

    def _endpoints(self, kind: str, stored: builtins.list[dict], namespace: str | None) -> builtins.list[dict]:
        """Endpoints / EndpointSlices of every Service with a selector: the pods the model selects for it
        (model/mesh.py `endpoints`) with their published readiness, at the target ports it resolves."""
        rows = {(r["namespace"], r["pod"]): r for r in self.read_status()["pods"]}
        views = {(o["metadata"]["namespace"], o["metadata"]["name"]):
                 pod_view(o, rows.get((o["metadata"]["namespace"], o["metadata"]["name"])))
                 for o in stored if o["kind"] == "Pod"}
        model = build_model(stored, 0)   # which pods and ports, not addresses: those come from the views
        render = endpoints_view if kind == "Endpoints" else endpoint_slice_view
        out = []
        for obj in stored:
            meta, spec = obj["metadata"], obj.get("spec") or {}
            if obj["kind"] != "Service" or (namespace is not None and meta["namespace"] != namespace) \
                    or not spec.get("selector") or spec.get("type") == "ExternalName":
                continue   # without a selector nobody but the user writes its endpoints
            service = model.service_by_fqdn(fqdn(meta["name"], meta["namespace"]))
            if service is None:
                continue
            pods = [views[(p.namespace, p.name)] for p in model.endpoints(service) if (p.namespace, p.name) in views]
            ports = [(written.get("name", ""), resolved.target_port, written.get("protocol", "TCP"))
                     for written, resolved in zip(spec.get("ports") or [], service.ports)]
            out.append(render(obj, pods, ports))
        return out

    @staticmethod
    def _replica_sets(deployment: dict, pods: builtins.list[dict]) -> builtins.list[dict]:
        """The current template's ReplicaSet, and an older one for as long as pods of its template remain."""
        hashes = [template_hash(deployment)]
        hashes += sorted({h for p in pods if (h := (p["metadata"].get("labels") or {}).get(HASH_LABEL))} - set(hashes))
        return [replica_set_view(deployment, h, [p for p in pods if p["metadata"]["labels"].get(HASH_LABEL) == h])
                for h in hashes]

    def get(self, resource: Resource, namespace: str | None, name: str, version: str | None = None) -> dict | None:
        return next((o for o in self.list(resource, namespace, version) if o["metadata"]["name"] == name), None)
