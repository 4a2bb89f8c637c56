"""DestinationRule caCertificates / clientCertificate / privateKey at a sidecar (issue 13): the paths are
files inside the client's istio-proxy container, mounted with the pod annotations
`sidecar.istio.io/userVolume` and `sidecar.istio.io/userVolumeMount`, as on a cluster; a path that is not
mounted there (even if this machine has such a file) gets what Istio gives: istio-agent's error in the
istio-proxy log and a 503 from the client's sidecar."""
from __future__ import annotations

import base64
import json

import pytest

from labkit import certs

pytestmark = pytest.mark.envoy

MOUNT = "/etc/client-certs"
USER_VOLUME = json.dumps({"client-certs": {"secret": {"secretName": "client-files"}}})
USER_VOLUME_MOUNT = json.dumps({"client-certs": {"mountPath": MOUNT, "readOnly": True}})

SETUP = f"""
apiVersion: v1
kind: Namespace
metadata: {{name: drf-client, labels: {{istio-injection: enabled}}}}
---
apiVersion: v1
kind: Namespace
metadata: {{name: drf-server}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: curl, namespace: drf-client}}
spec:
  selector: {{matchLabels: {{app: curl}}}}
  template:
    metadata:
      labels: {{app: curl}}
      annotations:
        sidecar.istio.io/userVolume: '{USER_VOLUME}'
        sidecar.istio.io/userVolumeMount: '{USER_VOLUME_MOUNT}'
    spec:
      containers: [{{name: curl, image: curlimages/curl, command: ["/bin/sleep", "infinity"]}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: secure-httpbin, namespace: drf-server}}
spec:
  selector: {{matchLabels: {{app: secure-httpbin}}}}
  template:
    metadata: {{labels: {{app: secure-httpbin}}}}
    spec:
      containers:
      - name: httpbin
        image: docker.io/mccutchen/go-httpbin:v2.15.0
        args: [-https-cert-file, /etc/tls/tls.crt, -https-key-file, /etc/tls/tls.key]
        ports: [{{containerPort: 8080}}]
        volumeMounts: [{{name: tls, mountPath: /etc/tls}}]
      volumes: [{{name: tls, secret: {{secretName: server-tls}}}}]
---
apiVersion: v1
kind: Service
metadata: {{name: secure-httpbin, namespace: drf-server}}
spec:
  selector: {{app: secure-httpbin}}
  ports: [{{name: http, port: 8443, targetPort: 8080}}]
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: nginx-mtls, namespace: drf-server}}
data:
  nginx.conf: |
    events {{}}
    http {{
      server {{
        listen 8444 ssl;
        ssl_certificate /etc/tls/tls.crt;
        ssl_certificate_key /etc/tls/tls.key;
        ssl_client_certificate /etc/tls/ca.crt;
        ssl_verify_client on;
        location / {{ return 200 "hello client\\n"; }}
      }}
    }}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: mtls-nginx, namespace: drf-server}}
spec:
  selector: {{matchLabels: {{app: mtls-nginx}}}}
  template:
    metadata: {{labels: {{app: mtls-nginx}}}}
    spec:
      containers:
      - name: nginx
        image: nginx
        ports: [{{containerPort: 8444}}]
        volumeMounts: [{{name: conf, mountPath: /etc/nginx}}, {{name: tls, mountPath: /etc/tls}}]
      volumes: [{{name: conf, configMap: {{name: nginx-mtls}}}}, {{name: tls, secret: {{secretName: server-tls}}}}]
---
apiVersion: v1
kind: Service
metadata: {{name: mtls-nginx, namespace: drf-server}}
spec:
  selector: {{app: mtls-nginx}}
  ports: [{{name: http, port: 8444}}]
"""


def dr(name: str, host: str, tls: str) -> str:
    return (f"apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
            f"metadata: {{name: {name}, namespace: drf-client}}\nspec:\n  host: {host}\n"
            f"  trafficPolicy: {{tls: {tls}}}\n")


HTTPBIN_HOST = "secure-httpbin.drf-server.svc.cluster.local"
NGINX_HOST = "mtls-nginx.drf-server.svc.cluster.local"


