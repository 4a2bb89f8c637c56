"""Local mesh: cold start of the 6-pod migration setup, policy convergence, Envoy memory (PSS).

Targets (issue #3): all-ready ≤ 1.5 s; policy apply → observable p50 ≤ 100 ms, p99 ≤ 300 ms; PSS ≤ 30 MB.
"""
from __future__ import annotations

import time

import psutil

from common import save, summary, throwaway_lab
from mesh_scenarios import NAMESPACES, strict
from labkit.samples import sample

RUNS = 5
FLIPS = 20


def setup_yaml() -> list[tuple[str, str]]:
    return [(sample("httpbin"), ns) for ns in ("foo", "bar", "legacy")] + \
           [(sample("curl"), ns) for ns in ("foo", "bar", "legacy")]


def cold_start() -> list[float]:
    times = []
    for run in range(RUNS):
        start = time.perf_counter()
        with throwaway_lab(200 + run) as lab:
            lab.apply(NAMESPACES)
            for text, ns in setup_yaml():
                lab.apply(text, namespace=ns)
            lab.wait_ready(timeout=60)
            times.append(time.perf_counter() - start)
    return times


def legacy_to_foo(lab) -> int:
    return lab.exec("legacy", "curl", ["curl", "-s", "-o", "/dev/null", "--max-time", "2",
                                       "http://httpbin.foo:8000/ip"]).exit_code


def convergence(lab) -> list[float]:
    samples = []
    for flip in range(FLIPS):
        turning_strict = flip % 2 == 0
        start = time.perf_counter()
        if turning_strict:
            lab.apply(strict("foo"))
        else:
            lab.delete("PeerAuthentication", "default", namespace="foo")
        want = 56 if turning_strict else 0
        while legacy_to_foo(lab) != want:
            if time.perf_counter() - start > 5:
                raise RuntimeError("policy change not observed within 5 s")
        samples.append(time.perf_counter() - start)
    return samples


def envoy_pss(lab) -> list[float]:
    out = []
    for runtime in lab.runtime.pods.values():
        if runtime.envoy and runtime.envoy.process and runtime.envoy.process.pid:
            info = psutil.Process(runtime.envoy.process.pid).memory_full_info()
            out.append(info.pss / 2**20)
    return out


def main() -> None:
    starts = cold_start()
    with throwaway_lab(210) as lab:
        lab.apply(NAMESPACES)
        for text, ns in setup_yaml():
            lab.apply(text, namespace=ns)
        lab.wait_ready(timeout=60)
        flips = convergence(lab)
        pss = envoy_pss(lab)
    result = {"cold_start_s": summary(starts), "policy_convergence_ms": summary([f * 1000 for f in flips]),
              "envoy_pss_mb": summary(pss)}
    path = save("local_mesh", result)
    print(f"cold start to all-ready (6 pods + gateway), {RUNS} runs: "
          f"min {min(starts):.2f} s, median {result['cold_start_s']['median']:.2f} s, max {max(starts):.2f} s "
          f"(target ≤ 1.5 s)")
    conv = result["policy_convergence_ms"]
    print(f"policy apply → observed, {FLIPS} flips: p50 {conv['p50']:.0f} ms, p99 {conv['p99']:.0f} ms "
          f"(targets 100 / 300 ms)")
    print(f"Envoy PSS per proxy: median {result['envoy_pss_mb']['median']:.1f} MB, max {max(pss):.1f} MB "
          f"(target ≤ 30 MB)")
    print(f"written {path}")


if __name__ == "__main__":
    main()
