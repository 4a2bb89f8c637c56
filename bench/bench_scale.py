"""Scale: 10, 25, 50 and 100 sidecar'd pods, each with its own Service, on a fresh mesh each time.

For each size: time from `lab.apply` of all of them to all-ready; memory of the whole mesh; the config
the control plane serves each sidecar (every sidecar knows every service, so it grows with N and the
mesh's total with N²); the owner's CPU and memory (the control plane and the translator run there);
and how long changes take to reach the proxies they concern, and how many proxies each one touches:
- one workload's PeerAuthentication STRICT ↔ removed, 20 flips (p50/p99): its sidecar's inbound; with the
  applying thread's own CPU time per flip, which a loaded machine hardly changes;
- namespace-wide STRICT (every inbound listener changes);
- one new Service (every sidecar's outbound listeners and clusters change).
`lab.apply` returns once every affected proxy has ACKed over ADS.

No sysctl is touched: the Envoys take their config over gRPC and watch no file (tests/test_many_envoys.py).
"""
from __future__ import annotations

import os
import sys
import time

import psutil

from common import mesh_memory, save, summary, throwaway_lab, wait_until
from mesh_scenarios import strict
from mesh_traffic import plain_request, pod_endpoint, raw_exchange

SIZES = tuple(int(s) for s in os.environ.get("BENCH_SCALE_SIZES", "10,25,50,100").split(","))
FLIPS = 20
NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata: {name: scale, labels: {istio-injection: enabled}}\n"


def workloads(count: int, first: int = 0) -> list[dict]:
    docs = []
    for i in range(first, first + count):
        name = f"svc-{i:02d}"
        docs.append({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "scale"},
                     "spec": {"selector": {"matchLabels": {"app": name}}, "template": {
                         "metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "web", "image": "nginx",
                                                  "ports": [{"containerPort": 80}]}]}}}})
        docs.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "scale"},
                     "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80}]}})
    return docs


def config_bytes(lab) -> list[int]:
    """Serialized bytes of LDS + CDS + RDS + SDS the control plane serves each sidecar."""
    control_plane = lab.runtime.control_plane
    return [control_plane.config_bytes(r.envoy.node_id) for r in lab.runtime.pods.values()
            if r.envoy and r.pod.sidecar]


class Owner:
    """CPU seconds and memory of this process: the mesh owner, where the control plane runs."""

    def __init__(self):
        self.process = psutil.Process()

    def cpu(self) -> float:
        times = self.process.cpu_times()
        return times.user + times.system

    def rss_mb(self) -> float:
        return self.process.memory_info().rss / 2**20


THREAD_CPU: list[float] = []   # CPU seconds of the applying thread per change (store, translation, encoding)


def pushes(lab, change) -> tuple[float, int]:
    """(seconds `change` took, proxies it pushed to). Also notes the applying thread's own CPU time: unlike
    the wall time it hardly moves with the machine's load, so it tells a loaded run's cost of a change."""
    control_plane = lab.runtime.control_plane
    before = control_plane.pushes
    start, cpu = time.perf_counter(), time.thread_time()
    change()
    THREAD_CPU.append(time.thread_time() - cpu)
    return time.perf_counter() - start, control_plane.pushes - before


ONE_WORKLOAD = strict("scale", name="one", selector={"app": "svc-00"})


