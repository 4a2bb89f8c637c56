"""Faults a learner's machine really produces: a proxy dies, a kernel restarts, a port is taken.

test_lifecycle.py covers a crashed app, kill -9 of the owner and a busy gateway port; this module
covers the proxies themselves and what survives around them.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from labkit.errors import LabkitError
from labkit.samples import sample
from mesh_scenarios import HTTPBIN_GATEWAY, HTTPBIN_GATEWAY_HOST, curl_code, deploy_migration, strict
from mesh_traffic import gateway_endpoint, plain_request, raw_exchange
from test_lifecycle import children_of_mesh, mesh_env, wait_for

pytestmark = pytest.mark.envoy
OK, RESET = ("200", 0), ("000", 56)


# ---- processes of their own ----

def test_a_restarted_kernel_reattaches_to_the_cli_owned_mesh(tmp_path):
    """`labkit up` in a terminal owns the mesh; a notebook kernel that dies (kill -9) and comes back
    must find the same mesh, processes untouched, and keep working with it."""
    env = mesh_env(tmp_path)
    owner = subprocess.Popen([sys.executable, "-m", "labkit.cli", "up"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    kernel_code = textwrap.dedent("""
        import json, sys, labkit
        from labkit.samples import sample
        lab = labkit.connect()
        if sys.argv[1] == "first":
            lab.apply("apiVersion: v1\\nkind: Namespace\\nmetadata: {name: demo, labels: {istio-injection: enabled}}")
            lab.apply(sample("httpbin"), namespace="demo")
            lab.wait_ready("demo", timeout=30)
        out = lab.exec("demo", "httpbin", ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                           "http://httpbin.demo:8000/get"])
        print(json.dumps({"owner": lab.owner, "code": out.stdout, "pods": len(lab.pods("demo"))}), flush=True)
        sys.stdin.read()
    """)
    try:
        assert "mesh up" in owner.stdout.readline()

        def kernel(phase):
            return subprocess.Popen([sys.executable, "-c", kernel_code, phase], env=env, stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, text=True)
        first = kernel("first")
        assert first.stdout.readline().strip() == '{"owner": false, "code": "200", "pods": 1}'
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=5)
        second = kernel("again")
        try:
            assert second.stdout.readline().strip() == '{"owner": false, "code": "200", "pods": 1}'
        finally:
            second.kill()
        status = subprocess.run([sys.executable, "-m", "labkit.cli", "status"], env=env, capture_output=True,
                                text=True, timeout=30).stdout
        assert "httpbin-" in status and " 0 " in status.split("httpbin-")[1].splitlines()[0]  # no restarts
    finally:
        owner.send_signal(signal.SIGTERM)
        owner.wait(timeout=15)


def test_an_envoy_dying_at_start_is_a_clear_error_and_nothing_stays(tmp_path):
    """An Envoy that aborts at start (here: a bootstrap it cannot load) must be reported at once, with
    Envoy's own words, not after a timeout about configuration."""
    env = mesh_env(tmp_path)
    fake = tmp_path / "envoy"
    fake.write_text("#!/bin/sh\necho '[2026-01-01 00:00:00.000][1][critical][main] [source/server/server.cc:131] "
                    "error initializing configuration: unknown field node_idd'\n"
                    "exit 1\n")
    fake.chmod(0o755)
    env["LABKIT_ENVOY"] = str(fake)
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "labkit.cli", "up"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert time.monotonic() - started < 8
    assert out.returncode != 0
    assert "exited at start: error initializing configuration: unknown field node_idd" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    assert not children_of_mesh(tmp_path / "state")
    assert not (tmp_path / "state" / "owner.json").exists()


# ---- faults inside a running mesh --------------------------------------------------------------

@pytest.fixture(scope="module")
def mesh(lab):
    deploy_migration(lab)
    lab.apply(strict("foo"))
    return lab


def runtime_of(lab, namespace: str, deployment: str):
    return next(r for r in lab.runtime.pods.values()
                if r.pod.namespace == namespace and r.pod.deployment == deployment)


def restarts(lab, namespace: str, deployment: str) -> int:
    pods = lab.pods(namespace)
    return int(pods[pods.pod.str.startswith(deployment + "-")].restarts.iloc[0])


