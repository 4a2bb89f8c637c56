"""The mesh graph, live: redrawn every few seconds while traffic flows (Kiali's graph refresh interval).

A notebook widget (ipywidgets.HTML) whose picture a daemon thread replaces; the thread ends after
`duration` seconds, on `.stop()`, or with the kernel, so nothing outlives the notebook that started it.
"""
from __future__ import annotations

import threading
import time
from typing import Callable
from xml.sax.saxutils import escape

from .graph import MeshGraph


class LiveGraph:
    def __init__(self, draw: Callable[[], MeshGraph], every: float = 2.0, duration: float = 300.0):
        import ipywidgets
        self._draw = draw
        self.every = every
        self.until = time.time() + duration
        self.heading = ipywidgets.HTML()
        self.picture = ipywidgets.HTML()
        self.widget = ipywidgets.VBox([self.heading, self.picture])
        self.graph: MeshGraph | None = None
        self.refreshes = 0
        self._stopped = threading.Event()
        self.refresh()
        self._thread = threading.Thread(target=self._loop, name="labkit-live-graph", daemon=True)
        self._thread.start()

    def refresh(self) -> None:
        """Draw the picture once more from the proxies' logs; a failure is shown, and the next try goes on."""
        now = time.strftime("%H:%M:%S")
        try:
            self.graph = self._draw()
        except Exception as exc:  # noqa: BLE001  (shown in the widget, which keeps refreshing)
            self.heading.value = f"<b>graph not refreshed at {now}:</b> {escape(str(exc))}"
            return
        self.refreshes += 1
        left = "stopped" if self._stopped.is_set() or time.time() >= self.until else (
            f"refreshing every {self.every:g} s until {time.strftime('%H:%M:%S', time.localtime(self.until))}"
            " (<code>.stop()</code> ends it)")
        self.heading.value = f"<small>updated {now}, {len(self.graph.edges)} edges; {left}</small>"
        self.picture.value = self.graph._repr_html_()

    def _loop(self) -> None:
        while not self._stopped.wait(self.every) and time.time() < self.until:
            self.refresh()
        self._stopped.set()
        if self.graph is not None:
            self.heading.value = (f"<small>{len(self.graph.edges)} edges; stopped at {time.strftime('%H:%M:%S')}: "
                                  "run the cell again to watch more</small>")

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=self.every + 30)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def save(self, path) -> None:
        """The picture as last drawn, as a standalone SVG file."""
        if self.graph is not None:
            self.graph.save(path)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return repr(self.graph) if self.graph is not None else "LiveGraph (not drawn yet)"
