"""Process lifecycle: the CLI owner, attaching from another process, and nothing outliving its owner."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from conftest import free_port

pytestmark = pytest.mark.envoy

APP = """
apiVersion: v1
kind: Namespace
metadata: {name: demo, labels: {istio-injection: enabled}}
"""


def mesh_env(tmp_path) -> dict:
    """A mesh of its own: state here, free gateway ports; the subnet is claimed host-wide at `up`."""
    env = {k: v for k, v in os.environ.items() if k != "LABKIT_SUBNET"}
    env.update({"LABKIT_STATE_DIR": str(tmp_path / "state"),
                "LABKIT_GATEWAY_HTTP_PORT": str(free_port()), "LABKIT_GATEWAY_HTTPS_PORT": str(free_port())})
    return env


def cli(env, *args, timeout=60):
    return subprocess.run([sys.executable, "-m", "labkit.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def children_of_mesh(state_dir) -> list[psutil.Process]:
    """Envoy and app processes whose command line points into this mesh's state directory."""
    found = []
    for proc in psutil.process_iter(["cmdline", "environ"]):
        try:
            cmdline = " ".join(proc.info["cmdline"] or [])
            environ = proc.info["environ"] or {}
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if str(state_dir) in cmdline or str(state_dir) in environ.get("LABKIT_RESOLVE_FILE", ""):
            found.append(proc)
    return found


def wait_for(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_cli_up_apply_status_down(tmp_path):
    env = mesh_env(tmp_path)
    owner = subprocess.Popen([sys.executable, "-m", "labkit.cli", "up"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    try:
        assert "mesh up" in owner.stdout.readline()
        (tmp_path / "app.yaml").write_text(APP)
        applied = cli(env, "apply", "-f", str(tmp_path / "app.yaml"))
        assert applied.returncode == 0 and "namespace/demo created" in applied.stdout
        sample = subprocess.run([sys.executable, "-c", "from labkit.samples import sample; print(sample('httpbin'))"],
                                capture_output=True, text=True, check=True).stdout
        (tmp_path / "httpbin.yaml").write_text(sample)
        assert cli(env, "apply", "-n", "demo", "-f", str(tmp_path / "httpbin.yaml")).returncode == 0
        assert wait_for(lambda: "2/2" in cli(env, "status").stdout)
        status = cli(env, "status").stdout
        assert "running (pid" in status and "httpbin-" in status
        assert children_of_mesh(tmp_path / "state")
        down = cli(env, "down")
        assert down.returncode == 0, down.stderr
        owner.wait(timeout=15)
        assert wait_for(lambda: not children_of_mesh(tmp_path / "state"), 5)
        assert not (tmp_path / "state").exists()
    finally:
        owner.kill()


def test_no_process_survives_kill_9_of_the_owner(tmp_path):
    env = mesh_env(tmp_path)
    script = textwrap.dedent("""
        import labkit, sys
        from labkit.samples import sample
        lab = labkit.connect()
        lab.apply("apiVersion: v1\\nkind: Namespace\\nmetadata: {name: demo, labels: {istio-injection: enabled}}")
        lab.apply(sample("httpbin"), namespace="demo")
        lab.wait_ready(timeout=30)
        print("ready", flush=True)
        sys.stdin.read()
    """)
    owner = subprocess.Popen([sys.executable, "-c", script], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    try:
        assert owner.stdout.readline().strip() == "ready"
        assert len(children_of_mesh(tmp_path / "state")) >= 3  # gateway Envoy, httpbin app, its sidecar
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(timeout=5)
        assert wait_for(lambda: not children_of_mesh(tmp_path / "state"), 5), children_of_mesh(tmp_path / "state")
        # A new owner brings the same resources back from the state directory.
        again = subprocess.run([sys.executable, "-c", "import labkit; lab = labkit.connect(); lab.wait_ready(timeout=30);"
                                " print(lab.pods().to_string()); lab.down()"], env=env, capture_output=True, text=True,
                               timeout=60)
        assert again.returncode == 0, again.stderr
        assert "httpbin-" in again.stdout and "2/2" in again.stdout
    finally:
        owner.kill()


def test_crashed_app_is_restarted_like_a_pod(lab):
    lab.apply(APP)
    from labkit.samples import sample
    lab.apply(sample("httpbin"), namespace="demo")
    lab.wait_ready("demo", timeout=30)
    runtime = next(r for r in lab.runtime.pods.values() if r.pod.namespace == "demo")
    os.kill(runtime.apps["httpbin"].pid, signal.SIGKILL)
    assert wait_for(lambda: lab.pods("demo").restarts.iloc[0] == 1, 10)
    lab.wait_ready("demo", timeout=30)
    assert lab.exec("demo", "httpbin", ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                                        "http://httpbin.demo:8000/get"]).stdout == "200"


def test_missing_envoy_is_a_clear_error_and_nothing_starts(tmp_path):
    env = mesh_env(tmp_path)
    env["LABKIT_ENVOY"] = str(tmp_path / "nope" / "envoy")
    out = subprocess.run([sys.executable, "-c", "import labkit; labkit.connect()"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode != 0
    assert "LabkitError" in out.stderr and "LABKIT_ENVOY" in out.stderr
    assert not children_of_mesh(tmp_path / "state")
    assert not (tmp_path / "state" / "owner.json").exists()


def test_gateway_port_in_use_is_a_clear_error(tmp_path):
    import socket
    import labkit
    from labkit.errors import LabkitError
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(LabkitError, match=f"gateway port 127.0.0.1:{port} is already in use"):
            labkit.connect(state_dir=tmp_path / "s", gateway_http_port=port, gateway_https_port=free_port())
    assert not children_of_mesh(tmp_path / "s")
