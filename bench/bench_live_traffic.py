"""What the live traffic widget (labkit/live_traffic.py) costs while it runs beside a lab.

Lab 03's two routes (curl.foo and curl.legacy to httpbin.foo, one request each per second) for 30 s, with
STRICT turned on and off in the middle as the lab does: CPU the sender used (this process and its curl
children, as a fraction of one core), CPU the mesh's Envoys used meanwhile, requests per second sent,
chart redraws, and how long one round of requests took (p50/p99). The widget's claim is "low overhead":
a few percent of one core.
"""
from __future__ import annotations

import resource
import time

import psutil

from common import mesh_processes, save, summary, throwaway_lab
from mesh_scenarios import strict
from labkit.live_traffic import live_traffic

SECONDS = 30
ROUTES = [("foo", "httpbin.foo:8000", "/ip"), ("legacy", "httpbin.foo:8000", "/ip")]


def cpu_of_this_process() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def main() -> None:
    with throwaway_lab(246) as lab:
        lab.reset_lab("02")
        envoys = [pid for kind, _, pid in mesh_processes(lab) if kind == "envoy"]
        idle_envoy_start, idle_start = cpu_of(envoys), time.perf_counter()
        time.sleep(10)
        idle_envoy = (cpu_of(envoys) - idle_envoy_start) / (time.perf_counter() - idle_start)

        rounds: list[float] = []
        sender_start, envoy_start, wall_start = cpu_of_this_process(), cpu_of(envoys), time.perf_counter()
        traffic = live_traffic(lab, ROUTES, every=1.0)
        original = traffic.send_round

        def timed_round() -> None:
            began = time.perf_counter()
            original()
            rounds.append(time.perf_counter() - began)

        traffic.send_round = timed_round  # type: ignore[method-assign]
        time.sleep(SECONDS / 3)
        lab.apply(strict("foo"))
        time.sleep(SECONDS / 3)
        lab.delete("PeerAuthentication", "default", namespace="foo")
        time.sleep(SECONDS / 3)
        traffic.stop()
        wall = time.perf_counter() - wall_start
        # The policy changes themselves cost CPU here too (the control plane runs in this process), so
        # the sender's share is an upper bound.
        sender = (cpu_of_this_process() - sender_start) / wall
        envoy = (cpu_of(envoys) - envoy_start) / wall
        sent = len(traffic.snapshot())
        result = {"seconds": wall, "routes": len(ROUTES), "requests": sent, "requests_per_s": sent / wall,
                  "redraws": traffic.draws, "sender_cpu_share_of_one_core": sender,
                  "envoy_cpu_share_idle": idle_envoy, "envoy_cpu_share_with_traffic": envoy,
                  "round_s": summary(rounds), "outcomes": traffic.seen(1)}
    path = save("live_traffic", result)
    print(f"live traffic, {len(ROUTES)} routes, 1 request per route per second, {wall:.0f} s with STRICT flipped:")
    print(f"  requests sent       {sent} ({sent / wall:.2f}/s), legacy's outcomes {result['outcomes']}")
    print(f"  sender CPU          {sender * 100:.1f} % of one core (this process + its curls; includes the two "
          "policy changes)")
    print(f"  Envoy CPU           {envoy * 100:.1f} % of one core with traffic, {idle_envoy * 100:.1f} % idle")
    print(f"  one round (2 reqs)  p50 {result['round_s']['p50'] * 1000:.0f} ms, p99 {result['round_s']['p99'] * 1000:.0f} ms")
    print(f"written {path}")


if __name__ == "__main__":
    main()
