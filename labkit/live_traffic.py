"""Live traffic: requests sent again and again while the learner changes policies in other cells.

Seed 001 opens two terminals and runs `while true; do curl ...; done` in each, then applies a STRICT
PeerAuthentication and watches one loop start failing (ECONNRESET) while the other keeps working. Here one
widget does that: a background thread sends each chosen request in turn, every `every` seconds, with the
real curl a learner would run (`kubectl exec deploy/curl -n NS -- curl ...` for a pod; curl on this machine
for the ingress gateway), and a chart (display/traffic_chart.py) shows each outcome as it happens.

It costs one curl per route per round and nothing else. The thread stops on the Stop button, on `.stop()`,
after `duration` seconds, when another live traffic starts in the same kernel (one at a time), or when the
kernel exits (a daemon thread; its curl has a short --max-time, so no request outlives the kernel by more
than that).
"""
from __future__ import annotations

import atexit
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass
from html import escape
from typing import Iterable, Union

from .checks.curl_outcomes import Outcome
from .checks.edge_probe import edge_curl
from .checks.traffic import curl
from .contract import Lab
from .display.traffic_chart import KINDS, Tick, chart_svg, counts, legend_html, summary_text
from .errors import LabkitError
from .kernel import in_kernel

# A request that takes longer than this counts as failed ("timeout (28)"); short, so stopping is quick.
PROBE_TIMEOUT_S = 2.0
MAX_TICKS = 5000   # about 40 minutes of two routes at one request a second


@dataclass(frozen=True)
class PodRoute:
    """Requests from a client pod to a service, as `kubectl exec -n NAMESPACE deploy/CLIENT -- curl URL`."""
    namespace: str
    target: str               # "httpbin.foo:8000", "customers.backend"
    path: str = "/"
    client: str | None = None  # the deployment; None: the namespace's curl or sleep

    @property
    def name(self) -> str:
        return f"{self.client or 'curl'}.{self.namespace} \u2192 {self.target}{'' if self.path == '/' else self.path}"

    def send(self, lab: Lab) -> Outcome:
        return curl(lab, self.namespace, self.target, self.path, client=self.client, timeout=PROBE_TIMEOUT_S)


@dataclass(frozen=True)
class GatewayRoute:
    """Requests from this machine through the ingress gateway for a host, as seed 001's
    `curl -H "Host: HOST" http://$GATEWAY_URL` (here with --resolve, so the Host header is the host)."""
    host: str
    path: str = "/"

    @property
    def name(self) -> str:
        return f"this machine \u2192 gateway \u2192 {self.host}{'' if self.path == '/' else self.path}"

    def send(self, lab: Lab) -> Outcome:
        return edge_curl(lab, self.host, self.path, port=80, timeout=PROBE_TIMEOUT_S)


Route = Union[PodRoute, GatewayRoute]


def as_route(spec) -> Route:
    """A route from what a notebook writes: a route, `("legacy", "httpbin.foo:8000")` (client namespace,
    target[, path[, client deployment]]), or `("gateway", "host"[, path])` for this machine → the ingress."""
    if isinstance(spec, (PodRoute, GatewayRoute)):
        return spec
    if isinstance(spec, (tuple, list)) and 2 <= len(spec) <= 4 and all(isinstance(p, str) for p in spec):
        if spec[0] == "gateway":
            if len(spec) > 3:
                raise LabkitError(f"a gateway route is (\"gateway\", host[, path]), not {spec!r}", field="routes",
                                  hint='e.g. ("gateway", "shop.example.com", "/")')
            return GatewayRoute(*spec[1:])
        return PodRoute(*spec)
    raise LabkitError(f"cannot send traffic along {spec!r}", field="routes",
                      hint='give (client namespace, "service.namespace:port") pairs, e.g. ("legacy", '
                           '"httpbin.foo:8000"), or ("gateway", "host.example.com")')


def kind_of(outcome: Outcome) -> str:
    """Which colour of the chart an outcome is: 200, reset (curl 56: a STRICT sidecar closing plaintext),
    403 (an AuthorizationPolicy), 503 (a proxy found no healthy upstream), or other."""
    if outcome.answered and outcome.status in KINDS:
        return outcome.status
    if not outcome.answered and outcome.reset:
        return "reset"
    return "other"


_RUNNING: "weakref.WeakSet[LiveTraffic]" = weakref.WeakSet()


def stop_all() -> None:
    """Stop every live traffic of this process (at exit, or before a new one starts)."""
    for traffic in list(_RUNNING):
        traffic.stop(wait=False)


atexit.register(stop_all)


