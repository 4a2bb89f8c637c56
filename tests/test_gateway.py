"""The ingress gateway against real Envoy and real curl: seed 002's scenarios and Istio's secure-ingress task.

Each test applies its Gateway/VirtualService and removes them again, so the module's one mesh serves all.
Only httpbin has a sidecar (it shows the gateway's mTLS identity); the other apps run without one, to keep
the module's mesh small on a shared machine.
"""
from __future__ import annotations

import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from labkit import certs
from labkit.labs import in_namespace
from labkit.samples import sample

pytestmark = pytest.mark.envoy

DEMO = "apiVersion: v1\nkind: Namespace\nmetadata: {name: demo, labels: {istio-injection: enabled}}\n"
APPS = "apiVersion: v1\nkind: Namespace\nmetadata: {name: apps}\n"
WEB = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: apps}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: nginx, image: nginx, ports: [{containerPort: 80}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: apps}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80}]
"""
# Istio's ingress-sni-passthrough task: nginx terminating TLS itself with a mounted secret.
SECURE_NGINX = in_namespace(sample("nginx-ssl"), "apps")


def gateway(name: str, servers: str, namespace: str = "istio-system") -> str:
    return (f"apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {{name: {name}, namespace: {namespace}}}\n"
            f"spec:\n  selector: {{istio: ingressgateway}}\n  servers:\n{servers}")


def https_server(host: str, credential: str, mode: str = "SIMPLE", name: str = "https") -> str:
    return (f"  - port: {{number: 443, name: {name}, protocol: HTTPS}}\n    hosts: [\"{host}\"]\n"
            f"    tls: {{mode: {mode}, credentialName: {credential}}}\n")


def http_server(host: str, extra: str = "") -> str:
    return f"  - port: {{number: 80, name: http, protocol: HTTP}}\n    hosts: [\"{host}\"]\n{extra}"


def route(name: str, host: str, gateway_ref: str, destination: str, port: int, namespace: str = "demo") -> str:
    return f"""apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  hosts: ["{host}"]
  gateways: [{gateway_ref}]
  http:
  - route:
    - destination: {{host: {destination}, port: {{number: {port}}}}}
"""


def gateway_port(lab, port: int) -> int:
    return urlsplit(lab.gateway_url(port)).port


def curl(lab, url_host: str, path: str = "/", *, port: int = 80, args: tuple = ()) -> tuple[str, int, str, str]:
    """(status, curl exit code, body, stderr) of a real curl to the gateway, keeping the URL's host."""
    local = gateway_port(lab, port)
    scheme = "https" if port == 443 else "http"
    out = subprocess.run(["curl", "-sS", "--max-time", "5", "--resolve", f"{url_host}:{local}:127.0.0.1",
                          "-w", "\n%{http_code}", *args, f"{scheme}://{url_host}:{local}{path}"],
                         capture_output=True, text=True, timeout=20)
    body, _, status = out.stdout.rpartition("\n")
    return status, out.returncode, body, out.stderr


# On loopback Envoy's alert races its close: curl reports the alert (56) or just the dropped connection
# (16 broken pipe with HTTP/2, 55 with HTTP/1.1, 35 during the handshake). All mean "no TLS session".
TLS_FAILURES = (16, 35, 55, 56)


def tls_refused(result: tuple[str, int, str, str], alert: str) -> bool:
    status, code, _, err = result
    return status == "000" and code in TLS_FAILURES and (code != 56 or alert in err)


def eventually(check, timeout: float = 2.0):
    """A just-renamed SDS file reaches new handshakes within milliseconds; allow a moment for it."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


@pytest.fixture(scope="module")
def mesh(lab, tmp_path_factory):
    lab.apply(DEMO + "---\n" + APPS)
    lab.apply(sample("httpbin"), namespace="demo")
    lab.apply(WEB)
    lab.apply(sample("bookinfo"), namespace="apps")
    lab.apply(sample("helloworld"), namespace="apps")
    lab.wait_ready(timeout=60)
    lab.certs_dir = tmp_path_factory.mktemp("certs")
    return lab


@pytest.fixture
def cleanup(mesh):
    applied: list[str] = []
    yield applied
    for text in reversed(applied):
        mesh.delete(text, ignore_missing=True)


def apply(mesh, cleanup, *texts: str) -> None:
    for text in texts:
        mesh.apply(text)
        cleanup.append(text)


def openssl_self_signed(directory: Path, stem: str, host: str) -> tuple[Path, Path]:
    """Seed 002's certificate, made by the real openssl command the learner runs."""
    key, crt = directory / f"{stem}.key", directory / f"{stem}.crt"
    subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "365", "-newkey", "rsa:2048",
                    "-keyout", str(key), "-out", str(crt), "-subj", f"/CN={host}",
                    "-addext", f"subjectAltName = DNS:{host}"], check=True, capture_output=True)
    return crt, key


