"""Golden tests: the real kubectl against the local mesh's Kubernetes API.

Each expectation is what kubectl prints against a cluster (shapes from kubectl's source and docs:
`<resource>/<name> created|configured|unchanged`, `Error from server (NotFound): ...`,
`command terminated with exit code N`, tables from the API server's column definitions).
Ages and generated pod name suffixes are normalised; columns are compared after kubectl's alignment.
"""
from __future__ import annotations

import pytest
from kubectl_support import check, kubectl, with_workloads

pytestmark = pytest.mark.envoy


@pytest.fixture(scope="module")
def mesh(lab):
    return with_workloads(lab)


def test_api_resources_lists_istio_kinds_with_short_names(mesh):
    run = kubectl(mesh, "api-resources", "--api-group=security.istio.io")
    check(run, 0, """
NAME  SHORTNAMES  APIVERSION  NAMESPACED  KIND
authorizationpolicies  ap  security.istio.io/v1  true  AuthorizationPolicy
peerauthentications  pa  security.istio.io/v1  true  PeerAuthentication
requestauthentications  ra  security.istio.io/v1  true  RequestAuthentication
""")
    names = kubectl(mesh, "api-resources", "-o", "name").stdout.split()
    for name in ("pods", "services", "deployments.apps", "destinationrules.networking.istio.io",
                 "gateways.networking.istio.io", "virtualservices.networking.istio.io"):
        assert name in names


def test_apply_create_unchanged_configure_and_server_side(mesh):
    check(kubectl(mesh, "apply", "-f", "pa-strict.yaml"), 0,
          "peerauthentication.security.istio.io/default created")
    check(kubectl(mesh, "apply", "-f", "pa-strict.yaml"), 0,
          "peerauthentication.security.istio.io/default unchanged")
    permissive = open(__import__("kubectl_support").DATA / "pa-strict.yaml").read().replace("STRICT", "PERMISSIVE")
    check(kubectl(mesh, "apply", "-f", "-", stdin=permissive), 0,
          "peerauthentication.security.istio.io/default configured")
    assert mesh.get("PeerAuthentication", "default", "foo")[0]["spec"]["mtls"]["mode"] == "PERMISSIVE"
    check(kubectl(mesh, "apply", "--server-side", "-f", "pa-strict.yaml"), 0,
          "peerauthentication.security.istio.io/default serverside-applied")
    check(kubectl(mesh, "get", "pa", "-A"), 0, """
NAMESPACE  NAME  MODE  AGE
foo  default  STRICT  AGE
""")
    check(kubectl(mesh, "delete", "-f", "pa-strict.yaml"), 0,
          'peerauthentication.security.istio.io "default" deleted from foo namespace')
    check(kubectl(mesh, "get", "pa", "-n", "foo"), 0, "", "No resources found in foo namespace.")


def test_get_pods_shows_ready_containers_and_status(mesh):
    check(kubectl(mesh, "get", "pods", "-n", "foo"), 0, """
NAME  READY  STATUS  RESTARTS  AGE
httpbin-HASH-ID  2/2  Running  0  AGE
sleep-HASH-ID  2/2  Running  0  AGE
""")
    check(kubectl(mesh, "get", "pods", "-n", "foo", "-l", "app=httpbin", "-o", "name"), 0, "pod/httpbin-HASH-ID")
    check(kubectl(mesh, "get", "deploy", "-n", "foo"), 0, """
NAME  READY  UP-TO-DATE  AVAILABLE  AGE
httpbin  1/1  1  1  AGE
sleep  1/1  1  1  AGE
""")
    check(kubectl(mesh, "get", "svc", "httpbin", "-n", "foo", "-o", "jsonpath={.spec.ports[0].port}"), 0, "8000")


def test_invalid_object_is_refused_with_the_field(mesh):
    check(kubectl(mesh, "apply", "-f", "pa-invalid-mode.yaml"), 1, "",
          'The PeerAuthentication "default" is invalid: spec.mtls.mode: Invalid value: '
          "'STRICTER' is not valid; expected one of UNSET, DISABLE, PERMISSIVE, STRICT")
    unknown = kubectl(mesh, "apply", "-f", "pa-unknown-field.yaml")
    assert unknown.exit == 1
    assert unknown.stderr.startswith("Error from server (BadRequest): error when creating")
    assert 'strict decoding error: unknown field "spec.mtls.mood"' in unknown.stderr
    assert mesh.get("PeerAuthentication", "default", "foo") == []


