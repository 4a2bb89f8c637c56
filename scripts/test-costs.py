"""Write tests/unit-seconds.json from a JUnit XML report of a whole `make test` pytest run.

    .venv/bin/python -m pytest tests labs ... -n 2 --junitxml=report.xml
    .venv/bin/python scripts/test-costs.py report.xml

The root conftest.py hands out the work units (a test file, or all notebooks together) slowest first, so two
workers finish together; this table is what "slowest" means. Only the order depends on it, never a result.
"""
from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from conftest import work_unit  # noqa: E402  (the root conftest: one definition of a work unit)


def unit_seconds(report: Path) -> dict[str, float]:
    seconds: dict[str, float] = defaultdict(float)
    for case in ElementTree.parse(report).iter("testcase"):
        # JUnit names a case by dotted class name; the file is what a work unit is made of.
        classname = case.get("classname", "")
        path = case.get("file") or classname_to_path(classname)
        seconds[work_unit(f"{path}::{case.get('name')}")] += float(case.get("time") or 0)
    return {unit: max(round(total, 1), 0.1) for unit, total in sorted(seconds.items()) if total > 0}


def classname_to_path(classname: str) -> str:
    """tests.test_gateway (or tests.test_gateway.Suite) → tests/test_gateway.py; labs.03-strict.ipynb stays."""
    parts = classname.split(".")
    if parts[-1] == "ipynb":
        return "/".join(parts[:-1]) + ".ipynb"
    for end in range(len(parts), 0, -1):
        candidate = "/".join(parts[:end]) + ".py"
        if (ROOT / candidate).exists():
            return candidate
    return classname


if __name__ == "__main__":
    table = unit_seconds(Path(sys.argv[1]))
    (ROOT / "tests" / "unit-seconds.json").write_text(json.dumps(table, indent=1) + "\n")
    for unit, total in sorted(table.items(), key=lambda item: -item[1]):
        print(f"{total:8.1f}s  {unit}")