def secret_from_files(name: str, crt: Path, key: Path) -> dict:
    return certs.tls_secret(name, "istio-system", certs.load_pem_files(crt, key))


# ---- HTTP ----------------------------------------------------------------------------------------

def test_http_gateway_wildcard_host_routes_any_host(mesh, cleanup):
    apply(mesh, cleanup, gateway("any-gateway", http_server("*")),
          route("any", "*", "istio-system/any-gateway", "httpbin.demo.svc.cluster.local", 8000))
    status, code, body, _ = curl(mesh, "whatever.example", "/headers")
    assert (status, code) == ("200", 0)
    # The hop from the gateway into the mesh is mTLS with the gateway's own identity.
    assert "URI=spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account" in body
    assert curl(mesh, "other.example", "/status/418")[0] == "418"


def test_http_gateway_named_host_and_404_for_unknown_host(mesh, cleanup):
    apply(mesh, cleanup, gateway("web-gateway", http_server("local.test")),
          route("web", "local.test", "istio-system/web-gateway", "web.apps.svc.cluster.local", 80))
    status, code, body, _ = curl(mesh, "local.test")
    assert (status, code) == ("200", 0) and "Welcome to nginx!" in body
    assert curl(mesh, "unknown.test")[:2] == ("404", 0)


def test_no_virtual_service_gives_404(mesh, cleanup):
    apply(mesh, cleanup, gateway("lonely", http_server("*")))
    assert curl(mesh, "local.test")[:2] == ("404", 0)


def test_https_redirect(mesh, cleanup):
    apply(mesh, cleanup, gateway("redirect", http_server("local.test", "    tls: {httpsRedirect: true}\n")))
    local = gateway_port(mesh, 80)
    out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
                          "--resolve", f"local.test:{local}:127.0.0.1", f"http://local.test:{local}/x"],
                         capture_output=True, text=True)
    status, location = out.stdout.split(" ", 1)
    assert status == "301" and location.startswith("https://local.test")


def test_virtual_service_match_rewrite_and_fault(mesh, cleanup):
    apply(mesh, cleanup, gateway("any-gateway", http_server("*")), """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: rules, namespace: apps}
spec:
  hosts: ["*"]
  gateways: [istio-system/any-gateway]
  http:
  - match: [{uri: {prefix: /teapot}}]
    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: httpbin.demo.svc.cluster.local, port: {number: 8000}}}]
  - match: [{uri: {exact: /hello}, method: {exact: GET}}]
    route: [{destination: {host: helloworld, port: {number: 5000}}}]
  - match: [{headers: {x-version: {exact: v2}}, uri: {prefix: /api}}]
    rewrite: {uri: /hello}
    route: [{destination: {host: helloworld, subset: v2, port: {number: 5000}}}]
  - match: [{uri: {regex: "/sta.*"}}]
    route: [{destination: {host: httpbin.demo.svc.cluster.local, port: {number: 8000}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: helloworld, namespace: apps}
spec:
  host: helloworld
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
""")
    status, _, body, _ = curl(mesh, "x.test", "/teapot")
    assert (status, body) == ("418", "fault filter abort")
    assert curl(mesh, "x.test", "/hello")[2].startswith("Hello version: v")
    assert curl(mesh, "x.test", "/hello", args=("-X", "POST"))[0] == "404"  # no rule matches a POST
    for _ in range(3):  # the subset pins v2 however the endpoints are balanced
        assert curl(mesh, "x.test", "/api", args=("-H", "x-version: v2"))[2].startswith("Hello version: v2")
    assert curl(mesh, "x.test", "/status/201")[0] == "201"
    assert curl(mesh, "x.test", "/nothing")[0] == "404"


