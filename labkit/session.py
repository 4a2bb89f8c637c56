"""The lab a notebook works on, so magics and widgets act on it without being passed it."""
from __future__ import annotations

_current = None


def use(lab):
    global _current
    _current = lab
    return lab


def current():
    """The lab of the last `reset_lab` in this process, else the default `labkit.connect()`."""
    if _current is None:
        import labkit
        return use(labkit.connect())
    return _current
