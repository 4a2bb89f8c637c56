"""labkit: hands-on Istio mTLS and gateway labs, on a local mesh of real Envoy proxies or a real cluster."""
from __future__ import annotations

import sys

from .errors import LabkitError

__version__ = "0.1.0"
__all__ = ["LabkitError", "connect", "__version__"]


def __getattr__(name: str):
    """`labkit.connect`, imported on first use: every app process of the mesh imports this package first
    (`python -m labkit.apps.<app>`), and the backends' imports (pandas, IPython, kubernetes) cost each one
    about a second of CPU at start, most of a 100-pod mesh's start (bench/README.md)."""
    if name == "connect":
        from .backends.connect import connect
        return connect
    raise AttributeError(f"module 'labkit' has no attribute {name!r}")


def _set_up_notebook_kernel() -> None:
    """In a Jupyter kernel: LabkitErrors as message and hint; tables that fit the notebook pane."""
    if "IPython" not in sys.modules:
        return   # not a kernel (a kernel has imported IPython before any user code); importing it costs ~1 s
    from .kernel import kernel_shell
    from .notebook_errors import install as show_errors_briefly
    from .notebook_tables import install as fit_tables_to_the_pane
    shell = kernel_shell()
    if shell is not None:
        show_errors_briefly(shell)
        fit_tables_to_the_pane(shell)


_set_up_notebook_kernel()


def load_ipython_extension(ipython) -> None:
    """`%load_ext labkit`: the %%apply and %%delete cell magics."""
    from .magics import load_ipython_extension as load
    from .notebook_errors import install
    load(ipython)
    install(ipython)