def test_create_namespace_secret_configmap_and_errors(mesh):
    check(kubectl(mesh, "create", "namespace", "bar"), 0, "namespace/bar created")
    check(kubectl(mesh, "create", "namespace", "bar"), 1, "",
          'Error from server (AlreadyExists): namespaces "bar" already exists')
    check(kubectl(mesh, "create", "namespace", "default"), 1, "",
          'Error from server (AlreadyExists): namespaces "default" already exists')
    check(kubectl(mesh, "create", "secret", "generic", "files", "-n", "bar", "--from-file=pa-strict.yaml"), 0,
          "secret/files created")
    check(kubectl(mesh, "create", "configmap", "conf", "-n", "bar", "--from-file=pa-strict.yaml"), 0,
          "configmap/conf created")
    check(kubectl(mesh, "get", "secret,configmap", "-n", "bar"), 0, """
NAME  TYPE  DATA  AGE
secret/files  Opaque  1  AGE

NAME  DATA  AGE
configmap/conf  1  AGE
""")
    stored = mesh.get("Secret", "files", "bar")[0]
    assert "pa-strict.yaml" in stored["data"]
    check(kubectl(mesh, "delete", "pod", "nope", "-n", "bar"), 1, "",
          'Error from server (NotFound): pods "nope" not found')
    check(kubectl(mesh, "delete", "pa", "nope", "-n", "bar", "--ignore-not-found"), 0)
    check(kubectl(mesh, "delete", "namespace", "bar"), 0, 'namespace "bar" deleted')


def test_label_and_annotate(mesh):
    check(kubectl(mesh, "label", "namespace", "foo", "team=blue"), 0, "namespace/foo labeled")
    check(kubectl(mesh, "label", "namespace", "foo", "team=red"), 1, "",
          "error: 'team' already has a value (blue), and --overwrite is false")
    check(kubectl(mesh, "label", "namespace", "foo", "team=red", "--overwrite"), 0, "namespace/foo labeled")
    assert mesh.get("Namespace", "foo")[0]["metadata"]["labels"]["team"] == "red"
    check(kubectl(mesh, "label", "namespace", "foo", "team-"), 0, "namespace/foo unlabeled")
    check(kubectl(mesh, "annotate", "svc", "httpbin", "-n", "foo", "owner=lab"), 0, "service/httpbin annotated")
    assert mesh.get("Service", "httpbin", "foo")[0]["metadata"]["annotations"]["owner"] == "lab"
    shown = kubectl(mesh, "get", "ns", "foo", "--show-labels")
    assert "istio-injection=enabled" in shown.stdout and "team=" not in shown.stdout


@pytest.mark.parametrize("command, code", [
    (["curl", "-s", "-o", "/dev/null", "http://httpbin.foo:8000/ip"], 0),
    (["curl", "-s", "http://no-such-service.foo:8000/"], 6),
    (["curl", "-s", "http://localhost:1/"], 7),
    (["sh", "-c", "exit 56"], 56),
])
def test_exec_propagates_the_exit_code(mesh, command, code):
    run = kubectl(mesh, "exec", "deploy/sleep", "-n", "foo", "--", *command)
    check(run, code, "", f"command terminated with exit code {code}" if code else "")


def test_exec_stdout_stderr_and_container(mesh):
    run = kubectl(mesh, "exec", "deploy/sleep", "-n", "foo", "--", "curl", "-s", "http://httpbin.foo:8000/headers")
    assert run.exit == 0 and '"X-Forwarded-Client-Cert"' in run.stdout, run
    check(kubectl(mesh, "exec", "deploy/sleep", "-n", "foo", "--", "sh", "-c", "echo out; echo err >&2"), 0,
          "out", "err")
    check(kubectl(mesh, "exec", "deploy/sleep", "-n", "foo", "-c", "nope", "--", "true"), 1, "",
          "error: container nope is not valid for pod sleep-HASH-ID out of: sleep, istio-init (init), istio-proxy (init)")


