"""DestinationRule SIMPLE/MUTUAL origination with credentialName at a sidecar, as Istio does it (issue 13):
only with a workloadSelector (otherwise no TLS at all), the Secret in the client's namespace, and the
client's key only when its service account may list secrets there."""
from __future__ import annotations

import base64

import pytest

from labkit import certs

pytestmark = pytest.mark.envoy

SETUP = """
apiVersion: v1
kind: Namespace
metadata: {name: drc-client, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: drc-server}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: curl, namespace: drc-client}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: curl, namespace: drc-client}
spec:
  selector: {matchLabels: {app: curl}}
  template:
    metadata: {labels: {app: curl}}
    spec:
      serviceAccountName: curl
      containers: [{name: curl, image: curlimages/curl, command: ["/bin/sleep", "infinity"]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: secure-httpbin, namespace: drc-server}
spec:
  selector: {matchLabels: {app: secure-httpbin}}
  template:
    metadata: {labels: {app: secure-httpbin}}
    spec:
      containers:
      - name: httpbin
        image: docker.io/mccutchen/go-httpbin:v2.15.0
        args: [-https-cert-file, /etc/tls/tls.crt, -https-key-file, /etc/tls/tls.key]
        ports: [{containerPort: 8080}]
        volumeMounts: [{name: tls, mountPath: /etc/tls}]
      volumes: [{name: tls, secret: {secretName: server-tls}}]
---
apiVersion: v1
kind: Service
metadata: {name: secure-httpbin, namespace: drc-server}
spec:
  selector: {app: secure-httpbin}
  ports: [{name: http, port: 8443, targetPort: 8080}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: nginx-mtls, namespace: drc-server}
data:
  nginx.conf: |
    events {}
    http {
      server {
        listen 8444 ssl;
        ssl_certificate /etc/tls/tls.crt;
        ssl_certificate_key /etc/tls/tls.key;
        ssl_client_certificate /etc/tls/ca.crt;
        ssl_verify_client on;
        location / { return 200 "hello client\\n"; }
      }
    }
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: mtls-nginx, namespace: drc-server}
spec:
  selector: {matchLabels: {app: mtls-nginx}}
  template:
    metadata: {labels: {app: mtls-nginx}}
    spec:
      containers:
      - name: nginx
        image: nginx
        ports: [{containerPort: 8444}]
        volumeMounts: [{name: conf, mountPath: /etc/nginx}, {name: tls, mountPath: /etc/tls}]
      volumes: [{name: conf, configMap: {name: nginx-mtls}}, {name: tls, secret: {secretName: server-tls}}]
---
apiVersion: v1
kind: Service
metadata: {name: mtls-nginx, namespace: drc-server}
spec:
  selector: {app: mtls-nginx}
  ports: [{name: http, port: 8444}]
"""


def dr(name: str, host: str, mode: str, credential: str, selector: bool) -> str:
    select = "  workloadSelector: {matchLabels: {app: curl}}\n" if selector else ""
    return (f"apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
            f"metadata: {{name: {name}, namespace: drc-client}}\nspec:\n  host: {host}\n{select}"
            f"  trafficPolicy: {{tls: {{mode: {mode}, credentialName: {credential}}}}}\n")


@pytest.fixture(scope="module")
def mesh(lab):
    ca = certs.make_ca("DR credential CA")
    server = certs.make_server_cert(ca, "secure-httpbin.drc-server.svc.cluster.local",
                                    sans=["secure-httpbin.drc-server.svc.cluster.local",
                                          "mtls-nginx.drc-server.svc.cluster.local"])
    client = certs.make_client_cert(ca, "curl.drc-client")
    lab.apply(SETUP.split("---")[0])
    lab.apply(SETUP.split("---")[1])
    server_secret = certs.tls_secret("server-tls", "drc-server", server)
    server_secret["data"]["ca.crt"] = base64.b64encode(ca.cert_pem).decode()
    lab.apply(server_secret)
    lab.apply("---".join(SETUP.split("---")[2:]))
    client_secret = certs.tls_secret("client-credential", "drc-client", client)
    client_secret["data"]["ca.crt"] = base64.b64encode(ca.cert_pem).decode()
    lab.apply(client_secret)
    lab.wait_ready("drc-client", timeout=40)
    lab.wait_ready("drc-server", timeout=40)
    return lab


