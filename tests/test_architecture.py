"""Structural rules of labkit (docs/architecture.md), checked on the source so a regression fails a test."""
from __future__ import annotations

import ast
from pathlib import Path

from labkit.backends.base import LabBase
from labkit.backends.kube import KubeLab
from labkit.backends.local import LocalLab
from labkit.contract import Lab

ROOT = Path(__file__).resolve().parent.parent / "labkit"


def backend_comparisons(tree: ast.AST) -> list[int]:
    """Lines comparing something's `.backend` with a value (`lab.backend == "local"`)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(isinstance(s, ast.Attribute) and s.attr == "backend" for s in sides):
                found.append(node.lineno)
    return found


def test_the_detector_finds_backend_branching():
    assert backend_comparisons(ast.parse('if lab.backend == "local":\n    pass\n')) == [1]
    assert backend_comparisons(ast.parse("x = lab.backend\n")) == []


def test_no_backend_branching_outside_backends():
    offenders = []
    for path in ROOT.rglob("*.py"):
        if "backends" in path.relative_to(ROOT).parts:
            continue
        offenders += [f"{path.relative_to(ROOT)}:{line}" for line in backend_comparisons(ast.parse(path.read_text()))]
    assert offenders == []


def test_both_backends_implement_the_whole_contract():
    assert Lab.__abstractmethods__ >= {"apply", "label_namespace", "reset", "running", "mesh_access"}
    for cls in (LocalLab, KubeLab):
        assert issubclass(cls, LabBase) and not cls.__abstractmethods__, cls


def test_a_backend_missing_a_method_cannot_be_made():
    class Partial(LabBase):
        backend = "partial"

    assert "label_namespace" in Partial.__abstractmethods__
