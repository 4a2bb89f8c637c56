"""Pods see what the YAML gives them, as the kubelet builds it (issue 13): Secret and ConfigMap volumes
at their mountPaths (items, defaultMode, subPath), env with valueFrom, args; nothing else."""
from __future__ import annotations

import json
import stat

import pytest

from labkit import certs

pytestmark = pytest.mark.envoy

NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata: {name: vol}\n"

CONFIG = """
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: vol}
data:
  greeting: hello
  app.conf: "mode=test\\n"
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: vol}
stringData: {user: admin, password: s3cret}
"""

CLIENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: client, namespace: vol}
spec:
  selector: {matchLabels: {app: client}}
  template:
    metadata: {labels: {app: client}}
    spec:
      containers:
      - name: curl
        image: docker.io/curlimages/curl:8.16.0
        command: ["/bin/sleep", "infinity"]
        env:
        - {name: GREETING, valueFrom: {configMapKeyRef: {name: settings, key: greeting}}}
        - {name: USER_NAME, valueFrom: {secretKeyRef: {name: creds, key: user}}}
        - {name: MESSAGE, value: "$(GREETING) world"}
        volumeMounts:
        - {name: settings, mountPath: /etc/settings}
        - {name: creds, mountPath: /etc/creds, readOnly: true}
        - {name: one-file, mountPath: /etc/app/app.conf, subPath: app.conf}
        - {name: tls, mountPath: /etc/server-ca}
      volumes:
      - {name: settings, configMap: {name: settings}}
      - name: creds
        secret:
          secretName: creds
          defaultMode: 0400
          items: [{key: password, path: pw/password.txt}]
      - {name: one-file, configMap: {name: settings}}
      - name: tls
        secret: {secretName: secure-httpbin-tls, items: [{key: ca.crt, path: ca.crt}]}
"""

SERVER = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: secure-httpbin, namespace: vol}
spec:
  selector: {matchLabels: {app: secure-httpbin}}
  template:
    metadata: {labels: {app: secure-httpbin}}
    spec:
      containers:
      - name: httpbin
        image: docker.io/mccutchen/go-httpbin:v2.15.0
        args: ["-https-cert-file", "/etc/tls/tls.crt", "-https-key-file", "/etc/tls/tls.key"]
        ports: [{containerPort: 8080}]
        volumeMounts: [{name: tls, mountPath: /etc/tls, readOnly: true}]
      volumes:
      - {name: tls, secret: {secretName: secure-httpbin-tls}}
---
apiVersion: v1
kind: Service
metadata: {name: secure-httpbin, namespace: vol}
spec:
  selector: {app: secure-httpbin}
  ports: [{name: https, port: 8443, targetPort: 8080}]
"""


@pytest.fixture(scope="module")
def mesh(lab):
    ca = certs.make_ca("Volumes CA")
    server = certs.make_server_cert(ca, "secure-httpbin.vol.svc.cluster.local",
                                    sans=["secure-httpbin.vol", "secure-httpbin.vol.svc.cluster.local"])
    secret = certs.tls_secret("secure-httpbin-tls", "vol", server)
    secret.setdefault("data", {})["ca.crt"] = __import__("base64").b64encode(ca.cert_pem).decode()
    lab.apply(NAMESPACE)
    lab.apply(CONFIG)
    lab.apply(secret)
    lab.apply(SERVER)
    lab.apply(CLIENT)
    lab.wait_ready("vol", timeout=40)
    return lab


def _root(mesh, deployment: str, container: str):
    return mesh.pod_dir("vol", deployment) / "rootfs" / container


def test_volumes_appear_at_their_mount_paths(mesh):
    root = _root(mesh, "client", "curl")
    assert (root / "etc/settings/greeting").read_text() == "hello"
    assert (root / "etc/app/app.conf").read_text() == "mode=test\n"          # subPath: one file
    assert not (root / "etc/app/greeting").exists()
    password = root / "etc/creds/pw/password.txt"                            # items[].path
    assert password.read_text() == "s3cret" and not (root / "etc/creds/user").exists()
    assert stat.S_IMODE(password.stat().st_mode) == 0o400                    # defaultMode
    assert stat.S_IMODE((root / "etc/settings/greeting").stat().st_mode) == 0o644


