"""Where one sidecar Envoy's start-up CPU goes at N pods: bare, then fed parts of a real sidecar's config.

Starts a mesh of N pods (bench_scale.py's workloads), takes one sidecar's snapshot from the control plane
and starts extra Envoys (`BENCH_ENVOY_REPS` each, default 8) under probe node ids served variants of it:
no config at all; its clusters, endpoints and secrets (no listeners: the real pod's listeners would
conflict on its addresses); the same clusters without their TLS transport sockets; only the first 10 or
50 clusters. Each Envoy's CPU (user+sys) is read once it has ACKed, plus 0.5 s. Prints per-Envoy figures in
ms (and writes `results/envoy_config_cpu.json`); the kernel counts CPU in 10 ms ticks, so compare medians.
`BENCH_ENVOY_PODS` (default 100).
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import psutil
from envoy.config.cluster.v3 import cluster_pb2

from bench_scale import NAMESPACE, workloads
from common import save, throwaway_lab
from labkit.envoy_binary import envoy_path
from labkit.xds.bootstrap import ads_bootstrap
from labkit.xds.resources import CLUSTER, ENDPOINT, LISTENER, ROUTE, SECRET
from labkit.xds.snapshot import Snapshot, TypeSnapshot

PODS = int(os.environ.get("BENCH_ENVOY_PODS", "100"))
REPS = int(os.environ.get("BENCH_ENVOY_REPS", "8"))


def without_tls(types: TypeSnapshot) -> TypeSnapshot:
    out = TypeSnapshot(version=types.version + "-plain")
    for name, (key, packed) in types.resources.items():
        cluster = cluster_pb2.Cluster()
        packed.Unpack(cluster)
        cluster.ClearField("transport_socket_matches")
        cluster.ClearField("transport_socket")
        repacked = type(packed)()
        repacked.Pack(cluster)
        out.resources[name] = (key + "-plain", repacked)
    return out


def first_clusters(snapshot: Snapshot, count: int) -> Snapshot:
    names = list(snapshot.types[CLUSTER].resources)[:count]
    clusters = TypeSnapshot(version=snapshot.types[CLUSTER].version + f"-{count}",
                            resources={n: snapshot.types[CLUSTER].resources[n] for n in names})
    required = {**snapshot.required, ENDPOINT: {n for n in snapshot.required[ENDPOINT] if n in names}}
    return Snapshot(types={**snapshot.types, CLUSTER: clusters}, required=required)


def envoy_cpu(control_plane, snapshot: Snapshot, label: str, folder: str) -> list[float]:
    """CPU seconds of REPS fresh Envoys, each served `snapshot` until it ACKed (no config: 1 s idle)."""
    out = []
    for i in range(REPS):
        node = f"sidecar~10.99.0.{i}~probe-{label}-{i}.bench~bench.svc.cluster.local"
        token = control_plane.register(node)
        with control_plane.registry.lock:
            control_plane.registry.proxies[node].snapshot = snapshot
        host, port = control_plane.address
        bootstrap = os.path.join(folder, f"{label}-{i}.json")
        with open(bootstrap, "w") as f:
            json.dump(ads_bootstrap(node, "probe.bench", host, port, token,
                                    admin_socket=os.path.join(folder, f"{label}-{i}.sock")), f)
        process = subprocess.Popen([envoy_path(), "-c", bootstrap, "--concurrency", "1", "--disable-hot-restart",
                                    "--log-level", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            if snapshot.types:
                control_plane.wait_synced(node, timeout=60)
            else:
                time.sleep(1.0)
            time.sleep(0.5)
            times = psutil.Process(process.pid).cpu_times()
            out.append(times.user + times.system)
        finally:
            process.terminate()
            process.wait()
            control_plane.forget(node)
    print(f"{label:34} median {statistics.median(out) * 1000:4.0f} ms  "
          f"({', '.join(f'{c * 1000:.0f}' for c in out)})", flush=True)
    return out


def main() -> None:
    with throwaway_lab(236) as lab, tempfile.TemporaryDirectory(prefix="envoy-cpu-") as folder:
        lab.apply(NAMESPACE)
        lab.wait_ready(timeout=60)
        lab.apply(workloads(PODS))
        lab.wait_ready(timeout=300)
        control_plane = lab.runtime.control_plane
        with control_plane.registry.lock:
            real = next(s for n, s in sorted(control_plane.registry.proxies.items())
                        if n.startswith("sidecar~") and ".bench~" not in n).snapshot
        print(f"{PODS} pods; one sidecar's config: " + ", ".join(
            f"{t.rsplit('.', 1)[1]} {len(s.resources)}" for t, s in real.types.items()))
        # The pod's listeners bind its own addresses: left out, and with them the routes they name.
        base = Snapshot(types={**real.types, LISTENER: TypeSnapshot(version="none")},
                        required={**real.required, ROUTE: set()})
        variants = {"bare (no config)": Snapshot(), "clusters+endpoints+secrets": base,
                    "same clusters without TLS": Snapshot(
                        types={**base.types, CLUSTER: without_tls(base.types[CLUSTER])},
                        required={**base.required, SECRET: set()}),
                    **{f"first {n} clusters only": first_clusters(base, n) for n in (10, 50)},
                    "bare again": Snapshot()}
        rows = {label: envoy_cpu(control_plane, snapshot, label, folder) for label, snapshot in variants.items()}
    path = save("envoy_config_cpu", {"pods": PODS, "cpu_s_per_envoy": rows,
                                     "median_ms": {k: statistics.median(v) * 1000 for k, v in rows.items()}})
    print(f"written {path}")


if __name__ == "__main__":
    sys.exit(main())