def code(mesh, url: str) -> str:
    return mesh.exec("drc-client", "curl", ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url]).stdout


HTTPBIN = "http://secure-httpbin.drc-server:8443/get"
NGINX = "http://mtls-nginx.drc-server:8444/"


def test_without_workload_selector_istio_sends_no_tls(mesh):
    mesh.apply(dr("httpbin", "secure-httpbin.drc-server.svc.cluster.local", "SIMPLE", "client-credential", False))
    # Plaintext reaches the Go TLS server, which answers 400 ("Client sent an HTTP request to an HTTPS server.")
    assert code(mesh, HTTPBIN) == "400"


def test_with_workload_selector_the_ca_comes_from_the_secret(mesh):
    mesh.apply(dr("httpbin", "secure-httpbin.drc-server.svc.cluster.local", "SIMPLE", "client-credential", True))
    assert code(mesh, HTTPBIN) == "200"
    # The Secret must be in the client's namespace: naming one that is not there fails verification.
    mesh.apply(dr("httpbin", "secure-httpbin.drc-server.svc.cluster.local", "SIMPLE", "server-tls", True))
    assert code(mesh, HTTPBIN) == "503"
    assert "failed to fetch ca certificate for kubernetes://server-tls-cacert" in mesh.logs("istio-system", "istiod")


RBAC = """
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: read-secrets, namespace: drc-client}
rules: [{apiGroups: [""], resources: [secrets], verbs: [get, list, watch]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: curl-reads-secrets, namespace: drc-client}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: read-secrets}
subjects: [{kind: ServiceAccount, name: curl, namespace: drc-client}]
"""


def test_mutual_needs_the_service_account_to_read_secrets(mesh):
    mesh.apply(dr("nginx", "mtls-nginx.drc-server.svc.cluster.local", "MUTUAL", "client-credential", True))
    out = mesh.exec("drc-client", "curl", ["curl", "-s", NGINX]).stdout
    assert "No required SSL certificate was sent" in out       # istiod served no key: no client certificate
    assert "is not authorized to read secrets" in mesh.logs("istio-system", "istiod")
    mesh.apply(RBAC)
    out = mesh.exec("drc-client", "curl", ["curl", "-s", NGINX]).stdout
    assert out == "hello client\n"


def test_rejected_istio_config_is_in_istiods_log(mesh):
    """istiod is Istio's validating webhook: what it refuses, it logs (scope validationServer)."""
    from labkit.errors import LabkitError
    with pytest.raises(LabkitError, match="gateway must have at least one server"):
        mesh.apply("apiVersion: networking.istio.io/v1\nkind: Gateway\n"
                   "metadata: {name: empty, namespace: istio-system}\nspec: {selector: {istio: ingressgateway}}\n")
    assert "validationServer\tconfiguration is invalid: gateway must have at least one server" in \
        mesh.logs("istio-system", "istiod")


def test_dr_mode_check_explains_the_missing_workload_selector(mesh):
    from labkit import checks
    from check_helpers import hints
    mesh.apply(dr("httpbin", "secure-httpbin.drc-server.svc.cluster.local", "SIMPLE", "client-credential", False))
    text = hints(checks.dr_mode, mesh, "drc-client", "secure-httpbin.drc-server:8443", "SIMPLE")
    assert "no workloadSelector" in text and "plaintext" in text
    mesh.apply(dr("httpbin", "secure-httpbin.drc-server.svc.cluster.local", "SIMPLE", "client-credential", True))
    from check_helpers import passes
    passes(checks.dr_mode, mesh, "drc-client", "secure-httpbin.drc-server:8443", "SIMPLE")
