"""The instructor's view of a class: learners publish their progress, the instructor reads it.

On one host (below) the learners publish to a class folder; on a shared cluster (the kube backend with
a namespace prefix) to a ConfigMap in their own namespace (labkit/backends/kube_progress.py): the same
record, changed by the same functions here (`started_change`, `check_change`), read into the same table.

Learners publish to a class directory, `$LABKIT_CLASS_DIR` (set for every learner by the workshop recipe;
unset: nothing is published). Each learner writes one file, `<learner>.json`, on every lab started and
every check run. The recipe (deploy/, docs/workshops.md) makes the folder `root:labkit-instructors`,
mode 3773: learners may create files but not list the folder; their files take the folder's group
(setgid) and are written 0640, so instructors read them and other learners cannot; the sticky bit keeps
anyone from replacing another learner's file. The instructor never needs to read learners' homes.

A learner is stuck when the same check failed three times in a row, or when no new step passed for ten
minutes in a lab that is not finished.
"""
from __future__ import annotations

import fcntl
import json
import os
import pwd
import sys
import time
from pathlib import Path
from typing import Callable

STUCK_FAILURES = 3
STUCK_IDLE_SECONDS = 600
_warned: set[str] = set()


def class_dir() -> Path | None:
    value = os.environ.get("LABKIT_CLASS_DIR")
    return Path(value) if value else None


def learner_name() -> str:
    """JupyterHub's user name when a hub started us (learners may share a uid there), else the login name."""
    name = os.environ.get("LABKIT_LEARNER") or os.environ.get("JUPYTERHUB_USER")
    if not name:
        try:
            name = pwd.getpwuid(os.geteuid()).pw_name
        except KeyError:
            name = f"uid{os.geteuid()}"
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name).lstrip(".") or "learner"


# ---- publishing (learner side) ---------------------------------------------------------------------

def _warn_once(where: str, exc: Exception) -> None:
    # Publishing helps the instructor; it must never break the learner's check. Say so once per place.
    if where not in _warned:
        _warned.add(where)
        print(f"labkit: could not publish progress to {where}: {exc}", file=sys.stderr)


