"""EDS over ADS: outbound clusters take their endpoints as ClusterLoadAssignments, as from istiod, so a pod
added or removed pushes only EDS, and only to the proxies whose endpoints it changes."""
from __future__ import annotations

import pytest

from labkit.envoy import common as c
from labkit.xds.resources import CLUSTER, ENDPOINT, LISTENER, to_dict
from mesh_scenarios import curl_code
from test_xds_protocol import NODE, Client, plane  # noqa: F401  (plane is a fixture)

NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata: {name: foo, labels: {istio-injection: enabled}}\n"
OK = ("200", 0)


def eds_config(endpoint_port: int = 9, cluster_timeout: str = "1s"):
    cluster = c.eds_cluster("out", connect_timeout=cluster_timeout)
    assignment = c.load_assignment("out", [c.lb_endpoint("127.0.0.1", endpoint_port)])
    return [], [cluster], [], [], "", [assignment]


def subscribe(client: Client):
    """Envoy's start: CDS, then EDS for the EDS clusters it was sent, then LDS; ACK each."""
    client.send(CLUSTER)
    cds = client.receive()
    client.send(CLUSTER, version=cds.version_info, nonce=cds.nonce)
    client.send(ENDPOINT, names=["out"])
    eds = client.receive()
    assert eds.type_url == ENDPOINT and [to_dict(r)["cluster_name"] for r in eds.resources] == ["out"]
    client.send(ENDPOINT, names=["out"], version=eds.version_info, nonce=eds.nonce)
    client.send(LISTENER)
    lds = client.receive()
    client.send(LISTENER, version=lds.version_info, nonce=lds.nonce)
    return cds, eds


def test_an_endpoint_change_pushes_eds_alone_and_a_cluster_change_resends_endpoints(plane):  # noqa: F811
    token = plane.register(NODE)
    plane.set_config(NODE, *eds_config()[:5], endpoints=eds_config()[5])
    client = Client(plane, NODE, token)
    try:
        cds, eds = subscribe(client)
        plane.wait_synced(NODE, timeout=5)
        # Not ACKed EDS yet would be out of sync: the assignment is part of what the proxy must run.
        # A pod moved (another endpoint): only EDS is pushed.
        plane.set_config(NODE, *eds_config(endpoint_port=10)[:5], endpoints=eds_config(endpoint_port=10)[5])
        push = client.receive()
        assert push.type_url == ENDPOINT and push.version_info != eds.version_info and client.nothing()
        assert to_dict(push.resources[0])["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"][
            "socket_address"]["port_value"] == 10
        assert plane.push_log[-1] == (NODE, frozenset({"EDS"}))
        client.send(ENDPOINT, names=["out"], version=push.version_info, nonce=push.nonce)
        plane.wait_synced(NODE, timeout=5)
        # The cluster changes, its endpoints do not: CDS, then the same assignment again (an updated EDS
        # cluster warms until it is sent one).
        changed = eds_config(endpoint_port=10, cluster_timeout="2s")
        plane.set_config(NODE, *changed[:5], endpoints=changed[5])
        first, second = client.receive(), client.receive()
        assert (first.type_url, second.type_url) == (CLUSTER, ENDPOINT)
        assert second.version_info == push.version_info and second.nonce != push.nonce
        assert plane.push_log[-1] == (NODE, frozenset({"CDS"}))
    finally:
        client.close()


def test_out_of_sync_until_the_endpoints_are_acked(plane):  # noqa: F811
    from labkit.errors import LabkitError
    token = plane.register(NODE)
    plane.set_config(NODE, *eds_config()[:5], endpoints=eds_config()[5])
    client = Client(plane, NODE, token)
    try:
        client.send(CLUSTER)
        cds = client.receive()
        client.send(CLUSTER, version=cds.version_info, nonce=cds.nonce)
        client.send(LISTENER)
        lds = client.receive()
        client.send(LISTENER, version=lds.version_info, nonce=lds.nonce)
        with pytest.raises(LabkitError, match="not yet subscribed"):
            plane.wait_synced(NODE, timeout=0.3)
        client.send(ENDPOINT, names=["out"])
        eds = client.receive()
        with pytest.raises(LabkitError, match="not yet acknowledged"):
            plane.wait_synced(NODE, timeout=0.3)
        client.send(ENDPOINT, names=["out"], version=eds.version_info, nonce=eds.nonce)
        plane.wait_synced(NODE, timeout=5)
    finally:
        client.close()


# ---- real Envoys -------------------------------------------------------------------------------

def httpbin_deployment(replicas: int) -> str:
    """The httpbin sample with its Deployment scaled to `replicas` (what `kubectl scale` would leave)."""
    import yaml

    from labkit.samples import sample
    docs = [d for d in yaml.safe_load_all(sample("httpbin")) if d]
    for doc in docs:
        if doc["kind"] == "Deployment":
            doc["spec"]["replicas"] = replicas
    return yaml.safe_dump_all(docs)


