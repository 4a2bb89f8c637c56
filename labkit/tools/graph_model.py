"""Which nodes and edges the mesh graph shows: the calls in `evidence`, named as a cluster's telemetry names them.

Kiali draws Istio's standard metrics, and those name a caller the way the proxies learned it:
- a call the caller's own sidecar reported (reporter="source") names the caller's workload;
- a call only the server's sidecar saw (reporter="destination") names the caller only when the caller's
  sidecar told it who it is: Istio's peer-metadata exchange rides on the mTLS connection between two
  sidecars. A pod without a sidecar (or anything outside the mesh) sends no metadata, so Istio records
  `source_workload="unknown"` and Kiali draws one `unknown` node for all such callers.
Our evidence tool still resolves the caller's IP to a pod for its tables (useful when troubleshooting),
but the picture does not: a learner must see the graph Kiali would show them on a cluster.
(Istio: "Standard Metrics" labels, source_workload "unknown" when peer metadata is missing; Kiali
graph docs: the `unknown` node is traffic from outside the mesh or from a workload without a sidecar.)
"""
from __future__ import annotations

from .evidence import EXTERNAL, edges_from

UNKNOWN = "unknown"


def caller_as_telemetry_names_it(call: dict) -> str:
    """The caller node of one call: its workload when a sidecar vouched for it, else `unknown`."""
    if call["source"] == EXTERNAL:
        return UNKNOWN
    if str(call["reported_by"]).startswith("client"):
        return call["source"]          # the caller's sidecar reported the call itself
    if call["mtls"] is True:
        # Istio mTLS means a mesh proxy made the connection and sent its metadata, whether or not the
        # log format prints the peer's identity (Istio's default formats do not).
        return call["source"]
    return UNKNOWN


def graph_edges(calls: list[dict]) -> list[dict]:
    """Edges (as `evidence.edges_from`) after naming each caller as the server's telemetry can."""
    return edges_from([{**call, "source": caller_as_telemetry_names_it(call)} for call in calls])
