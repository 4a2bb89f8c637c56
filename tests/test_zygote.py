"""The app zygote (labkit/runtime/zygote*.py): apps forked from a pre-imported Python behave as processes
started from scratch: their env, arguments, working directory and log; crashes, import errors, stops; and
none outlives the owner."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labkit.runtime.procs import ManagedProcess
from labkit.runtime.zygote import AppZygote

PACKAGE = "zygote_test_apps"
# Like the sample apps, each does its work under `if __name__ == "__main__"` (the zygote imports them first).
# `report` writes what it was given (as a container's program might print it) and waits for SIGTERM.
REPORT = """\
import json, os, signal, sys, time
if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(json.dumps({"argv": sys.argv, "cwd": os.getcwd(), "path0": sys.path[0], "pod": os.environ.get("POD_NAME"),
                      "has_owner_var": "ZYGOTE_TEST_OWNER_ONLY" in os.environ, "name": __name__,
                      "pid": os.getpid(), "ppid": os.getppid(), "pgid": os.getpgid(0)}), flush=True)
    print("to stderr", file=sys.stderr, flush=True)
    while True:
        time.sleep(1)
"""
CRASH = ("if __name__ == '__main__':\n    print('about to crash', flush=True)\n"
         "    raise RuntimeError('the app crashed')\n")
BROKEN_IMPORT = "import no_such_library_anywhere  # noqa\n"


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (dead, not reaped yet) counts as dead.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def apps(tmp_path, monkeypatch):
    package = tmp_path / "lib" / PACKAGE
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "report.py").write_text(REPORT)
    (package / "crash.py").write_text(CRASH)
    (package / "broken.py").write_text(BROKEN_IMPORT)
    path = os.pathsep.join(filter(None, [str(tmp_path / "lib"), os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", path)
    monkeypatch.setenv("ZYGOTE_TEST_OWNER_ONLY", "1")
    zygote = AppZygote(tmp_path / "zygote.log", package=PACKAGE)
    yield zygote
    zygote.stop()


def app_env(zygote: AppZygote, **extra) -> dict:
    return {**zygote.env, **extra}


def command(module: str) -> list[str]:
    return [sys.executable, "-m", f"{PACKAGE}.{module}"]


def first_line(path: Path) -> dict:
    wait_for(lambda: path.exists() and path.read_text().strip())
    return json.loads(path.read_text().splitlines()[0])


def test_a_forked_app_gets_its_env_args_cwd_and_log(apps, tmp_path):
    cwd = tmp_path / "pod"
    cwd.mkdir()
    log = tmp_path / "pod" / "web.log"
    args = [*command("report"), "--port", "9000"]
    assert apps.can_run(args, app_env(apps, POD_NAME="web-1"))
    child = apps.popen(args, env=app_env(apps, POD_NAME="web-1"), cwd=cwd, log_path=log)
    seen = first_line(log)
    assert seen["pid"] == child.pid and seen["name"] == "__main__"
    assert seen["argv"][1:] == ["--port", "9000"] and seen["argv"][0].endswith("report.py")   # as `-m` sets it
    assert seen["cwd"] == seen["path0"] == str(cwd) and seen["pod"] == "web-1"
    assert not seen["has_owner_var"]   # only the env it was given, not the owner's
    assert seen["pgid"] == child.pid   # its own process group: a group signal stops it alone
    wait_for(lambda: "to stderr" in log.read_text())   # stderr goes to the same log, as a container's
    assert child.poll() is None
    os.killpg(child.pid, signal.SIGTERM)
    assert child.wait(timeout=5) == 0 and child.returncode == 0


def test_what_fork_cannot_reproduce_is_not_the_zygotes(apps):
    assert not apps.can_run([sys.executable, "-c", "pass"], app_env(apps))
    assert not apps.can_run(command("report"), app_env(apps, PYTHONHASHSEED="1"))   # read at interpreter start
    assert not apps.can_run(command("report"), app_env(apps, LANG="xx_XX.UTF-8"))
    assert not apps.can_run([sys.executable, "-m", "other_package.app"], app_env(apps))
    assert apps.can_run(command("report"), app_env(apps, ANYTHING_ELSE="x"))


def test_a_crash_ends_only_that_app(apps, tmp_path):
    survivor = apps.popen(command("report"), env=app_env(apps), cwd=tmp_path, log_path=tmp_path / "a.log")
    first_line(tmp_path / "a.log")
    crasher = apps.popen(command("crash"), env=app_env(apps), cwd=tmp_path, log_path=tmp_path / "b.log")
    assert crasher.wait(timeout=10) == 1
    text = (tmp_path / "b.log").read_text()
    # As `python -m` prints an uncaught exception: the app's own frames, nothing of the zygote's.
    assert "about to crash" in text and text.rstrip().endswith("RuntimeError: the app crashed")
    assert "Traceback (most recent call last):" in text and "zygote_server" not in text and "runpy" not in text
    killed = apps.popen(command("report"), env=app_env(apps), cwd=tmp_path, log_path=tmp_path / "c.log")
    first_line(tmp_path / "c.log")
    os.kill(killed.pid, signal.SIGKILL)
    assert killed.wait(timeout=5) == -signal.SIGKILL   # as Popen reports a signal
    assert survivor.poll() is None and alive(survivor.pid)
    after = apps.popen(command("report"), env=app_env(apps), cwd=tmp_path, log_path=tmp_path / "d.log")
    assert first_line(tmp_path / "d.log")["pid"] == after.pid   # the zygote still forks
    os.killpg(survivor.pid, signal.SIGTERM)
    os.killpg(after.pid, signal.SIGTERM)
    assert survivor.wait(timeout=5) == 0 and after.wait(timeout=5) == 0


def test_import_errors_read_as_from_a_fresh_python(apps, tmp_path):
    env = app_env(apps)
    for module in ("broken", "missing"):
        forked = apps.popen(command(module), env=env, cwd=tmp_path, log_path=tmp_path / f"{module}.log")
        assert forked.wait(timeout=10) == 1
        fresh = subprocess.run(command(module), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30)
        assert fresh.returncode == 1
        ours, theirs = (tmp_path / f"{module}.log").read_text(), fresh.stderr
        # The same last line (the error), and for an import inside the app the same frame of the app.
        assert ours.strip().splitlines()[-1] == theirs.strip().splitlines()[-1], (ours, theirs)
        if module == "broken":
            assert "ModuleNotFoundError: No module named 'no_such_library_anywhere'" in ours
            assert 'broken.py", line 1, in <module>' in ours
        else:
            assert ours.strip() == f"{sys.executable}: No module named {PACKAGE}.missing"


def test_managed_process_restarts_through_the_zygote(apps, tmp_path):
    process = ManagedProcess("pod/app", command("report"), env=app_env(apps), log_path=tmp_path / "app.log",
                             cwd=tmp_path, launcher=apps)
    process.start()
    first = first_line(tmp_path / "app.log")["pid"]
    assert process.pid == first and process.alive()
    process.restart()
    wait_for(lambda: len((tmp_path / "app.log").read_text().splitlines()) >= 3)
    second = json.loads([line for line in (tmp_path / "app.log").read_text().splitlines()
                         if line.startswith("{")][-1])["pid"]
    assert second == process.pid != first and not alive(first)
    process.stop()
    assert not process.alive() and not alive(second)


def test_the_zygote_gone_means_its_apps_gone_and_a_new_one_starts(apps, tmp_path):
    child = apps.popen(command("report"), env=app_env(apps), cwd=tmp_path, log_path=tmp_path / "a.log")
    zygote_pid = first_line(tmp_path / "a.log")["ppid"]
    os.kill(zygote_pid, signal.SIGKILL)
    assert child.wait(timeout=5) == -signal.SIGKILL
    wait_for(lambda: not alive(child.pid), timeout=5)
    again = apps.popen(command("report"), env=app_env(apps), cwd=tmp_path, log_path=tmp_path / "b.log")
    assert first_line(tmp_path / "b.log")["ppid"] != zygote_pid
    os.killpg(again.pid, signal.SIGTERM)
    assert again.wait(timeout=5) == 0


OWNER = """\
import json, os, sys, time
from pathlib import Path
from labkit.runtime.zygote import AppZygote
zygote = AppZygote(Path(sys.argv[1]) / "zygote.log", package=sys.argv[2])
child = zygote.popen([sys.executable, "-m", sys.argv[2] + ".report"], env=dict(zygote.env), cwd=sys.argv[1],
                     log_path=Path(sys.argv[1]) / "app.log")
print(child.pid, flush=True)
time.sleep(60)
"""


def test_apps_and_zygote_die_with_their_owner(apps, tmp_path):
    owner = subprocess.Popen([sys.executable, "-c", OWNER, str(tmp_path), PACKAGE], stdout=subprocess.PIPE,
                             text=True, env=os.environ)
    try:
        assert owner.stdout is not None
        app_pid = int(owner.stdout.readline())
        zygote_pid = first_line(tmp_path / "app.log")["ppid"]
        assert alive(app_pid) and alive(zygote_pid)
    finally:
        owner.kill()   # SIGKILL: no cleanup code of the owner runs
        owner.wait()
    wait_for(lambda: not alive(zygote_pid) and not alive(app_pid), timeout=5)
