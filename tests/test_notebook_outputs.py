"""Issue 21 item 9: running a lab in JupyterLab does not save its outputs into the tracked labs/NN-*.ipynb, so a
learner's `git pull` does not conflict; what the learner typed is saved; copies elsewhere keep their outputs."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from labkit import notebook_outputs

ROOT = Path(__file__).resolve().parent.parent
SERVER_CONFIG = ROOT / "jupyter-config" / "jupyter_server_config.d" / "labkit.json"


def ran_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# a lab"),
                nbformat.v4.new_code_cell("print('hi')  # the learner's edit", execution_count=3,
                                          outputs=[nbformat.v4.new_output("stream", text="hi\n")])]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    return nb


@pytest.fixture
def server_contents(tmp_path, monkeypatch):
    """Jupyter server's real FileContentsManager, configured by the file `make install` puts in the venv."""
    from jupyter_server.services.contents.filemanager import FileContentsManager
    from traitlets.config import Config
    labs = tmp_path / "labs"
    (labs / "copies").mkdir(parents=True)
    monkeypatch.setattr(notebook_outputs, "tracked_labs_dir", lambda: labs)
    return FileContentsManager(root_dir=str(labs), config=Config(json.loads(SERVER_CONFIG.read_text()))), labs


def test_saving_a_tracked_lab_keeps_the_edits_and_drops_the_outputs(server_contents):
    manager, labs = server_contents
    manager.save({"type": "notebook", "format": "json", "content": ran_notebook()}, "03-strict.ipynb")
    saved = nbformat.read(labs / "03-strict.ipynb", as_version=4)
    code = saved.cells[1]
    assert code.source == "print('hi')  # the learner's edit"
    assert code.outputs == [] and code.execution_count is None and "widgets" not in saved.metadata


@pytest.mark.parametrize("path", ["copies/03-strict.ipynb", "my-notes.ipynb"])
def test_copies_and_other_notebooks_keep_their_outputs(server_contents, path):
    manager, labs = server_contents
    manager.save({"type": "notebook", "format": "json", "content": ran_notebook()}, path)
    saved = nbformat.read(labs / path, as_version=4)
    assert saved.cells[1].outputs and saved.cells[1].execution_count == 3 and "widgets" in saved.metadata


def test_the_hook_is_installed_where_jupyter_server_reads_it():
    venv = ROOT / ".venv"
    if not (venv / ".installed").exists():
        pytest.skip("needs the project's venv installed by make")
    installed = venv / "etc" / "jupyter" / "jupyter_server_config.d" / "labkit.json"
    assert installed.exists() and json.loads(installed.read_text()) == json.loads(SERVER_CONFIG.read_text())
    assert notebook_outputs.tracked_labs_dir() == ROOT / "labs"
    assert notebook_outputs.is_tracked_lab(ROOT / "labs" / "03-strict.ipynb")
    assert not notebook_outputs.is_tracked_lab(ROOT / "labs" / "learner" / "03-strict.ipynb")
