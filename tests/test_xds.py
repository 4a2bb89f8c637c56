"""The control plane over xDS gRPC (ADS) against real Envoys: ACK, NACK, reconnect, SDS rotation,
proxy-status, proxy authentication."""
from __future__ import annotations

import base64
import os
import signal
import time

import pytest

from labkit.errors import LabkitError
from labkit.runtime import mesh_runtime
from labkit.tools.proxy_status import render_table
from labkit.xds.resources import LISTENER
from mesh_scenarios import curl_code, strict

pytestmark = pytest.mark.envoy
OK = ("200", 0)
RESET = ("000", 56)
NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata: {name: foo, labels: {istio-injection: enabled}}\n"


@pytest.fixture(scope="module")
def mesh(lab):
    from labkit.samples import sample
    lab.apply(NAMESPACE)
    lab.apply(sample("httpbin"), namespace="foo")
    lab.apply(sample("curl"), namespace="foo")
    lab.apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: legacy}\n")
    lab.apply(sample("curl"), namespace="legacy")
    lab.wait_ready(timeout=60)
    return lab


def envoy_of(lab, namespace: str, app: str):
    return next(r.envoy for r in lab.runtime.pods.values()
                if r.pod.namespace == namespace and r.pod.labels.get("app") == app)


def statuses(lab, verbose: bool = True) -> dict[str, dict]:
    frame = lab.proxy_status(verbose=verbose)
    return {row["NAME"]: row for row in frame.to_dict("records")}


def test_apply_returns_once_every_proxy_acked_and_proxy_status_shows_synced(mesh):
    httpbin = envoy_of(mesh, "foo", "httpbin")
    before = httpbin.versions["LDS"]
    mesh.apply(strict("foo"))
    try:
        # No waiting here: apply returned only after the ACK, so Envoy already runs the new version.
        assert httpbin.versions["LDS"] != before
        assert httpbin.stats("listener_manager.lds.version_text")["listener_manager.lds.version_text"] \
            == httpbin.versions["LDS"]
        assert curl_code(mesh, "legacy", "http://httpbin.foo:8000/ip") == RESET
        rows = statuses(mesh)
        assert len(rows) == 3  # the two sidecars in foo and the gateway (legacy has no sidecar)
        for name, row in rows.items():
            assert row["CDS"].startswith("SYNCED (") and row["LDS"].startswith("SYNCED ("), (name, row)
            # Outbound clusters are EDS, as istiod's: every proxy subscribes to endpoints too.
            assert row["EDS"].startswith("SYNCED (") and row["ECDS"] == "IGNORED", (name, row)
        assert rows[f"{httpbin.node_id.split('~')[2]}"]["RDS"].startswith("SYNCED (")
        brief = statuses(mesh, verbose=False)
        assert {row["SUBSCRIBED TYPES"] for row in brief.values()} <= {"3 (CDS,LDS,EDS)", "4 (CDS,LDS,EDS,RDS)"}
        assert {row["ISTIOD"] for row in brief.values()} == {"istiod"}
        assert {row["CLUSTER"] for row in brief.values()} == {"Kubernetes"}
        text = render_table(mesh.proxy_status())
        assert text.splitlines()[0].split() == ["NAME", "CLUSTER", "ISTIOD", "VERSION", "SUBSCRIBED", "TYPES"]
    finally:
        mesh.delete(strict("foo"))


def test_a_rejected_config_raises_with_envoys_words_and_the_old_config_keeps_serving(mesh, monkeypatch):
    httpbin = envoy_of(mesh, "foo", "httpbin")
    name = httpbin.node_id.split("~")[2]
    real = mesh_runtime.build_proxy_config

    def broken(model, pod, paths, gateway):
        config = real(model, pod, paths, gateway)
        if pod.labels.get("app") == "httpbin" and pod.namespace == "foo":
            # Two filter chains with the same (empty) match: valid protobuf, refused by Envoy.
            listener = config.listeners[0]
            listener["filter_chains"] = [listener["filter_chains"][0]] * 2
        return config
    monkeypatch.setattr(mesh_runtime, "build_proxy_config", broken)
    with pytest.raises(LabkitError, match="rejected its configuration") as info:
        mesh.apply(strict("foo"))
    try:
        assert "has the same matching rules defined as" in str(info.value)
        assert "previous configuration" in (info.value.hint or "")
        # Envoy kept its last accepted listeners: plaintext from legacy still gets through.
        assert curl_code(mesh, "legacy", "http://httpbin.foo:8000/ip") == OK
        row = statuses(mesh)[name]
        assert row["LDS"].startswith("ERROR (") and row["CDS"].startswith("SYNCED (")
        assert "same matching rules" in mesh.proxy_status().attrs["errors"][name]["LDS"]
        # Fixed translation, same resources: the next apply is taken and the error clears.
        monkeypatch.setattr(mesh_runtime, "build_proxy_config", real)
        mesh.apply(strict("foo", name="again"))
        assert statuses(mesh)[name]["LDS"].startswith("SYNCED (")
        assert curl_code(mesh, "legacy", "http://httpbin.foo:8000/ip") == RESET
    finally:
        monkeypatch.setattr(mesh_runtime, "build_proxy_config", real)
        mesh.delete(strict("foo"), ignore_missing=True)
        mesh.delete(strict("foo", name="again"), ignore_missing=True)


