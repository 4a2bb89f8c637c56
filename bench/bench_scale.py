"""Scale: 10, 25 and 50 sidecar'd pods, each with its own Service, on a fresh mesh each time.

For each size: time from `lab.apply` of all of them to all-ready; memory of the whole mesh; the
config each sidecar carries (every sidecar knows every service, so it grows with N and the mesh's
total with N²); and how long changes take to reach every proxy as the service count grows:
namespace-wide STRICT (every inbound listener changes) and one new Service (every sidecar's
outbound listeners and clusters change). `lab.apply` returns once all proxies report the version.

Each Envoy watches its xDS and SDS files with several inotify instances; the per-user limit (128 on
many distributions) is the first wall a local mesh hits as it grows, so the preflight raises it for
the run when it may (root) and says so.
"""
from __future__ import annotations

import time
from pathlib import Path

from common import inotify_room, mesh_memory, save, summary, throwaway_lab, wait_until
from mesh_scenarios import strict
from mesh_traffic import plain_request, pod_endpoint, raw_exchange

SIZES = (10, 25, 50)
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
    """Bytes of LDS + CDS + RDS files per sidecar."""
    sizes = []
    for runtime in lab.runtime.pods.values():
        if runtime.envoy and runtime.pod.sidecar:
            sizes.append(sum(p.stat().st_size for p in Path(runtime.envoy.paths.xds).glob("*.json")))
    return sizes


def one_size(count: int, subnet: int) -> dict:
    with inotify_room(count), throwaway_lab(subnet) as lab:
        lab.apply(NAMESPACE + "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: legacy}\n")
        from labkit.samples import sample
        lab.apply(sample("curl"), namespace="legacy")
        lab.wait_ready(timeout=60)
        start = time.perf_counter()
        lab.apply(workloads(count))
        lab.wait_ready(timeout=300)
        ready = time.perf_counter() - start
        memory = mesh_memory(lab)
        sizes = config_bytes(lab)
        probe = pod_endpoint(lab, "legacy", "curl", "svc-00.scale:80")
        request = plain_request("svc-00.scale")
        start = time.perf_counter()
        lab.apply(strict("scale"))
        strict_applied = time.perf_counter() - start
        strict_seen = strict_applied + wait_until(
            lambda: raw_exchange(probe.ip, probe.port, request, source_ip=probe.source_ip) in ("reset", "eof"))
        start = time.perf_counter()
        lab.apply([d for d in workloads(1, first=count) if d["kind"] == "Service"])
        service_applied = time.perf_counter() - start
    return {"pods": count, "all_ready_s": ready, "memory_total_mb": memory["total_mb"],
            "envoy_pss_mb": memory["per_kind"]["envoy"]["pss"], "app_pss_mb": memory["per_kind"]["app"]["pss"],
            "config_bytes_per_sidecar": summary(sizes), "config_bytes_total": sum(sizes),
            "strict_apply_ms": strict_applied * 1000, "strict_observed_ms": strict_seen * 1000,
            "new_service_apply_ms": service_applied * 1000}


def main() -> None:
    rows = [one_size(count, 250 + i) for i, count in enumerate(SIZES)]
    path = save("scale", {"sizes": rows})
    print("sidecar'd pods (each its own Service): ready, memory, config, convergence")
    print(f"   {'pods':>4} {'ready s':>8} {'RSS MB':>8} {'PSS MB':>8} {'cfg KB/sidecar':>14} {'cfg MB total':>12} "
          f"{'STRICT ms':>9} {'seen ms':>8} {'+svc ms':>8}")
    for r in rows:
        print(f"   {r['pods']:4} {r['all_ready_s']:8.2f} {r['memory_total_mb']['rss']:8.0f} "
              f"{r['memory_total_mb']['pss']:8.0f} {r['config_bytes_per_sidecar']['median'] / 1024:14.1f} "
              f"{r['config_bytes_total'] / 2**20:12.2f} {r['strict_apply_ms']:9.0f} {r['strict_observed_ms']:8.0f} "
              f"{r['new_service_apply_ms']:8.0f}")
    print(f"written {path}")


if __name__ == "__main__":
    main()
