"""Cold start: `labkit up` + lab 01's setup (6 pods, 4 sidecars) to all-ready, and lab 12's full setup
(gateway, STRICT namespace, DestinationRule, AuthorizationPolicy) to the first 200 through the gateway.

Lab 01 runs the way a learner does with a terminal beside the notebook: `labkit up` owns the mesh,
the notebook (this process) attaches and applies. min / median / max over 5 runs.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

from common import fmt, free_port, save, summary, throwaway_lab, wait_until
from mesh_scenarios import ASSET_HOST, NAMESPACES, asset_management
from mesh_traffic import gateway_endpoint, plain_request, raw_exchange
from labkit.samples import sample

RUNS = 5


def lab01(lab) -> None:
    lab.apply(NAMESPACES)
    for namespace in ("foo", "bar", "legacy"):
        lab.apply(sample("httpbin"), namespace=namespace)
        lab.apply(sample("sleep"), namespace=namespace)
    lab.wait_ready(timeout=60)


def cli_up_and_lab01(subnet: int) -> dict:
    from labkit.backends.local import LocalLab
    with tempfile.TemporaryDirectory() as state:
        env = {**os.environ, "LABKIT_STATE_DIR": state, "LABKIT_SUBNET": str(subnet),
               "LABKIT_GATEWAY_HTTP_PORT": str(free_port()), "LABKIT_GATEWAY_HTTPS_PORT": str(free_port())}
        start = time.perf_counter()
        owner = subprocess.Popen([sys.executable, "-m", "labkit.cli", "up"], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
        try:
            line = owner.stdout.readline()
            if "mesh up" not in line:
                raise RuntimeError(f"labkit up failed: {line}{owner.stdout.read()}")
            up = time.perf_counter() - start
            lab = LocalLab.connect(state_dir=state)  # attaches, as a notebook next to the CLI does
            lab01(lab)
            total = time.perf_counter() - start
        finally:
            subprocess.run([sys.executable, "-m", "labkit.cli", "down", "--quiet"], env=env, timeout=60)
            owner.wait(timeout=30)
    return {"up_s": up, "setup_s": total - up, "total_s": total}


def lab07(subnet: int) -> dict:
    start = time.perf_counter()
    with throwaway_lab(subnet) as lab:
        up = time.perf_counter() - start
        lab.apply(asset_management())
        lab.wait_ready(timeout=60)
        ready = time.perf_counter() - start
        port = gateway_endpoint(lab, 80, ASSET_HOST).port
        wait_until(lambda: raw_exchange("127.0.0.1", port, plain_request(ASSET_HOST, "/get")) == "HTTP/1.1 200 OK")
        first = time.perf_counter() - start
    return {"up_s": up, "all_ready_s": ready, "first_200_s": first}


def main() -> None:
    runs01 = [cli_up_and_lab01(220 + run) for run in range(RUNS)]
    runs07 = [lab07(230 + run) for run in range(RUNS)]
    result = {
        "lab01_cli": {key: summary([r[key] for r in runs01]) for key in runs01[0]},
        "lab07": {key: summary([r[key] for r in runs07]) for key in runs07[0]},
    }
    path = save("cold_start", result)
    print(f"lab 01 (labkit up + 6 pods, 4 sidecars) to all-ready, {RUNS} runs, min / median / max:")
    for key in ("up_s", "setup_s", "total_s"):
        print(f"   {key:10} {fmt(result['lab01_cli'][key], ' s')}")
    print("lab 12 (mesh + gateway + STRICT + DR + AuthorizationPolicy), in-process:")
    for key in ("up_s", "all_ready_s", "first_200_s"):
        print(f"   {key:12} {fmt(result['lab07'][key], ' s')}")
    print(f"written {path}")


if __name__ == "__main__":
    main()
