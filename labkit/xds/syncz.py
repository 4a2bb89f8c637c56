"""istiod's `istio.io/debug/syncz`: what `istioctl proxy-status` asks istiod over xDS.

One ClientConfig per connected proxy (pilot/pkg/xds/statusgen.go debugSyncz): its node with the
CLUSTER_ID / NAMESPACE / ISTIO_VERSION metadata, and per xDS type a GenericXdsConfig with the sync
status, the time of the last send and, after a NACK, Envoy's error detail.
"""
from __future__ import annotations

from envoy.admin.v3 import config_dump_shared_pb2
from envoy.service.status.v3 import csds_pb2
from google.protobuf import any_pb2, struct_pb2, timestamp_pb2

from .resources import SECRET
from .watch import ERROR, NOT_SENT, STALE, SYNCED, ProxyState

SYNCZ = "istio.io/debug/syncz"
CLUSTER_ID = "Kubernetes"   # istiod's default cluster name (values.global.multiCluster.clusterName)
ISTIO_VERSION = "1.28.0"     # the proxyv2 image the local mesh's pods name (model.deployments.PROXY_IMAGE)
# In Istio the workload certificate and root come from the pod's istio-agent, not istiod: istiod's
# syncz shows SDS only for gateways that fetch credentialName secrets from it. The local mesh serves
# both itself, and reports the same way.
AGENT_SECRETS = {"default", "ROOTCA"}
_STATUS = {SYNCED: csds_pb2.SYNCED, STALE: csds_pb2.STALE, NOT_SENT: csds_pb2.NOT_SENT, ERROR: csds_pb2.ERROR}


def _timestamp(seconds: float) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


def proxy_id(node_id: str) -> str:
    """istiod's proxy ID: the third field of `sidecar~IP~POD.NS~NS.svc.cluster.local`."""
    parts = node_id.split("~")
    return parts[2] if len(parts) == 4 else node_id


def is_istio_proxy(node_id: str) -> bool:
    """Sidecars and gateways; the NodePort forwarder stands for kube-proxy, which istiod never sees."""
    return node_id.split("~", 1)[0] in ("sidecar", "router")


def client_config(state: ProxyState) -> any_pb2.Any:
    namespace = proxy_id(state.node_id).rsplit(".", 1)[-1]
    metadata = struct_pb2.Struct()
    metadata.update({"CLUSTER_ID": CLUSTER_ID, "NAMESPACE": namespace, "ISTIO_VERSION": ISTIO_VERSION})
    config = csds_pb2.ClientConfig()
    config.node.id = proxy_id(state.node_id)
    config.node.metadata.CopyFrom(metadata)
    for type_url in sorted(state.watches):
        watch = state.watches[type_url]
        if type_url == SECRET and (watch.names or set()) <= AGENT_SECRETS:
            continue
        item = config.generic_xds_configs.add(type_url=type_url, config_status=_STATUS[watch.status])
        if watch.sent_at:
            item.last_updated.CopyFrom(_timestamp(watch.sent_at))
        if watch.error:
            item.error_state.CopyFrom(config_dump_shared_pb2.UpdateFailureState(
                details=watch.error, last_update_attempt=_timestamp(watch.sent_at)))
    packed = any_pb2.Any()
    packed.Pack(config)
    return packed
