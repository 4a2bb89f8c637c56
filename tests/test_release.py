"""Learner notebooks: solutions become TODOs, and running a learner notebook unchanged fails its first
exercise's check (an AssertionError from the validator, not a crash), which proves the validators can fail."""
from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

from conftest import free_port
from test_lifecycle import children_of_mesh, wait_for
from labkit.errors import LabkitError
from labkit.release import has_solutions, learner_notebook, release, strip_solutions

LABS = Path(__file__).resolve().parent.parent / "labs"
INSTRUCTOR = sorted(LABS.glob("[0-9][0-9]-*.ipynb"))
WITH_EXERCISES = [p for p in INSTRUCTOR if has_solutions(nbformat.read(p, as_version=4))]


def test_solution_blocks_become_todos_keeping_indentation():
    source = "a = 1\nif a:\n    # BEGIN SOLUTION: set b to two\n    b = 2\n    # END SOLUTION\nprint(a)"
    out, blocks = strip_solutions(source)
    assert blocks == 1
    assert out == "a = 1\nif a:\n    # TODO: set b to two\nprint(a)"
    assert "# TODO: complete this step" in strip_solutions("# BEGIN SOLUTION\nx = 1\n# END SOLUTION")[0]


@pytest.mark.parametrize("source, message", [
    ("# BEGIN SOLUTION\nx = 1", "without END"),
    ("x = 1\n# END SOLUTION", "without BEGIN"),
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION", "inside a solution"),
])
def test_unbalanced_markers_are_errors(source, message):
    with pytest.raises(LabkitError, match=message):
        strip_solutions(source)


def test_instructor_notebooks_are_stripped_and_use_the_python3_kernel():
    assert {"00", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10"} <= {p.name[:2] for p in INSTRUCTOR}
    for path in INSTRUCTOR:
        notebook = nbformat.read(path, as_version=4)
        assert notebook.metadata.kernelspec.name == "python3", path.name
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{path.name}: outputs not stripped"
        assert 'lab.reset_lab("' + path.name[:2] + '")' in notebook.cells[1].source, path.name


def test_release_writes_learner_notebooks_without_solutions(tmp_path):
    written = release(LABS, tmp_path)
    assert [p.name for p in written] == [p.name for p in INSTRUCTOR]
    for path in written:
        text = path.read_text()
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
        assert nbformat.read(path, as_version=4).metadata.labkit["learner"]
    learner = nbformat.read(tmp_path / "03-strict.ipynb", as_version=4)
    exercise = next(cell.source for cell in learner.cells if "TODO" in cell.source)
    assert exercise == ('%%bash --no-raise-error\nkubectl apply -f - <<EOF\n'
                        '# TODO: PeerAuthentication "default" in namespace foo, spec.mtls.mode STRICT\nEOF')



def first_exercise_check(notebook) -> int:
    """Index of the first `check(` cell after the first cell with a solution."""
    first = next(i for i, c in enumerate(notebook.cells) if c.cell_type == "code" and "BEGIN SOLUTION" in c.source)
    return next(i for i, c in enumerate(notebook.cells) if i > first and c.cell_type == "code"
                and "check(" in c.source)


@pytest.mark.envoy
@pytest.mark.parametrize("path", WITH_EXERCISES, ids=lambda p: p.stem)
def test_learner_notebook_fails_at_its_first_exercise_check(path, tmp_path, monkeypatch):
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    instructor = nbformat.read(path, as_version=4)
    expected = first_exercise_check(instructor)
    learner = learner_notebook(instructor, path.name)
    # The kernel inherits this environment: a mesh of its own, non-interactive checks.
    monkeypatch.setenv("LABKIT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("LABKIT_SUBNET", raising=False)  # claimed host-wide when the kernel's mesh starts
    monkeypatch.setenv("LABKIT_GATEWAY_HTTP_PORT", str(free_port()))
    monkeypatch.setenv("LABKIT_GATEWAY_HTTPS_PORT", str(free_port()))
    monkeypatch.setenv("LABKIT_NONINTERACTIVE", "1")
    client = NotebookClient(learner, kernel_name="python3", timeout=90, startup_timeout=60,
                            resources={"metadata": {"path": str(LABS)}})
    with pytest.raises(CellExecutionError) as info:
        client.execute()
    failing = next(i for i, c in enumerate(learner.cells) if c.cell_type == "code"
                   and any(o.output_type == "error" for o in c.outputs))
    error = next(o for o in learner.cells[failing].outputs if o.output_type == "error")
    assert (failing, error.ename) == (expected, "AssertionError"), info.value
    assert "FAIL:" in error.evalue and "hint:" in error.evalue
    # The kernel is gone, and with it every process of its mesh: the next notebook starts clean.
    assert wait_for(lambda: not children_of_mesh(tmp_path / "state"), 10), children_of_mesh(tmp_path / "state")


def test_instructor_notebooks_in_git_are_clean():
    """Sources carry no outputs, execution counts or saved widget state (one run's leftovers)."""
    import json
    from pathlib import Path
    for path in sorted((Path(__file__).resolve().parent.parent / "labs").glob("*.ipynb")):
        notebook = json.loads(path.read_text())
        assert "widgets" not in notebook.get("metadata", {}), path.name
        for cell in notebook["cells"]:
            if cell["cell_type"] == "code":
                assert cell.get("outputs") == [] and cell.get("execution_count") is None, (path.name, cell["source"][:1])