class LiveTraffic:
    """The sender thread, the outcomes it saw, and (in a notebook) the chart with a Stop button."""

    def __init__(self, lab: Lab, routes: Iterable, *, every: float = 1.0, window: float = 60.0,
                 duration: float = 600.0, redraw: float = 1.0):
        self.routes: list[Route] = [as_route(r) for r in routes]
        if not self.routes:
            raise LabkitError("live traffic needs at least one route", field="routes",
                              hint='e.g. live_traffic(lab, [("legacy", "httpbin.foo:8000")])')
        if every <= 0 or window <= 0 or duration <= 0:
            raise LabkitError("every, window and duration must be positive seconds", field="every")
        self.lab, self.every, self.window, self.redraw = lab, every, window, redraw
        self.started = time.time()
        self.until = self.started + duration
        self.ticks: deque[Tick] = deque(maxlen=MAX_TICKS)
        self.problem = ""     # why the last round could not send a request (a pod restarting, ...)
        self.rounds = 0
        self.draws = 0
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._last_draw = 0.0
        self._thread = threading.Thread(target=self._loop, name="labkit-live-traffic", daemon=True)
        self.view = _View(self) if in_kernel() else None
        stop_all()   # one live traffic per kernel: a re-run cell replaces the last one
        _RUNNING.add(self)
        self._thread.start()

    # -- the sender -------------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stopped.is_set() and time.time() < self.until:
            began = time.monotonic()
            self.send_round()
            if time.time() - self._last_draw >= self.redraw:
                self.draw()
            self._stopped.wait(max(0.0, self.every - (time.monotonic() - began)))
        self._stopped.set()
        _RUNNING.discard(self)
        self.draw()

    def send_round(self) -> None:
        """One request along every route, in turn; a route that cannot send now is reported, not counted."""
        problems = []
        for index, route in enumerate(self.routes):
            if self._stopped.is_set():
                return
            try:
                outcome = route.send(self.lab)
            except LabkitError as exc:
                problems.append(f"{route.name}: {exc.message}")
                continue
            except Exception as exc:  # noqa: BLE001  (shown above the chart; the loop goes on)
                problems.append(f"{route.name}: {type(exc).__name__}: {exc}")
                continue
            with self._lock:
                self.ticks.append(Tick(time.time(), index, kind_of(outcome), outcome.label))
        self.problem = "; ".join(problems)
        self.rounds += 1

    # -- what it saw --------------------------------------------------------------------------------------
    def snapshot(self) -> list[Tick]:
        with self._lock:
            return list(self.ticks)

    def seen(self, route: int | str, since: float | None = None) -> dict[str, int]:
        """Outcomes of one route (its index or name) since a time.time() (default: the start)."""
        names = [r.name for r in self.routes]
        if isinstance(route, int) and 0 <= route < len(names):
            index = route
        elif route in names:
            index = names.index(route)
        else:
            raise LabkitError(f"no route {route!r} in this live traffic", field="route",
                              hint=f"a route's index (0 to {len(names) - 1}) or its name: {', '.join(names)}")
        return counts([t for t in self.snapshot() if t.at >= (since or 0)], index)

    def summary(self, last: float = 10.0) -> str:
        return summary_text([r.name for r in self.routes], self.snapshot(), time.time(), last)

    # -- stopping -----------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def stopped(self) -> bool:
        """Asked to stop (the request under way may still be ending)."""
        return self._stopped.is_set()

    def stop(self, wait: bool = True) -> None:
        """Stop sending; with `wait`, return once the request under way has ended."""
        self._stopped.set()
        _RUNNING.discard(self)
        if wait and threading.current_thread() is not self._thread:
            self._thread.join(timeout=PROBE_TIMEOUT_S * 2 * len(self.routes) + 5)

    def draw(self) -> None:
        self._last_draw = time.time()
        self.draws += 1
        if self.view is not None:
            self.view.update()

    def state_line(self) -> str:
        if not self.stopped:
            left = time.strftime("%H:%M:%S", time.localtime(self.until))
            state = (f"sending every {self.every:g} s until {left}; change policies in other cells and "
                     "watch the rows")
        else:
            state = f"stopped at {time.strftime('%H:%M:%S')}: run the cell again to watch more"
        return state

    def _repr_mimebundle_(self, **kwargs):
        if self.view is None:
            return {"text/plain": repr(self)}
        return self.view.mimebundle(**kwargs)

    def __repr__(self) -> str:
        return f"live traffic ({self.state_line()})\n{self.summary()}"


class _View:
    """The notebook side: heading, chart, legend and Stop button (ipywidgets, updated from the thread)."""

    def __init__(self, traffic: LiveTraffic):
        import ipywidgets
        self.traffic = traffic
        self.heading = ipywidgets.HTML()
        self.chart = ipywidgets.HTML()
        self.legend = ipywidgets.HTML()
        self.button = ipywidgets.Button(description="Stop", icon="stop", tooltip="stop sending requests")
        self.button.on_click(lambda _: traffic.stop(wait=False))
        self.box = ipywidgets.VBox([self.heading, self.chart, self.legend, self.button])
        self.update()

    def update(self) -> None:
        traffic = self.traffic
        ticks = traffic.snapshot()
        now = time.time()
        problem = f'<div style="color:#8a5300">{escape(traffic.problem)}</div>' if traffic.problem else ""
        self.heading.value = f"<small>{escape(traffic.state_line())}</small>{problem}"
        self.chart.value = chart_svg([r.name for r in traffic.routes], ticks, now, traffic.window)
        self.legend.value = legend_html([t for t in ticks if now - t.at <= traffic.window])
        stopped = traffic.stopped
        self.button.disabled = stopped
        self.button.description = "Stopped" if stopped else "Stop"

    def mimebundle(self, **kwargs):
        bundle = self.box._repr_mimebundle_(**kwargs) or {}
        # What static renderings (nbconvert, a notebook saved without widget state) show instead of
        # "VBox(children=...)": the chart as it was when the cell ran, and the text summary.
        bundle["text/html"] = self.heading.value + self.chart.value + self.legend.value
        bundle["text/plain"] = repr(self.traffic)
        return bundle


def live_traffic(lab: Lab, routes: Iterable, *, every: float = 1.0, window: float = 60.0,
                 duration: float = 600.0) -> LiveTraffic:
    """Keep sending requests along `routes` and chart the outcomes live; `.stop()` (or Stop) ends it.

        traffic = live_traffic(lab, [("legacy", "httpbin.foo:8000"), ("foo", "httpbin.foo:8000")])
    """
    return LiveTraffic(lab, routes, every=every, window=window, duration=duration)
