"""labkit: hands-on Istio mTLS and gateway labs, on a local mesh of real Envoy proxies or a real cluster."""
from __future__ import annotations

from .backends.connect import connect
from .errors import LabkitError

__version__ = "0.1.0"
__all__ = ["LabkitError", "connect", "__version__"]


def _set_up_notebook_kernel() -> None:
    """In a Jupyter kernel: LabkitErrors as message and hint; tables that fit the notebook pane."""
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
