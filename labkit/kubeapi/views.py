"""Stored objects as the API server returns them: pods and deployments get the status a kubelet and the
deployment controller would report, taken from the running mesh's published status."""
from __future__ import annotations

import copy
import datetime as dt
import uuid

from ..model.deployments import HASH_LABEL, template_hash
from ..model.owners import replica_set_name

NODE_NAME = "labkit-local"
NODE_IP = "127.0.0.1"


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(stamp: str | None) -> dt.datetime:
    if not stamp:
        return dt.datetime.now(dt.timezone.utc)
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _condition(kind: str, ok: bool, since: str) -> dict:
    return {"type": kind, "status": "True" if ok else "False", "lastProbeTime": None, "lastTransitionTime": since}


def seconds(stamp: str) -> str:
    # Kubernetes timestamps in status are RFC 3339 to the second.
    return parse_time(stamp).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod_view(pod: dict, row: dict | None) -> dict:
    """A stored Pod with the status a kubelet would publish (row: the mesh's status for it, None if not started)."""
    out = copy.deepcopy(pod)
    meta = out["metadata"]
    meta.setdefault("generateName", meta["name"].rsplit("-", 1)[0] + "-")
    spec = out.setdefault("spec", {})
    spec.setdefault("nodeName", NODE_NAME)
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
    created = seconds(meta.get("creationTimestamp"))
    containers = spec.get("containers") or []
    _default_protocols(containers)
    by_name = {c["name"]: c for c in (row or {}).get("containers", [])}
    statuses = []
    current: dict
    for container in containers:
        state = by_name.get(container["name"], {})
        ready = bool(state.get("ready"))
        if ready:
            current = {"running": {"startedAt": created}}
        elif state.get("state") == "CrashLoopBackOff":
            current = {"waiting": {"reason": "CrashLoopBackOff"}}
        else:
            current = {"waiting": {"reason": "ContainerCreating"}}
        statuses.append({"name": container["name"], "image": container.get("image", ""), "imageID": "",
                         "ready": ready, "started": ready, "restartCount": state.get("restarts", 0),
                         "state": current})
    # Init containers: a native sidecar (restartPolicy Always, as Istio 1.28+ injects istio-proxy on a
    # kubelet >= 1.33) runs beside the app and reports readiness; the others ran to completion first.
    init_statuses: list[dict] = []
    for container in spec.get("initContainers") or []:
        state = by_name.get(container["name"], {})
        if container.get("restartPolicy") == "Always":
            ready = bool(state.get("ready"))
            current = ({"running": {"startedAt": created}} if ready
                       else {"waiting": {"reason": "PodInitializing"}})
        else:
            ready = False
            current = {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": created,
                                      "finishedAt": created}}
        init_statuses.append({"name": container["name"], "image": container.get("image", ""), "imageID": "",
                              "ready": ready, "started": ready, "restartCount": state.get("restarts", 0),
                              "state": current})
    sidecars = [s for s, c in zip(init_statuses, spec.get("initContainers") or [])
                if c.get("restartPolicy") == "Always"]
    all_ready = bool(statuses) and all(s["ready"] for s in statuses + sidecars)
    started = row is not None
    status = {
        "phase": "Running" if started and any(s["ready"] for s in statuses) else "Pending",
        "conditions": [_condition("PodReadyToStartContainers", started, created),
                       _condition("Initialized", True, created),
                       _condition("Ready", all_ready, created),
                       _condition("ContainersReady", all_ready, created),
                       _condition("PodScheduled", True, created)],
        "hostIP": NODE_IP, "hostIPs": [{"ip": NODE_IP}],
        "startTime": created, "containerStatuses": statuses, "qosClass": "BestEffort",
    }
    if init_statuses:
        status["initContainerStatuses"] = init_statuses
    if row and row.get("ip"):
        status["podIP"] = row["ip"]
        status["podIPs"] = [{"ip": row["ip"]}]
    out["status"] = status
    return out


