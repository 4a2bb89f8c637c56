"""The instructor view (issue 17): three learners at different steps, one stuck, seen through the class folder."""
from __future__ import annotations

import os
import pwd
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from labkit import classroom, progress
from labkit.labs import lab_info

ROOT = Path(__file__).resolve().parents[1]
LAB01, LAB02, LAB03 = (lab_info(i).steps for i in ("01", "02", "03"))


def as_learner(monkeypatch, tmp_path: Path, name: str) -> SimpleNamespace:
    """What a learner's kernel does: its own state folder, its name, the class folder from the recipe."""
    monkeypatch.setenv("LABKIT_LEARNER", name)
    return SimpleNamespace(state_dir=tmp_path / name / ".labkit")


@pytest.fixture
def class_folder(tmp_path, monkeypatch):
    folder = tmp_path / "class"
    folder.mkdir()
    monkeypatch.setenv("LABKIT_CLASS_DIR", str(folder))
    ann = as_learner(monkeypatch, tmp_path, "ann")   # lab 03, two steps done
    progress.started(ann, "03")
    for title in LAB03[:2]:
        progress.record(ann, "03", title, True)
    bob = as_learner(monkeypatch, tmp_path, "bob")   # lab 01: step 1 done, step 2 failed three times
    progress.started(bob, "01")
    progress.record(bob, "01", LAB01[0], True)
    for _ in range(3):
        progress.record(bob, "01", LAB01[1], False)
    cara = as_learner(monkeypatch, tmp_path, "cara")  # lab 02 just started, first check failed once
    progress.started(cara, "02")
    progress.record(cara, "02", LAB02[0], False)
    monkeypatch.delenv("LABKIT_LEARNER")
    return SimpleNamespace(folder=folder, bob=bob, tmp_path=tmp_path)


def test_three_learners_one_stuck(class_folder):
    frame = classroom.class_table(classroom.read_class(class_folder.folder))
    assert list(frame.index) == ["ann", "bob", "cara"]
    assert frame.loc["ann", "lab"] == "03" and frame.loc["ann", "step"] == LAB03[2]
    assert frame.loc["ann", "checks passed"] == f"2/{len(LAB03)}"
    assert frame.loc["bob", "lab"] == "01" and frame.loc["bob", "step"] == LAB01[1]
    assert frame.loc["bob", "stuck"] == f"failed 3× in a row: {LAB01[1]}"
    assert frame.loc["cara", "lab"] == "02" and frame.loc["cara", "checks passed"] == f"0/{len(LAB02)}"
    assert frame.loc["ann", "stuck"] == "" and frame.loc["cara", "stuck"] == ""
    assert frame.loc["cara", "last check"] == f"FAIL: {LAB02[0]}"

    # Ten minutes without a new step: everyone still in an unfinished lab counts as stuck.
    later = classroom.class_table(classroom.read_class(class_folder.folder), now=time.time() + 11 * 60)
    assert later.loc["cara", "stuck"] == "no progress for 11 min"
    assert later.loc["ann", "stuck"] == "no progress for 11 min"


def test_a_pass_ends_the_failing_streak(class_folder, monkeypatch):
    monkeypatch.setenv("LABKIT_LEARNER", "bob")
    progress.record(class_folder.bob, "01", LAB01[1], True)
    row = classroom.summarize(next(r for r in classroom.read_class(class_folder.folder) if r["learner"] == "bob"))
    assert row["stuck"] == "" and row["step"] == LAB01[2] and row["checks passed"] == f"2/{len(LAB01)}"


