"""The live graph: redrawn while traffic flows, a failed refresh shown (not raised), and its thread ends
on `.stop()` or after `duration`, so nothing outlives the notebook."""
from __future__ import annotations

import re
import time

from labkit.tools.graph import build_graph
from labkit.tools.graph_live import LiveGraph


def edge(requests: int) -> dict:
    return {"source": "foo/curl", "destination": "foo/httpbin", "mtls": True, "status": "ok",
            "requests": requests, "codes": f"200×{requests}"}


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.time() + timeout
    while not condition() and time.time() < deadline:
        time.sleep(0.02)
    assert condition()


def test_the_picture_follows_the_traffic_until_stopped():
    calls = [0]

    def draw():
        calls[0] += 1
        return build_graph([edge(calls[0])], {})
    live = LiveGraph(draw, every=0.05, duration=60)
    try:
        assert "1 req" in live.picture.value
        wait_for(lambda: live.refreshes >= 3)
        shown = int(re.search(r"(\d+) req", live.picture.value).group(1))
        assert shown >= 2      # redrawn from the newer traffic, not the first picture
        assert "refreshing every" in live.heading.value
    finally:
        live.stop()
    assert not live.running
    done = live.refreshes
    time.sleep(0.2)
    assert live.refreshes == done


def test_a_failed_refresh_is_shown_and_the_thread_ends_after_its_duration(tmp_path):
    answers = iter([build_graph([edge(1)], {})])

    def draw():
        try:
            return next(answers)
        except StopIteration:
            raise RuntimeError("mesh is not running") from None
    live = LiveGraph(draw, every=0.05, duration=0.5)
    wait_for(lambda: "mesh is not running" in live.heading.value)
    assert "1 req" in live.picture.value      # the last good picture stays
    wait_for(lambda: not live.running)
    live.save(tmp_path / "graph.svg")
    assert (tmp_path / "graph.svg").read_text().startswith("<?xml") and "1 req" in (tmp_path / "graph.svg").read_text()
