"""The lab a notebook works on, so magics and widgets act on it without being passed it."""
from __future__ import annotations

from . import current as _state
from .contract import Lab


def use(lab: Lab) -> Lab:
    return _state.use(lab)


def current() -> Lab:
    """The lab of the last `reset_lab` in this process, else the default `labkit.connect()`."""
    lab = _state.get()
    if lab is None:
        from .backends.connect import connect
        return use(connect())
    return lab
