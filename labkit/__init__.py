"""labkit: hands-on Istio mTLS and gateway labs, on a local mesh of real Envoy proxies or a real cluster."""
from __future__ import annotations

from .backends.connect import connect
from .errors import LabkitError

__version__ = "0.1.0"
__all__ = ["LabkitError", "connect", "__version__"]


def load_ipython_extension(ipython) -> None:
    """`%load_ext labkit`: the %%apply and %%delete cell magics."""
    from .magics import load_ipython_extension as load
    load(ipython)
