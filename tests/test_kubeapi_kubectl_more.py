"""The real kubectl against the local API: ReplicaSets, `kubectl explain`, `kubectl port-forward`,
ServiceEntries. Expected shapes come from kubectl's printers and a cluster's answers."""
from __future__ import annotations

import contextlib
import http.server
import json
import os
import random
import re
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest
from kubectl_support import check, kubectl, kubectl_binary, normalise, with_workloads
from mesh_scenarios import HTTPBIN_GATEWAY, HTTPBIN_GATEWAY_HOST

from labkit import certs
from labkit.kubeapi.portforward import ForwardedConnection
from labkit.model.addressing import real_port

pytestmark = pytest.mark.envoy


@pytest.fixture(scope="module")
def mesh(lab):
    return with_workloads(lab)


def test_deployments_own_replica_sets_which_own_pods(mesh):
    rs = kubectl(mesh, "get", "rs", "-n", "foo")
    assert rs.exit == 0, rs.stderr
    lines = [line.split() for line in rs.stdout.splitlines()]
    assert lines[0] == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
    assert [row[0].rsplit("-", 1)[0] for row in lines[1:]] == ["httpbin", "sleep"]
    assert all(row[1:4] == ["1", "1", "1"] for row in lines[1:])
    # The chain as the controllers write it: Pod → ReplicaSet → Deployment, by uid.
    pod = json.loads(kubectl(mesh, "get", "pods", "-n", "foo", "-l", "app=httpbin", "-o", "json").stdout)["items"][0]
    owner = pod["metadata"]["ownerReferences"][0]
    thash = pod["metadata"]["labels"]["pod-template-hash"]
    assert owner["kind"] == "ReplicaSet" and owner["name"] == f"httpbin-{thash}"
    replica_set = json.loads(kubectl(mesh, "get", "rs", owner["name"], "-n", "foo", "-o", "json").stdout)
    assert replica_set["metadata"]["uid"] == owner["uid"]
    assert replica_set["spec"]["selector"]["matchLabels"] == {"app": "httpbin", "pod-template-hash": thash}
    deployment = json.loads(kubectl(mesh, "get", "deploy", "httpbin", "-n", "foo", "-o", "json").stdout)
    rs_owner = replica_set["metadata"]["ownerReferences"][0]
    assert (rs_owner["kind"], rs_owner["name"], rs_owner["uid"], rs_owner["controller"]) == \
        ("Deployment", "httpbin", deployment["metadata"]["uid"], True)
    # kubectl describe deployment finds its ReplicaSet by the owner uid.
    described = kubectl(mesh, "describe", "deploy", "httpbin", "-n", "foo").stdout
    assert f"NewReplicaSet:   httpbin-{thash} (1/1 replicas created)" in described
    # ReplicaSets belong to the deployment controller.
    refused = kubectl(mesh, "delete", "rs", owner["name"], "-n", "foo")
    assert refused.exit == 1 and "MethodNotAllowed" in refused.stderr


def test_rollout_restart_makes_a_new_replica_set(mesh):
    before = kubectl(mesh, "get", "rs", "-n", "foo", "-l", "app=sleep", "-o", "name").stdout.split()
    assert kubectl(mesh, "rollout", "restart", "deployment/sleep", "-n", "foo").exit == 0
    status = kubectl(mesh, "rollout", "status", "deployment/sleep", "-n", "foo", "--timeout=60s")
    assert status.exit == 0, status.stderr
    after = kubectl(mesh, "get", "rs", "-n", "foo", "-l", "app=sleep", "-o", "name").stdout.split()
    assert len(after) >= 1 and after[0] not in before
    check(kubectl(mesh, "get", after[0], "-n", "foo", "-o", "jsonpath={.spec.replicas}/{.status.readyReplicas}"),
          0, "1/1")


# ---- ServiceEntry: TLS origination towards an external host (istio.io, "Egress TLS Origination") -----------

@contextlib.contextmanager
def external_https_server(tmp_path, host: str):
    """A stand-in for an external HTTPS site (this machine has no internet): a Python HTTPS server with a
    certificate for `host` from a CA of its own, on a loopback address of its own at the local mesh's port
    for 443 (ports below 1024 are shifted by 20000). It answers with the SNI and path it was asked for."""
    ca = certs.make_ca("external-root")
    server = certs.make_server_cert(ca, host, [f"DNS:{host}"])
    paths = certs.write_pem(server, tmp_path, "external")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(paths["cert"], paths["key"])
    seen: dict = {}

    def remember_sni(sock, name, _context):
        seen["sni"] = name

    context.sni_callback = remember_sni

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = f"external {self.path} sni={seen.get('sni')}\n".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    for _ in range(20):
        address = f"127.{random.randint(200, 250)}.{random.randint(1, 250)}.10"
        try:
            httpd = http.server.ThreadingHTTPServer((address, real_port(443)), Answer)
            break
        except OSError:
            continue
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield address, ca.cert_pem.decode()
    finally:
        httpd.shutdown()
        httpd.server_close()


