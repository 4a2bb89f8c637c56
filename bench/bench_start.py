"""Where the CPU of a many-pod start goes: N sidecar'd pods (bench_scale.py's workloads) to all-ready.

Prints and writes `results/start.json`: wall time to all-ready, and the CPU seconds (user+sys, from the
kernel's accounting of each process) of the owner, of all the Envoys and of all the app processes at the
moment every pod is ready. On a shared machine the wall time moves with the load; the CPU seconds hardly
do, so compare those between two commits run back to back. `BENCH_START_SIZES` (default 100) and
`BENCH_START_PROFILE=1` (cProfile of the owner's threads' start, top entries printed).

It also counts the xDS pushes of the start, from both ends: the control plane's pushes per proxy (its
push log) and, from a sample of Envoys' admin stats, how many CDS and LDS updates each accepted. More than
one per type per proxy would mean a start re-sends whole types (SotW) as other pods appear: O(N²) work.
"""
from __future__ import annotations

import collections
import os
import sys
import time

import psutil

from bench_scale import NAMESPACE, workloads
from common import save, throwaway_lab

SIZES = tuple(int(s) for s in os.environ.get("BENCH_START_SIZES", "100").split(","))


def cpu_seconds(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
        return times.user + times.system
    except psutil.NoSuchProcess:
        return 0.0


def children_cpu() -> dict[str, tuple[int, float]]:
    """kind → (processes, CPU seconds) of this process's descendants: Envoys, apps, other."""
    out: dict[str, list] = {}
    for child in psutil.Process().children(recursive=True):
        try:
            name = child.name()
        except psutil.NoSuchProcess:
            continue
        kind = "envoy" if "envoy" in name else "app" if name.startswith("python") else name
        entry = out.setdefault(kind, [0, 0.0])
        entry[0] += 1
        entry[1] += cpu_seconds(child)
    return {kind: (count, seconds) for kind, (count, seconds) in out.items()}


UPDATE_STATS = r"^(cluster_manager\.cds|listener_manager\.lds)\.update_(success|attempt|rejected)$"


def xds_updates(lab, pushed: collections.Counter, sample: int = 5) -> dict:
    """Pushes per proxy during the start (histogram) and a sample of Envoys' own update counters."""
    envoys = {}
    runtimes = [r for r in lab.runtime.pods.values() if r.envoy and r.pod.sidecar]
    for runtime in runtimes[:sample // 2 + 1] + runtimes[-(sample // 2):]:
        try:
            envoys[runtime.pod.name] = runtime.envoy.stats(UPDATE_STATS)
        except OSError as exc:
            envoys[runtime.pod.name] = {"error": str(exc)}
    return {"pushes_per_proxy": {str(k): v for k, v in sorted(collections.Counter(pushed.values()).items())},
            "envoy_update_counters": envoys}


def one_size(count: int, subnet: int) -> dict:
    owner = psutil.Process()
    with throwaway_lab(subnet) as lab:
        lab.apply(NAMESPACE)
        lab.wait_ready(timeout=60)
        before_children = children_cpu()
        before = cpu_seconds(owner)
        profiler = None
        if os.environ.get("BENCH_START_PROFILE"):
            import cProfile
            import threading
            profiler = cProfile.Profile()
            threading.setprofile(lambda *a: None)
            profiler.enable()
        control_plane = lab.runtime.control_plane
        control_plane.push_log.clear()
        start = time.perf_counter()
        lab.apply(workloads(count))
        applied = time.perf_counter() - start
        phases = dict(lab.runtime.last_sync)   # the owner's sync: translate+encode, start, ACK wait
        lab.wait_ready(timeout=300)
        ready = time.perf_counter() - start
        if profiler is not None:
            profiler.disable()
            import pstats
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        owner_cpu = cpu_seconds(owner) - before
        after = children_cpu()
        updates = xds_updates(lab, collections.Counter(node for node, _ in control_plane.push_log))
        kids = {kind: (n, seconds - before_children.get(kind, (0, 0.0))[1]) for kind, (n, seconds) in after.items()}
    total = owner_cpu + sum(seconds for _, seconds in kids.values())
    return {"pods": count, "all_ready_s": ready, "apply_returned_s": applied, "owner_cpu_s": owner_cpu,
            "sync_phases_s": {k: v for k, v in phases.items() if k.endswith("_s")},
            "children": {kind: {"processes": n, "cpu_s": seconds} for kind, (n, seconds) in kids.items()},
            "total_cpu_s": total, "load_average": os.getloadavg(), "xds_updates": updates}


def main() -> None:
    rows = [one_size(count, 240 - i) for i, count in enumerate(SIZES)]
    path = save("start", {"sizes": rows})
    for r in rows:
        kids = "  ".join(f"{kind} {v['processes']}× {v['cpu_s']:.2f} s" for kind, v in sorted(r["children"].items()))
        print(f"{r['pods']:4} pods: all-ready {r['all_ready_s']:.2f} s (apply returned {r['apply_returned_s']:.2f} s); "
              f"CPU: owner {r['owner_cpu_s']:.2f} s  {kids}  total {r['total_cpu_s']:.2f} s  "
              f"(load {r['load_average'][0]:.1f})")
        updates = r["xds_updates"]
        print("      pushes per proxy (pushes: proxies): " + ", ".join(
            f"{k}: {v}" for k, v in updates["pushes_per_proxy"].items()))
        for pod, stats in updates["envoy_update_counters"].items():
            print(f"      {pod}: " + ", ".join(f"{k.split('.', 1)[1]} {v}" for k, v in sorted(stats.items())))
        print("      owner's sync: " + ", ".join(f"{k[:-2]} {v:.2f} s" for k, v in r["sync_phases_s"].items()))
    print(f"written {path}")


if __name__ == "__main__":
    sys.exit(main())
