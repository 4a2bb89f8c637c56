"""Which lab this process works on: set by `reset_lab` (and `labkit.connect`), read by magics and widgets.
Only state here, no imports, so backends can set it without depending on the notebook layer."""
from __future__ import annotations

from typing import Any

_current: Any = None


def use(lab: Any) -> Any:
    global _current
    _current = lab
    return lab


def get() -> Any:
    """The lab set last, or None."""
    return _current
