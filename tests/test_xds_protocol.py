"""The ADS state-of-the-world protocol of labkit.xds against a scripted client (no Envoy): responses,
ACK, NACK, stale nonces, named subscriptions, pushes only on change."""
from __future__ import annotations

import queue

import pytest

import labkit.xds  # noqa: F401  (before grpc: turns gRPC's fork handlers off)
from labkit.envoy import common as c
from labkit.errors import LabkitError
from labkit.xds.control_plane import ControlPlane
from labkit.xds.resources import CLUSTER, LISTENER, ROUTE, to_dict

NODE = "sidecar~127.0.0.1~p.ns~ns.svc.cluster.local"


class Client:
    def __init__(self, control_plane: ControlPlane, node_id: str, token: str):
        import grpc
        from envoy.service.discovery.v3 import ads_pb2_grpc
        self.requests: queue.Queue = queue.Queue()
        host, port = control_plane.address
        self.channel = grpc.insecure_channel(f"{host}:{port}")
        stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(self.channel)
        self.node_id = node_id
        self.stream = stub.StreamAggregatedResources(iter(self.requests.get, None),
                                                     metadata=[("authorization", f"Bearer {token}")])
        self.responses: queue.Queue = queue.Queue()
        import threading
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for response in self.stream:
                self.responses.put(response)
        except Exception as exc:  # noqa: BLE001 - the test reads it from the queue
            self.responses.put(exc)

    def send(self, type_url, names=(), version="", nonce="", error=None):
        from envoy.service.discovery.v3 import discovery_pb2
        request = discovery_pb2.DiscoveryRequest(type_url=type_url, resource_names=list(names),
                                                 version_info=version, response_nonce=nonce)
        request.node.id = self.node_id
        if error:
            request.error_detail.message = error
        self.requests.put(request)

    def receive(self, timeout=5.0):
        item = self.responses.get(timeout=timeout)
        if isinstance(item, Exception):
            raise item
        return item

    def nothing(self, wait=0.3) -> bool:
        try:
            self.responses.get(timeout=wait)
        except queue.Empty:
            return True
        return False

    def close(self):
        self.requests.put(None)
        self.channel.close()


def resources(port: int = 8080, body: str = "one"):
    route = c.route_config("inbound", [{"name": "all", "domains": ["*"], "routes": [
        {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": body}}}]}])
    paths = c.ProxyPaths("/tmp/unused")
    listener = c.listener("in", "127.0.0.1", port, [{"filters": [c.http_connection_manager("in", "inbound", paths,
                                                                                          server_name=None)]}])
    cluster = c.static_cluster("out", [c.lb_endpoint("127.0.0.1", 9)])
    other_route = c.route_config("unused", [])
    return [listener], [cluster], [route, other_route]


@pytest.fixture
def plane():
    control_plane = ControlPlane("127.0.0.1", port=0).start()
    yield control_plane
    control_plane.stop()


def test_ack_nack_stale_and_push(plane):
    token = plane.register(NODE)
    listeners, clusters, routes = resources()
    versions = plane.set_config(NODE, listeners, clusters, routes, [])
    client = Client(plane, NODE, token)
    try:
        client.send(CLUSTER)
        cds = client.receive()
        assert cds.version_info == versions["CDS"] and [to_dict(r)["name"] for r in cds.resources] == ["out"]
        client.send(LISTENER)
        lds = client.receive()
        assert to_dict(lds.resources[0])["name"] == "in"
        client.send(CLUSTER, version=cds.version_info, nonce=cds.nonce)          # ACK
        client.send(LISTENER, version=lds.version_info, nonce=lds.nonce)
        client.send(ROUTE, names=["inbound"])                                    # named: only what is asked
        rds = client.receive()
        assert [to_dict(r)["name"] for r in rds.resources] == ["inbound"]
        client.send(ROUTE, names=["inbound"], version=rds.version_info, nonce=rds.nonce)
        plane.wait_synced(NODE, timeout=5)
        assert {t["status"] for t in plane.status()[0]["types"].values()} == {"SYNCED"}
        # Same config again: nothing is pushed.
        plane.set_config(NODE, listeners, clusters, routes, [])
        assert client.nothing()
        # A change of the route only: only RDS is pushed.
        listeners2, clusters2, routes2 = resources(body="two")
        plane.set_config(NODE, listeners2, clusters2, routes2, [])
        push = client.receive()
        assert push.type_url == ROUTE and push.version_info != rds.version_info and client.nothing()
        # A request answering an older nonce is stale: ignored, no response, no state change.
        client.send(ROUTE, names=["inbound"], version=rds.version_info, nonce=rds.nonce)
        assert client.nothing()
        with pytest.raises(LabkitError, match="not yet acknowledged"):
            plane.wait_synced(NODE, timeout=0.3)
        # NACK: Envoy's words come back from wait_synced; the type shows ERROR.
        client.send(ROUTE, names=["inbound"], version=rds.version_info, nonce=push.nonce, error="bad route")
        with pytest.raises(LabkitError, match="bad route") as info:
            plane.wait_synced(NODE, timeout=5)
        assert "previous configuration" in info.value.hint
        assert plane.status()[0]["types"]["RDS"]["status"] == "ERROR"
        # A fixed config is pushed, ACKed, and clears the error.
        listeners3, clusters3, routes3 = resources(body="three")
        plane.set_config(NODE, listeners3, clusters3, routes3, [])
        fixed = client.receive()
        client.send(ROUTE, names=["inbound"], version=fixed.version_info, nonce=fixed.nonce)
        plane.wait_synced(NODE, timeout=5)
        assert plane.status()[0]["types"]["RDS"]["status"] == "SYNCED"
    finally:
        client.close()


def test_wrong_token_is_refused_and_invalid_resources_fail_before_any_push(plane):
    import grpc
    plane.register(NODE)
    client = Client(plane, NODE, "not-the-token")
    client.send(CLUSTER)
    with pytest.raises(grpc.RpcError) as info:
        client.receive()
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    client.close()
    listeners, clusters, routes = resources()
    clusters[0]["connect_timeoutt"] = "1s"
    with pytest.raises(LabkitError, match="connect_timeoutt"):
        plane.set_config(NODE, listeners, clusters, routes, [])
