"""Helpers for the benchmark scripts: a throwaway mesh, stats, and result files."""
from __future__ import annotations

import contextlib
import json
import platform
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

RESULTS = Path(__file__).resolve().parent / "results"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def throwaway_lab(subnet: int):
    import labkit
    with tempfile.TemporaryDirectory() as state:
        lab = labkit.connect(state_dir=state, subnet=subnet, gateway_http_port=free_port(),
                             gateway_https_port=free_port())
        try:
            yield lab
        finally:
            lab.down()


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float]) -> dict:
    return {"n": len(values), "min": min(values), "median": statistics.median(values), "max": max(values),
            "p50": percentile(values, 50), "p99": percentile(values, 99)}


def machine() -> dict:
    import os
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()}


def save(name: str, data: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **data}, indent=1))
    return path