def test_cli_and_chart(class_folder):
    out = subprocess.run([sys.executable, "-m", "labkit.cli", "class", "--dir", str(class_folder.folder)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("3 learners, 1 stuck: bob"), out.stdout
    assert "failed 3× in a row" in out.stdout
    svg = classroom.progress_chart_svg(classroom.read_class(class_folder.folder))
    assert svg.count("<rect") == 3 and svg.count('fill="#e57373"') == 1  # bob's bar is the red one
    missing = subprocess.run([sys.executable, "-m", "labkit.cli", "class", "--dir", str(class_folder.tmp_path / "no")],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_dashboard_notebook_runs(class_folder):
    import nbformat
    from nbclient import NotebookClient
    notebook = nbformat.read(ROOT / "deploy" / "instructor" / "class-dashboard.ipynb", as_version=4)
    client = NotebookClient(notebook, kernel_name="python3", timeout=60, startup_timeout=60,
                            resources={"metadata": {"path": str(class_folder.tmp_path)}})
    client.execute()
    board = notebook.cells[1].outputs[0]["data"]
    assert "application/vnd.jupyter.widget-view+json" in board
    snapshot = notebook.cells[3].outputs[0]["data"]["text/plain"]
    assert "bob" in snapshot and "ann" not in snapshot  # only the stuck learner


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create learner and instructor users and the group")
def test_class_folder_permissions_between_users():
    """The recipe's folder: learners publish, cannot list it or read each other; instructors read all."""
    import shutil
    import tempfile
    tmp_path = Path(tempfile.mkdtemp(prefix="labkit-class-"))  # every user can reach /tmp (not pytest's tree)
    try:
        _permissions_between_users(tmp_path)
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)


def _permissions_between_users(tmp_path: Path) -> None:
    from isolation_worker import python_for_user
    users = {}
    for name in ("labkit-cls-ann", "labkit-cls-bob", "labkit-cls-teacher"):
        try:
            users[name] = pwd.getpwnam(name)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                           check=True, capture_output=True)
            users[name] = pwd.getpwnam(name)
    folder = tmp_path / "class"
    os.chmod(tmp_path, 0o755)
    subprocess.run(["sh", str(ROOT / "deploy" / "class-folder.sh"), str(folder), "labkit-cls-teacher"], check=True,
                   capture_output=True)
    teacher = users["labkit-cls-teacher"]
    teacher_groups = os.getgrouplist(teacher.pw_name, teacher.pw_gid)

    def run_as(user, code, groups=None):
        found = python_for_user(user.pw_uid, user.pw_gid)
        if found is None:
            pytest.skip(f"no Python with labkit that {user.pw_name} may run")
        python, env = found
        return subprocess.run([python, "-c", code], user=user.pw_uid, group=user.pw_gid,
                              extra_groups=groups or [], capture_output=True, text=True, cwd="/", timeout=60,
                              env={"PATH": os.environ["PATH"], "LABKIT_CLASS_DIR": str(folder), **env})

    for name in ("labkit-cls-ann", "labkit-cls-bob"):
        home = tmp_path / name
        home.mkdir()
        os.chown(home, users[name].pw_uid, users[name].pw_gid)
        out = run_as(users[name], "from types import SimpleNamespace; from labkit import progress; "
                                  f"progress.started(SimpleNamespace(state_dir={str(home / '.labkit')!r}), '01')")
        assert out.returncode == 0 and not out.stderr, out.stderr
    ann_file = folder / "labkit-cls-ann.json"
    assert ann_file.stat().st_mode & 0o777 == 0o640
    peek = run_as(users["labkit-cls-bob"], f"print(open({str(ann_file)!r}).read())")
    assert peek.returncode != 0 and "PermissionError" in peek.stderr
    listing = run_as(users["labkit-cls-bob"], f"import os; print(os.listdir({str(folder)!r}))")
    assert listing.returncode != 0 and "PermissionError" in listing.stderr
    view = run_as(teacher, f"from labkit.classroom import render_text; print(render_text({str(folder)!r}))",
                  groups=teacher_groups)
    assert view.returncode == 0, view.stderr
    assert view.stdout.startswith("2 learners") and "labkit-cls-ann" in view.stdout, view.stdout


def test_dashboard_reads_from_any_source_and_shows_a_failed_read(class_folder):
    records = classroom.read_class(class_folder.folder)
    board = classroom.dashboard(refresh=3600, read=lambda: records[:2])   # e.g. a shared cluster's records
    try:
        heading, table, chart = board.children
        assert "2 learners, 1 stuck" in heading.value and "bob" in table.value and "cara" not in table.value
    finally:
        board.stop()

    def unreachable() -> list[dict]:
        raise RuntimeError("the cluster said 403")
    failed = classroom.dashboard(refresh=3600, read=unreachable)
    try:
        assert "cannot read the class" in failed.children[0].value and "403" in failed.children[0].value
    finally:
        failed.stop()