class ClassFolder:
    """The learner's `<learner>.json` in the class folder (a workshop on one host)."""

    def __init__(self, directory: Path, state_dir: Path | None):
        self.directory = directory
        self.lock_dir = Path(state_dir) if state_dir else Path.home()

    def __repr__(self) -> str:
        return f"the class folder {self.directory}"

    def update(self, change: Callable[[dict], None]) -> None:
        name = learner_name()
        target = self.directory / f"{name}.json"
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        with open(self.lock_dir / "class-publish.lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                record = json.loads(target.read_text())
            except (FileNotFoundError, json.JSONDecodeError):
                record = {"learner": name, "steps": {}}
            change(record)
            record["updated"] = time.time()
            tmp = self.directory / f".{name}.json.{os.getpid()}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o640)
            try:
                os.fchmod(fd, 0o640)  # the class group (instructors) reads; other learners do not
                os.write(fd, json.dumps(record, indent=1, sort_keys=True).encode())
            finally:
                os.close(fd)
            os.replace(tmp, target)


def boards(lab) -> list:
    """Every place this learner publishes to: the class folder (`LABKIT_CLASS_DIR`) and the lab's own
    board (a shared cluster's ConfigMap, `Lab.class_board()`), whichever are there."""
    found: list = []
    directory = class_dir()
    if directory is not None:
        found.append(ClassFolder(directory, getattr(lab, "state_dir", None)))
    board_of = getattr(lab, "class_board", None)
    if callable(board_of):
        try:
            board = board_of()
        except Exception as exc:  # noqa: BLE001  (never breaks a check; said once)
            _warn_once("the cluster", exc)
            board = None
        if board is not None:
            found.append(board)
    return found


def _publish(lab, change: Callable[[dict], None]) -> None:
    for board in boards(lab):
        try:
            board.update(change)
        except Exception as exc:  # noqa: BLE001  (OSError, the cluster's ApiException, LabkitError)
            _warn_once(repr(board), exc)


def started_change(lab_id: str) -> Callable[[dict], None]:
    """How a learner's record changes when a lab starts (the same on every board)."""
    def change(record: dict) -> None:
        now = time.time()
        record.update({"lab": lab_id, "lab_started": now, "last_progress": now})
        record["steps"].setdefault(lab_id, {})
    return change


def check_change(lab_id: str | None, title: str, passed: bool) -> Callable[[dict], None]:
    """How a learner's record changes with a check's outcome: a failing streak counts up, a first pass is
    progress."""
    key = lab_id or "unassigned"

    def change(record: dict) -> None:
        now = time.time()
        steps = record["steps"].setdefault(key, {})
        before = steps.get(title) or {}
        failures = 0 if passed else int(before.get("failures", 0)) + 1
        if passed and not before.get("passed"):
            record["last_progress"] = now
        steps[title] = {"passed": bool(passed), "time": now, "failures": failures}
        record.setdefault("lab", key)
        record["last_check"] = {"lab": key, "title": title, "passed": bool(passed), "time": now}
    return change


def publish_started(lab, lab_id: str) -> None:
    _publish(lab, started_change(lab_id))


def publish_check(lab, lab_id: str | None, title: str, passed: bool) -> None:
    _publish(lab, check_change(lab_id, title, passed))


# ---- reading (instructor side) ---------------------------------------------------------------------

def read_class(directory: Path | str | None = None) -> list[dict]:
    """Every learner's record in the class folder (unreadable or malformed files are reported, not hidden)."""
    from .errors import LabkitError
    folder = Path(directory) if directory else class_dir()
    if folder is None:
        raise LabkitError("no class folder given", hint="set LABKIT_CLASS_DIR or pass --dir (the workshop recipe "
                                                        "creates /srv/labkit-class)")
    try:
        paths = sorted(p for p in folder.iterdir() if p.suffix == ".json" and not p.name.startswith("."))
    except PermissionError:
        raise LabkitError(f"cannot list the class folder {folder}",
                          hint="instructors need to be in its group (labkit-instructors): "
                               "sudo usermod -aG labkit-instructors $USER, then log in again")
    except FileNotFoundError:
        raise LabkitError(f"the class folder {folder} does not exist", hint="the workshop recipe creates it")
    records = []
    for path in paths:
        try:
            record = json.loads(path.read_text())
            record["owner_uid"] = path.stat().st_uid
        except (OSError, json.JSONDecodeError) as exc:
            record = {"learner": path.stem, "steps": {}, "error": f"unreadable: {exc}"}
        record.setdefault("learner", path.stem)
        records.append(record)
    return records


def _lab_steps(lab_id: str) -> tuple[str, ...]:
    from .labs import LABS
    return next((info.steps for info in LABS if info.id == lab_id), ())


def stuck_reason(record: dict, now: float | None = None) -> str:
    """Why a learner looks stuck, or "" when they do not."""
    now = time.time() if now is None else now
    lab = record.get("lab")
    steps = (record.get("steps") or {}).get(lab) or {}
    failing = [(title, s["failures"]) for title, s in steps.items()
               if not s.get("passed") and s.get("failures", 0) >= STUCK_FAILURES]
    if failing:
        title, count = max(failing, key=lambda item: item[1])
        return f"failed {count}× in a row: {title}"
    wanted = _lab_steps(lab) if lab else ()
    finished = bool(wanted) and all((steps.get(s) or {}).get("passed") for s in wanted)
    idle = now - float(record.get("last_progress") or record.get("updated") or now)
    if lab and not finished and idle >= STUCK_IDLE_SECONDS:
        return f"no progress for {int(idle // 60)} min"
    return ""


def summarize(record: dict, now: float | None = None) -> dict:
    """One row of the class table."""
    now = time.time() if now is None else now
    lab = record.get("lab") or ""
    steps = (record.get("steps") or {}).get(lab) or {}
    wanted = _lab_steps(lab)
    passed = [s for s in wanted if (steps.get(s) or {}).get("passed")]
    all_passed = sum(1 for lab_steps in (record.get("steps") or {}).values()
                     for s in lab_steps.values() if s.get("passed"))
    last = record.get("last_check") or {}
    return {
        "learner": record.get("learner", "?"),
        "lab": lab,
        "step": next((s for s in wanted if s not in passed), "done" if wanted else ""),
        "checks passed": f"{len(passed)}/{len(wanted)}" if wanted else str(len([s for s in steps.values()
                                                                                if s.get("passed")])),
        "passed (all labs)": all_passed,
        "last check": (("pass: " if last.get("passed") else "FAIL: ") + last.get("title", "")) if last else "",
        "active": f"{int((now - float(record.get('updated') or now)) // 60)} min ago",
        "stuck": record.get("error") or stuck_reason(record, now),
    }


def class_table(records: list[dict], now: float | None = None):
    import pandas as pd
    columns = ["learner", "lab", "step", "checks passed", "passed (all labs)", "last check", "active", "stuck"]
    rows = [summarize(r, now) for r in records]
    return pd.DataFrame(rows, columns=columns).set_index("learner") if rows else pd.DataFrame(columns=columns)


def progress_chart_svg(records: list[dict], now: float | None = None, width: int = 560) -> str:
    """A bar per learner: steps passed over all labs; red when stuck. Plain SVG (no plotting library)."""
    from .labs import LABS
    total = sum(len(info.steps) for info in LABS) or 1
    rows = [summarize(r, now) for r in records]
    bar_h, gap, label_w = 18, 6, 140
    height = max(1, len(rows)) * (bar_h + gap) + 24
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="12">',
             f'<text x="{label_w}" y="12" fill="#555">steps passed, all labs (of {total})</text>']
    scale = (width - label_w - 60) / total
    for index, row in enumerate(rows):
        y = 20 + index * (bar_h + gap)
        colour = "#e57373" if row["stuck"] else "#81c784"
        length = max(1.0, row["passed (all labs)"] * scale)
        name = _xml(row["learner"])[:20]
        parts.append(f'<text x="0" y="{y + 13}">{name}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{length:.1f}" height="{bar_h}" fill="{colour}">'
                     f'<title>{_xml(row["stuck"] or row["step"])}</title></rect>')
        parts.append(f'<text x="{label_w + length + 4:.1f}" y="{y + 13}">{row["passed (all labs)"]} '
                     f'(lab {_xml(row["lab"])})</text>')
    parts.append("</svg>")
    return "".join(parts)


