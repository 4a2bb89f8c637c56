"""Footprint: RSS and PSS of every Envoy and app process and of the whole mesh, idle and under load.

The mesh is lab 02's (httpbin + curl in foo, bar with sidecars and legacy without) plus a gateway
route. "Under load" is 20 keep-alive clients through the sidecars and the gateway at once; each
process's peak over the run is reported. PSS shares the Envoy binary's pages fairly between the
proxies, so the PSS total is what the mesh really costs the machine; RSS counts them every time.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from common import mesh_memory, save, summary, throwaway_lab
from mesh_scenarios import HTTPBIN_GATEWAY, HTTPBIN_GATEWAY_HOST, deploy_migration
from mesh_traffic import gateway_endpoint, pod_endpoint, run_load

LOAD_SECONDS = 5


def peak_memory(lab, stop: threading.Event) -> dict:
    """Sample every process every 0.25 s until stopped; keep each one's largest sample."""
    peaks: dict[str, dict] = {}
    while not stop.wait(0.25):
        for row in mesh_memory(lab)["processes"]:
            best = peaks.setdefault(row["name"], dict(row))
            for key in ("rss", "pss"):
                best[key] = max(best[key], row[key])
    return peaks


def describe(rows: list[dict]) -> dict:
    out = {"total_mb": {k: sum(r[k] for r in rows) for k in ("rss", "pss")}}
    for kind in ("envoy", "app"):
        chosen = [r for r in rows if r["kind"] == kind]
        out[kind] = {"count": len(chosen), **{k: summary([r[k] for r in chosen]) for k in ("rss", "pss")}}
    out["processes"] = rows
    return out


def main() -> None:
    with throwaway_lab(250) as lab:
        deploy_migration(lab)
        lab.apply(HTTPBIN_GATEWAY)
        time.sleep(2)  # let start-up allocations settle
        idle = describe(mesh_memory(lab)["processes"])
        clients = [pod_endpoint(lab, ns, "curl", "httpbin.foo:8000") for ns in ("foo", "bar")] + \
                  [gateway_endpoint(lab, 80, HTTPBIN_GATEWAY_HOST)]
        stop = threading.Event()
        with ThreadPoolExecutor(max_workers=len(clients) + 1) as pool:
            sampler = pool.submit(peak_memory, lab, stop)
            deadline = time.monotonic() + LOAD_SECONDS
            loads = [pool.submit(lambda e=e: [run_load(e, total=500, concurrency=7)
                                              for _ in iter(lambda: time.monotonic() < deadline, False)])
                     for e in clients]
            requests = sum(len(r.samples) for f in loads for r in f.result())
            stop.set()
            loaded = describe(list(sampler.result().values()))
    result = {"idle": idle, "under_load": {**loaded, "requests": requests, "seconds": LOAD_SECONDS}}
    path = save("footprint", result)
    print(f"memory (MB), {idle['envoy']['count']} Envoys and {idle['app']['count']} apps; "
          "per process min / median / max, then the mesh total:")
    for phase, data in (("idle", idle), ("under load", loaded)):
        for kind in ("envoy", "app"):
            for key in ("rss", "pss"):
                s = data[kind][key]
                print(f"   {phase:10} {kind:5} {key.upper()} {s['min']:6.1f} / {s['median']:6.1f} / {s['max']:6.1f}")
        print(f"   {phase:10} mesh total RSS {data['total_mb']['rss']:7.1f}, PSS {data['total_mb']['pss']:7.1f}")
    print(f"   ({requests} requests in {LOAD_SECONDS} s of load)")
    print(f"written {path}")


if __name__ == "__main__":
    main()