# ---- HTTPS SIMPLE, broken credential, second host --------------------------------------------------

@pytest.fixture
def local_test_tls(mesh):
    crt, key = openssl_self_signed(mesh.certs_dir, "local-test", "local.test")
    mesh.apply(secret_from_files("local-test-tls", crt, key))
    yield crt
    mesh.delete("Secret", "local-test-tls", namespace="istio-system", ignore_missing=True)


def test_https_simple_with_self_signed_cert(mesh, cleanup, local_test_tls):
    apply(mesh, cleanup, gateway("web-gateway", https_server("local.test", "local-test-tls")),
          route("web", "local.test", "istio-system/web-gateway", "web.apps.svc.cluster.local", 80))
    status, code, body, _ = curl(mesh, "local.test", port=443, args=("--cacert", str(local_test_tls)))
    assert (status, code) == ("200", 0) and "Welcome to nginx!" in body
    # Without --cacert, curl does not trust the self-signed certificate: its real verification error.
    _, code, _, err = curl(mesh, "local.test", port=443)
    assert code == 60 and "self-signed certificate" in err


def test_broken_credential_fails_handshake_logs_warning_and_heals(mesh, cleanup, local_test_tls):
    apply(mesh, cleanup, gateway("web-gateway", https_server("local.test", "wrong-secret")),
          route("web", "local.test", "istio-system/web-gateway", "web.apps.svc.cluster.local", 80))
    status, code, _, err = curl(mesh, "local.test", port=443, args=("--cacert", str(local_test_tls)))
    assert status == "000" and code in TLS_FAILURES, err
    # istiod names the missing credential; the gateway's Envoy only waits for the secret, as on a cluster.
    istiod = mesh.logs("istio-system", "istiod")
    assert "failed to fetch key and certificate for kubernetes://wrong-secret" in istiod
    assert "secret istio-system/wrong-secret not found" in istiod
    gateway_log = mesh.logs("istio-system", "istio-ingressgateway")
    assert "initial fetch timed out for type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret" \
        in gateway_log and "failed to fetch key and certificate" not in gateway_log
    working = ("--cacert", str(local_test_tls))
    # Seed 002's fix: point credentialName back at the existing secret.
    mesh.apply(gateway("web-gateway", https_server("local.test", "local-test-tls")))
    assert curl(mesh, "local.test", port=443, args=working)[:2] == ("200", 0)
    # Or create the missing secret: no restart, the gateway picks the credential up.
    mesh.apply(gateway("web-gateway", https_server("local.test", "wrong-secret")))
    assert curl(mesh, "local.test", port=443, args=working)[0] == "000"
    key = mesh.certs_dir / "local-test.key"
    apply(mesh, cleanup, secret_from_files("wrong-secret", local_test_tls, key))
    assert eventually(lambda: curl(mesh, "local.test", port=443, args=working)[:2] == ("200", 0))


def test_second_host_on_a_second_gateway(mesh, cleanup, local_test_tls):
    crt, key = openssl_self_signed(mesh.certs_dir, "bookinfo", "bookinfo.local.test")
    apply(mesh, cleanup, secret_from_files("bookinfo-tls", crt, key),
          gateway("web-gateway", https_server("local.test", "local-test-tls")),
          route("web", "local.test", "istio-system/web-gateway", "web.apps.svc.cluster.local", 80),
          gateway("bookinfo-gateway", https_server("bookinfo.local.test", "bookinfo-tls")),
          route("bookinfo", "bookinfo.local.test", "istio-system/bookinfo-gateway",
                "productpage.apps.svc.cluster.local", 9080))
    status, code, body, _ = curl(mesh, "bookinfo.local.test", "/productpage", port=443, args=("--cacert", str(crt)))
    assert (status, code) == ("200", 0)
    assert "<title>Simple Bookstore App</title>" in body and "The Comedy of Errors" in body
    assert curl(mesh, "local.test", port=443, args=("--cacert", str(local_test_tls)))[:2] == ("200", 0)


