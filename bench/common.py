"""Helpers for the benchmark scripts: a throwaway mesh, stats, the machine, memory, load tools, results."""
from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

RESULTS = Path(__file__).resolve().parent / "results"
INOTIFY_LIMIT = Path("/proc/sys/fs/inotify/max_user_instances")


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
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    try:
        from labkit.envoy_binary import envoy_version
        envoy = envoy_version()
    except Exception as exc:  # noqa: BLE001  (a description, not a requirement)
        envoy = f"unknown ({exc})"
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "cpu_model": cpu, "memory_gib": round(memory, 1), "envoy": envoy,
            "inotify_max_user_instances": inotify_limit(),
            # Others' work on a shared machine shows up here; compare runs with similar load.
            "load_average": [round(x, 2) for x in os.getloadavg()]}


def save(name: str, data: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **data}, indent=1))
    return path


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return time.perf_counter() - start, value


def fmt(stats: dict, unit: str = "", scale: float = 1.0, digits: int = 2) -> str:
    return " / ".join(f"{stats[k] * scale:.{digits}f}" for k in ("min", "median", "max")) + unit


# ---- memory ----------------------------------------------------------------------------------------

def mesh_processes(lab) -> list[tuple[str, str, int]]:
    """(kind "envoy"/"app", name, pid) for every process the mesh runs."""
    out = []
    for runtime in lab.runtime.pods.values():
        if runtime.envoy and runtime.envoy.alive():
            out.append(("envoy", runtime.envoy.name, runtime.envoy.process.pid))
        for process in runtime.apps.values():
            if process.alive():
                out.append(("app", process.name, process.pid))
    return out


def memory_mb(pid: int) -> dict:
    """RSS and PSS (the fair share of pages shared with other processes, e.g. the Envoy binary)."""
    import psutil
    info = psutil.Process(pid).memory_full_info()
    return {"rss": info.rss / 2**20, "pss": info.pss / 2**20}


def mesh_memory(lab) -> dict:
    rows = [{"kind": kind, "name": name, **memory_mb(pid)} for kind, name, pid in mesh_processes(lab)]
    total = {k: sum(r[k] for r in rows) for k in ("rss", "pss")}
    by_kind = {kind: {k: [r[k] for r in rows if r["kind"] == kind] for k in ("rss", "pss")}
               for kind in ("envoy", "app")}
    return {"processes": rows, "total_mb": total,
            "per_kind": {kind: {k: summary(v) for k, v in values.items() if v} for kind, values in by_kind.items()}}


# ---- machine limits ---------------------------------------------------------------------------------

def inotify_limit() -> int | None:
    try:
        return int(INOTIFY_LIMIT.read_text())
    except (OSError, ValueError):
        return None


# ---- load tools ------------------------------------------------------------------------------------

def ensure_wrk() -> str | None:
    """The wrk binary, installed from Debian's package when we can; None (with a message) otherwise."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("   wrk is missing: installing the Debian package `wrk` (apt-get install wrk) ...")
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], capture_output=True)
        found = shutil.which("wrk")
        if found:
            return found
    print("   wrk is not installed (Debian/Ubuntu: sudo apt-get install wrk); using the Python client only")
    return None


_WRK_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def run_wrk(url: str, *, host: str | None = None, seconds: int = 5, connections: int = 20,
            threads: int = 1) -> dict:
    """requests/s and latency percentiles (ms) from `wrk --latency`."""
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    if host:
        args += ["-H", f"Host: {host}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, timeout=seconds + 30).stdout
    result = {"tool": "wrk", "connections": connections, "seconds": seconds}
    for pct in ("50", "90", "99"):
        match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
        if match:
            result[f"p{pct}_ms"] = float(match.group(1)) * _WRK_UNITS[match.group(2)]
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    result["rps"] = float(match.group(1)) if match else 0.0
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    result["errors"] = (int(errors.group(1)) if errors else 0)
    if socket_errors:
        result["socket_errors"] = socket_errors.group(1).strip()
    return result


def run_python_load(endpoint, path: str = "/ip", *, total: int = 3000, concurrency: int = 20) -> dict:
    """The same measurements with threads + keep-alive http.client (tests/mesh_traffic.py)."""
    from mesh_traffic import run_load
    result = run_load(endpoint, path, total=total, concurrency=concurrency)
    ok = sum(n for code, n in result.counts.items() if code == 200)
    return {"tool": "python", "connections": concurrency, "requests": total, "rps": result.rps,
            "p50_ms": result.latency_ms(50), "p90_ms": result.latency_ms(90), "p99_ms": result.latency_ms(99),
            "errors": total - ok}


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.0005) -> float:
    """Seconds until predicate() held; raises after `timeout`."""
    start = time.perf_counter()
    while not predicate():
        if time.perf_counter() - start > timeout:
            raise RuntimeError(f"condition not met within {timeout} s")
        time.sleep(interval)
    return time.perf_counter() - start
