"""The app zygote's own process: a Python that has imported every sample app once and forks one child per
container, so a hundred pods' apps do not each pay Python's start and imports (~0.15 s of CPU per app,
most of a 100-pod start's budget on 2 cores).

Each child is still a process of its own, as a container's program is: its pod's environment, working
directory and arguments, its stdout and stderr the container's log file, stdin /dev/null, a session of its
own (a group signal stops it), and it runs the app module as `python -m labkit.apps.<name>` would, as
`__main__`, so its top-level code runs with the pod's environment. What makes importing them early safe:
an app module does its work under `if __name__ == "__main__"` and reads its environment only when it runs
(labkit/apps/common.py), never when imported.

A child dies with the zygote (PR_SET_PDEATHSIG) and the zygote with the mesh owner (setpriv --pdeathsig),
so no app outlives the kernel or CLI that started it. A child that crashes only ends its own process.

Protocol with the owner (labkit/runtime/zygote.py), one JSON object per line: requests on stdin
`{"id", "module", "argv", "env", "cwd", "log"}`; answers on stdout (moved off fd 1 at start, so that fd 1
is the zygote's log, as stderr, and a child's stdout is simply its log): `{"id", "pid"}` or
`{"id", "error"}`, and `{"exit": pid, "code": c}` when a child ends (`code` as Popen's returncode: -N for
signal N).
"""
from __future__ import annotations

import ctypes
import errno
import importlib
import json
import os
import pkgutil
import runpy
import select
import signal
import sys
import traceback

_PR_SET_PDEATHSIG = 1


def preload(package: str) -> None:
    """Import every app module of `package` (and so their libraries: Flask for httpbin, ssl, http.server)."""
    for module in pkgutil.iter_modules(importlib.import_module(package).__path__):
        try:
            importlib.import_module(f"{package}.{module.name}")
        except Exception:  # noqa: BLE001  the child imports it again and shows the error in its own log
            traceback.print_exc()


class Zygote:
    def __init__(self) -> None:
        answers_fd = os.dup(1)
        os.dup2(2, 1)
        # closefd=False: a forked child's copy of this object must never close what that fd number is by then.
        self.answers = os.fdopen(answers_fd, "w", buffering=1, closefd=False)
        self.pid = os.getpid()
        self.pending = b""
        self.settled = -1   # the write end of a new child's "settled" pipe (closed by the child)
        # SIGCHLD wakes the select() below through this pipe (the handler itself does nothing).
        self.wake_read, self.wake_write = os.pipe()
        os.set_blocking(self.wake_write, False)
        os.set_blocking(self.wake_read, False)
        signal.set_wakeup_fd(self.wake_write)
        signal.signal(signal.SIGCHLD, lambda *_: None)

    def answer(self, message: dict) -> None:
        self.answers.write(json.dumps(message) + "\n")

    def serve(self) -> dict | None:
        """Until the owner closes stdin; returns the request to run in a forked child (in the child only)."""
        while True:
            try:
                ready, _, _ = select.select([0, self.wake_read], [], [])
            except InterruptedError:
                continue
            if self.wake_read in ready:
                try:
                    os.read(self.wake_read, 512)
                except BlockingIOError:
                    pass
                self.reap()
            if 0 in ready:
                data = os.read(0, 65536)
                if not data:
                    self.reap()
                    return None
                self.pending += data
                *lines, self.pending = self.pending.split(b"\n")
                for line in lines:
                    request = json.loads(line)
                    if self.fork(request):
                        return request

    def fork(self, request: dict) -> bool:
        """True in the child."""
        sys.stdout.flush()
        sys.stderr.flush()
        settled_read, self.settled = os.pipe()
        try:
            pid = os.fork()
        except OSError as exc:
            os.close(settled_read)
            os.close(self.settled)
            self.answer({"id": request["id"], "error": f"fork: {exc}"})
            return False
        if pid == 0:
            os.close(settled_read)
            return True
        os.close(self.settled)
        # The pid is answered once the child has its own session (or died): as Popen returns only after
        # the exec, a stop right away must find the process group it signals.
        os.read(settled_read, 1)
        os.close(settled_read)
        self.answer({"id": request["id"], "pid": pid})
        return False

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.answer({"exit": pid, "code": os.waitstatus_to_exitcode(status)})

    def become(self, request: dict) -> None:
        """In the forked child: turn into the container's process, as a fresh exec would have set it up."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != self.pid:   # the zygote died before the line above: so must we
            os._exit(1)
        os.setsid()   # own process group and session, as the owner's other children (Ctrl-C spares them)
        os.close(self.settled)   # tells the zygote this process is settled
        log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.closerange(3, 1 << 16)   # the zygote's pipes are none of the app's business
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = list(request["argv"])
        sys.path[0] = os.getcwd()   # `-m` puts the working directory first; the zygote's was its own


def run_as_main(module: str) -> None:
    """`python -m module`, in this process. An uncaught exception prints its traceback from the app's own
    frames on (not this file's or runpy's) and exits 1, as Python does."""
    # Its preloaded copy stays out of the way: the module runs afresh as __main__ (what `-m` does), its
    # libraries and the other apps stay imported.
    sys.modules.pop(module, None)
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001  reported as the interpreter would, then exit 1
        tb = exc.__traceback__
        while tb is not None and (tb.tb_frame.f_code.co_filename in (__file__, runpy.__file__)
                                  or tb.tb_frame.f_code.co_filename.startswith("<frozen")):
            tb = tb.tb_next
        if tb is None and isinstance(exc, ImportError):
            # No such module at all: `python -m` says so in one line, after the interpreter's path.
            sys.stderr.write(f"{sys.executable}: {exc}\n")
        else:
            traceback.print_exception(type(exc), exc, tb)
        sys.exit(1)


def main() -> None:
    zygote = Zygote()   # first: what an import prints must reach the log, not the answers' pipe
    preload(sys.argv[1] if len(sys.argv) > 1 else "labkit.apps")   # argv[2], its folder: only for finding it
    request = zygote.serve()
    if request is None:
        return
    zygote.become(request)
    del zygote
    run_as_main(request["module"])


if __name__ == "__main__":
    try:
        main()
    except OSError as exc:
        if exc.errno != errno.EPIPE:   # the owner went away: nothing to tell anyone
            raise
