"""The doorbell an attached process rings so the mesh owner acts on a change without waiting for its poll."""
from __future__ import annotations

import threading
import time

from labkit.backends.wake import Doorbell, ring


def test_ring_wakes_the_waiter_and_rings_merge(tmp_path):
    bell = Doorbell(tmp_path)
    try:
        assert bell.sock is not None
        threading.Timer(0.05, ring, args=(tmp_path,)).start()
        start = time.monotonic()
        bell.wait(30)
        assert time.monotonic() - start < 10  # woken by the ring, not by the 30 s timeout
        for _ in range(3):
            ring(tmp_path)
        bell.wait(30)  # three rings wake once ...
        start = time.monotonic()
        bell.wait(0.2)  # ... and leave nothing behind
        assert time.monotonic() - start >= 0.15
    finally:
        bell.close()
    assert not (tmp_path / "wake.sock").exists()
    ring(tmp_path)  # nobody listening: no error


def test_too_long_a_path_falls_back_to_polling(tmp_path):
    deep = tmp_path / ("d" * 120)
    deep.mkdir()
    bell = Doorbell(deep)
    assert bell.sock is None
    start = time.monotonic()
    bell.wait(0.05)
    assert time.monotonic() - start >= 0.04
    bell.close()
