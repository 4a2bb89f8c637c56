"""One progress display that updates in place: a widget in notebooks, nothing noisy elsewhere."""
from __future__ import annotations

import contextlib


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
        shell = get_ipython()
        return shell is not None and getattr(shell, "kernel", None) is not None
    except ImportError:
        return False


class _Bar:
    def __init__(self, label: str):
        self.label = label
        self.widget = None
        if _in_notebook():
            import ipywidgets
            from IPython.display import display
            self.widget = ipywidgets.IntProgress(value=0, min=0, max=1, description=label,
                                                 style={"description_width": "initial"})
            display(self.widget)

    def update(self, done: int, total: int) -> None:
        if self.widget is not None:
            self.widget.max = max(total, 1)
            self.widget.value = done
            self.widget.description = f"{self.label} {done}/{total}"

    def close(self, ok: bool) -> None:
        if self.widget is not None:
            self.widget.bar_style = "success" if ok else "danger"


@contextlib.contextmanager
def progress(label: str):
    bar = _Bar(label)
    ok = False
    try:
        yield bar
        ok = True
    finally:
        bar.close(ok)