@pytest.mark.parametrize("victims", [("foo", "httpbin", "envoy"), ("foo", "curl", "envoy"),
                                     ("foo", "httpbin", "envoy+app")], ids=["server-sidecar", "client-sidecar",
                                                                           "sidecar-and-app"])
def test_killed_proxy_comes_back_with_its_config(mesh, victims):
    namespace, deployment, what = victims
    runtime = runtime_of(mesh, namespace, deployment)
    before = restarts(mesh, namespace, deployment)
    killed = [runtime.envoy.process] + ([runtime.apps[deployment]] if "app" in what else [])
    old_pids = {p.pid for p in killed}
    for process in killed:
        os.kill(process.pid, signal.SIGKILL)
    assert wait_for(lambda: restarts(mesh, namespace, deployment) == before + len(killed), 10), mesh.pods()
    mesh.wait_ready(namespace, timeout=15)
    assert not old_pids & {p.pid for p in killed}
    # The new Envoy reads the files the old one ran: STRICT still resets plaintext, mTLS still works.
    assert curl_code(mesh, "legacy", "http://httpbin.foo:8000/ip") == RESET
    assert curl_code(mesh, "foo", "http://httpbin.foo:8000/ip") == OK
    assert curl_code(mesh, "bar", "http://httpbin.foo:8000/ip") == OK
    # And it follows later changes like any other proxy.
    mesh.delete("PeerAuthentication", "default", namespace="foo")
    try:
        assert curl_code(mesh, "legacy", "http://httpbin.foo:8000/ip") == OK
    finally:
        mesh.apply(strict("foo"))


def test_killed_gateway_comes_back_with_its_routes(mesh):
    mesh.apply(HTTPBIN_GATEWAY)
    edge = gateway_endpoint(mesh, 80, HTTPBIN_GATEWAY_HOST)

    def through_gateway() -> str:
        return raw_exchange(edge.ip, edge.port, plain_request(edge.host))
    assert through_gateway() == "HTTP/1.1 200 OK"
    runtime = runtime_of(mesh, "istio-system", "istio-ingressgateway")
    before = restarts(mesh, "istio-system", "istio-ingressgateway")
    os.kill(runtime.envoy.process.pid, signal.SIGKILL)
    assert wait_for(lambda: restarts(mesh, "istio-system", "istio-ingressgateway") == before + 1, 10)
    mesh.wait_ready("istio-system", timeout=15)
    # Gateway → STRICT foo over mTLS again, with the Gateway/VirtualService it had.
    assert wait_for(lambda: through_gateway() == "HTTP/1.1 200 OK", 5), through_gateway()


def test_a_taken_pod_port_is_a_clear_error(mesh):
    """Something else on the machine holds the address a new sidecar must listen on."""
    mesh.apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: taken, labels: {istio-injection: enabled}}")
    used = {int(r.pod.index) for r in mesh.runtime.pods.values()}
    index = next(i for i in range(2, 255) if i not in used)  # the index the next pod gets
    address = f"127.{mesh.settings.subnet}.{index}.1"
    with socket.socket() as squatter:
        squatter.bind((address, 8080))
        squatter.listen()
        with pytest.raises(LabkitError, match=f"cannot bind '{address}:8080': Address already in use"):
            mesh.apply(sample("httpbin"), namespace="taken")
        # Not ready while its inbound listener is missing (Envoy itself stays LIVE).
        with pytest.raises(LabkitError, match="not ready"):
            mesh.wait_ready("taken", timeout=3)
        assert mesh.pods("taken").ready.tolist() == ["1/2"]
    try:
        # The port is free again: the runtime re-sends the dropped listener, as a kubelet would retry.
        mesh.wait_ready("taken", timeout=10)
        assert curl_code(mesh, "bar", "http://httpbin.taken:8000/ip") == OK
    finally:
        mesh.delete("Namespace", "taken")
    # The rest of the mesh kept its configuration throughout.
    assert curl_code(mesh, "legacy", "http://httpbin.foo:8000/ip") == RESET
    assert curl_code(mesh, "bar", "http://httpbin.foo:8000/ip") == OK


