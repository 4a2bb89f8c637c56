"""The local mesh against real Envoy and real curl: Istio's mutual TLS migration and authn-policy tasks."""
from __future__ import annotations

import json

import psutil

import pytest

from mesh_scenarios import CLIENTS, SERVERS, curl_code, deploy_migration, destination_rule, matrix, strict

pytestmark = pytest.mark.envoy
OK = ("200", 0)
RESET = ("000", 56)


@pytest.fixture(scope="module")
def mesh(lab):
    deploy_migration(lab)
    return lab


def expect(overrides: dict | None = None) -> dict:
    table = {(c, s): OK for c in CLIENTS for s in SERVERS}
    table.update(overrides or {})
    return table


def test_pods_show_sidecars_2_of_2_and_legacy_1_of_1(mesh):
    pods = mesh.pods()
    for namespace in ("foo", "bar"):
        rows = pods[pods.namespace == namespace]
        assert set(rows.ready) == {"2/2"} and rows.sidecar.all()
    legacy = pods[pods.namespace == "legacy"]
    assert set(legacy.ready) == {"1/1"} and not legacy.sidecar.any()


def test_no_policy_every_call_succeeds(mesh):
    assert matrix(mesh) == expect()


def test_mtls_evidence_xfcc_only_on_mtls_hops(mesh):
    def headers(client_ns, server_ns):
        out = mesh.exec(client_ns, "curl", ["curl", "-sS", f"http://httpbin.{server_ns}:8000/headers"])
        assert out.exit_code == 0, out.stderr
        return {k.lower(): v for k, v in json.loads(out.stdout)["headers"].items()}

    mtls = headers("foo", "bar")
    xfcc = mtls["x-forwarded-client-cert"]
    xfcc = xfcc[0] if isinstance(xfcc, list) else xfcc
    assert "By=spiffe://cluster.local/ns/bar/sa/httpbin" in xfcc
    assert "URI=spiffe://cluster.local/ns/foo/sa/curl" in xfcc
    assert "x-forwarded-client-cert" not in headers("foo", "legacy")   # server has no sidecar
    assert "x-forwarded-client-cert" not in headers("legacy", "foo")   # client has no sidecar: plaintext


def test_strict_in_foo_resets_only_legacy_to_foo(mesh):
    mesh.apply(strict("foo"))
    try:
        result = matrix(mesh)
        assert result == expect({("legacy", "foo"): RESET})
        out = mesh.exec("legacy", "curl", ["curl", "-sS", "http://httpbin.foo:8000/ip"])
        assert out.exit_code == 56 and "Connection reset by peer" in out.stderr
    finally:
        mesh.delete("PeerAuthentication", "default", namespace="foo")
    assert matrix(mesh) == expect()  # deleting the policy restores PERMISSIVE


def test_mesh_wide_strict(mesh):
    mesh.apply(strict("istio-system"))
    try:
        assert matrix(mesh) == expect({("legacy", "foo"): RESET, ("legacy", "bar"): RESET})
    finally:
        mesh.delete(strict("istio-system"))


def test_workload_policy_and_port_level_exception(mesh):
    mesh.apply(strict("foo"))
    mesh.apply(strict("bar", name="httpbin", selector={"app": "httpbin"}))
    try:
        assert matrix(mesh) == expect({("legacy", "foo"): RESET, ("legacy", "bar"): RESET})
        # portLevelMtls is keyed by the container port (8080), not the Service port (8000).
        mesh.apply(strict("bar", name="httpbin", selector={"app": "httpbin"}, port_level={8080: "DISABLE"}))
        assert matrix(mesh) == expect({("legacy", "foo"): RESET})
        # A workload policy overrides the namespace: DISABLE on foo's httpbin lets legacy in again.
        mesh.apply(strict("foo", name="overwrite-example", selector={"app": "httpbin"}, mode="DISABLE"))
        assert matrix(mesh) == expect()
    finally:
        mesh.delete("PeerAuthentication", "httpbin", namespace="bar")
        mesh.delete("PeerAuthentication", "overwrite-example", namespace="foo", ignore_missing=True)
        mesh.delete("PeerAuthentication", "default", namespace="foo")


def test_destination_rule_disable_towards_strict_fails(mesh):
    mesh.apply(strict("foo"))
    mesh.apply(destination_rule("httpbin-plain", "bar", "httpbin.foo.svc.cluster.local", "DISABLE"))
    try:
        assert curl_code(mesh, "bar", "http://httpbin.foo:8000/ip") == ("503", 0)
        assert curl_code(mesh, "foo", "http://httpbin.foo:8000/ip") == OK  # the DR lives in bar only
    finally:
        mesh.delete("DestinationRule", "httpbin-plain", namespace="bar")
        mesh.delete("PeerAuthentication", "default", namespace="foo")
    assert curl_code(mesh, "bar", "http://httpbin.foo:8000/ip") == OK


def test_workload_certificate_rotation_keeps_traffic_flowing(mesh):
    import time
    runtime = next(r for r in mesh.runtime.pods.values() if r.pod.namespace == "foo" and r.pod.deployment == "httpbin")

    def serving_serial() -> str:
        certs = json.loads(runtime.envoy.admin("/certs"))["certificates"]
        return certs[0]["cert_chain"][0]["serial_number"]

    before = serving_serial()
    assert mesh.rotate_certificates("foo") == 2
    deadline = time.monotonic() + 3
    while serving_serial() == before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert serving_serial() != before
    assert curl_code(mesh, "bar", "http://httpbin.foo:8000/ip") == OK