@pytest.fixture(scope="module")
def mesh(lab, tmp_path_factory):
    ca = certs.make_ca("DR files CA")
    server = certs.make_server_cert(ca, HTTPBIN_HOST, sans=[HTTPBIN_HOST, NGINX_HOST])
    client = certs.make_client_cert(ca, "curl.drf-client")
    stranger_ca = certs.make_ca("Someone else's CA")
    stranger = certs.make_client_cert(stranger_ca, "curl.drf-client")
    docs = SETUP.split("---")
    lab.apply("---".join(docs[:2]))
    server_secret = certs.tls_secret("server-tls", "drf-server", server)
    server_secret["data"]["ca.crt"] = base64.b64encode(ca.cert_pem).decode()
    lab.apply(server_secret)
    files = certs.tls_secret("client-files", "drf-client", client)
    files["data"]["ca.crt"] = base64.b64encode(ca.cert_pem).decode()
    files["data"]["stranger.crt"] = base64.b64encode(stranger.cert_pem).decode()
    files["data"]["stranger.key"] = base64.b64encode(stranger.key_pem).decode()
    lab.apply(files)
    lab.apply("---".join(docs[2:]))
    lab.wait_ready("drf-client", timeout=60)
    lab.wait_ready("drf-server", timeout=60)
    # The same CA as a file on this machine: a sidecar on a cluster could never read it.
    lab.host_ca = certs.write_pem(ca, tmp_path_factory.mktemp("host-files"), "ca")["cert"]
    yield lab


def code(mesh, url: str) -> str:
    return mesh.exec("drf-client", "curl", ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url]).stdout


def body(mesh, url: str) -> str:
    return mesh.exec("drf-client", "curl", ["curl", "-s", url]).stdout


def proxy_log(mesh) -> str:
    return mesh.logs("drf-client", "curl", container="istio-proxy")


HTTPBIN = "http://secure-httpbin.drf-server:8443/get"
NGINX = "http://mtls-nginx.drf-server:8444/"


def test_the_injector_mounts_the_user_volume_into_istio_proxy(mesh):
    pod = next(p for p in mesh.mesh_access().model().pods if p.namespace == "drf-client")
    proxy = next(c for c in pod.containers if c.name == "istio-proxy")
    assert {"name": "client-certs", "mountPath": MOUNT, "readOnly": True} in proxy.spec["volumeMounts"]
    assert {"name": "client-certs", "secret": {"secretName": "client-files"}} in pod.volumes
    app = next(c for c in pod.containers if c.name == "curl")
    assert not (app.spec or {}).get("volumeMounts")          # istio-proxy's files only, not the app's


def test_simple_with_ca_certificates_inside_the_sidecar(mesh):
    mesh.apply(dr("httpbin", HTTPBIN_HOST, f"{{mode: SIMPLE, caCertificates: {MOUNT}/ca.crt}}"))
    assert code(mesh, HTTPBIN) == "200"


def test_without_ca_certificates_only_the_proxys_system_roots_are_trusted(mesh):
    """Istio's default for caCertificates is `system` (file-root:system): a private CA is not among them."""
    mesh.apply(dr("httpbin", HTTPBIN_HOST, "{mode: SIMPLE}"))
    assert code(mesh, HTTPBIN) == "503"
    mesh.apply(dr("httpbin", HTTPBIN_HOST, "{mode: SIMPLE, insecureSkipVerify: true}"))
    assert code(mesh, HTTPBIN) == "200"


def test_a_path_only_this_machine_has_fails_as_on_a_cluster(mesh):
    mesh.apply(dr("httpbin", HTTPBIN_HOST, f"{{mode: SIMPLE, caCertificates: {mesh.host_ca}}}"))
    assert code(mesh, HTTPBIN) == "503"
    log = proxy_log(mesh)
    assert (f"resource:file-root:{mesh.host_ca} failed to generate secret for proxy from file: "
            f"open {mesh.host_ca}: no such file or directory") in log
    assert "initial fetch timed out" in log
    mesh.apply(dr("httpbin", HTTPBIN_HOST, f"{{mode: SIMPLE, caCertificates: {MOUNT}/ca.crt}}"))
    assert code(mesh, HTTPBIN) == "200"                           # fixed by pointing inside the container


def test_mutual_with_client_certificate_files(mesh):
    files = (f"{{mode: MUTUAL, caCertificates: {MOUNT}/ca.crt, clientCertificate: {MOUNT}/tls.crt, "
             f"privateKey: {MOUNT}/tls.key}}")
    mesh.apply(dr("nginx", NGINX_HOST, files))
    assert body(mesh, NGINX) == "hello client\n"
    # A client certificate nginx does not trust: the handshake completes, nginx answers its 400.
    mesh.apply(dr("nginx", NGINX_HOST, files.replace("tls.crt", "stranger.crt").replace("tls.key", "stranger.key")))
    assert "The SSL certificate error" in body(mesh, NGINX)
    # A key that is not mounted: no TLS context at all, the sidecar answers 503.
    mesh.apply(dr("nginx", NGINX_HOST, files.replace(f"{MOUNT}/tls.key", "/etc/elsewhere/tls.key")))
    assert code(mesh, NGINX) == "503"
    assert "open /etc/elsewhere/tls.key: no such file or directory" in proxy_log(mesh)
