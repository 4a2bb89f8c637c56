"""Which labs and steps a learner has done: passing checks recorded as JSON in the mesh's state directory.

Several kernels (one per open notebook) and the CLI may touch the file, so writes are serialised with a
lock and replace the file atomically.
"""
from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

from .atomic import locked, write_json
from .contract import Lab

FILE_NAME = "progress.json"


def find_state_dir(state_dir: str | Path | None = None) -> Path:
    """The state directory to read: explicit, $LABKIT_STATE_DIR, ./.labkit, or labs/.labkit from the repo root."""
    if state_dir:
        return Path(state_dir)
    from .backends.local_state import default_state_dir
    here = default_state_dir()
    if os.environ.get("LABKIT_STATE_DIR") or here.exists():
        return here
    labs = Path.cwd() / "labs" / ".labkit"
    return labs if labs.exists() else here


def path_for(lab: Lab | None = None, state_dir: str | Path | None = None) -> Path:
    directory = state_dir or getattr(lab, "state_dir", None)
    return find_state_dir(directory) / FILE_NAME


def load(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {"labs": {}}
    return data if isinstance(data.get("labs"), dict) else {"labs": {}}


@contextlib.contextmanager
def _updating(path: Path):
    with locked(path):
        data = load(path)
        yield data
        write_json(path, data)


def started(lab: Lab, lab_id: str) -> None:
    with _updating(path_for(lab)) as data:
        data["labs"].setdefault(lab_id, {"steps": {}})["started"] = time.time()


def record(lab: Lab, lab_id: str | None, title: str, passed: bool) -> None:
    """Remember a check's latest outcome under the lab the notebook reset to."""
    key = lab_id or "unassigned"
    with _updating(path_for(lab)) as data:
        entry = data["labs"].setdefault(key, {"steps": {}})
        entry.setdefault("steps", {})[title] = {"passed": bool(passed), "time": time.time()}


def steps_of(data: dict, lab_id: str) -> dict[str, dict]:
    return (data["labs"].get(lab_id) or {}).get("steps") or {}


def table(data: dict):
    """One row per lab: started, steps passed out of the lab's steps, done, and what is still open."""
    import pandas as pd
    from .labs import LABS
    rows = []
    for info in LABS:
        steps = steps_of(data, info.id)
        passed = [s for s in info.steps if steps.get(s, {}).get("passed")]
        started_at = (data["labs"].get(info.id) or {}).get("started")
        rows.append({
            "lab": info.id, "title": info.title,
            "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(started_at)) if started_at else "",
            "steps": f"{len(passed)}/{len(info.steps)}" if info.steps else "",
            "done": bool(info.steps) and len(passed) == len(info.steps),
            "next step": next((s for s in info.steps if s not in passed), ""),
        })
    return pd.DataFrame(rows).set_index("lab")


def show(lab: Lab | None = None, state_dir: str | Path | None = None):
    """The progress table, styled for a notebook (done labs in green)."""
    frame = table(load(path_for(lab, state_dir)))
    return frame.style.apply(
        lambda row: ["background-color: #c8e6c9" if row["done"] else "" for _ in row], axis=1)


def print_table(state_dir: str | Path | None = None) -> str:
    path = path_for(None, state_dir)
    frame = table(load(path))
    frame["done"] = frame["done"].map({True: "yes", False: ""})
    return f"progress in {path}\n" + frame.to_string()
