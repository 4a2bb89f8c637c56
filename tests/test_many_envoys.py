"""60 Envoys under one uid: with config over ADS none of them watches a file, so Linux's default
fs.inotify.max_user_instances (128 per user, shared by every process of that uid) is no limit.

The dev machine's sysctl may be raised; the property is proven by counting each Envoy's own inotify
instances (/proc/<pid>/fd links to anon_inode:inotify), whatever the limit here.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from labkit.certs import MeshCA
from labkit.envoy import common as c
from labkit.runtime.envoy_proc import EnvoyProcess
from labkit.xds.control_plane import ControlPlane

pytestmark = pytest.mark.envoy
ENVOYS = 60
DEFAULT_LIMIT = 128   # fs.inotify.max_user_instances on a stock kernel (and on CI)


def inotify_instances(pid: int) -> int:
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            count += os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:inotify"
        except OSError:
            continue
    return count


def sidecar_like(paths: c.ProxyPaths, index: int) -> c.ProxyConfig:
    """What makes a sidecar subscribe to everything: an mTLS inbound listener (SDS cert and root) with
    RDS routes, and a cluster; the listener on port 0 so 60 of them cannot clash."""
    route = c.route_config(f"inbound|{index}", [{"name": "all", "domains": ["*"], "routes": [
        {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "ok"}}}]}])
    hcm = c.http_connection_manager("inbound", route["name"], paths, server_name="istio-envoy")
    chain = {"name": "mtls", "filters": [hcm], "transport_socket": c.downstream_mtls(paths, ["h2", "http/1.1"])}
    listener = c.listener("virtualInbound", "127.0.0.1", 0, [chain])
    cluster = c.static_cluster("outbound|8000||httpbin.foo.svc.cluster.local", [c.lb_endpoint("127.0.0.1", 9)])
    return c.ProxyConfig(listeners=[listener], clusters=[cluster], routes=[route], secrets=["default", "ROOTCA"])


def test_sixty_envoys_need_no_inotify_instances(tmp_path):
    ca = MeshCA.create(key_type="ec")
    control_plane = ControlPlane("127.0.0.1", port=0).start()
    envoys = []
    try:
        for index in range(ENVOYS):
            paths = c.ProxyPaths(str(tmp_path / f"proxy-{index}"))
            envoy = EnvoyProcess(f"many/{index}", paths, f"sidecar~127.0.0.1~p{index}.many~many.svc.cluster.local",
                                 f"p{index}.many", control_plane=control_plane)
            identity = ca.issue(f"spiffe://cluster.local/ns/many/sa/p{index}")
            envoy.write_secret(c.tls_certificate_secret("default", identity.cert_pem.decode(),
                                                        identity.key_pem.decode()))
            envoy.write_secret(c.validation_secret("ROOTCA", ca.root_pem.decode()))
            envoy.apply(sidecar_like(paths, index))
            envoys.append(envoy)
        started = time.monotonic()
        for envoy in envoys:
            envoy.start()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda e: e.wait_applied(timeout=60), envoys))
        elapsed = time.monotonic() - started
        assert all(e.alive() and e.live() for e in envoys)
        # Every proxy asked for and ACKed LDS, CDS, RDS and SDS.
        rows = {row["node_id"]: row for row in control_plane.status()}
        assert all(set(rows[e.node_id]["types"]) == {"LDS", "CDS", "RDS", "SDS"} for e in envoys)
        assert {t["status"] for row in rows.values() for t in row["types"].values()} == {"SYNCED"}
        per_envoy = [inotify_instances(e.process.proc.pid) for e in envoys]
        assert max(per_envoy) <= 1, per_envoy
        # 60 of them fit the default limit with room for everything else of the user (editors, Jupyter).
        assert ENVOYS * max(per_envoy) <= DEFAULT_LIMIT // 2
        assert elapsed < 90, f"60 Envoys took {elapsed:.1f} s to start and ACK"
    finally:
        for envoy in envoys:
            envoy.stop()
        control_plane.stop()
