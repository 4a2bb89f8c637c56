"""Test-session settings shared by the Python tests and the notebooks nbval runs.

The notebooks' kernels inherit this environment, so a test run never touches a learner's own mesh
(state in .labkit/, gateway on 8080/8443): it gets a private state directory and free gateway ports. The
loopback subnet is claimed host-wide by each mesh (labkit/runtime/claims.py), so tests leave it unset.

Under pytest-xdist (`make test` runs two workers, docs/testing.md) each worker gets its own state directory
and gateway ports, and the scheduler below keeps every notebook in one worker, one after another: they all
share that worker's mesh state, as a learner's notebooks share labs/.labkit.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
from pathlib import Path

import pytest

# Which session chose the variables below: "main" (a plain run, or the xdist controller) or a worker's id.
ENV_OWNER = "LABKIT_TEST_ENV_SET"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _xdist_worker() -> str | None:
    """gw0, gw1, ... inside a pytest-xdist worker (xdist sets it before the worker's pytest_configure)."""
    return os.environ.get("PYTEST_XDIST_WORKER")


KERNEL_DIED_AT_START = "Kernel died before replying to kernel_info"


def retry_kernel_start_once(kernel_module) -> None:
    """Give nbval's `start_new_kernel` (in `kernel_module`) one more try when the kernel dies before it answers.

    jupyter_client picks a kernel's five TCP ports by binding port 0 and letting go; the kernel binds them a
    moment later. Under `make test` two workers' meshes, test-kube and their curls take ports all the while, so
    once in a few runs another process took one in between and the kernel died at start (every cell of that
    notebook then errors at setup). A kernel that dies again is still an error."""
    start = kernel_module.start_new_kernel
    if getattr(start, "retries_once", False):
        return

    def start_new_kernel(*args, **kwargs):
        try:
            return start(*args, **kwargs)
        except RuntimeError as error:
            if KERNEL_DIED_AT_START not in str(error):
                raise
            sys.stderr.write(f"nbval: a notebook kernel died at start ({error}); starting it once more\n")
            return start(*args, **kwargs)

    start_new_kernel.retries_once = True  # type: ignore[attr-defined]
    kernel_module.start_new_kernel = start_new_kernel


def pytest_configure(config):
    try:
        from nbval import kernel as nbval_kernel
    except ImportError:   # nbval is a test dependency; without it there are no notebook items to start
        pass
    else:
        retry_kernel_start_once(nbval_kernel)
    owner = _xdist_worker() or "main"
    if os.environ.get(ENV_OWNER) == owner:
        return  # a nested session already chose; keep its mesh and ports
    if owner != "main" and os.environ.get(ENV_OWNER) == "main":
        # A worker inherits the controller's choices, which every worker would share: a state directory of
        # its own (inside the run's, so one folder holds the run, even one the caller named) and free
        # gateway ports of its own (fixed ports cannot serve two workers' meshes).
        worker_state = Path(os.environ["LABKIT_STATE_DIR"]) / owner
        worker_state.mkdir(parents=True, exist_ok=True)
        os.environ["LABKIT_STATE_DIR"] = str(worker_state)
        os.environ["LABKIT_GATEWAY_HTTP_PORT"] = str(_free_port())
        os.environ["LABKIT_GATEWAY_HTTPS_PORT"] = str(_free_port())
    else:
        os.environ.setdefault("LABKIT_STATE_DIR", tempfile.mkdtemp(prefix="labkit-test-state-"))
        os.environ.setdefault("LABKIT_GATEWAY_HTTP_PORT", str(_free_port()))
        os.environ.setdefault("LABKIT_GATEWAY_HTTPS_PORT", str(_free_port()))
    os.environ[ENV_OWNER] = owner
    os.environ.setdefault("LABKIT_NONINTERACTIVE", "1")
    # The store hands out shared, read-only objects (labkit/resources/store.py): check every cached read
    # against the file, so a test or notebook that changes one in place fails where it happens.
    os.environ.setdefault("LABKIT_STORE_VERIFY", "1")


# --- pytest-xdist: what runs where ---------------------------------------------------------------------------
NOTEBOOKS = "labs/*.ipynb"  # the work unit of every notebook cell nbval collects


def work_unit(nodeid: str) -> str:
    """The unit one worker runs whole: a test file (its module fixtures, e.g. a mesh, start once), or all the
    notebooks together (they share one mesh state directory and must run one after another, in order)."""
    path = nodeid.split("::", 1)[0]
    return NOTEBOOKS if path.endswith(".ipynb") else path


# Seconds each work unit took in a measured run (scripts/test-costs.py writes it from a JUnit XML report).
# Only the order of handing out depends on it: a stale or missing entry costs time, never correctness.
MEASURED = Path(__file__).resolve().parent / "tests" / "unit-seconds.json"
ENVOY_TEST_S, PURE_TEST_S = 3.0, 0.05  # a guess for units not measured yet: real Envoy dominates


def measured_seconds() -> dict[str, float]:
    try:
        return json.loads(MEASURED.read_text())
    except (OSError, ValueError):
        return {}


def expected_cost(unit: str, items: list, measured: dict[str, float]) -> float:
    """How long a work unit will take, to hand out the slow ones first (the run ends when the last unit ends):
    as measured, else guessed from its tests (one starting real Envoy, mark `envoy`, costs far more)."""
    if unit in measured:
        return measured[unit]
    return sum(ENVOY_TEST_S if item.get_closest_marker("envoy") else PURE_TEST_S for item in items)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """In an xdist worker: the costliest work units first (every worker sorts alike, so all collect the same
    order, which xdist requires); the order inside each unit is kept. A plain run keeps the usual order."""
    if not _xdist_worker():
        return
    units: dict[str, list] = {}
    for item in items:
        units.setdefault(work_unit(item.nodeid), []).append(item)
    measured = measured_seconds()
    cost = {unit: expected_cost(unit, members, measured) for unit, members in units.items()}
    order = {unit: rank for rank, unit in enumerate(units)}
    items[:] = sorted(items, key=lambda item: (-cost[work_unit(item.nodeid)], order[work_unit(item.nodeid)]))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Every load mode (`-n 2` alone is `--dist load`) hands out our work units (`work_unit`) in collection
    order (sorted above): xdist's own modes would split the notebooks, or a test file's mesh, over workers."""
    if config.getvalue("dist") == "each":
        return None  # "every test on every worker" is asked for on purpose; xdist does it
    from xdist.scheduler import LoadScopeScheduling

    class UnitScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:  # xdist's extension point for what a work unit is
            return work_unit(nodeid)

    config.option.loadscopereorder = False  # keep our cost order, not xdist's "most tests first"
    return UnitScheduling(config, log)