def test_two_hosts_one_gateway_each_with_its_credential(mesh, cleanup, local_test_tls):
    ca = certs.make_ca("example.com", org="example Inc.")
    httpbin_cert = certs.make_server_cert(ca, "httpbin.example.com")
    hello_cert = certs.make_server_cert(ca, "helloworld.example.com")
    ca_file = certs.write_pem(ca, mesh.certs_dir, "example.com")["cert"]
    servers = (https_server("httpbin.example.com", "httpbin-credential", name="https-httpbin")
               + https_server("helloworld.example.com", "helloworld-credential", name="https-helloworld"))
    apply(mesh, cleanup, certs.tls_secret("httpbin-credential", "istio-system", httpbin_cert),
          certs.tls_secret("helloworld-credential", "istio-system", hello_cert),
          gateway("mygateway", servers),
          route("httpbin", "httpbin.example.com", "istio-system/mygateway", "httpbin", 8000),
          route("helloworld", "helloworld.example.com", "istio-system/mygateway", "helloworld.apps.svc.cluster.local", 5000))
    status, _, body, _ = curl(mesh, "helloworld.example.com", "/hello", port=443, args=("--cacert", str(ca_file)))
    assert status == "200" and body.startswith("Hello version: v")
    assert curl(mesh, "httpbin.example.com", "/status/418", port=443, args=("--cacert", str(ca_file)))[0] == "418"


# ---- MUTUAL ----------------------------------------------------------------------------------------

def openssl_mutual_set(directory: Path) -> dict[str, Path]:
    """Seed 002 scenario 4, command for command: a CA, a server and a client certificate signed by it."""
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "365", "-keyout", "ca.key", "-out", "ca.crt",
        "-subj", "/CN=bookinfo-ca")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "bookinfo-server.key", "-out", "bookinfo-server.csr",
        "-subj", "/CN=bookinfo.local.test", "-addext", "subjectAltName = DNS:bookinfo.local.test")
    run("x509", "-req", "-in", "bookinfo-server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "bookinfo-server.crt", "-days", "365")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "bookinfo-client.key", "-out", "bookinfo-client.csr",
        "-subj", "/CN=bookinfo-client")
    run("x509", "-req", "-in", "bookinfo-client.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "bookinfo-client.crt", "-days", "365")
    return {name: directory / name for name in ("ca.crt", "bookinfo-server.crt", "bookinfo-server.key",
                                                "bookinfo-client.crt", "bookinfo-client.key")}


def test_mutual_tls_requires_a_client_cert_from_the_right_ca(mesh, cleanup):
    directory = mesh.certs_dir / "mutual"
    directory.mkdir()
    files = openssl_mutual_set(directory)
    intruder = certs.write_pem(certs.make_client_cert(certs.make_ca("other-ca"), "intruder"), directory, "intruder")
    # `kubectl create secret generic bookinfo-mtls-server-cacert --from-file=ca.crt=ca.crt`
    cacert = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
              "metadata": {"name": "bookinfo-mtls-server-cacert", "namespace": "istio-system"},
              "stringData": {"ca.crt": files["ca.crt"].read_text()}}
    apply(mesh, cleanup, secret_from_files("bookinfo-mtls-server", files["bookinfo-server.crt"],
                                           files["bookinfo-server.key"]), cacert,
          gateway("bookinfo-gateway", https_server("bookinfo.local.test", "bookinfo-mtls-server", mode="MUTUAL")),
          route("bookinfo", "bookinfo.local.test", "istio-system/bookinfo-gateway",
                "productpage.apps.svc.cluster.local", 9080))
    trust = ("--cacert", str(files["ca.crt"]))
    client = ("--cert", str(files["bookinfo-client.crt"]), "--key", str(files["bookinfo-client.key"]))
    status, code, body, _ = curl(mesh, "bookinfo.local.test", "/productpage", port=443, args=trust + client)
    assert (status, code) == ("200", 0) and "Simple Bookstore App" in body
    assert tls_refused(curl(mesh, "bookinfo.local.test", "/productpage", port=443, args=trust),
                       "tlsv13 alert certificate required")
    intruder_args = trust + ("--cert", str(intruder["cert"]), "--key", str(intruder["key"]))
    assert tls_refused(curl(mesh, "bookinfo.local.test", "/productpage", port=443, args=intruder_args),
                       "tlsv1 alert unknown ca")


