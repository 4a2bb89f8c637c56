"""Learner notebooks from the instructor ones: solutions between markers become a TODO.

In a code cell (Python, or the YAML of a `%%apply` cell, where `#` also starts a comment):

    # BEGIN SOLUTION: label namespace bar for injection
    lab.label_namespace("bar", {"istio-injection": "enabled"})
    # END SOLUTION

becomes `# TODO: label namespace bar for injection` (the text after the marker is the instruction;
without one a generic TODO is written). What remains must still run: a learner who runs the notebook
unchanged reaches the exercise's check and sees it fail, not a syntax error.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat

from .errors import LabkitError

BEGIN = re.compile(r"^(?P<indent>\s*)#+\s*BEGIN SOLUTION\b[\s:.-]*(?P<todo>.*?)\s*$")
END = re.compile(r"^\s*#+\s*END SOLUTION\b")
DEFAULT_TODO = "complete this step (the explanation above says what it needs)"
LEARNER_DIR = "learner"


def strip_solutions(source: str, where: str = "cell") -> tuple[str, int]:
    """(source with each solution block replaced by a TODO line, number of blocks replaced)."""
    out: list[str] = []
    blocks = 0
    inside = False
    for number, line in enumerate(source.splitlines(), 1):
        begin, end = BEGIN.match(line), END.match(line)
        if begin:
            if inside:
                raise LabkitError(f"{where}, line {number}: BEGIN SOLUTION inside a solution block")
            inside = True
            blocks += 1
            out.append(f"{begin['indent']}# TODO: {begin['todo'] or DEFAULT_TODO}")
        elif end:
            if not inside:
                raise LabkitError(f"{where}, line {number}: END SOLUTION without BEGIN SOLUTION")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise LabkitError(f"{where}: BEGIN SOLUTION without END SOLUTION")
    return "\n".join(out), blocks


def learner_notebook(notebook, name: str = "notebook"):
    """A copy with solutions replaced and outputs cleared, marked as generated."""
    copy = nbformat.from_dict(notebook)
    for index, cell in enumerate(copy.cells):
        if cell.cell_type != "code":
            continue
        cell.source, _ = strip_solutions(cell.source, f"{name} cell {index}")
        cell.outputs, cell.execution_count = [], None
    # Saved widget state (JupyterLab keeps it so reopened checks render) belongs to one run, not the lab.
    copy.metadata.pop("widgets", None)
    copy.metadata["labkit"] = {"learner": True, "generated_from": name}
    return copy


def has_solutions(notebook) -> bool:
    return any(cell.cell_type == "code" and any(BEGIN.match(line) for line in cell.source.splitlines())
               for cell in notebook.cells)


def release(source_dir: str | Path = "labs", out_dir: str | Path | None = None) -> list[Path]:
    """Write the learner version of every `NN-*.ipynb` in `source_dir` to `out_dir` (default labs/learner)."""
    source_dir = Path(source_dir)
    out_dir = Path(out_dir) if out_dir else source_dir / LEARNER_DIR
    notebooks = sorted(source_dir.glob("[0-9][0-9]-*.ipynb"))
    if not notebooks:
        raise LabkitError(f"no lab notebooks (NN-name.ipynb) in {source_dir}", hint="run from the repository root")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        learner = learner_notebook(nbformat.read(path, as_version=4), path.name)
        target = out_dir / path.name
        nbformat.write(learner, target)
        written.append(target)
    return written