SERVICE_ENTRY = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api-external, namespace: foo}
spec:
  hosts: [api.external.example]
  location: MESH_EXTERNAL
  ports:
  - {number: 80, name: http-port, protocol: HTTP, targetPort: 443}
  - {number: 443, name: https-port, protocol: HTTPS}
  resolution: STATIC
  endpoints: [{address: ADDRESS}]
"""
ORIGINATE = """
apiVersion: v1
kind: Secret
metadata: {name: external-ca, namespace: foo}
stringData:
  ca.crt: |
CA
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api-external, namespace: foo}
spec:
  host: api.external.example
  workloadSelector: {matchLabels: {app: sleep}}
  trafficPolicy:
    portLevelSettings:
    - port: {number: 80}
      tls: {mode: SIMPLE, credentialName: external-ca}
"""


def test_service_entry_and_tls_origination_with_the_real_envoy(mesh, tmp_path):
    host = "api.external.example"
    with external_https_server(tmp_path, host) as (address, ca_pem):
        entry = SERVICE_ENTRY.replace("ADDRESS", address)
        check(kubectl(mesh, "apply", "-f", "-", stdin=entry), 0,
              "serviceentry.networking.istio.io/api-external created")
        check(kubectl(mesh, "get", "se", "-n", "foo"), 0, f"""
NAME  HOSTS  LOCATION  RESOLUTION  AGE
api-external  ["{host}"]  MESH_EXTERNAL  STATIC  AGE
""")
        # HTTPS straight from the app: the sidecar passes its TLS through (curl checks the site's certificate).
        (tmp_path / "ca.pem").write_text(ca_pem)
        direct = kubectl(mesh, "exec", "deploy/sleep", "-n", "foo", "--", "curl", "-sS", "--cacert",
                         str(tmp_path / "ca.pem"), f"https://{host}/direct")
        assert (direct.exit, direct.stdout) == (0, f"external /direct sni={host}\n"), direct
        # Plain HTTP to port 80 reaches the HTTPS port without TLS: the site cannot answer it.
        plain = kubectl(mesh, "exec", "deploy/sleep", "-n", "foo", "--", "curl", "-s", "-o", "/dev/null",
                        "-w", "%{http_code}", f"http://{host}/politics")
        assert plain.stdout != "200", plain
        # The DestinationRule originates TLS on port 80, trusting the site's CA: the app keeps sending plain HTTP.
        ca_block = "\n".join("    " + line for line in ca_pem.strip().splitlines())
        applied = kubectl(mesh, "apply", "-f", "-", stdin=ORIGINATE.replace("CA", ca_block))
        assert applied.exit == 0, applied.stderr
        originated = kubectl(mesh, "exec", "deploy/sleep", "-n", "foo", "--", "curl", "-sS", f"http://{host}/politics")
        assert (originated.exit, originated.stdout) == (0, f"external /politics sni={host}\n"), originated
        # Trusting another CA fails verification: Envoy answers 503 instead of talking to an unverified site.
        other = certs.make_ca("not-the-sites-root").cert_pem.decode()
        other_block = "\n".join("    " + line for line in other.strip().splitlines())
        assert kubectl(mesh, "apply", "-f", "-", stdin=ORIGINATE.replace("CA", other_block)).exit == 0
        refused = kubectl(mesh, "exec", "deploy/sleep", "-n", "foo", "--", "curl", "-s", "-o", "/dev/null",
                          "-w", "%{http_code}", f"http://{host}/politics")
        assert refused.stdout == "503", refused
        kubectl(mesh, "delete", "dr", "api-external", "-n", "foo")
        kubectl(mesh, "delete", "secret", "external-ca", "-n", "foo")
        check(kubectl(mesh, "delete", "se", "api-external", "-n", "foo"), 0,
              'serviceentry.networking.istio.io "api-external" deleted from foo namespace')


# ---- kubectl explain: OpenAPI v3 generated from the store's own schemas ----------------------------------

def test_explain_describes_the_fields_the_store_accepts(mesh):
    pods = kubectl(mesh, "explain", "pods")
    assert pods.exit == 0 and pods.stdout.startswith("KIND:       Pod\nVERSION:    v1\n"), pods
    assert "metadata\t<ObjectMeta>" in pods.stdout and "Pod is a collection of containers" in pods.stdout
    mode = kubectl(mesh, "explain", "peerauthentication.spec.mtls.mode")
    assert mode.exit == 0, mode.stderr
    assert normalise(mode.stdout) == normalise("""