def test_exec_reads_mounted_secrets_and_reaches_the_sidecar_admin(mesh):
    """`kubectl exec` runs as `lab.exec` does: a path the YAML mounted is that container's file (here a
    Secret at /etc/demo), and `-c istio-proxy` has `pilot-agent request` for the Envoy admin API."""
    secret = kubectl(mesh, "create", "secret", "generic", "demo-data", "-n", "foo", "--from-literal=greeting=hello")
    assert secret.exit == 0, secret.stderr
    patch = ('{"spec":{"template":{"spec":{"volumes":[{"name":"demo","secret":{"secretName":"demo-data"}}],'
             '"containers":[{"name":"sleep","volumeMounts":[{"name":"demo","mountPath":"/etc/demo"}]}]}}}}')
    try:
        assert kubectl(mesh, "patch", "deployment", "sleep", "-n", "foo", "-p", patch).exit == 0
        assert kubectl(mesh, "rollout", "status", "deployment/sleep", "-n", "foo", "--timeout=60s").exit == 0
        check(kubectl(mesh, "exec", "deploy/sleep", "-n", "foo", "--", "cat", "/etc/demo/greeting"), 0, "hello")
        admin = kubectl(mesh, "exec", "deploy/sleep", "-n", "foo", "-c", "istio-proxy", "--",
                        "pilot-agent", "request", "GET", "server_info")
        assert admin.exit == 0 and '"state": "LIVE"' in admin.stdout, admin
    finally:
        kubectl(mesh, "patch", "deployment", "sleep", "-n", "foo", "--type=json",
                "-p", '[{"op":"remove","path":"/spec/template/spec/volumes"},'
                      '{"op":"remove","path":"/spec/template/spec/containers/0/volumeMounts"}]')
        kubectl(mesh, "delete", "secret", "demo-data", "-n", "foo")
        kubectl(mesh, "rollout", "status", "deployment/sleep", "-n", "foo", "--timeout=60s")


def test_logs_tail_and_sidecar(mesh):
    kubectl(mesh, "exec", "deploy/sleep", "-n", "foo", "--", "curl", "-s", "http://httpbin.foo:8000/status/418")
    app = kubectl(mesh, "logs", "deploy/httpbin", "-n", "foo", "--tail=1")
    assert app.exit == 0 and app.stderr == "" and len(app.stdout.splitlines()) == 1
    proxy = kubectl(mesh, "logs", "deploy/httpbin", "-n", "foo", "-c", "istio-proxy")
    assert proxy.exit == 0 and "envoy" in proxy.stdout.lower()


def test_rollout_restart_status_and_describe(mesh):
    check(kubectl(mesh, "rollout", "restart", "deployment/httpbin", "-n", "foo"), 0,
          "deployment.apps/httpbin restarted")
    status = kubectl(mesh, "rollout", "status", "deployment/httpbin", "-n", "foo", "--timeout=60s")
    assert status.exit == 0 and status.stdout.splitlines()[-1] == 'deployment "httpbin" successfully rolled out'
    pod = kubectl(mesh, "describe", "pod", "-n", "foo", "-l", "app=httpbin")
    assert pod.exit == 0 and "Status:           Running" in pod.stdout and "istio-proxy:" in pod.stdout
    for kind in ("deploy", "svc"):
        described = kubectl(mesh, "describe", kind, "httpbin", "-n", "foo")
        assert described.exit == 0 and described.stdout.startswith("Name:"), described


