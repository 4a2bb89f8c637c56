"""`make test` runs pytest in two xdist workers (docs/testing.md): what the root conftest.py does for that.

Each worker must get a mesh state directory and gateway ports of its own, all the notebooks must run in one
worker in their order (they share that worker's mesh state), and a test file's tests stay together (its module
fixtures, a mesh for instance, start once). Checked on a tiny suite run by a real `pytest -n 2`.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("root_conftest", ROOT / "conftest.py")
root_conftest = importlib.util.module_from_spec(spec)
spec.loader.exec_module(root_conftest)

pytest.importorskip("xdist")


def fake_item(nodeid: str, envoy: bool = False):
    return SimpleNamespace(nodeid=nodeid, get_closest_marker=lambda name: envoy if name == "envoy" else None)


def test_work_units_are_test_files_and_all_notebooks_together():
    unit = root_conftest.work_unit
    assert unit("labs/00-welcome.ipynb::Cell 0") == unit("labs/17-capstone-part-2.ipynb::Cell 7") == root_conftest.NOTEBOOKS
    assert unit("tests/test_gateway.py::test_a") == unit("tests/test_gateway.py::Suite::test_b[x::y]")
    assert unit("tests/test_gateway.py::test_a") == "tests/test_gateway.py" != unit("tests/test_xds.py::test_a")


def test_costly_units_are_handed_out_first():
    cost = root_conftest.expected_cost
    pure = [fake_item(f"tests/test_model.py::t{i}") for i in range(30)]
    envoy = [fake_item("tests/test_mesh.py::t", envoy=True)]
    assert cost("tests/test_mesh.py", envoy, {}) > cost("tests/test_model.py", pure, {}) > 0
    assert cost("tests/test_model.py", pure, {"tests/test_model.py": 90.0}) == 90.0  # measured beats guessed


def test_the_measured_costs_are_read():
    """tests/unit-seconds.json parses and holds the notebooks' unit; entries for renamed files are harmless
    (they match nothing), new files are guessed until the table is regenerated with scripts/test-costs.py."""
    measured = root_conftest.measured_seconds()
    assert root_conftest.NOTEBOOKS in measured and all(seconds > 0 for seconds in measured.values())


SUITE = '''
import json, os, time
import pytest

def record(request, name):
    with open(os.environ["RECORD"], "a") as out:
        out.write(json.dumps({"test": name, "worker": os.environ.get("PYTEST_XDIST_WORKER"),
                              "state": os.environ["LABKIT_STATE_DIR"],
                              "ports": [os.environ["LABKIT_GATEWAY_HTTP_PORT"], os.environ["LABKIT_GATEWAY_HTTPS_PORT"]],
                              "at": time.monotonic()}) + "\\n")

@pytest.mark.parametrize("n", range(6))
def test_one(request, n):
    time.sleep(0.2)
    record(request, f"{request.node.fspath.basename}:{n}")
'''


NOTEBOOK_CELL = SUITE.split("@pytest")[0].replace("request, ", "") + "record('NAME')"


def write_notebook(path: Path, cells: int) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(NOTEBOOK_CELL.replace("NAME", f"{path.name}:{n}")) for n in range(cells)]
    nbformat.write(notebook, path)


def test_workers_get_their_own_mesh_state_and_keep_units_whole(tmp_path):
    """Two workers, four test files and two notebooks: each file wholly in one worker, both notebooks in the
    same worker in order (their kernels see that worker's state), each worker its own state and ports."""
    (tmp_path / "conftest.py").write_text((ROOT / "conftest.py").read_text())
    for name in ("test_a.py", "test_b.py", "test_c.py", "test_d.py"):
        (tmp_path / name).write_text(SUITE)
    write_notebook(tmp_path / "nb1.ipynb", 3)
    write_notebook(tmp_path / "nb2.ipynb", 2)
    record = tmp_path / "record.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABKIT_", "PYTEST_"))}
    env["RECORD"] = str(record)
    run = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "-p", "no:cacheprovider", "-q", "--nbval-lax",
                          "--nbval-current-env", str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    rows = [json.loads(line) for line in record.read_text().splitlines()]
    assert len(rows) == 24 + 5
    workers = {row["worker"] for row in rows}
    assert workers == {"gw0", "gw1"}, "both workers ran tests"
    by_file: dict[str, set] = {}
    for row in rows:
        by_file.setdefault(row["test"].split(":")[0], set()).add(row["worker"])
    assert all(len(ran_in) == 1 for ran_in in by_file.values()), by_file
    state = {w: {r["state"] for r in rows if r["worker"] == w} for w in workers}
    ports = {w: {tuple(r["ports"]) for r in rows if r["worker"] == w} for w in workers}
    assert all(len(s) == 1 for s in state.values()) and state["gw0"] != state["gw1"], state
    assert all(len(p) == 1 for p in ports.values()) and ports["gw0"] != ports["gw1"], ports
    notebook_rows = [r for r in rows if ".ipynb" in r["test"]]
    assert len({r["worker"] for r in notebook_rows}) == 1
    assert [r["test"] for r in sorted(notebook_rows, key=lambda r: r["at"])] == [
        "nb1.ipynb:0", "nb1.ipynb:1", "nb1.ipynb:2", "nb2.ipynb:0", "nb2.ipynb:1"]
    # Inside one folder of the run, so leftovers of a run are found in one place.
    (gw0,), (gw1,) = state["gw0"], state["gw1"]
    assert Path(gw0).parent == Path(gw1).parent and Path(gw0).name == "gw0"


def test_a_notebook_kernel_that_dies_at_start_is_started_once_more_and_a_second_death_is_an_error():
    from types import SimpleNamespace
    calls = []

    def dies_then(*outcomes):
        def start(*args, **kwargs):
            calls.append((args, kwargs))
            outcome = outcomes[len(calls) - 1]
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        return start

    died = RuntimeError(root_conftest.KERNEL_DIED_AT_START)
    module = SimpleNamespace(start_new_kernel=dies_then(died, ("km", "kc")))
    root_conftest.retry_kernel_start_once(module)
    root_conftest.retry_kernel_start_once(module)   # idempotent: pytest_configure runs in every worker
    assert module.start_new_kernel(startup_timeout=60, kernel_name="python3") == ("km", "kc")
    assert len(calls) == 2 and calls[1] == ((), {"startup_timeout": 60, "kernel_name": "python3"})

    calls.clear()
    module = SimpleNamespace(start_new_kernel=dies_then(died, died))
    root_conftest.retry_kernel_start_once(module)
    with pytest.raises(RuntimeError, match="Kernel died"):
        module.start_new_kernel()
    assert len(calls) == 2

    calls.clear()   # any other failure is not retried
    module = SimpleNamespace(start_new_kernel=dies_then(RuntimeError("Kernel didn't respond in 60 seconds")))
    root_conftest.retry_kernel_start_once(module)
    with pytest.raises(RuntimeError, match="didn't respond"):
        module.start_new_kernel()
    assert len(calls) == 1
