"""Asking a control plane what istioctl asks istiod: the syncz debug type over an ADS stream."""
from __future__ import annotations

import json
from pathlib import Path

import grpc
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from envoy.service.status.v3 import csds_pb2
from google.protobuf import json_format

from ..errors import LabkitError
from .syncz import SYNCZ

ENDPOINT_FILE = "xds.json"   # in the mesh's state directory: address and debug token (mode 0600, the owner's)


def read_endpoint(state_dir: Path) -> dict:
    try:
        return json.loads((Path(state_dir) / ENDPOINT_FILE).read_text())
    except (OSError, ValueError):
        raise LabkitError("the mesh's control plane is not running", hint="start the mesh: `labkit up`") from None


def fetch_syncz(address: str, token: str, timeout: float = 5.0) -> list[dict]:
    """One row per connected proxy: name, cluster, istiod, version and {type_url: status, time, error}."""
    request = discovery_pb2.DiscoveryRequest(type_url=SYNCZ)
    request.node.id = "istioctl"
    try:
        with grpc.insecure_channel(address) as channel:
            stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
            stream = stub.StreamAggregatedResources(iter([request]), timeout=timeout,
                                                    metadata=[("authorization", f"Bearer {token}")])
            response = next(stream)
            stream.cancel()
    except grpc.RpcError as exc:
        raise LabkitError(f"the control plane at {address} did not answer: {exc.details()}",
                          hint="is the mesh running? `labkit status`") from None
    rows = []
    for resource in response.resources:
        config = csds_pb2.ClientConfig()
        resource.Unpack(config)
        metadata = json_format.MessageToDict(config.node.metadata)
        types = {}
        for item in config.generic_xds_configs:
            types[item.type_url] = {
                "status": csds_pb2.ConfigStatus.Name(item.config_status).replace("_", " "),
                "last_updated": item.last_updated.ToMicroseconds() / 1e6 if item.HasField("last_updated") else None,
                "error": item.error_state.details if item.HasField("error_state") else ""}
        rows.append({"name": config.node.id, "cluster": metadata.get("CLUSTER_ID", ""),
                     "istiod": response.control_plane.identifier, "version": metadata.get("ISTIO_VERSION", ""),
                     "namespace": metadata.get("NAMESPACE", ""), "types": types})
    return rows
