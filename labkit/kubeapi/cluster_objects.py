"""Objects every cluster with Istio has, which the local mesh runs without them being pods: the node,
istiod (its Deployment and pod in istio-system) and Istio's sidecar-injector webhook configuration.

They are rendered, never stored: nobody applies them, and they are read-only here. What they show is
true of the local mesh: the node's address is where NodePorts answer, istiod's pod log is the control
plane's real log (`kubectl logs -n istio-system deploy/istiod`), and the webhook's selectors are the ones
that decide injection (labkit/model/injection.py).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..constants import ROOT_NAMESPACE
from ..model.deployments import template_hash
from ..model.injection import mutating_webhook_configuration
from ..model.owners import HASH_LABEL, replica_set_name
from ..xds.syncz import ISTIO_VERSION
from .discovery import KUBERNETES_VERSION
from .views import NODE_NAME, pod_view

ISTIOD = "istiod"
ISTIOD_CONTAINER = "discovery"   # the container name in Istio's istiod Deployment (istio-discovery chart)
ISTIOD_LABELS = {"app": "istiod", "istio": "pilot"}
# A native sidecar needs kubelet >= 1.33 (Istio 1.28's ENABLE_NATIVE_SIDECARS=auto); with classic sidecars
# the local mesh's node reports an older kubelet, so `labkit doctor` reads the same fact as on a cluster.
CLASSIC_KUBELET = "v1.32.0"


@dataclass(frozen=True)
class Cluster:
    """What the rendered objects depend on: where the node is, where istiod listens, when it started."""
    node_ip: str = "127.0.0.1"
    istiod_ip: str | None = None
    native_sidecars: bool = True
    created: str | None = None


def node(cluster: Cluster) -> dict:
    """The one node (`kubectl get nodes -o wide`): its InternalIP is where NodePort Services answer."""
    kubelet = KUBERNETES_VERSION["gitVersion"] if cluster.native_sidecars else CLASSIC_KUBELET
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": NODE_NAME, "uid": f"labkit-node-{NODE_NAME}", "resourceVersion": "1",
                         "creationTimestamp": cluster.created,
                         "labels": {"kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux",
                                    "kubernetes.io/arch": "amd64",
                                    "node-role.kubernetes.io/control-plane": ""}},
            "spec": {},
            "status": {"addresses": [{"type": "InternalIP", "address": cluster.node_ip},
                                     {"type": "Hostname", "address": NODE_NAME}],
                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                       "message": "kubelet is posting ready status",
                                       "lastHeartbeatTime": cluster.created, "lastTransitionTime": cluster.created}],
                       "nodeInfo": {"kubeletVersion": kubelet, "kubeProxyVersion": kubelet,
                                    "containerRuntimeVersion": "labkit://local", "osImage": "labkit local mesh",
                                    "operatingSystem": "linux", "architecture": "amd64"}}}


def istiod_deployment(cluster: Cluster) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": ISTIOD, "namespace": ROOT_NAMESPACE, "uid": "labkit-istiod",
                         "resourceVersion": "1", "generation": 1, "creationTimestamp": cluster.created,
                         "labels": {**ISTIOD_LABELS, "istio.io/rev": "default"}},
            "spec": {"replicas": 1, "selector": {"matchLabels": dict(ISTIOD_LABELS)},
                     "template": {"metadata": {"labels": {**ISTIOD_LABELS, "istio.io/rev": "default"}},
                                  "spec": {"serviceAccountName": "istiod",
                                           "containers": [{"name": ISTIOD_CONTAINER,
                                                           "image": f"docker.io/istio/pilot:{ISTIO_VERSION}",
                                                           "ports": [{"containerPort": 15010},
                                                                     {"containerPort": 15012},
                                                                     {"containerPort": 15017}]}]}}}}


def istiod_pod(cluster: Cluster) -> dict:
    """istiod's one pod, Ready while the mesh runs (its owner renders it only then)."""
    deployment = istiod_deployment(cluster)
    thash = template_hash(deployment)
    replica_set = replica_set_name(ISTIOD, thash)
    template = deployment["spec"]["template"]
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": f"{replica_set}-lbkt2", "namespace": ROOT_NAMESPACE, "uid": "labkit-istiod-pod",
                        "resourceVersion": "1", "creationTimestamp": cluster.created,
                        "labels": {**template["metadata"]["labels"], HASH_LABEL: thash},
                        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": replica_set,
                                             "uid": f"labkit-rs-{replica_set}", "controller": True,
                                             "blockOwnerDeletion": True}]},
           "spec": dict(template["spec"])}
    row = {"containers": [{"name": ISTIOD_CONTAINER, "ready": True}], "ip": cluster.istiod_ip}
    return pod_view(pod, row)


def webhook_configurations(cluster: Cluster) -> list[dict]:
    hook = mutating_webhook_configuration(ROOT_NAMESPACE)
    hook["metadata"].update({"uid": "labkit-istio-sidecar-injector", "resourceVersion": "1",
                             "generation": 1, "creationTimestamp": cluster.created})
    return [hook]


def is_control_plane_pod(namespace: str | None, name: str) -> bool:
    """istiod's pod: no command runs in it here (its log is served, exec is refused)."""
    return namespace == ROOT_NAMESPACE and name.startswith(ISTIOD + "-")