GROUP:      security.istio.io
KIND:       PeerAuthentication
VERSION:    v1

FIELD: mode <string>
ENUM:
    UNSET
    DISABLE
    PERMISSIVE
    STRICT

DESCRIPTION:
    Defines the mTLS mode used for peer authentication.
""")
    entry = kubectl(mesh, "explain", "se.spec", "--recursive")
    assert entry.exit == 0 and "Configuration affecting service registry." in entry.stdout
    for field in ("endpoints\t<[]Object>", "labels\t<map[string]string>", "resolution\t<string>", "hosts\t<[]string>"):
        assert field in entry.stdout
    # The same schema refuses on apply what explain does not list.
    check(kubectl(mesh, "explain", "dr.spec.trafficPolicy.tls.sni"), 0, """
GROUP:      networking.istio.io
KIND:       DestinationRule
VERSION:    v1

FIELD: sni <string>


DESCRIPTION:
    <empty>
""")
    missing = kubectl(mesh, "explain", "pa.spec.mtls.mood")
    assert missing.exit == 1 and 'field "mood" does not exist' in missing.stderr
    replica_sets = kubectl(mesh, "explain", "rs.spec.template")
    assert replica_sets.exit == 0 and "KIND:       ReplicaSet" in replica_sets.stdout


# ---- kubectl port-forward: SPDY over WebSocket (and plain SPDY), to the app inside the pod -------------------

@contextlib.contextmanager
def port_forward(mesh, *args: str, env_extra: dict | None = None):
    """`kubectl port-forward ... :PORT` running; yields (local port, process)."""
    env = {**os.environ, "KUBECONFIG": str(mesh.kubeconfig), "KUBECACHEDIR": str(mesh.state_dir / "kube-cache"),
           **(env_extra or {})}
    process = subprocess.Popen([kubectl_binary(), "port-forward", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = process.stdout.readline()   # "Forwarding from 127.0.0.1:PORT -> 8080"
        match = re.match(r"Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)", line)
        assert match, (line, process.stderr.read() if process.poll() is not None else "")
        yield int(match.group(1)), process
    finally:
        process.terminate()
        process.wait(timeout=10)


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as answer:
        return answer.code, answer.read().decode()


@pytest.mark.parametrize("transport", ["websocket", "spdy"])
def test_port_forward_to_a_pod_and_a_service(mesh, transport):
    # kubectl tries SPDY over WebSocket first; KUBECTL_PORT_FORWARD_WEBSOCKETS=false makes it use plain SPDY.
    env = {"KUBECTL_PORT_FORWARD_WEBSOCKETS": "false"} if transport == "spdy" else {}
    pod = kubectl(mesh, "get", "pods", "-n", "foo", "-l", "app=httpbin", "-o", "name").stdout.strip()
    with port_forward(mesh, pod, "-n", "foo", ":8080", env_extra=env) as (port, _):
        for _ in range(3):   # several connections over one port-forward
            status, body = get(port, "/headers")
            assert status == 200 and '"Host"' in body
        # The app answers directly: forwarded traffic does not pass the sidecar (no x-forwarded-client-cert).
        assert "X-Forwarded-Client-Cert" not in body
    # svc/httpbin port 8000 → the Service's targetPort 8080 on one of its pods (kubectl translates it).
    with port_forward(mesh, "svc/httpbin", "-n", "foo", ":8000", env_extra=env) as (port, process):
        status, body = get(port, "/status/418")
        assert status == 418
    assert process.returncode is not None
    with pytest.raises(OSError):   # kubectl is gone: nothing listens there any more
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    # ... and the API has ended its side: no forwarding session is left behind.
    deadline = time.monotonic() + 10
    while any(isinstance(s, ForwardedConnection) for s in mesh.api.exec_sessions) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(isinstance(s, ForwardedConnection) for s in mesh.api.exec_sessions)


def test_port_forward_to_a_port_nothing_listens_on_reports_the_error(mesh):
    with port_forward(mesh, "deploy/httpbin", "-n", "foo", ":9999") as (port, process):
        with pytest.raises(OSError):
            get(port, "/")
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert "error forwarding port 9999" in stderr and "connection refused" in stderr.lower()


# ---- Services have a cluster IP that pods really reach --------------------------------------------------------

def test_a_service_cluster_ip_is_shown_and_routed_inside_pods(mesh):
    listed = kubectl(mesh, "get", "svc", "httpbin", "-n", "foo")
    assert listed.exit == 0, listed.stderr
    header, row = [line.split() for line in listed.stdout.splitlines()]
    assert header == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    cluster_ip = row[2]
    assert row[:2] == ["httpbin", "ClusterIP"] and cluster_ip.startswith("10.96.") and row[4] == "8000/TCP"
    service = json.loads(kubectl(mesh, "get", "svc", "httpbin", "-n", "foo", "-o", "json").stdout)
    assert service["spec"]["clusterIPs"] == [cluster_ip]
    # From a pod, the address works like the name: through the sidecar to an httpbin pod.
    by_ip = kubectl(mesh, "exec", "deploy/sleep", "-n", "foo", "--", "curl", "-s", "-o", "/dev/null", "-w",
                    "%{http_code}", f"http://{cluster_ip}:8000/status/200")
    assert (by_ip.exit, by_ip.stdout) == (0, "200"), by_ip
    # A port the Service does not have is refused, as kube-proxy has no rule for it.
    wrong_port = kubectl(mesh, "exec", "deploy/sleep", "-n", "foo", "--", "curl", "-sS", "--max-time", "5",
                         f"http://{cluster_ip}:9000/")
    assert wrong_port.exit != 0
    # The address is kept across re-applies and cannot be changed (the field is immutable).
    assert kubectl(mesh, "apply", "-f", "workloads.yaml").exit == 0
    assert kubectl(mesh, "get", "svc", "httpbin", "-n", "foo", "-o", "jsonpath={.spec.clusterIP}").stdout == cluster_ip
    changed = kubectl(mesh, "patch", "svc", "httpbin", "-n", "foo", "-p", '{"spec":{"clusterIP":"10.96.7.7"}}')
    assert changed.exit == 1 and "field is immutable" in changed.stderr, changed


def test_port_forward_to_the_ingress_gateway_service(mesh):
    # `kubectl -n istio-system port-forward svc/istio-ingressgateway 8080:80`, as on kind without a load balancer.
    assert kubectl(mesh, "apply", "-f", "-", stdin=HTTPBIN_GATEWAY).exit == 0
    try:
        with port_forward(mesh, "svc/istio-ingressgateway", "-n", "istio-system", ":80") as (port, _):
            request = urllib.request.Request(f"http://127.0.0.1:{port}/status/418",
                                             headers={"Host": HTTPBIN_GATEWAY_HOST})
            with pytest.raises(urllib.error.HTTPError) as answer:
                urllib.request.urlopen(request, timeout=10)
            assert answer.value.code == 418
    finally:
        kubectl(mesh, "delete", "-f", "-", stdin=HTTPBIN_GATEWAY)


def test_endpoints_and_endpoint_slices_list_the_ready_pods(mesh):
    pod = json.loads(kubectl(mesh, "get", "pods", "-n", "foo", "-l", "app=httpbin", "-o", "json").stdout)["items"][0]
    ip = pod["status"]["podIP"]
    check(kubectl(mesh, "get", "endpoints", "httpbin", "-n", "foo"), 0, f"""