def deployment_view(deployment: dict, pods: list[dict], observed: bool) -> dict:
    """A Deployment with the status the deployment controller computes from its pods.

    pods: this deployment's pods as pod_view renders them; observed: the mesh has acted on the
    latest spec (the controller's observedGeneration has caught up)."""
    out = copy.deepcopy(deployment)
    meta = out["metadata"]
    generation = meta.get("generation", 1)
    current = template_hash(deployment)
    replicas = deployment["spec"].get("replicas", 1)
    updated = [p for p in pods if (p["metadata"].get("labels") or {}).get(HASH_LABEL) == current]
    ready = [p for p in pods if _is_ready(p)]
    available = [p for p in updated if _is_ready(p)]
    now = seconds(meta.get("creationTimestamp"))
    status: dict = {
        "observedGeneration": generation if observed else generation - 1,
        "replicas": len(pods), "updatedReplicas": len(updated), "readyReplicas": len(ready),
        "availableReplicas": len(available),
        "conditions": [
            {"type": "Available", "status": "True" if len(available) >= replicas else "False",
             "reason": "MinimumReplicasAvailable" if len(available) >= replicas else "MinimumReplicasUnavailable",
             "message": "Deployment has minimum availability." if len(available) >= replicas
             else "Deployment does not have minimum availability.",
             "lastUpdateTime": now, "lastTransitionTime": now},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"
             if len(available) >= replicas else "ReplicaSetUpdated",
             "message": f'ReplicaSet "{replica_set_name(meta["name"], current)}" has '
             + ("successfully progressed." if len(available) >= replicas else "is progressing."),
             "lastUpdateTime": now, "lastTransitionTime": now},
        ],
    }
    if len(pods) - len(available):
        status["unavailableReplicas"] = len(pods) - len(available)
    for key in ("readyReplicas", "availableReplicas", "updatedReplicas", "replicas"):
        if not status[key]:
            del status[key]   # the API server omits zero counts (omitempty)
    out["status"] = status
    spec = out["spec"]
    spec.setdefault("replicas", 1)
    spec.setdefault("strategy", {"type": "RollingUpdate",
                                 "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    spec.setdefault("revisionHistoryLimit", 10)
    _default_protocols(spec["template"]["spec"].get("containers") or [])
    spec.setdefault("progressDeadlineSeconds", 600)
    return out


def replica_set_uid(deployment: dict, thash: str) -> str:
    """A stable uid for the ReplicaSet of one template of a Deployment (it is rendered, not stored)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"labkit:{deployment['metadata'].get('uid', '')}:{thash}"))


def replica_set_view(deployment: dict, thash: str, pods: list[dict]) -> dict:
    """The ReplicaSet the deployment controller keeps for one pod template of `deployment`.

    As pkg/controller/deployment (getNewReplicaSet) writes it: named `<deployment>-<pod-template-hash>`,
    the hash added to its labels, selector and template labels, owned by the Deployment (controller,
    blockOwnerDeletion), the replica annotations the controller sets; the current template's
    ReplicaSet wants `spec.replicas` pods, an older one 0. pods: this template's pods as pod_view renders them.
    """
    meta = deployment["metadata"]
    spec = deployment["spec"]
    current = template_hash(deployment) == thash
    replicas = spec.get("replicas", 1)
    template = copy.deepcopy(spec["template"])
    template.setdefault("metadata", {})
    template["metadata"]["labels"] = {**(template["metadata"].get("labels") or {}), HASH_LABEL: thash}
    _default_protocols((template.get("spec") or {}).get("containers") or [])
    selector = copy.deepcopy(spec.get("selector") or {})
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: thash}
    created = min((p["metadata"].get("creationTimestamp") or "" for p in pods), default="") \
        or meta.get("creationTimestamp")
    ready = [p for p in pods if _is_ready(p)]
    status: dict = {"replicas": len(pods), "fullyLabeledReplicas": len(pods), "readyReplicas": len(ready),
                    "availableReplicas": len(ready), "observedGeneration": 1}
    for key in ("fullyLabeledReplicas", "readyReplicas", "availableReplicas"):
        if not status[key]:
            del status[key]   # omitempty, as the API server writes it
    return {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {
            "name": replica_set_name(meta["name"], thash), "namespace": meta["namespace"],
            "uid": replica_set_uid(deployment, thash), "creationTimestamp": created,
            "generation": 1, "resourceVersion": meta.get("resourceVersion", "1"),
            "labels": dict(template["metadata"]["labels"]),
            "annotations": {"deployment.kubernetes.io/desired-replicas": str(replicas),
                            "deployment.kubernetes.io/max-replicas": str(replicas + -(-replicas // 4))},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": meta["name"],
                                 "uid": meta.get("uid", ""), "controller": True, "blockOwnerDeletion": True}],
        },
        "spec": {"replicas": replicas if current else 0, "selector": selector, "template": template},
        "status": status,
    }


def with_owner_uids(pod: dict, deployment: dict | None) -> dict:
    """A pod's ReplicaSet ownerReference carries the ReplicaSet's uid, as the controller writes it (kubectl
    describe deployment and the garbage collector follow uids, not names)."""
    if deployment is None:
        return pod
    thash = (pod["metadata"].get("labels") or {}).get(HASH_LABEL, "")
    for ref in pod["metadata"].get("ownerReferences") or []:
        if ref.get("kind") == "ReplicaSet" and ref.get("name") == replica_set_name(deployment["metadata"]["name"], thash):
            ref["uid"] = replica_set_uid(deployment, thash)
    return pod


def _default_protocols(containers: list[dict]) -> None:
    for container in containers:
        for port in container.get("ports") or []:
            port.setdefault("protocol", "TCP")


def _is_ready(pod: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def service_view(service: dict, load_balancer_ips: list[str] | None = None) -> dict:
    """`load_balancer_ips`: the addresses the (local) load balancer gave a LoadBalancer Service."""
    out = copy.deepcopy(service)
    spec = out.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))
    out.setdefault("status", {"loadBalancer": {}})
    if load_balancer_ips and spec["type"] == "LoadBalancer":
        out["status"]["loadBalancer"] = {"ingress": [{"ip": ip, "ipMode": "VIP"} for ip in load_balancer_ips]}
    return out


def namespace_view(namespace: dict) -> dict:
    out = copy.deepcopy(namespace)
    labels = out["metadata"].setdefault("labels", {})
    labels.setdefault("kubernetes.io/metadata.name", out["metadata"]["name"])
    out["spec"] = {"finalizers": ["kubernetes"]}
    out["status"] = {"phase": "Active"}
    return out


def _ready_pods(pods: list[dict]) -> tuple[list[dict], list[dict]]:
    with_ip = [p for p in pods if p["status"].get("podIP")]
    return [p for p in with_ip if _is_ready(p)], [p for p in with_ip if not _is_ready(p)]


def _target_ref(pod: dict) -> dict:
    meta = pod["metadata"]
    return {"kind": "Pod", "namespace": meta["namespace"], "name": meta["name"], "uid": meta.get("uid", "")}


def endpoints_view(service: dict, pods: list[dict], ports: list[tuple[str, int, str]]) -> dict:
    """The Endpoints object the endpoints controller keeps for a Service: ready pods under `addresses`, the
    others under `notReadyAddresses`, the Service's target ports. pods: the selected pods as pod_view renders
    them; ports: (name, target port number, protocol)."""
    meta = service["metadata"]
    ready, not_ready = _ready_pods(pods)
    subset: dict = {}
    if ready:
        subset["addresses"] = [{"ip": p["status"]["podIP"], "nodeName": p["spec"].get("nodeName", NODE_NAME),
                                "targetRef": _target_ref(p)} for p in ready]
    if not_ready:
        subset["notReadyAddresses"] = [{"ip": p["status"]["podIP"], "nodeName": p["spec"].get("nodeName", NODE_NAME),
                                        "targetRef": _target_ref(p)} for p in not_ready]
    subsets = []
    if subset:
        subset["ports"] = [{"name": n, "port": port, "protocol": proto} if n else {"port": port, "protocol": proto}
                           for n, port, proto in ports]
        subsets.append(subset)
    out: dict = {"apiVersion": "v1", "kind": "Endpoints",
           "metadata": {"name": meta["name"], "namespace": meta["namespace"],
                        "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"labkit:endpoints:{meta.get('uid', '')}")),
                        "creationTimestamp": meta.get("creationTimestamp"),
                        "resourceVersion": meta.get("resourceVersion", "1"),
                        "labels": dict(meta.get("labels") or {})}}
    if subsets:
        out["subsets"] = subsets
    return out


def endpoint_slice_view(service: dict, pods: list[dict], ports: list[tuple[str, int, str]]) -> dict:
    """The EndpointSlice the EndpointSlice controller keeps for a Service (what `kubectl describe svc` reads):
    labelled `kubernetes.io/service-name`, one endpoint per pod with its ready/serving/terminating conditions."""
    meta = service["metadata"]
    ready, not_ready = _ready_pods(pods)
    uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"labkit:endpointslice:{meta.get('uid', '')}"))
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": f"{meta['name']}-{uid[:5]}", "namespace": meta["namespace"], "uid": uid,
                         "generateName": f"{meta['name']}-", "creationTimestamp": meta.get("creationTimestamp"),
                         "resourceVersion": meta.get("resourceVersion", "1"),
                         "labels": {**(meta.get("labels") or {}), "kubernetes.io/service-name": meta["name"],
                                    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": meta["name"],
                                              "uid": meta.get("uid", ""), "controller": True,
                                              "blockOwnerDeletion": True}]},
            "endpoints": [{"addresses": [p["status"]["podIP"]],
                           "conditions": {"ready": p in ready, "serving": p in ready, "terminating": False},
                           "nodeName": p["spec"].get("nodeName", NODE_NAME), "targetRef": _target_ref(p)}
                          for p in ready + not_ready],
            "ports": [{"name": n, "port": port, "protocol": proto} for n, port, proto in ports]}