def test_one_store_both_ways(mesh):
    mesh.apply({"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
                "metadata": {"name": "httpbin", "namespace": "foo"},
                "spec": {"host": "httpbin.foo.svc.cluster.local", "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}}})
    check(kubectl(mesh, "get", "dr", "-n", "foo"), 0, """
NAME  HOST  AGE
httpbin  httpbin.foo.svc.cluster.local  AGE
""")
    check(kubectl(mesh, "delete", "dr", "httpbin", "-n", "foo"), 0,
          'destinationrule.networking.istio.io "httpbin" deleted from foo namespace')
    assert mesh.get("DestinationRule", "httpbin", "foo") == []


def test_concurrent_kubectl_and_notebook_writes_lose_nothing(mesh):
    import concurrent.futures

    def by_kubectl(i: int):
        return kubectl(mesh, "annotate", "namespace", "foo", f"k{i}=v{i}")

    def by_notebook(i: int):
        mesh.label_namespace("foo", {f"nb{i}": "x"})
        mesh.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm{i}", "namespace": "foo"},
                    "data": {"i": str(i)}})

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        runs = [pool.submit(by_kubectl, i) for i in range(6)] + [pool.submit(by_notebook, i) for i in range(6)]
        results = [r.result() for r in runs]
    assert all(r.exit == 0 for r in results[:6]), [r.stderr for r in results[:6]]
    meta = mesh.get("Namespace", "foo")[0]["metadata"]
    assert all(meta["annotations"].get(f"k{i}") == f"v{i}" for i in range(6)), meta
    assert all(meta["labels"].get(f"nb{i}") == "x" for i in range(6)), meta
    assert meta["labels"]["istio-injection"] == "enabled"
    names = kubectl(mesh, "get", "configmaps", "-n", "foo", "-o", "name").stdout.split()
    assert {f"configmap/cm{i}" for i in range(6)} <= set(names)


def test_get_watch_prints_changes(mesh):
    import subprocess
    import threading

    from kubectl_support import kubectl_binary
    env = {**__import__("os").environ, "KUBECONFIG": str(mesh.kubeconfig)}
    watcher = subprocess.Popen([kubectl_binary(), "get", "cm", "-n", "foo", "-w", "--request-timeout=8s"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    threading.Timer(2.0, lambda: kubectl(mesh, "create", "configmap", "watched", "-n", "foo")).start()
    try:
        out, _ = watcher.communicate(timeout=30)
    finally:
        watcher.kill()
    lines = [line.split()[0] for line in out.splitlines() if line.strip()]
    assert lines[0] == "NAME" and "watched" in lines[1:], out


def test_kubeconfig_command_and_cluster_info(mesh):
    import subprocess
    import sys
    printed = subprocess.run([sys.executable, "-m", "labkit.cli", "kubeconfig", "--state-dir", str(mesh.state_dir)],
                             capture_output=True, text=True)
    assert printed.returncode == 0 and printed.stdout.strip() == str(mesh.kubeconfig.resolve())
    config = kubectl(mesh, "config", "current-context")
    assert config.stdout.strip() == "labkit"


def test_exec_streams_stdin(mesh):
    run = kubectl(mesh, "exec", "-i", "deploy/sleep", "-n", "foo", "--", "sh", stdin="echo from-stdin\nexit 3\n")
    check(run, 3, "from-stdin", "command terminated with exit code 3")


def test_exec_interactive_terminal(mesh):
    """`kubectl exec -it ... -- sh` from a terminal: a real shell prompt, typed commands, its exit code."""
    import os
    import pty
    import select
    import subprocess
    import time

    from kubectl_support import kubectl_binary
    master, slave = pty.openpty()
    env = {**os.environ, "KUBECONFIG": str(mesh.kubeconfig), "TERM": "xterm"}
    proc = subprocess.Popen([kubectl_binary(), "exec", "-it", "deploy/sleep", "-n", "foo", "--", "sh"],
                            stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    output = b""
    try:
        os.write(master, b"echo tty-$((6*7))\n")
        os.write(master, b"exit 4\n")
        deadline = time.monotonic() + 20
        while proc.poll() is None and time.monotonic() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                try:
                    output += os.read(master, 4096)
                except OSError:
                    break
        assert proc.wait(timeout=10) == 4
    finally:
        proc.kill()
        os.close(master)
    assert b"tty-42" in output, output


def test_create_secret_tls_for_a_gateway(mesh, tmp_path):
    from labkit.certs import make_ca, make_server_cert, write_pem
    ca = make_ca("example.com CA", org="example Inc.")
    files = write_pem(make_server_cert(ca, "httpbin.example.com"), tmp_path, "httpbin")
    check(kubectl(mesh, "create", "-n", "istio-system", "secret", "tls", "httpbin-credential",
                  f"--cert={files['cert']}", f"--key={files['key']}"), 0, "secret/httpbin-credential created")
    stored = mesh.get("Secret", "httpbin-credential", "istio-system")[0]
    assert stored["type"] == "kubernetes.io/tls" and set(stored["data"]) == {"tls.crt", "tls.key"}
    check(kubectl(mesh, "get", "secret", "httpbin-credential", "-n", "istio-system"), 0, """
NAME  TYPE  DATA  AGE
httpbin-credential  kubernetes.io/tls  2  AGE
""")
    check(kubectl(mesh, "delete", "secret", "httpbin-credential", "-n", "istio-system"), 0,
          'secret "httpbin-credential" deleted from istio-system namespace')


def test_logs_follow_streams_new_lines(mesh):
    import subprocess
    import time

    from kubectl_support import kubectl_binary
    env = {**__import__("os").environ, "KUBECONFIG": str(mesh.kubeconfig)}
    follower = subprocess.Popen([kubectl_binary(), "logs", "-f", "deploy/httpbin", "-n", "foo", "--tail=0"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        time.sleep(1.0)
        kubectl(mesh, "exec", "deploy/sleep", "-n", "foo", "--", "curl", "-s", "http://httpbin.foo:8000/status/299")
        deadline = time.monotonic() + 15
        seen = ""
        import select
        while time.monotonic() < deadline and "/status/299" not in seen:
            if select.select([follower.stdout], [], [], 0.5)[0]:
                seen += follower.stdout.readline()
        assert "/status/299" in seen, seen
    finally:
        follower.kill()
        follower.wait(timeout=10)


def test_pilot_agent_in_the_proxy_container_and_logs_by_label(mesh):
    """Seed commands: `kubectl exec ... -c istio-proxy -- pilot-agent request GET clusters` and
    `kubectl logs -n istio-system -l istio=ingressgateway`."""
    clusters = kubectl(mesh, "exec", "deploy/sleep", "-n", "foo", "-c", "istio-proxy", "--",
                       "pilot-agent", "request", "GET", "clusters")
    assert clusters.exit == 0 and "outbound|8000||httpbin.foo.svc.cluster.local::" in clusters.stdout
    missing = kubectl(mesh, "exec", "deploy/sleep", "-n", "foo", "--", "pilot-agent", "request", "GET", "certs")
    assert missing.exit == 1 and "executable file not found" in missing.stderr, "only istio-proxy has the agent"
    gateway = kubectl(mesh, "logs", "-n", "istio-system", "-l", "istio=ingressgateway", "--tail=3")
    assert gateway.exit == 0 and len(gateway.stdout.splitlines()) == 3


def test_scale_a_deployment(mesh):
    check(kubectl(mesh, "scale", "deployment/httpbin", "-n", "foo", "--replicas=2"), 0,
          "deployment.apps/httpbin scaled")
    status = kubectl(mesh, "rollout", "status", "deployment/httpbin", "-n", "foo", "--timeout=60s")
    assert status.exit == 0 and status.stdout.splitlines()[-1] == 'deployment "httpbin" successfully rolled out'
    assert len(kubectl(mesh, "get", "pods", "-n", "foo", "-l", "app=httpbin", "-o", "name").stdout.split()) == 2
    check(kubectl(mesh, "scale", "deployment/httpbin", "-n", "foo", "--replicas=1"), 0,
          "deployment.apps/httpbin scaled")
    assert mesh.get("Deployment", "httpbin", "foo")[0]["spec"]["replicas"] == 1


def test_auth_whoami_and_can_i(mesh):
    check(kubectl(mesh, "auth", "can-i", "delete", "peerauthentication", "-n", "foo"), 0, "yes")
    check(kubectl(mesh, "auth", "whoami"), 0, """
ATTRIBUTE  VALUE
Username  labkit-admin
Groups  [system:masters system:authenticated]
""")


def test_an_unserved_api_answers_not_found_and_the_connection_stays_usable(mesh, tmp_path):
    """A request with a body to an API the local mesh does not serve: NotFound, and the body is read
    (left unread on the kept-alive connection, it would be taken for the next request)."""
    import base64
    import http.client
    import json
    import ssl

    import yaml
    config = yaml.safe_load(mesh.kubeconfig.read_text())
    user, cluster = config["users"][0]["user"], config["clusters"][0]["cluster"]
    for name, key in (("client.crt", "client-certificate-data"), ("client.key", "client-key-data")):
        (tmp_path / name).write_bytes(base64.b64decode(user[key]))
    context = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    context.load_cert_chain(tmp_path / "client.crt", tmp_path / "client.key")
    host, port = cluster["server"].removeprefix("https://").split(":")
    connection = http.client.HTTPSConnection(host, int(port), context=context)
    connection.request("POST", "/apis/batch/v1/namespaces/default/jobs", body=b"k8s\x00" + b"x" * 5000,
                       headers={"Content-Type": "application/vnd.kubernetes.protobuf"})
    first = connection.getresponse()
    assert (first.status, json.loads(first.read())["reason"]) == (404, "NotFound")
    connection.request("GET", "/api/v1/namespaces/default")
    second = connection.getresponse()
    assert second.status == 200 and json.loads(second.read())["metadata"]["name"] == "default"
    connection.close()
