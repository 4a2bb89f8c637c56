"""Whether this process is a Jupyter kernel: the one test for "is someone looking at a notebook"."""
from __future__ import annotations

from typing import Any


def kernel_shell() -> Any:
    """The IPython shell when it has a kernel attached (a notebook or console), else None."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return shell if shell is not None and getattr(shell, "kernel", None) is not None else None


def in_kernel() -> bool:
    return kernel_shell() is not None