@pytest.fixture(scope="module")
def mesh(lab):
    from labkit.samples import sample
    lab.apply(NAMESPACE)
    lab.apply(sample("httpbin"), namespace="foo")
    lab.apply(sample("curl"), namespace="foo")
    lab.wait_ready(timeout=60)
    return lab


def proxies(lab) -> dict[str, str]:
    """node id → pod name, for every sidecar and the gateway."""
    return {r.envoy.node_id: r.pod.name for r in lab.runtime.pods.values() if r.envoy}


def pushes_of(lab, change) -> dict[str, frozenset]:
    """pod name → the xDS types `change` pushed to its proxy (merged over the change's pushes)."""
    log = lab.runtime.control_plane.push_log
    before = len(log)
    change()
    names = proxies(lab)
    out: dict[str, frozenset] = {}
    for node_id, types in list(log)[before:]:
        pod = names.get(node_id, node_id)
        out[pod] = out.get(pod, frozenset()) | types
    return out


def httpbin_endpoints(lab) -> set[str]:
    table = lab.proxy_config("foo", "curl", "endpoints").table
    return set(table[table["cluster"] == "outbound|8000||httpbin.foo.svc.cluster.local"]["endpoint"])


@pytest.mark.envoy
def test_a_pod_added_and_removed_pushes_only_eds_to_the_other_proxies(mesh):
    old_pods = {r.pod.name for r in mesh.runtime.pods.values() if r.pod.labels.get("app") == "httpbin"}
    assert len(httpbin_endpoints(mesh)) == 1
    pushed = pushes_of(mesh, lambda: mesh.apply(httpbin_deployment(2), namespace="foo"))
    mesh.wait_ready(timeout=60)
    new_pod = next(r.pod.name for r in mesh.runtime.pods.values()
                   if r.pod.labels.get("app") == "httpbin" and r.pod.name not in old_pods)
    others = {pod: types for pod, types in pushed.items() if pod != new_pod}
    # Every other proxy (the curl sidecar, httpbin's first pod, the gateway) can call httpbin: each one got
    # the new endpoint over EDS, and nothing else (no cluster, listener or route was rebuilt).
    assert others and set(others.values()) == {frozenset({"EDS"})}, pushed
    assert {p for p in proxies(mesh).values() if p != new_pod} == set(others)
    # The new pod's own proxy got its whole config.
    assert {"CDS", "LDS", "EDS"} <= pushed[new_pod]
    assert len(httpbin_endpoints(mesh)) == 2
    assert all(curl_code(mesh, "foo", "http://httpbin.foo:8000/ip") == OK for _ in range(4))
    rows = {row["NAME"]: row for row in mesh.proxy_status(verbose=True).to_dict("records")}
    assert rows and all(row["EDS"].startswith("SYNCED (") for row in rows.values()), rows

    pushed = pushes_of(mesh, lambda: mesh.apply(httpbin_deployment(1), namespace="foo"))
    assert pushed and set(pushed.values()) == {frozenset({"EDS"})}, pushed
    assert len(httpbin_endpoints(mesh)) == 1
    assert curl_code(mesh, "foo", "http://httpbin.foo:8000/ip") == OK


@pytest.mark.envoy
def test_a_cluster_change_leaves_no_cluster_warming(mesh):
    """A DestinationRule changes the clusters (CDS) but not the endpoints: the updated EDS clusters still get
    their assignment, so none stays warming and traffic flows as soon as apply returns."""
    rule = ("apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: httpbin, namespace: foo}\n"
            "spec: {host: httpbin.foo.svc.cluster.local, trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}}\n")
    pushed = pushes_of(mesh, lambda: mesh.apply(rule))
    try:
        assert any("CDS" in types for types in pushed.values()), pushed
        curl = next(r.envoy for r in mesh.runtime.pods.values() if r.pod.labels.get("app") == "curl")
        dump = curl.config_dump("dynamic_warming_clusters")
        assert not dump.get("configs"), dump
        assert curl_code(mesh, "foo", "http://httpbin.foo:8000/ip") == OK
    finally:
        mesh.delete("DestinationRule", "httpbin", namespace="foo")


@pytest.mark.envoy
def test_a_pod_no_service_selects_pushes_nothing_to_the_other_proxies(mesh):
    """No Service selects it, so no cluster's endpoints change: the other proxies get no push at all (istiod
    pushes EDS only for the services whose endpoints changed)."""
    lonely = ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: lonely, namespace: foo}\n"
              "spec:\n  selector: {matchLabels: {app: lonely}}\n  template:\n    metadata: {labels: {app: lonely}}\n"
              "    spec: {containers: [{name: web, image: nginx, ports: [{containerPort: 80}]}]}\n")
    before = set(proxies(mesh).values())
    pushed = pushes_of(mesh, lambda: mesh.apply(lonely))
    try:
        assert not {pod for pod in pushed if pod in before}, pushed
        assert any(pod.startswith("lonely-") for pod in pushed), pushed   # its own sidecar got its config
    finally:
        mesh.delete("Deployment", "lonely", namespace="foo")
