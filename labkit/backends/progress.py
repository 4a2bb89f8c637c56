"""The one progress display: an ipywidgets bar updated in place in a notebook, else short text lines
(or nothing, for `quiet` waits that are usually instant, like the local mesh's)."""
from __future__ import annotations

import contextlib
import sys
from typing import Any, Iterator

from ..kernel import in_kernel


class Progress:
    """`update(done, total, text)` as often as you like; only changes are shown."""

    def __init__(self, description: str, total: int = 0, *, stream=None, widget: bool | None = None,
                 quiet: bool = False):
        self.description = description
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self._last: tuple | None = None
        self._printed: tuple | None = None
        self._bar: Any = None    # ipywidgets.IntProgress in a notebook
        self._label: Any = None
        use_widget = in_kernel() if widget is None else widget
        if use_widget:
            try:
                import ipywidgets
                from IPython.display import display
                self._bar = ipywidgets.IntProgress(value=0, min=0, max=max(total, 1),
                                                   description=description[:20])
                self._label = ipywidgets.Label(value="")
                display(ipywidgets.HBox([self._bar, self._label]))
            except Exception:  # noqa: BLE001 - no widget: fall back to text
                self._bar = None

    @property
    def widget(self):
        return self._bar

    def update(self, done: int, total: int, text: str = "") -> None:
        state = (done, total, text)
        if state == self._last:
            return
        self._last = state
        if self._bar is not None:
            self._bar.max = max(total, 1)
            self._bar.value = min(done, max(total, 1))
            self._label.value = f"{done}/{total} {text}".strip()
            return
        if self.quiet or (done, total) == self._printed:
            return  # text only changes: stay quiet
        self._printed = (done, total)
        print(f"{self.description}: {done}/{total} {text}".rstrip(), file=self.stream, flush=True)

    def close(self, ok: bool, text: str = "") -> None:
        if self._bar is not None:
            self._bar.bar_style = "success" if ok else "danger"
            if text:
                self._label.value = text
            return
        if text:
            print(f"{self.description}: {text}", file=self.stream, flush=True)


@contextlib.contextmanager
def progress(label: str) -> Iterator[Progress]:
    """A quiet Progress for a block: the bar turns green when the block ends normally, red when it raises."""
    bar = Progress(label, quiet=True)
    ok = False
    try:
        yield bar
        ok = True
    finally:
        bar.close(ok)
