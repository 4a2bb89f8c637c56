"""The live traffic widget (issue 19 item 4): the chart, the sender thread's life, and on a real mesh the
rows turning red while STRICT is on and green again when it goes (seed 001's two `while true` loops)."""
from __future__ import annotations

import os
import re
import threading
import time

import pytest

from labkit.checks.curl_outcomes import Outcome
from labkit.contract import ExecResult
from labkit.display.traffic_chart import Tick, chart_svg, counts, legend_html, summary_text
from labkit.errors import LabkitError
from labkit.live_traffic import GatewayRoute, PodRoute, as_route, kind_of, live_traffic
from mesh_scenarios import strict


# --- the chart ----------------------------------------------------------------------------------------------
def test_the_chart_draws_each_request_of_the_window_in_its_row_and_colour():
    now = 1000.0
    ticks = [Tick(now - 70, 0, "200"), Tick(now - 30, 0, "200"), Tick(now - 5, 1, "reset", "reset (56)"),
             Tick(now - 1, 1, "403")]
    svg = chart_svg(["curl.foo \u2192 httpbin.foo:8000", "curl.legacy \u2192 httpbin.foo:8000"], ticks, now, 60)
    drawn = re.findall(r'data-kind="([^"]+)" data-route="(\d)" x="([\d.]+)"', svg)
    # The request 70 s ago is outside the 60 s window; the others sit in their rows, newest furthest right.
    assert [(kind, row) for kind, row, _ in drawn] == [("200", "0"), ("reset", "1"), ("403", "1")]
    xs = [float(x) for *_, x in drawn]
    assert xs[0] < xs[1] < xs[2]
    assert "curl.legacy \u2192 httpbin.foo:8000" in svg and "reset (56)" in svg
    assert 'fill="#ffcdd2"' in svg     # reset is red, as in the traffic matrix


def test_counts_legend_and_summary_tell_the_kinds_apart():
    ticks = [Tick(10, 0, "200"), Tick(11, 0, "200"), Tick(12, 1, "reset"), Tick(13, 1, "503")]
    assert counts(ticks) == {"200": 2, "reset": 1, "503": 1}
    assert counts(ticks, 1) == {"reset": 1, "503": 1}
    assert ">reset <b>1</b>" in legend_html(ticks) and ">403 <b>0</b>" in legend_html(ticks)
    text = summary_text(["a", "b", "c"], ticks, now=13, last=1.5)
    assert text.splitlines() == ["a: no request yet", "b: reset x1, 503 x1", "c: no request yet"]


def test_outcomes_are_sorted_into_the_charts_kinds():
    def outcome(status, code):
        return Outcome("curl.foo", "http://httpbin.foo:8000/", status, code)
    assert kind_of(outcome("200", 0)) == "200"
    assert kind_of(outcome("403", 0)) == "403"
    assert kind_of(outcome("503", 0)) == "503"
    assert kind_of(outcome("000", 56)) == "reset"
    assert kind_of(outcome("404", 0)) == "other"
    assert kind_of(outcome("000", 7)) == "other"     # refused is not a reset


# --- routes -------------------------------------------------------------------------------------------------
def test_routes_are_read_from_what_a_notebook_writes():
    assert as_route(("legacy", "httpbin.foo:8000")) == PodRoute("legacy", "httpbin.foo:8000")
    assert as_route(("shop", "customers.backend", "/", "web-frontend")).name == \
        "web-frontend.shop \u2192 customers.backend"
    assert as_route(("gateway", "shop.example.com", "/ip")) == GatewayRoute("shop.example.com", "/ip")


@pytest.mark.parametrize("spec", ["httpbin.foo", ("legacy",), ("gateway", "h", "/", "x"), ("legacy", 8000)])
def test_a_route_that_cannot_be_read_is_a_clear_error(spec):
    with pytest.raises(LabkitError) as raised:
        as_route(spec)
    assert raised.value.field == "routes" and raised.value.hint


# --- the sender thread, with a stand-in for the mesh ---------------------------------------------------------
class ScriptedLab:
    """Answers `kubectl exec ... curl` with a scripted exit code and status, counting the requests."""

    def __init__(self, answer=(0, "200")):
        self.answer = answer
        self.requests = 0
        self.threads: set[str] = set()

    def get(self, kind, name=None, namespace=None):
        if namespace == "missing":
            return []
        return [{"metadata": {"name": "curl"}}]

    def exec(self, namespace, target, command, *, container=None, timeout=30):
        self.requests += 1
        self.threads.add(threading.current_thread().name)
        assert "--max-time" in command and float(command[command.index("--max-time") + 1]) <= 2
        code, status = self.answer
        return ExecResult(code, f"\n{status}", "curl: (56) Recv failure" if code else "", command)


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_the_loop_keeps_sending_off_the_main_thread_until_stopped():
    lab = ScriptedLab()
    traffic = live_traffic(lab, [("foo", "httpbin.foo:8000"), ("legacy", "httpbin.foo:8000")], every=0.05)
    try:
        assert wait_for(lambda: traffic.seen(1).get("200", 0) >= 3)
        lab.answer = (56, "000")            # STRICT goes on: the next requests are reset
        flipped = time.time()
        assert wait_for(lambda: traffic.seen(1, since=flipped).get("reset", 0) >= 2)
        assert lab.threads == {"labkit-live-traffic"}
    finally:
        traffic.stop()
    assert not traffic.running
    sent = lab.requests
    time.sleep(0.3)
    assert lab.requests == sent, "requests were sent after stop()"
    assert "stopped" in repr(traffic) and "reset" in repr(traffic)
    assert traffic.seen("curl.legacy \u2192 httpbin.foo:8000") == traffic.seen(1)
    with pytest.raises(LabkitError) as raised:
        traffic.seen(2)
    assert raised.value.field == "route" and "curl.foo" in raised.value.hint