def test_a_missing_ca_file_fails_only_its_own_cluster(mesh, tmp_path):
    """Istio fails just that cluster's TLS; one bad path must not freeze the proxy's other updates."""
    missing = tmp_path / "no-such-ca.pem"
    mesh.apply(f"""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: legacy-tls, namespace: bar}}
spec:
  host: httpbin.legacy.svc.cluster.local
  trafficPolicy: {{tls: {{mode: SIMPLE, caCertificates: {missing}}}}}
""")
    try:
        assert curl_code(mesh, "bar", "http://httpbin.legacy:8000/ip") == ("503", 0)
        mesh.apply("""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: foo-plain, namespace: bar}
spec:
  host: httpbin.foo.svc.cluster.local
  trafficPolicy: {tls: {mode: DISABLE}}
""")
        out = mesh.exec("bar", "curl", ["curl", "-sS", "http://httpbin.foo:8000/headers"])
        assert out.exit_code == 0 and "X-Forwarded-Client-Cert" not in out.stdout  # the second DR took effect
        # The path names a file inside bar's istio-proxy container, which has none: istio-agent says so there.
        log = mesh.logs("bar", "curl", container="istio-proxy")
        assert f"open {missing}: no such file or directory" in log
    finally:
        mesh.delete("DestinationRule", "legacy-tls", namespace="bar")
        mesh.delete("DestinationRule", "foo-plain", namespace="bar", ignore_missing=True)


NODEPORT = """
apiVersion: v1
kind: Service
metadata: {name: httpbin-nodeport, namespace: bar}
spec:
  type: NodePort
  selector: {app: httpbin}
  ports: [{name: http, port: 8000, targetPort: 8080}]
"""


def host_curl(url: str) -> tuple[str, int]:
    import subprocess
    out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", url],
                         capture_output=True, text=True, timeout=10)
    return out.stdout.strip(), out.returncode


def test_nodeport_from_outside_and_the_port_level_exception(mesh):
    """Seed 003: a browser on the NodePort is plaintext; STRICT resets it, a container-port exception lets it in."""
    mesh.apply(NODEPORT)
    try:
        stored = mesh.get("Service", "httpbin-nodeport", "bar")[0]["spec"]["ports"][0]["nodePort"]
        assert 30000 <= stored <= 32767
        url = mesh.node_url("bar", "httpbin-nodeport") + "/ip"
        assert url.endswith(f":{stored}/ip")
        assert host_curl(url) == OK
        mesh.apply(NODEPORT)  # re-applying keeps the allocated port, as the API server does
        assert mesh.get("Service", "httpbin-nodeport", "bar")[0]["spec"]["ports"][0]["nodePort"] == stored
        mesh.apply(strict("bar"))
        assert host_curl(url) == RESET
        mesh.apply(strict("bar", name="httpbin", selector={"app": "httpbin"}, port_level={8080: "PERMISSIVE"}))
        assert host_curl(url) == OK
    finally:
        mesh.delete("PeerAuthentication", "httpbin", namespace="bar", ignore_missing=True)
        mesh.delete("PeerAuthentication", "default", namespace="bar", ignore_missing=True)
        mesh.delete("Service", "httpbin-nodeport", namespace="bar")


def test_taken_node_port_is_refused_by_name(mesh):
    from labkit.errors import LabkitError
    fixed = NODEPORT.replace("targetPort: 8080}", "targetPort: 8080, nodePort: 31999}")
    mesh.apply(fixed)
    try:
        with pytest.raises(LabkitError, match="provided port 31999 is already allocated") as info:
            mesh.apply(fixed.replace("httpbin-nodeport", "other-nodeport"))
        assert info.value.field == "spec.ports[0].nodePort"
    finally:
        mesh.delete("Service", "httpbin-nodeport", namespace="bar")


def test_envoy_admin_apis_are_private_unix_sockets_not_tcp_ports(mesh):
    """Issue 17: another user of the host must not reach a learner's Envoy admin API (it can stop the proxy,
    drain listeners, dump config). Each admin API is a unix socket, mode 0600, in a 0700 folder of the owner's,
    and no Envoy has a TCP admin listener; `pilot-agent request` in the pod (kubectl exec -c istio-proxy) uses it."""
    import os
    import stat
    envoys = [r.envoy for r in mesh.runtime.pods.values() if r.envoy is not None]
    assert envoys
    for envoy in envoys:
        path = envoy.admin_address
        assert path and path.startswith("/"), path                     # a socket path, not host:port
        assert stat.S_ISSOCK(os.stat(path).st_mode) and stat.S_IMODE(os.stat(path).st_mode) == 0o600
        folder = os.stat(os.path.dirname(path))
        assert stat.S_IMODE(folder.st_mode) == 0o700 and folder.st_uid == os.geteuid()
        assert json.loads(envoy.admin("/server_info"))["state"] == "LIVE"
        # Every TCP socket the Envoy listens on is one of its listeners: no admin port among them.
        served = json.loads(envoy.admin("/listeners?format=json")).get("listener_statuses", [])
        addresses = {(a["socket_address"]["address"], a["socket_address"]["port_value"])
                     for status in served for a in [status.get("local_address", {})] if "socket_address" in a}
        tcp = psutil.Process(envoy.process.proc.pid).net_connections(kind="tcp")
        listening = {(c.laddr.ip, c.laddr.port) for c in tcp if c.status == psutil.CONN_LISTEN}
        assert listening <= addresses, listening - addresses
    curl_pod = mesh.exec("foo", "curl", ["pilot-agent", "request", "GET", "server_info"], container="istio-proxy")
    assert curl_pod.ok and json.loads(curl_pod.stdout)["state"] == "LIVE", curl_pod
