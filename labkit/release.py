"""Learner notebooks from the instructor ones: each solution block becomes its goal, a skeleton, and a
Show solution button (the authoring convention: docs/writing-labs.md, "Exercises").

In a code cell (Python, the YAML of a `%%apply` cell, or a `kubectl apply -f - <<EOF` heredoc, where `#`
also starts a comment):

    # BEGIN SOLUTION: httpbin in foo accepts only mutual TLS
    apiVersion: security.istio.io/v1
    ...
    # END SOLUTION

becomes `# TODO: httpbin in foo accepts only mutual TLS` and the YAML's shape, commented out, with its
values blanked. What remains must still run: a learner who runs the notebook unchanged reaches the
exercise's check and sees it fail, not a syntax error. The solution itself never reaches the learner's
copy: the reveal button reads it from the instructor notebook (labkit/reveal.py).
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

import nbformat

from .errors import LabkitError

BEGIN = re.compile(r"^(?P<indent>\s*)#+\s*BEGIN SOLUTION\b[\s:.-]*(?P<todo>.*?)\s*$")
END = re.compile(r"^\s*#+\s*END SOLUTION\b")
SKELETON = re.compile(r"^\s*#+\s*SKELETON:\s?(?P<line>.*)$")
DEFAULT_TODO = "complete this step (the explanation above says what it needs)"
UNCOMMENT_HINT = "uncomment the lines below (select them, Ctrl+/) and fill in each ___"
BLANK = "___"
# Boilerplate a learner copies from any example: kept whole in generated skeletons.
KEPT_KEYS = ("apiVersion", "kind")
# The reveal cell's call and the tag that marks it, so tools (and tests) can find it.
REVEAL_CALL = "reveal_solution"
REVEAL_TAG = "labkit-reveal"
# A prediction cell (labkit/predict.py) shows its answer and explanation in its source: the learner copy
# calls PREDICTION_CALL(notebook, key) instead, which reads them from the instructor notebook.
PREDICT_CALL, PREDICTION_CALL = "predict", "prediction"

YAML_KEY = re.compile(r"""^(?P<indent>\s*)(?P<dash>-\s+)?(?P<key>"[^"]*"|'[^']*'|[^\s:#'"][^:#]*?):(?:\s+(?P<value>.*))?$""")
YAML_ITEM = re.compile(r"^(?P<indent>\s*)-\s+(?P<value>.+)$")


@dataclass
class Block:
    """One solution block: its goal (the TODO), its solution lines and a hand-written skeleton, if any."""
    todo: str
    indent: str
    solution: list[str] = field(default_factory=list)
    skeleton: list[str] | None = None  # None: generate (YAML) or none (Python); [] for `SKELETON: none`


def _blocks(source: str, where: str):
    """Yield ("line", text) outside blocks and ("block", Block) for each block, in order."""
    block: Block | None = None
    for number, line in enumerate(source.splitlines(), 1):
        begin, end = BEGIN.match(line), END.match(line)
        if begin:
            if block is not None:
                raise LabkitError(f"{where}, line {number}: BEGIN SOLUTION inside a solution block",
                                  hint="close the first block with # END SOLUTION")
            block = Block(begin["todo"] or DEFAULT_TODO, begin["indent"])
        elif end:
            if block is None:
                raise LabkitError(f"{where}, line {number}: END SOLUTION without BEGIN SOLUTION",
                                  hint="open the block with # BEGIN SOLUTION: <the goal>")
            yield "block", block
            block = None
        elif block is not None:
            skeleton = SKELETON.match(line)
            if skeleton:
                text = skeleton["line"].rstrip()
                block.skeleton = (block.skeleton or []) + ([] if text.lower() == "none" else [text])
            else:
                block.solution.append(line)
        else:
            yield "line", line
    if block is not None:
        raise LabkitError(f"{where}: BEGIN SOLUTION without END SOLUTION", hint="close it with # END SOLUTION")


def solution_blocks(source: str, where: str = "cell") -> list[Block]:
    return [item for kind, item in _blocks(source, where) if kind == "block"]


def is_yaml_context(cell_source: str, lines_before: list[str]) -> bool:
    """YAML: an %%apply/%%delete cell, or a block inside a heredoc (`kubectl apply -f - <<EOF`)."""
    first = cell_source.lstrip().split("\n", 1)[0]
    if first.startswith(("%%apply", "%%delete")):
        return True
    return any("<<" in line for line in lines_before[-3:])


def yaml_skeleton(lines: list[str]) -> list[str]:
    """The YAML's shape with every value blank: keys stay (but numeric ones: a port is an answer), `- x`
    items become `- ___`, comments go, `apiVersion`/`kind` stay whole."""
    out = []
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped == "---":
            out.append(stripped)
            continue
        key = YAML_KEY.match(line)
        if key:
            name = BLANK if key["key"].strip("'\"").isdigit() else key["key"]
            value = key["value"]
            if value and name not in KEPT_KEYS:
                value = BLANK
            out.append(f"{key['indent']}{key['dash'] or ''}{name}:" + (f" {value}" if value else ""))
            continue
        item = YAML_ITEM.match(line)
        indent = line[:len(line) - len(line.lstrip())]
        out.append(f"{indent}- {BLANK}" if item else f"{indent}{BLANK}")
    return out


def learner_lines(block: Block, yaml: bool) -> list[str]:
    """What the learner's cell holds in place of the block: the goal, then the skeleton commented out."""
    skeleton = block.skeleton if block.skeleton is not None else (yaml_skeleton(block.solution) if yaml else [])
    lines = [f"{block.indent}# TODO: {block.todo}"]
    if skeleton:
        lines.append(f"{block.indent}# {UNCOMMENT_HINT}")
        lines += [f"{block.indent}# {line}" if line.strip() else "" for line in skeleton]
    return lines


def strip_solutions(source: str, where: str = "cell") -> tuple[str, int]:
    """(source with each solution block replaced by its goal and skeleton, number of blocks replaced)."""
    out: list[str] = []
    blocks = 0
    for kind, item in _blocks(source, where):
        if kind == "line":
            out.append(item)
        else:
            blocks += 1
            out += learner_lines(item, is_yaml_context(source, out))
    return "\n".join(out), blocks


def reveal_cell(notebook_stem: str, number: int):
    cell = nbformat.v4.new_code_cell(
        f'{REVEAL_CALL}("{notebook_stem}", {number})   # stuck? a button that shows the solution '
        "(noted in your progress)")
    cell.metadata["tags"] = [REVEAL_TAG]
    cell.id = f"{notebook_stem}-reveal-{number}"   # stable, so an untouched copy regenerates byte for byte
    return cell


def predict_calls(source: str) -> list[ast.Call]:
    """The `predict(...)` calls in a Python cell (none in a cell that is not plain Python)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == PREDICT_CALL]


def prediction_key(call: ast.Call, where: str) -> str:
    if not call.args or not isinstance(call.args[0], ast.Constant) or not isinstance(call.args[0].value, str):
        raise LabkitError(f"{where}: predict(...) needs its key as a literal string first argument",
                          hint='predict("strict-plaintext", "the question", [...], answer=0, explanation="...")')
    return call.args[0].value


def learner_prediction(source: str, stem: str, where: str) -> str | None:
    """The learner copy of a prediction cell, or None when the cell asks nothing."""
    calls = predict_calls(source)
    if not calls:
        return None
    if len(calls) > 1:
        raise LabkitError(f"{where}: one prediction per cell", hint="split the cell")
    key = prediction_key(calls[0], where)
    return f'{PREDICTION_CALL}("{stem}", "{key}")   # answer it, then run the next cell'


def learner_notebook(notebook, name: str = "notebook"):
    """A copy with solutions replaced, a Show solution cell after each exercise, outputs cleared, marked
    as generated."""
    source = nbformat.from_dict(notebook)
    stem = name.removesuffix(".ipynb")
    cells, solutions = [], 0
    for index, cell in enumerate(source.cells):
        cells.append(cell)
        if cell.cell_type != "code":
            continue
        cell.source, blocks = strip_solutions(cell.source, f"{name} cell {index}")
        cell.source = learner_prediction(cell.source, stem, f"{name} cell {index}") or cell.source
        cell.outputs, cell.execution_count = [], None
        for _ in range(blocks):
            solutions += 1
            cells.append(reveal_cell(stem, solutions))
    copy = nbformat.from_dict(source)
    copy.cells = cells
    # Saved widget state (JupyterLab keeps it so reopened checks render) belongs to one run, not the lab.
    copy.metadata.pop("widgets", None)
    copy.metadata["labkit"] = {"learner": True, "generated_from": name}
    return copy


def has_solutions(notebook) -> bool:
    return any(cell.cell_type == "code" and any(BEGIN.match(line) for line in cell.source.splitlines())
               for cell in notebook.cells)


def prediction_arguments(notebook, key: str, name: str = "notebook") -> dict:
    """The literal arguments of the notebook's `predict(key, ...)` call, by parameter name."""
    names = ("key", "question", "choices", "answer", "explanation")
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        for call in predict_calls(cell.source):
            if prediction_key(call, f"{name} cell {index}") != key:
                continue
            arguments = dict(zip(names, (ast.literal_eval(arg) for arg in call.args)))
            arguments.update({kw.arg: ast.literal_eval(kw.value) for kw in call.keywords if kw.arg})
            return arguments
    raise LabkitError(f"{name} has no prediction {key!r}",
                      hint="regenerate the learner copies: rename yours and run `make lab`")


def solutions_of(notebook, name: str = "notebook") -> list[Block]:
    """Every solution block of a notebook, in order (the reveal button's K-th is index K-1)."""
    return [block for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"
            for block in solution_blocks(cell.source, f"{name} cell {index}")]