def test_it_stops_by_itself_after_its_duration():
    traffic = live_traffic(ScriptedLab(), [("foo", "httpbin.foo:8000")], every=0.05, duration=0.3)
    assert wait_for(lambda: not traffic.running, 5)
    assert traffic.rounds >= 1


def test_a_new_live_traffic_stops_the_last_one():
    first = live_traffic(ScriptedLab(), [("foo", "httpbin.foo:8000")], every=0.05)
    second = live_traffic(ScriptedLab(), [("foo", "httpbin.foo:8000")], every=0.05)
    try:
        assert wait_for(lambda: not first.running, 5)
        assert second.running
    finally:
        second.stop()


def test_a_route_that_cannot_send_is_reported_not_counted():
    traffic = live_traffic(ScriptedLab(), [("missing", "httpbin.foo:8000")], every=0.05)
    try:
        assert wait_for(lambda: traffic.rounds >= 2)
        assert traffic.snapshot() == []
        assert "no curl or sleep deployment in namespace missing" in traffic.problem
    finally:
        traffic.stop()


def test_bad_arguments_start_nothing():
    before = {t.name for t in threading.enumerate()}
    with pytest.raises(LabkitError):
        live_traffic(ScriptedLab(), [])
    with pytest.raises(LabkitError):
        live_traffic(ScriptedLab(), [("foo", "httpbin.foo:8000")], every=0)
    assert {t.name for t in threading.enumerate()} == before


# --- on a real mesh ------------------------------------------------------------------------------------------
@pytest.mark.envoy
def test_on_a_real_mesh_the_plaintext_row_resets_while_strict_is_on(lab):
    lab.reset_lab("02")    # foo and bar with sidecars, legacy without
    traffic = live_traffic(lab, [("foo", "httpbin.foo:8000"), ("legacy", "httpbin.foo:8000")], every=0.3)
    try:
        assert wait_for(lambda: traffic.seen(1).get("200", 0) >= 2, 20), traffic.summary()
        lab.apply(strict("foo"))
        on = time.time()
        assert wait_for(lambda: traffic.seen(1, since=on).get("reset", 0) >= 2, 20), traffic.summary()
        lab.delete("PeerAuthentication", "default", namespace="foo")
        off = time.time()
        assert wait_for(lambda: traffic.seen(1, since=off + 1.5).get("200", 0) >= 2, 20), traffic.summary()
        # The sidecar-to-sidecar row never failed: it speaks mTLS either way.
        assert set(traffic.seen(0)) == {"200"}, traffic.summary()
    finally:
        traffic.stop()
        lab.delete("PeerAuthentication", "default", namespace="foo", ignore_missing=True)
    assert not traffic.running


# --- on the Kubernetes backend (a mock API server speaking the exec websocket) --------------------------------
def test_on_the_kube_backend_requests_go_through_kubectl_exec(monkeypatch):
    """The same widget on a cluster: each request is `kubectl exec` of curl in the client pod (no backend branch
    in live_traffic.py; the Lab contract's exec does it)."""
    from kube_mock import KubeMock
    from labkit.backends.kube import KubeLab
    from test_kube_backend import make_deploy, make_pod
    for name in [n for n in os.environ if n.startswith("LABKIT_")]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KUBECONFIG", "/nonexistent/labkit-test-kubeconfig")
    strict = {"on": False}

    def curl_in_pod(namespace, pod, container, command):
        assert command[0] == "curl" and command[-1] == "http://httpbin.foo:8000/ip", command
        if namespace == "legacy" and strict["on"]:
            return "\n000", "curl: (56) Recv failure: Connection reset by peer\n", 56
        return "\n200", "", 0

    with KubeMock() as api:
        api.exec_handler = curl_in_pod
        for namespace in ("foo", "legacy"):
            api.add(make_pod("curl-5d6f", namespace, labels={"app": "curl"}, sidecar=namespace == "foo"))
            api.add(make_deploy("curl", namespace))
        lab = KubeLab(api_client=api.api_client(), poll_interval=0.02)
        traffic = live_traffic(lab, [("foo", "httpbin.foo:8000", "/ip"), ("legacy", "httpbin.foo:8000", "/ip")],
                               every=0.05)
        try:
            assert wait_for(lambda: traffic.seen(1).get("200", 0) >= 2), (traffic.summary(), traffic.problem)
            strict["on"] = True
            flipped = time.time()
            assert wait_for(lambda: traffic.seen(1, since=flipped).get("reset", 0) >= 2), traffic.summary()
        finally:
            traffic.stop()
            lab.close()
        assert set(traffic.seen(0)) == {"200"}
        assert {call["namespace"] for call in api.exec_calls} == {"foo", "legacy"}