def test_a_restarted_envoy_reconnects_and_gets_the_current_config(mesh):
    mesh.apply(strict("foo"))
    try:
        httpbin = envoy_of(mesh, "foo", "httpbin")
        old_pid = httpbin.process.proc.pid
        os.kill(old_pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            proc = httpbin.process.proc
            if proc is not None and proc.pid != old_pid and httpbin.live() and not httpbin.missing_listeners():
                break
            time.sleep(0.1)
        else:
            pytest.fail("the sidecar did not come back")
        httpbin.wait_applied(timeout=10)
        assert httpbin.stats("listener_manager.lds.version_text")["listener_manager.lds.version_text"] \
            == httpbin.versions["LDS"]
        assert curl_code(mesh, "legacy", "http://httpbin.foo:8000/ip") == RESET   # STRICT came back with it
        assert curl_code(mesh, "foo", "http://httpbin.foo:8000/ip") == OK
    finally:
        mesh.delete(strict("foo"))


def _served_certificate(envoy) -> str:
    dump = envoy.config_dump("dynamic_active_secrets")
    for entry in dump["configs"]:
        if entry.get("name") == "default":
            chain = entry["secret"]["tls_certificate"]["certificate_chain"]
            return base64.b64decode(chain["inline_bytes"]).decode() if "inline_bytes" in chain \
                else chain["inline_string"]
    raise AssertionError("no default secret in the config dump")


def test_certificate_rotation_is_pushed_over_sds(mesh):
    httpbin = envoy_of(mesh, "foo", "httpbin")
    before = _served_certificate(httpbin)
    assert before == httpbin.mesh_secrets["default"]["tls_certificate"]["certificate_chain"]["inline_string"]
    assert mesh.rotate_certificates("foo") == 2
    after = _served_certificate(httpbin)   # rotation returned after the ACK: no waiting
    assert after != before
    assert after == httpbin.mesh_secrets["default"]["tls_certificate"]["certificate_chain"]["inline_string"]
    assert curl_code(mesh, "foo", "http://httpbin.foo:8000/ip") == OK  # mTLS with the new certificates


def _open_stream(mesh, node_id: str, token: str):
    # grpc is imported here, after labkit.xds has turned off gRPC's fork handlers (they crash the
    # mesh's forked children when grpc was loaded first).
    import grpc
    from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
    host, port = mesh.runtime.control_plane.address
    channel = grpc.insecure_channel(f"{host}:{port}")
    request = discovery_pb2.DiscoveryRequest(type_url=LISTENER)
    request.node.id = node_id
    stream = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel).StreamAggregatedResources(
        iter([request]), timeout=5, metadata=[("authorization", f"Bearer {token}")])
    return channel, stream


def test_each_proxy_is_served_only_with_its_own_token(mesh):
    import grpc
    httpbin, curl = envoy_of(mesh, "foo", "httpbin"), envoy_of(mesh, "foo", "curl")
    curl_token = mesh.runtime.control_plane.register(curl.node_id)
    for node_id, token in ((httpbin.node_id, curl_token), (httpbin.node_id, "guess"),
                           ("sidecar~127.0.0.9~intruder.foo~foo.svc.cluster.local", curl_token)):
        channel, stream = _open_stream(mesh, node_id, token)
        with pytest.raises(grpc.RpcError) as info:
            next(stream)
        channel.close()
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # The refused streams did not displace the real proxies.
    assert {row["LDS"][:6] for row in statuses(mesh).values()} == {"SYNCED"}


def test_proxy_status_is_refused_without_the_mesh_token(mesh):
    from labkit.xds.client import fetch_syncz, read_endpoint
    endpoint = read_endpoint(mesh.state_dir)
    assert len(fetch_syncz(endpoint["address"], endpoint["debug_token"])) == 3
    with pytest.raises(LabkitError, match="did not answer"):
        fetch_syncz(endpoint["address"], "wrong")


def test_labkit_proxy_status_from_another_process_prints_istioctls_table(mesh):
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "labkit.cli", "proxy-status", "--state-dir", str(mesh.state_dir),
                          "-v", "1"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["NAME", "CLUSTER", "CDS", "ECDS", "EDS", "LDS", "RDS", "ISTIOD", "VERSION"]
    assert len(lines) == 4 and all(" SYNCED (" in line for line in lines[1:])


def test_an_attached_apply_reports_the_nack_too(mesh, monkeypatch, tmp_path):
    """`labkit apply` beside the notebook that owns the mesh: the owner's proxy rejects the config, and the
    CLI says so (non-zero, Envoy's words) instead of returning as if it were in force."""
    import subprocess
    import sys
    real = mesh_runtime.build_proxy_config

    def broken(model, pod, paths, gateway):
        config = real(model, pod, paths, gateway)
        if pod.labels.get("app") == "httpbin" and pod.namespace == "foo":
            config.listeners[0]["filter_chains"] = [config.listeners[0]["filter_chains"][0]] * 2
        return config
    monkeypatch.setattr(mesh_runtime, "build_proxy_config", broken)
    policy = tmp_path / "strict.yaml"
    policy.write_text(strict("foo"))
    try:
        out = subprocess.run([sys.executable, "-m", "labkit.cli", "apply", "-f", str(policy), "--state-dir",
                              str(mesh.state_dir)], capture_output=True, text=True, timeout=60)
        assert out.returncode != 0
        assert "rejected its configuration" in out.stderr and "same matching rules" in out.stderr, out.stderr
    finally:
        monkeypatch.setattr(mesh_runtime, "build_proxy_config", real)
        mesh.delete(strict("foo"), ignore_missing=True)
