"""The mesh owner's side of the app zygote (labkit/runtime/zygote_server.py): a pre-imported Python that
forks the sample apps, so each app's start costs a fork, not an interpreter start and its imports.

`AppZygote.popen` takes what `subprocess.Popen` would (the app's `python -m labkit.apps.<name>` command
line, env, cwd, log file) and returns a handle with Popen's `pid`, `poll`, `wait` and `returncode`, so
ManagedProcess keeps its restarts, backoff and stops. A command it cannot reproduce by forking (not a
labkit app, or an environment that changes how Python itself starts, such as PYTHONPATH) is not its
business: `can_run` says so and the caller spawns it the ordinary way.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import Future
from pathlib import Path

from ..errors import LabkitError
from .procs import spawner

APP_PACKAGE = "labkit.apps"
# Read by the interpreter when it starts, so a forked child keeps the zygote's: a request that differs in
# one of them needs a fresh interpreter. (Any PYTHON* variable counts too.)
STARTUP_VARIABLES = ("LANG", "LC_ALL", "LC_CTYPE")
ZYGOTE_ENV = {"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}
BASE_ENV = ("PATH", "LANG", "LC_ALL", "PYTHONPATH", "HOME")
KILLED = -signal.SIGKILL


def _startup_env(env: dict) -> dict:
    return {k: v for k, v in env.items() if k.startswith("PYTHON") or k in STARTUP_VARIABLES}


class ForkedApp:
    """A child of the zygote, seen from the owner like a subprocess.Popen."""

    def __init__(self, zygote: "AppZygote", args: list[str], pid: int):
        self.args, self.pid, self._zygote = args, pid, zygote
        self.returncode: int | None = None
        self.ended = threading.Event()

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self.ended.wait(timeout):
            raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
        assert self.returncode is not None, "set before the event"
        return self.returncode

    def finish(self, code: int) -> None:
        self.returncode = code
        self.ended.set()


class AppZygote:
    """`package`: whose modules it preloads and runs (the sample apps; tests use one of their own)."""

    def __init__(self, log_path: Path, package: str = APP_PACKAGE):
        self.log_path, self.package = Path(log_path), package
        self.env = {k: v for k, v in os.environ.items() if k in BASE_ENV} | ZYGOTE_ENV
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._next_id = 0
        self._waiting: dict[int, Future] = {}   # request id → its pid or error
        self._children: dict[int, ForkedApp] = {}
        self._exited_early: dict[int, int] = {}   # pid → code, when the exit was read before the pid was
        self._closed = False

    @property
    def pid(self) -> int | None:
        """The zygote's own pid while it runs (it is one of the mesh's processes)."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def can_run(self, args: list[str], env: dict | None) -> bool:
        """Whether a fork of the zygote is the same as running `args` in `env` from scratch."""
        return (len(args) >= 3 and args[0] == sys.executable and args[1] == "-m"
                and args[2].startswith(self.package + ".") and env is not None
                and _startup_env(env) == _startup_env(self.env))

    # -- the zygote process -----------------------------------------------------------------------
    def _ensure_started(self) -> subprocess.Popen:
        """Called with the lock held."""
        if self._closed:
            raise LabkitError("the app zygote was stopped (the mesh is going down)")
        if self._process is not None and self._process.poll() is None:
            return self._process
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab", buffering=0) as log:
            # Its folder (in the mesh's state directory) on its command line, which its children share:
            # whoever looks for the processes of a mesh (leftover checks) finds them by it, as the Envoys.
            process = spawner().popen([sys.executable, "-m", "labkit.runtime.zygote_server", self.package,
                                       str(self.log_path.parent)], env=self.env,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                      cwd=self.log_path.parent)
        self._process = process
        threading.Thread(target=self._read_answers, args=(process,), name="labkit-zygote-answers",
                         daemon=True).start()
        return process

    def _read_answers(self, process: subprocess.Popen) -> None:
        assert process.stdout is not None, "started with stdout=PIPE"
        for line in process.stdout:
            message = json.loads(line)
            with self._lock:
                if "exit" in message:
                    child = self._children.pop(message["exit"], None)
                    if child is None:
                        self._exited_early[message["exit"]] = message["code"]
                    else:
                        child.finish(message["code"])
                    continue
                future = self._waiting.pop(message["id"], None)
            if future is not None:
                if "error" in message:
                    future.set_exception(OSError(message["error"]))
                else:
                    future.set_result(message["pid"])
        # The zygote is gone, and with it (PR_SET_PDEATHSIG) every child it forked.
        process.wait()
        with self._lock:
            if self._process is process:
                self._process = None
            children, self._children = self._children, {}
            waiting, self._waiting = self._waiting, {}
        for child in children.values():
            child.finish(KILLED)
        for future in waiting.values():
            future.set_exception(OSError("the app zygote exited"))

    def warm_up(self) -> None:
        """Start the zygote now, in the background (its imports overlap the owner's translation work)."""
        def start() -> None:
            with self._lock:
                try:
                    self._ensure_started()
                except (LabkitError, OSError):
                    pass   # the first popen says why
        threading.Thread(target=start, name="labkit-zygote-start", daemon=True).start()

    # -- forking an app ---------------------------------------------------------------------------
    def popen(self, args: list[str], *, env: dict, cwd: Path | str | None, log_path: Path) -> ForkedApp:
        future: Future = Future()
        with self._lock:
            process = self._ensure_started()
            self._next_id += 1
            ident = self._next_id
            request = {"id": ident, "module": args[2], "argv": [args[0], *args[3:]], "env": env,
                       "cwd": str(cwd or os.getcwd()), "log": str(log_path)}
            self._waiting[ident] = future
            assert process.stdin is not None, "started with stdin=PIPE"
            try:
                process.stdin.write((json.dumps(request) + "\n").encode())
                process.stdin.flush()
            except OSError as exc:
                self._waiting.pop(ident, None)
                raise OSError(f"the app zygote is not answering: {exc}") from exc
        pid = future.result(timeout=30)
        child = ForkedApp(self, args, pid)
        with self._lock:
            code = self._exited_early.pop(pid, None)
            if code is None:
                self._children[pid] = child
        if code is not None:
            child.finish(code)
        return child

    def stop(self) -> None:
        """Close its stdin (it exits, and so do any children left: stop the apps first)."""
        with self._lock:
            self._closed = True
            process, self._process = self._process, None
        if process is None:
            return
        assert process.stdin is not None, "started with stdin=PIPE"
        try:
            process.stdin.close()
            process.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait(timeout=5)