def test_curl_reads_its_ca_from_the_mounted_secret_and_go_httpbin_serves_https_by_flags(mesh):
    out = mesh.exec("vol", "client", ["curl", "-sS", "--cacert", "/etc/server-ca/ca.crt", "-o", "/dev/null",
                                      "-w", "%{http_code}", "https://secure-httpbin.vol:8443/get"])
    assert (out.stdout, out.exit_code) == ("200", 0), out.stderr
    plain = mesh.exec("vol", "client", ["curl", "-sS", "-i", "http://secure-httpbin.vol:8443/get"])
    assert plain.stdout.startswith("HTTP/1.0 400 Bad Request")
    assert "Client sent an HTTP request to an HTTPS server." in plain.stdout
    # A path the container does not have stays a path that does not exist there.
    missing = mesh.exec("vol", "client", ["curl", "-sS", "--cacert", "/etc/nowhere/ca.crt",
                                          "https://secure-httpbin.vol:8443/get"])
    assert missing.exit_code == 77


def test_env_value_from_and_expansion(mesh):
    pod = mesh.pod_dir("vol", "client").name.split("_", 1)[1]
    env = mesh.runtime.runtime_for("vol", pod).apps["curl"].env
    assert (env["GREETING"], env["USER_NAME"], env["MESSAGE"]) == ("hello", "admin", "hello world")
    assert json.loads(env["LABKIT_COMMAND"]) == ["/bin/sleep", "infinity"] and env["LABKIT_ARGS"] == "null"
    assert "password" not in " ".join(env)   # only what the YAML asked for
    from labkit.model.volumes import expand
    assert expand("$(A) and $$(A) and $(B)", {"A": "x"}) == "x and $(A) and $(B)"


def test_missing_secret_keeps_the_container_from_starting(mesh):
    mesh.apply("""
apiVersion: apps/v1
kind: Deployment
metadata: {name: waiting, namespace: vol}
spec:
  selector: {matchLabels: {app: waiting}}
  template:
    metadata: {labels: {app: waiting}}
    spec:
      containers:
      - {name: curl, image: curlimages/curl, volumeMounts: [{name: s, mountPath: /etc/s}]}
      volumes: [{name: s, secret: {secretName: not-there}}]
""")
    try:
        pods = mesh.pods()
        row = pods[(pods.namespace == "vol") & pods.pod.str.startswith("waiting-")].iloc[0]
        assert row.status == "ContainerCreating" and row.ready == "0/1"
        assert 'FailedMount  MountVolume.SetUp failed for volume "s" : secret "not-there" not found' in \
            mesh.logs("vol", row.pod)
        mesh.apply("apiVersion: v1\nkind: Secret\nmetadata: {name: not-there, namespace: vol}\n"
                   "stringData: {a: b}\n")
        mesh.wait_ready("vol", timeout=20)
        assert (_root(mesh, "waiting", "curl") / "etc/s/a").read_text() == "b"
    finally:
        mesh.delete("Deployment", "waiting", namespace="vol", ignore_missing=True)


WRONG_PORT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: hello, namespace: vol}
spec:
  selector: {matchLabels: {app: hello}}
  template:
    metadata: {labels: {app: hello}}
    spec:
      containers:
      - {name: hello, image: registry.istio.io/release/examples-helloworld-v1:1.0, ports: [{containerPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: hello, namespace: vol}
spec:
  selector: {app: hello}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: hello-right, namespace: vol}
spec:
  selector: {app: hello}
  ports: [{name: http, port: 80, targetPort: 5000}]
"""


def test_programs_listen_where_their_image_says_not_where_containerport_says(mesh):
    """helloworld's image runs gunicorn on 5000: a containerPort of 8080 documents nothing it serves."""
    mesh.apply(WRONG_PORT)
    try:
        mesh.wait_ready("vol", timeout=30)          # Running, as on Kubernetes without a readiness probe
        wrong = mesh.exec("vol", "client", ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                            "http://hello.vol/hello"])
        right = mesh.exec("vol", "client", ["curl", "-s", "http://hello-right.vol/hello"])
        assert wrong.exit_code == 7 and right.stdout.startswith("Hello version: v1")
    finally:
        mesh.delete(WRONG_PORT, ignore_missing=True)