def _xml(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def render_text(directory: Path | str | None = None, now: float | None = None,
                records: list[dict] | None = None) -> str:
    """The class as text: from the class folder, or from `records` read elsewhere (a shared cluster)."""
    records = read_class(directory) if records is None else records
    if not records:
        return "no learner has published progress yet"
    frame = class_table(records, now)
    stuck = [name for name, reason in frame["stuck"].items() if reason]
    header = f"{len(records)} learners, {len(stuck)} stuck" + (f": {', '.join(stuck)}" if stuck else "")
    return header + "\n" + frame.to_string()


def dashboard(directory: Path | str | None = None, refresh: float = 10.0,
              read: Callable[[], list[dict]] | None = None):
    """A live instructor dashboard for a notebook: the class table and chart, refreshed every `refresh` s,
    from the class folder or from `read()` (e.g. `lambda: cluster_class(prefixes=[...])` on a shared cluster)."""
    read_records = read if read is not None else (lambda: read_class(directory))
    import threading

    import ipywidgets
    heading, table, chart = ipywidgets.HTML(), ipywidgets.HTML(), ipywidgets.HTML()
    box = ipywidgets.VBox([heading, table, chart])
    stop = threading.Event()

    def draw() -> None:
        now = time.time()
        try:
            records = read_records()
        except Exception as exc:  # noqa: BLE001  (shown in the dashboard, which keeps refreshing)
            heading.value = f"<b>cannot read the class:</b> {_xml(str(exc))}"
            return
        frame = class_table(records, now)
        stuck = int((frame["stuck"] != "").sum()) if len(frame) else 0
        heading.value = (f"<b>{len(records)} learners, {stuck} stuck</b> — updated "
                         f"{time.strftime('%H:%M:%S', time.localtime(now))} (every {refresh:.0f} s)")
        styled = frame.style.apply(lambda row: ["background-color: #ffcdd2" if row["stuck"] else "" for _ in row],
                                   axis=1)
        table.value = styled.to_html()
        chart.value = progress_chart_svg(records, now)

    def loop() -> None:
        while not stop.wait(refresh):
            draw()

    draw()
    threading.Thread(target=loop, name="labkit-class-dashboard", daemon=True).start()
    box.stop = stop.set  # dashboard.stop() ends the refreshing
    return box
