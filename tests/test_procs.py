"""Process supervision without a mesh: crash-loop backoff and the restart hook."""
from __future__ import annotations

import sys
import time

from labkit.runtime.procs import ManagedProcess


def test_a_crash_looping_process_backs_off(tmp_path):
    hooks = []
    process = ManagedProcess("crasher", [sys.executable, "-c", "raise SystemExit(3)"], log_path=tmp_path / "log",
                             before_start=lambda: hooks.append(1))
    process.start()
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        if process.exited():
            process.restart_when_due()
        time.sleep(0.02)
    process.stop()
    # Immediate, then 0.5 s, 1 s, 2 s: at most four restarts in 2.5 s (without backoff: dozens).
    assert 2 <= process.restarts <= 4
    assert process.last_exit == 3
    assert len(hooks) == process.restarts + 1


def test_a_process_that_stayed_up_restarts_at_once(tmp_path, monkeypatch):
    import labkit.runtime.procs as procs
    monkeypatch.setattr(procs, "STABLE_AFTER", 0.2)
    process = ManagedProcess("sleeper", [sys.executable, "-c", "import time; time.sleep(0.4)"],
                             log_path=tmp_path / "log")
    process.start()
    for _ in range(2):
        while not process.exited():
            time.sleep(0.02)
        assert process.restart_when_due()  # no wait: it had been up longer than STABLE_AFTER
    process.stop()
    assert process.restarts == 2
