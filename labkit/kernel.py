"""Whether this process is a Jupyter kernel: the one test for "is someone looking at a notebook"."""
from __future__ import annotations

import sys
from typing import Any


def kernel_shell() -> Any:
    """The IPython shell when it has a kernel attached (a notebook or console), else None."""
    if "IPython" not in sys.modules:
        # A kernel has imported IPython long before any cell runs. Elsewhere (the CLI, every app process of
        # the local mesh: `python -m labkit.apps.NAME` imports labkit) importing it would only cost time.
        return None
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return shell if shell is not None and getattr(shell, "kernel", None) is not None else None


def in_kernel() -> bool:
    return kernel_shell() is not None
