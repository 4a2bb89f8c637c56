"""The Show solution button of a learner notebook: `reveal_solution("03-strict", 1)`.

The learner copy holds only the goal and a skeleton (labkit/release.py); the solution is read, on the
click, from the instructor notebook it was generated from (the folder recorded in the copies' manifest,
else the repository's labs/). A reveal is recorded in progress; it does not pass the step: the check below
the exercise still decides.
"""
from __future__ import annotations

import json
import os
from html import escape
from pathlib import Path

import nbformat

from . import current, progress
from .errors import LabkitError
from .kernel import in_kernel
from .learner_copies import MANIFEST
from .release import solutions_of

LABS_DIR_ENV = "LABKIT_LABS_DIR"
REPO_LABS = Path(__file__).resolve().parent.parent / "labs"


def instructor_dir(here: Path | None = None) -> Path:
    """Where the full notebooks are: $LABKIT_LABS_DIR, the manifest beside the learner copies, the repo's labs/."""
    if os.environ.get(LABS_DIR_ENV):
        return Path(os.environ[LABS_DIR_ENV])
    try:
        recorded = json.loads(((here or Path.cwd()) / MANIFEST).read_text()).get("source")
    except (FileNotFoundError, json.JSONDecodeError):
        recorded = None
    return Path(recorded) if recorded else REPO_LABS


def instructor_notebook(notebook_stem: str, labs_dir: Path | None = None):
    """The full notebook a learner copy was generated from."""
    path = (labs_dir or instructor_dir()) / f"{notebook_stem}.ipynb"
    if not path.exists():
        raise LabkitError(f"no instructor notebook {path.name} in {path.parent}",
                          hint=f"set ${LABS_DIR_ENV} to the folder of the full notebooks (the repository's labs/)")
    return nbformat.read(path, as_version=4)


def solution_text(notebook_stem: str, number: int, labs_dir: Path | None = None) -> str:
    """The instructor's lines of the `number`-th solution block (from 1) of `notebook_stem`."""
    path = Path(f"{notebook_stem}.ipynb")
    blocks = solutions_of(instructor_notebook(notebook_stem, labs_dir), path.name)
    if not 1 <= number <= len(blocks):
        raise LabkitError(f"{path.name} has {len(blocks)} solution block(s), not a number {number}",
                          hint="regenerate the learner copies: rename yours and run `make lab`")
    return "\n".join(blocks[number - 1].solution).strip("\n")


class SolutionReveal:
    """A Show solution button above an (empty) output where the solution appears on a click."""

    def __init__(self, notebook_stem: str, number: int):
        import ipywidgets
        self.notebook_stem, self.number = notebook_stem, number
        self.button = ipywidgets.Button(description="Show solution", icon="eye",
                                        tooltip="try first; a reveal is noted in your progress")
        self.shown = ipywidgets.HTML()
        self.box = ipywidgets.VBox([self.button, self.shown])
        self.button.on_click(lambda _: self.toggle())

    def toggle(self) -> None:
        if self.shown.value:
            self.shown.value, self.button.description = "", "Show solution"
            return
        try:
            text = solution_text(self.notebook_stem, self.number)
        except LabkitError as error:
            self.shown.value = (f"<b style='color:#b00020'>{escape(error.message)}</b><br>"
                               f"hint: {escape(error.hint or '')}")
            return
        self.shown.value = f"<pre class='labkit-solution'>{escape(text)}</pre>"
        self.button.description = "Hide solution"
        self.record()

    def record(self) -> None:
        lab = current.get()
        if lab is not None:
            progress.record_reveal(lab, lab.current_lab, f"{self.notebook_stem}#{self.number}")


def reveal_solution(notebook_stem: str, number: int) -> None:
    """Show the button (in JupyterLab); elsewhere only say that there is one."""
    if not in_kernel():
        print(f"[Show solution: in JupyterLab a button here shows solution {number} of {notebook_stem}]")
        return
    from IPython.display import display
    display(SolutionReveal(notebook_stem, number).box)