NAME  ENDPOINTS  AGE
httpbin  {ip}:8080  AGE
""", "Warning: v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice")
    slices = json.loads(kubectl(mesh, "get", "endpointslices", "-n", "foo", "-l",
                                "kubernetes.io/service-name=httpbin", "-o", "json").stdout)["items"]
    assert [e["addresses"] for e in slices[0]["endpoints"]] == [[ip]]
    assert slices[0]["endpoints"][0]["conditions"]["ready"] is True
    assert slices[0]["endpoints"][0]["targetRef"]["name"] == pod["metadata"]["name"]
    # kubectl describe svc reads the EndpointSlices: the pod's address at the target port, as on a cluster.
    described = kubectl(mesh, "describe", "svc", "httpbin", "-n", "foo").stdout
    assert re.search(rf"Endpoints:\s+{re.escape(ip)}:8080\n", described), described
    # Scaled to zero, nothing is left behind the Service.
    assert kubectl(mesh, "scale", "deploy/httpbin", "-n", "foo", "--replicas=0").exit == 0
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            described = kubectl(mesh, "describe", "svc", "httpbin", "-n", "foo").stdout
            if re.search(r"Endpoints:\s*\n", described):
                break
            time.sleep(0.5)
        assert re.search(r"Endpoints:\s*\n", described), described
    finally:
        kubectl(mesh, "scale", "deploy/httpbin", "-n", "foo", "--replicas=1")
        kubectl(mesh, "rollout", "status", "deploy/httpbin", "-n", "foo", "--timeout=60s")