def test_optional_mutual_min_tls_version_tcp_and_terminated_tls(mesh, cleanup):
    ca = certs.make_ca("modes-ca")
    files = {n: certs.write_pem(b, mesh.certs_dir, n) for n, b in {
        "modes-ca": ca, "modes-client": certs.make_client_cert(ca, "client")}.items()}
    server = certs.make_server_cert(ca, "opt.test", sans=["opt.test", "tls.test"])
    apply(mesh, cleanup, certs.tls_secret("modes", "istio-system", server, ca_pem=ca.cert_pem), gateway("modes", """\
  - port: {number: 443, name: https-opt, protocol: HTTPS}
    hosts: [opt.test]
    tls: {mode: OPTIONAL_MUTUAL, credentialName: modes, minProtocolVersion: TLSV1_3}
  - port: {number: 443, name: tls-term, protocol: TLS}
    hosts: [tls.test]
    tls: {mode: SIMPLE, credentialName: modes}
  - port: {number: 80, name: tcp, protocol: TCP}
    hosts: ["*"]
"""), """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: modes, namespace: demo}
spec:
  hosts: ["*"]
  gateways: [istio-system/modes]
  http:
  - route: [{destination: {host: httpbin, port: {number: 8000}}}]
  tcp:
  - route: [{destination: {host: httpbin, port: {number: 8000}}}]
""")
    trust = ("--cacert", str(files["modes-ca"]["cert"]))
    client = ("--cert", str(files["modes-client"]["cert"]), "--key", str(files["modes-client"]["key"]))
    assert curl(mesh, "opt.test", "/get", port=443, args=trust)[:2] == ("200", 0)            # no cert: fine
    assert curl(mesh, "opt.test", "/get", port=443, args=trust + client)[:2] == ("200", 0)   # a valid one too
    _, code, _, err = curl(mesh, "opt.test", "/get", port=443, args=trust + ("--tls-max", "1.2"))
    assert code == 35 and "protocol version" in err                                           # minProtocolVersion
    assert curl(mesh, "tls.test", "/get", port=443, args=trust)[:2] == ("200", 0)      # TLS ended, bytes to httpbin
    assert curl(mesh, "any.test", "/get")[:2] == ("200", 0)                             # opaque TCP on port 80

# ---- PASSTHROUGH -----------------------------------------------------------------------------------

def test_passthrough_client_sees_the_backends_certificate(mesh, cleanup):
    ca = certs.make_ca("example.com")
    ca_file = certs.write_pem(ca, mesh.certs_dir, "passthrough-ca")["cert"]
    backend = certs.make_server_cert(ca, "nginx.example.com", org="some organization")
    apply(mesh, cleanup, certs.tls_secret("nginx-server-certs", "apps", backend), SECURE_NGINX,
          gateway("mygateway", "  - port: {number: 443, name: https, protocol: HTTPS}\n"
                               "    hosts: [nginx.example.com]\n    tls: {mode: PASSTHROUGH}\n"), """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: nginx, namespace: apps}
spec:
  hosts: [nginx.example.com]
  gateways: [istio-system/mygateway]
  tls:
  - match: [{port: 443, sniHosts: [nginx.example.com]}]
    route: [{destination: {host: my-nginx, port: {number: 443}}}]
""")
    mesh.wait_ready("apps", timeout=20)
    status, code, body, err = curl(mesh, "nginx.example.com", port=443, args=("--cacert", str(ca_file), "-v"))
    assert (status, code) == ("200", 0) and "Welcome to nginx!" in body
    assert "subject: O=some organization; CN=nginx.example.com" in err   # the backend's own certificate
    assert "server: nginx" in err.lower() and "istio-envoy" not in err    # nobody terminated TLS on the way


def test_go_httpbin_teapot_matches_current_istio_docs(lab):
    """The secure-ingress task's /status/418 on go-httpbin (Istio ≥ 1.24) says `I'm a teapot!`."""
    lab.apply(NAMESPACE_TEAPOT)
    lab.apply(sample("httpbin"), namespace="teapot")
    lab.wait_ready("teapot", timeout=30)
    out = lab.exec("teapot", "httpbin", ["curl", "-sS", "-i", "http://httpbin.teapot:8000/status/418"])
    assert "418" in out.stdout.splitlines()[0] and "I'm a teapot!" in out.stdout
    assert "x-more-info: http://tools.ietf.org/html/rfc2324" in out.stdout.lower()


NAMESPACE_TEAPOT = "apiVersion: v1\nkind: Namespace\nmetadata: {name: teapot}\n"
