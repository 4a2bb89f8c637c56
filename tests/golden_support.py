"""Golden files for the translator: resources YAML in, Envoy config YAML out, reviewed as diffs.

Regenerate with `LABKIT_UPDATE_GOLDEN=1 pytest tests/test_golden_*.py` and read the diff before committing.
"""
from __future__ import annotations

import difflib
import os
from pathlib import Path

from labkit.model.deployments import reconcile_pods
from labkit.model.owners import owner_deployment
from labkit.model.mesh import build_model
from labkit.resources.loader import load_documents
from labkit.resources.validate import validate
from labkit.runtime.files import dump_yaml

GOLDEN_DIR = Path(__file__).parent / "golden"
UPDATE = os.environ.get("LABKIT_UPDATE_GOLDEN") == "1"
SUBNET = 10


def model_from_yaml(path: Path):
    """A model with deterministic pod names (`<deployment>-0`), uids and creation order."""
    objects = []
    for order, doc in enumerate(load_documents(path.read_text())):
        obj = validate(doc)
        obj["metadata"]["creationTimestamp"] = f"2026-01-01T00:00:{order:02d}Z"
        objects.append(obj)
    created, _ = reconcile_pods(objects)
    for pod in created:
        deployment = owner_deployment(pod["metadata"])
        pod["metadata"]["name"] = f"{deployment}-0"
        pod["metadata"]["uid"] = f"uid-{pod['metadata']['namespace']}-{deployment}"
    return build_model(objects + created, SUBNET)


def cases(kind: str) -> list[Path]:
    return sorted((GOLDEN_DIR / kind).glob("*.in.yaml"))


def check_golden(input_path: Path, actual: dict) -> None:
    expected_path = input_path.with_name(input_path.name.replace(".in.yaml", ".out.yaml"))
    text = dump_yaml(actual, sort_keys=True)
    if UPDATE or not expected_path.exists():
        if not UPDATE:
            raise AssertionError(f"{expected_path} is missing: run with LABKIT_UPDATE_GOLDEN=1 and review it")
        expected_path.write_text(text)
        return
    expected = expected_path.read_text()
    if expected != text:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True),
                                            str(expected_path), "actual", n=2))
        raise AssertionError(f"translation changed for {input_path.name} (LABKIT_UPDATE_GOLDEN=1 to accept):\n"
                             + diff[:6000])
