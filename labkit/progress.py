"""Which labs and steps a learner has done: passing checks (and what they proved) recorded as JSON in the
mesh's state directory.

Several kernels (one per open notebook) and the CLI may touch the file, so writes are serialised with a
lock and replace the file atomically.
"""
from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

from . import classroom
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
    classroom.publish_started(lab, lab_id)  # the instructor's view, if any


def record(lab: Lab, lab_id: str | None, title: str, passed: bool, proved: list[str] | tuple = ()) -> None:
    """Remember a check's outcome under the lab the notebook reset to.

    A pass records what the step proved and when. A later failure of a step that passed does not undo
    it: later steps change the mesh on purpose (lab 06 turns off the mTLS its first step proved), so a
    re-check of an earlier step tests today's mesh, not the step; it is kept as `rechecked`.
    """
    key = lab_id or "unassigned"
    with _updating(path_for(lab)) as data:
        steps = data["labs"].setdefault(key, {"steps": {}}).setdefault("steps", {})
        earlier, now = steps.get(title) or {}, time.time()
        if passed:
            steps[title] = {"passed": True, "time": now, "proved": list(proved)}
        elif earlier.get("passed"):
            earlier["rechecked"] = {"passed": False, "time": now}
        else:
            steps[title] = {"passed": False, "time": now}
    classroom.publish_check(lab, lab_id, title, passed)


def record_prediction(lab: Lab, lab_id: str | None, key: str, choice: str, correct: bool) -> None:
    """A prediction the learner locked in before an observation (labkit/predict.py): the latest answer."""
    with _updating(path_for(lab)) as data:
        entry = data["labs"].setdefault(lab_id or "unassigned", {"steps": {}})
        entry.setdefault("predictions", {})[key] = {"choice": choice, "correct": correct, "time": time.time()}


def record_reveal(lab: Lab, lab_id: str | None, exercise: str) -> None:
    """The learner showed an exercise's solution (labkit/reveal.py); the step's check still decides."""
    with _updating(path_for(lab)) as data:
        entry = data["labs"].setdefault(lab_id or "unassigned", {"steps": {}})
        entry.setdefault("revealed", {}).setdefault(exercise, time.time())


def pass_since_start(lab, lab_id: str | None, title: str) -> dict | None:
    """The step's recorded pass, if it happened since the lab was last started (`reset_lab`)."""
    entry = load(path_for(lab))["labs"].get(lab_id or "unassigned") or {}
    step = (entry.get("steps") or {}).get(title) or {}
    if step.get("passed") and step.get("time", 0) >= entry.get("started", 0):
        return step
    return None


def moved_on_note(step: dict) -> str:
    """What a failing re-check of a step that passed earlier means, in plain words."""
    when = time.strftime("%H:%M", time.localtime(step.get("time", 0)))
    proved = "; ".join(step.get("proved") or [])
    return (f"This step passed at {when}" + (f" (it proved: {proved})" if proved else "") + ". The mesh has "
            "moved on since (later steps change it on purpose), so this re-check tests the mesh as it is now; "
            "your progress keeps the pass.")


def record_hint(lab: Lab, lab_id: str | None, ticket_id: str, level: int) -> None:
    """Remember that a troubleshooting ticket's hints were opened up to `level` (1 where to look, 2 what's
    wrong, 3 the fix): how much help a ticket took is part of how it was solved. Levels only go up."""
    with _updating(path_for(lab)) as data:
        hints = data["labs"].setdefault(lab_id or "unassigned", {"steps": {}}).setdefault("hints", {})
        earlier = hints.get(ticket_id) or {}
        hints[ticket_id] = {"level": max(level, earlier.get("level", 0)), "time": time.time()}


def hint_level(lab: Lab, lab_id: str | None, ticket_id: str) -> int:
    """The hint level a ticket reached since the lab was last started (0: no hint opened)."""
    entry = load(path_for(lab))["labs"].get(lab_id or "unassigned") or {}
    hint = (entry.get("hints") or {}).get(ticket_id) or {}
    return int(hint.get("level", 0)) if hint.get("time", 0) >= entry.get("started", 0) else 0


def hints_of(data: dict, lab_id: str) -> dict[str, int]:
    """Each ticket of a lab whose hints were opened, with the highest level opened."""
    return {ticket: int(entry.get("level", 0))
            for ticket, entry in ((data["labs"].get(lab_id) or {}).get("hints") or {}).items()}


def steps_of(data: dict, lab_id: str) -> dict[str, dict]:
    return (data["labs"].get(lab_id) or {}).get("steps") or {}


def learning(entry: dict) -> dict:
    """How the learner went about a lab: predictions right out of those locked in, solutions revealed."""
    predictions = list((entry.get("predictions") or {}).values())
    right = sum(1 for p in predictions if p.get("correct"))
    return {"predicted": f"{right}/{len(predictions)} right" if predictions else "",
            "solutions shown": len(entry.get("revealed") or {}) or ""}


def table(data: dict):
    """One row per lab: started, steps passed out of the lab's steps, done, the hint levels opened on its
    troubleshooting tickets, what is still open, and the predictions and solution reveals
    (labkit/predict.py, labkit/reveal.py)."""
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
            # troubleshooting tickets: how many hint levels were opened, all tickets together
            "hints": sum(hints_of(data, info.id).values()) or "",
            "next step": next((s for s in info.steps if s not in passed), ""),
            **learning(data["labs"].get(info.id) or {}),
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
