"""Keep the repository's lab notebooks free of outputs, so a learner's `git pull` never conflicts with them.

JupyterLab saves what a notebook ran (outputs, execution counts, widget state) into the file. For the labs
tracked in the repository (labs/NN-*.ipynb, the ones `labkit.labs.LABS` lists) that turns every run into a
local change that the next `git pull` refuses to overwrite. `strip_outputs_of_tracked_labs` is a Jupyter
server pre-save hook (installed by `make install` as jupyter-config/jupyter_server_config.d/labkit.json):
it removes outputs from what is written for those files only. Everything the learner typed is saved; the
open notebook keeps showing its outputs until it is closed. Copies (File > Save As, labs/learner/, any other
folder) keep their outputs.
"""
from __future__ import annotations

import os
from pathlib import Path


def tracked_labs_dir() -> Path:
    """The checkout's labs/ directory (an editable install sits in the checkout)."""
    return Path(__file__).resolve().parent.parent / "labs"


def is_tracked_lab(os_path: str | Path) -> bool:
    from .labs import LABS
    path = Path(os_path).resolve()
    return path.parent == tracked_labs_dir().resolve() and path.name in {info.notebook for info in LABS}


def strip_notebook(notebook: dict) -> dict:
    """Outputs, execution counts and saved widget state removed; sources and cell metadata kept."""
    for cell in notebook.get("cells") or []:
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    (notebook.get("metadata") or {}).pop("widgets", None)
    return notebook


def strip_outputs_of_tracked_labs(model: dict, path: str, contents_manager, **kwargs) -> None:
    """Jupyter server pre_save_hook (FileContentsManager.pre_save_hook = "labkit.notebook_outputs.…")."""
    if model.get("type") != "notebook" or not model.get("content"):
        return
    os_path = os.path.join(contents_manager.root_dir, path.lstrip("/"))
    if is_tracked_lab(os_path):
        strip_notebook(model["content"])