def one_size(count: int, subnet: int) -> dict:
    owner = Owner()
    rss_before = owner.rss_mb()
    with throwaway_lab(subnet) as lab:
        lab.apply(NAMESPACE + "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: legacy}\n")
        from labkit.samples import sample
        lab.apply(sample("curl"), namespace="legacy")
        lab.wait_ready(timeout=60)
        cpu = owner.cpu()
        start = time.perf_counter()
        lab.apply(workloads(count))
        lab.wait_ready(timeout=300)
        ready = time.perf_counter() - start
        start_cpu = owner.cpu() - cpu
        memory = mesh_memory(lab)
        sizes = config_bytes(lab)
        idle_cpu = owner.cpu()
        time.sleep(5)
        idle_cpu = (owner.cpu() - idle_cpu) / 5
        probe = pod_endpoint(lab, "legacy", "curl", "svc-00.scale:80")
        request = plain_request("svc-00.scale")
        refused = lambda: raw_exchange(probe.ip, probe.port, request, source_ip=probe.source_ip) in ("reset", "eof")  # noqa: E731
        # One workload's policy, flipped: apply (returns after the ACK) and the first refused/accepted probe.
        applied, observed, touched, stale = [], [], [], 0
        THREAD_CPU.clear()
        cpu = owner.cpu()
        for flip in range(FLIPS):
            on = flip % 2 == 0
            start = time.perf_counter()
            took, pushed = pushes(lab, (lambda: lab.apply(ONE_WORKLOAD)) if on else
                                  (lambda: lab.delete("PeerAuthentication", "one", namespace="scale")))
            stale += refused() != on
            wait_until(lambda: refused() == on)
            observed.append(time.perf_counter() - start)
            applied.append(took)
            touched.append(pushed)
        flip_cpu = (owner.cpu() - cpu) / FLIPS
        flip_thread_cpu = list(THREAD_CPU)
        strict_applied, strict_pushed = pushes(lab, lambda: lab.apply(strict("scale")))
        strict_seen = strict_applied + wait_until(refused)
        service_applied, service_pushed = pushes(
            lab, lambda: lab.apply([d for d in workloads(1, first=count) if d["kind"] == "Service"]))
        owner_rss = owner.rss_mb()
    return {"pods": count, "all_ready_s": ready, "memory_total_mb": memory["total_mb"],
            "envoy_pss_mb": memory["per_kind"]["envoy"]["pss"], "app_pss_mb": memory["per_kind"]["app"]["pss"],
            "config_bytes_per_sidecar": summary(sizes), "config_bytes_total": sum(sizes),
            "one_policy_apply_ms": summary([a * 1000 for a in applied]),
            "one_policy_observed_ms": summary([o * 1000 for o in observed]),
            "one_policy_proxies_pushed": summary(touched),
            "one_policy_apply_thread_cpu_ms": summary([c * 1000 for c in flip_thread_cpu]), "one_policy_stale_after_apply": stale,
            "strict_apply_ms": strict_applied * 1000, "strict_observed_ms": strict_seen * 1000,
            "strict_proxies_pushed": strict_pushed,
            "new_service_apply_ms": service_applied * 1000, "new_service_proxies_pushed": service_pushed,
            "owner_cpu_s_to_ready": start_cpu, "owner_cpu_idle_cores": idle_cpu,
            "owner_cpu_s_per_policy_change": flip_cpu,
            "owner_rss_mb": owner_rss, "owner_rss_mb_before_mesh": rss_before}


def main() -> None:
    rows = [one_size(count, 250 - i) for i, count in enumerate(SIZES)]
    path = save("scale", {"sizes": rows, "flips": FLIPS})
    print("sidecar'd pods (each its own Service): ready, memory, config, convergence (ms), owner CPU/memory")
    print(f"   {'pods':>4} {'ready s':>7} {'PSS MB':>7} {'cfg KB':>7} {'1-PA p50':>8} {'p99':>5} {'seen p99':>8} "
          f"{'pushed':>6} {'STRICT':>6} {'pushed':>6} {'+svc':>5} {'pushed':>6} {'cpu→ready s':>11} "
          f"{'cpu/chg ms':>10} {'apply cpu p50/p99':>17} {'idle %':>6} {'owner MB':>8}")
    for r in rows:
        print(f"   {r['pods']:4} {r['all_ready_s']:7.2f} {r['memory_total_mb']['pss']:7.0f} "
              f"{r['config_bytes_per_sidecar']['median'] / 1024:7.1f} {r['one_policy_apply_ms']['p50']:8.1f} "
              f"{r['one_policy_apply_ms']['p99']:5.0f} {r['one_policy_observed_ms']['p99']:8.0f} "
              f"{r['one_policy_proxies_pushed']['max']:6} {r['strict_apply_ms']:6.0f} {r['strict_proxies_pushed']:6} "
              f"{r['new_service_apply_ms']:5.0f} {r['new_service_proxies_pushed']:6} {r['owner_cpu_s_to_ready']:11.2f} "
              f"{r['owner_cpu_s_per_policy_change'] * 1000:10.1f} "
              f"{r['one_policy_apply_thread_cpu_ms']['p50']:8.1f}/{r['one_policy_apply_thread_cpu_ms']['p99']:<8.1f} "
              f"{r['owner_cpu_idle_cores'] * 100:6.1f} "
              f"{r['owner_rss_mb']:8.0f}")
    print(f"written {path}")


if __name__ == "__main__":
    sys.exit(main())
