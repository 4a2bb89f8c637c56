"""Kubernetes Events for the local mesh, as a cluster's kubelet and controllers record them.

`kubectl get events` and the Events section of `kubectl describe pod` are where a learner on a cluster
first looks when a pod does not start. The mesh owner watches its pods' status (`observe`, after each
reconcile) and records the events a cluster would, with the same reasons, messages and sources:

- default-scheduler `Scheduled`: "Successfully assigned NS/POD to NODE";
- replicaset-controller `SuccessfulCreate` / `SuccessfulDelete`: "Created pod: POD" / "Deleted pod: POD";
- kubelet `Pulled`, `Created`, `Started` per container (init containers first, as the kubelet runs them):
  "Container image "IMAGE" already present on machine", "Created container: NAME", "Started container NAME";
- kubelet `FailedMount` (Warning) while a Secret or ConfigMap a volume needs is missing, `BackOff` (Warning)
  for a container in CrashLoopBackOff, `Killing` when a pod goes: "Stopping container NAME".

Repeats of one event (same object, reason and message) are counted on one Event, as the kubelet's
event correlator does. The messages follow kubelet's events.go and the controllers' sources.
"""
from __future__ import annotations

import collections
import datetime as dt
import itertools
import secrets
import threading
from typing import Callable

from .views import NODE_NAME

Row = dict          # a pod's row in the mesh's published status (runtime.status())
PodLookup = Callable[[str, str], "dict | None"]   # (namespace, name) → the stored Pod


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventLog:
    def __init__(self, limit: int = 1000):
        self._events: collections.OrderedDict[tuple, dict] = collections.OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()
        self._versions = itertools.count(1)
        self._pods: dict[tuple[str, str], dict] = {}        # (namespace, pod) → what we knew of it
        self._started: set[tuple[str, str, str]] = set()    # containers whose start we recorded

    # -- recording ------------------------------------------------------------------------------------
    def record(self, involved: dict, reason: str, message: str, *, warning: bool = False,
               component: str = "kubelet") -> None:
        key = (involved.get("kind"), involved.get("namespace"), involved.get("name"), involved.get("fieldPath"),
               reason, message)
        stamp = _now()
        with self._lock:
            event = self._events.pop(key, None)
            if event is None:
                event = {"apiVersion": "v1", "kind": "Event",
                         "metadata": {"name": f"{involved['name']}.{secrets.token_hex(8)}",
                                      "namespace": involved.get("namespace") or "default",
                                      "uid": secrets.token_hex(16), "creationTimestamp": stamp},
                         "involvedObject": involved, "reason": reason, "message": message,
                         "source": {"component": component} | ({"host": NODE_NAME} if component == "kubelet" else {}),
                         "firstTimestamp": stamp, "count": 0, "type": "Warning" if warning else "Normal",
                         "eventTime": None, "reportingComponent": component,
                         "reportingInstance": NODE_NAME if component == "kubelet" else ""}
            event["count"] += 1
            event["lastTimestamp"] = stamp
            event["metadata"]["resourceVersion"] = str(next(self._versions))
            self._events[key] = event
            while len(self._events) > self._limit:
                self._events.popitem(last=False)

    def observe(self, rows: list[Row], pod_of: PodLookup) -> None:
        """Record what changed since the last status: new pods, containers that started or wait, pods gone."""
        seen = {(r["namespace"], r["pod"]): r for r in rows}
        for key in [k for k in self._pods if k not in seen]:
            self._pod_gone(self._pods.pop(key))
        for key, row in seen.items():
            known = self._pods.get(key)
            if known is None:
                pod = pod_of(*key)
                if pod is None:
                    continue
                known = self._pods[key] = {"pod": pod, "restarts": {}}
                self._pod_created(pod)
            self._containers(known, row)

    def _pod_created(self, pod: dict) -> None:
        meta = pod["metadata"]
        self.record(_ref(pod), "Scheduled", f"Successfully assigned {meta['namespace']}/{meta['name']} to {NODE_NAME}",
                    component="default-scheduler")
        owner = _controller(pod)
        if owner:
            self.record(owner, "SuccessfulCreate", f"Created pod: {meta['name']}", component="replicaset-controller")

    def _containers(self, known: dict, row: Row) -> None:
        pod = known["pod"]
        meta, spec = pod["metadata"], pod.get("spec") or {}
        states = {c["name"]: c for c in row.get("containers") or []}
        app_started = any(c.get("state") == "running" or c.get("ready") for c in states.values())
        # Init containers ran (and native sidecars started) before any app container could.
        ordered = [(c, "initContainers") for c in spec.get("initContainers") or []] + \
                  [(c, "containers") for c in spec.get("containers") or []]
        for container, where in ordered:
            name = container["name"]
            state = states.get(name, {})
            running = state.get("state") == "running" or bool(state.get("ready")) or \
                (where == "initContainers" and app_started)
            field = f"spec.{where}{{{name}}}"
            mark = (meta["namespace"], meta["name"], name)
            if running and mark not in self._started:
                self._started.add(mark)
                self.record(_ref(pod, field), "Pulled",
                            f'Container image "{container.get("image", "")}" already present on machine')
                self.record(_ref(pod, field), "Created", f"Created container: {name}")
                self.record(_ref(pod, field), "Started", f"Started container {name}")
            if state.get("message") and state.get("state") in ("ContainerCreating", "waiting"):
                self.record(_ref(pod), "FailedMount", state["message"], warning=True)
            elif state.get("message"):
                self.record(_ref(pod), "Failed", f"Error: {state['message']}", warning=True)
            restarts = int(state.get("restarts") or 0)
            if state.get("state") == "CrashLoopBackOff" and restarts > known["restarts"].get(name, 0):
                self.record(_ref(pod, field), "BackOff",
                            f"Back-off restarting failed container {name} in pod "
                            f"{meta['name']}_{meta['namespace']}({meta.get('uid', '')})", warning=True)
            known["restarts"][name] = restarts

    def _pod_gone(self, known: dict) -> None:
        pod = known["pod"]
        meta = pod["metadata"]
        for container in (pod.get("spec") or {}).get("containers") or []:
            if (meta["namespace"], meta["name"], container["name"]) in self._started:
                self.record(_ref(pod, f"spec.containers{{{container['name']}}}"), "Killing",
                            f"Stopping container {container['name']}")
        self._started -= {m for m in self._started if m[:2] == (meta["namespace"], meta["name"])}
        owner = _controller(pod)
        if owner:
            self.record(owner, "SuccessfulDelete", f"Deleted pod: {meta['name']}", component="replicaset-controller")

    # -- reading --------------------------------------------------------------------------------------
    def list(self, namespace: str | None = None) -> list[dict]:
        with self._lock:
            return [dict(e) for e in self._events.values()
                    if namespace is None or e["metadata"]["namespace"] == namespace]


def _ref(pod: dict, field_path: str | None = None) -> dict:
    meta = pod["metadata"]
    out = {"kind": "Pod", "namespace": meta["namespace"], "name": meta["name"], "uid": meta.get("uid", ""),
           "apiVersion": "v1", "resourceVersion": meta.get("resourceVersion", "")}
    if field_path:
        out["fieldPath"] = field_path
    return out


def _controller(pod: dict) -> dict | None:
    for owner in pod["metadata"].get("ownerReferences") or []:
        if owner.get("controller") and owner.get("kind") == "ReplicaSet":
            return {"kind": "ReplicaSet", "namespace": pod["metadata"]["namespace"], "name": owner["name"],
                    "uid": owner.get("uid", ""), "apiVersion": "apps/v1"}
    return None
