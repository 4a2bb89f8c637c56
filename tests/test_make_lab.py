"""`make lab`, the README's first command, starts JupyterLab on the learner copies (labs/learner/, written
first, solutions behind a button) and it answers; `make lab-instructor` serves the full notebooks in labs/."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "labkit-make-lab-test"


def get(port: int, path: str):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}?token={TOKEN}", timeout=5) as response:
        return json.loads(response.read())


@pytest.mark.skipif(not (ROOT / ".venv" / ".installed").exists() or shutil.which("make") is None,
                    reason="needs the project's venv installed by make (make test does that first)")
@pytest.mark.parametrize("target, learner", [("lab", True), ("lab-instructor", False)])
def test_make_lab_serves_the_learner_copies_and_lab_instructor_the_full_notebooks(target, learner):
    port = free_port()
    proc = subprocess.Popen(["make", "-s", target, f"LAB_PORT={port}"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True,
                            env=dict(os.environ, JUPYTER_TOKEN=TOKEN))
    try:
        deadline = time.monotonic() + 60
        answer = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                answer = get(port, "/api")
                break
            except OSError:
                time.sleep(0.5)
        assert answer and "version" in answer, proc.stdout.read().decode() if proc.poll() is not None else "no answer"
        served = sorted(item["name"] for item in get(port, "/api/contents")["content"]
                        if item["name"][:2].isdigit() and item["name"].endswith(".ipynb"))
        assert served == sorted(p.name for p in (ROOT / "labs").glob("[0-9][0-9]-*.ipynb")), served
        notebook = get(port, f"/api/contents/{served[3]}")["content"]
        sources = "\n".join("".join(cell["source"]) for cell in notebook["cells"])
        assert bool(notebook["metadata"].get("labkit", {}).get("learner")) is learner
        assert ("BEGIN SOLUTION" in sources) is not learner and ("reveal_solution(" in sources) is learner
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
