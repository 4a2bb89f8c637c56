"""Starting processes that die with their owner, even when the owner is killed with SIGKILL.

Linux delivers PR_SET_PDEATHSIG when the *thread* that forked the child exits, so every child is
forked by one of a few long-lived spawner threads (envoy-facts.md, "Processes").

Where util-linux's `setpriv` exists it sets the death signal (`setpriv --pdeathsig KILL -- cmd`, the
same PID once it execs), so Python needs no preexec_fn and spawns with vfork: a full fork() of an
owner holding a few hundred MB took ~100 ms per child here, vfork ~2 ms. Elsewhere a preexec_fn does it.
"""
from __future__ import annotations

import ctypes
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Protocol

_PR_SET_PDEATHSIG = 1


_SETPRIV = shutil.which("setpriv") if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    os.setsid()  # own process group: a Ctrl-C in the notebook's terminal does not hit the mesh
    os.umask(0o077)  # logs and files the mesh's processes write are the learner's alone on a shared host


SPAWNER_THREADS = 4


class Spawner:
    """A few long-lived threads that fork every child, so the children's death signal follows this
    process (it fires when the forking thread exits, and these never do). Several, so that a mesh's
    hundred children start side by side: on a loaded machine each spawn waits ~0.1 s for the child to
    be scheduled and exec, and one thread made a 100-pod start wait 20 s for spawns in a row."""

    def __init__(self) -> None:
        self._requests: queue.Queue = queue.Queue()
        self._threads = [threading.Thread(target=self._run, name=f"labkit-spawner-{i}", daemon=True)
                         for i in range(SPAWNER_THREADS)]
        for thread in self._threads:
            thread.start()

    def alive(self) -> bool:
        return all(thread.is_alive() for thread in self._threads)

    def _run(self) -> None:
        while True:
            item = self._requests.get()
            if item is None:
                return
            future, args, kwargs = item
            try:
                future.set_result(_popen(args, kwargs))
            except BaseException as exc:  # delivered to the caller
                future.set_exception(exc)

    def popen(self, args: list[str], **kwargs) -> subprocess.Popen:
        if _SETPRIV and shutil.which(args[0], path=(kwargs.get("env") or os.environ).get("PATH")) is None:
            # Through setpriv a missing program would be its exit code 127; keep Popen's own error.
            raise FileNotFoundError(2, "No such file or directory", args[0])
        future: Future = Future()
        self._requests.put((future, args, kwargs))
        return future.result(timeout=30)


def _popen(args: list[str], kwargs: dict) -> subprocess.Popen:
    if _SETPRIV:
        # start_new_session: own process group, as _die_with_parent's setsid (Ctrl-C spares the mesh).
        return subprocess.Popen([_SETPRIV, "--pdeathsig", "KILL", "--", *args], start_new_session=True, **kwargs)
    return subprocess.Popen(args, preexec_fn=_die_with_parent, **kwargs)


_spawner: Spawner | None = None
_spawner_lock = threading.Lock()


def spawner() -> Spawner:
    global _spawner
    with _spawner_lock:
        if _spawner is None or not _spawner.alive():
            _spawner = Spawner()
        return _spawner


# Like the kubelet's CrashLoopBackOff, shortened for a lab: the first restart is immediate, then the
# wait doubles up to BACKOFF_MAX; a process that stayed up STABLE_AFTER seconds starts over.
BACKOFF_FIRST, BACKOFF_MAX, STABLE_AFTER = 0.5, 10.0, 10.0


class Launcher(Protocol):
    """Another way to start some commands (the app zygote, runtime/zygote.py), giving a Popen-like handle."""

    def can_run(self, args: list[str], env: dict | None) -> bool: ...

    def popen(self, args: list[str], *, env: dict, cwd: Path | None, log_path: Path): ...


class ManagedProcess:
    """A child with its log file, restart count, crash-loop backoff and a clean stop."""

    def __init__(self, name: str, args: list[str], *, env: dict | None = None, log_path: Path,
                 cwd: Path | None = None, before_start=None, launcher: Launcher | None = None):
        self.name, self.args, self.env, self.log_path, self.cwd = name, args, env, Path(log_path), cwd
        self.before_start = before_start
        self.launcher = launcher
        self.proc: subprocess.Popen | None = None
        self.restarts = 0
        self.started_at = 0.0
        self.last_exit: int | None = None
        self.restart_at: float | None = None
        self._backoff = 0.0

    @property
    def backing_off(self) -> bool:
        return self.restart_at is not None and self.restart_at > time.monotonic()

    def restart_when_due(self) -> bool:
        """Called while the process is dead: schedule its restart, and restart it once due."""
        now = time.monotonic()
        if self.restart_at is None:
            if now - self.started_at > STABLE_AFTER:
                self._backoff = 0.0
            self.restart_at = now + self._backoff
            self._backoff = min(max(self._backoff * 2, BACKOFF_FIRST), BACKOFF_MAX)
        if now < self.restart_at:
            return False
        self.restart_at = None
        self.restart()
        return True

    def start(self) -> None:
        if self.before_start is not None:
            self.before_start()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self.launcher is not None and self.launcher.can_run(self.args, self.env):
            try:
                self.proc = self.launcher.popen(self.args, env=dict(self.env or {}), cwd=self.cwd,
                                                log_path=self.log_path)
                self.started_at = time.monotonic()
                return
            except OSError:
                pass   # the launcher is gone (its process died): start it the ordinary way
        log = open(self.log_path, "ab", buffering=0)
        try:
            self.proc = spawner().popen(self.args, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, cwd=self.cwd)
        finally:
            log.close()
        self.started_at = time.monotonic()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exited(self) -> bool:
        """True once, when the process has died on its own."""
        if self.proc is None:
            return False
        code = self.proc.poll()
        if code is None:
            return False
        self.last_exit = code
        return True

    def restart(self) -> None:
        self.stop(timeout=0.5)
        self.restarts += 1
        self.start()

    def stop(self, timeout: float = 2.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=5)
        self.last_exit = self.proc.returncode
        self.proc = None
