"""`istioctl proxy-status` on a cluster: the real istioctl's table, as a DataFrame."""
from __future__ import annotations

import re
import shutil

import pandas as pd

from ..errors import LabkitError


def parse_table(text: str) -> pd.DataFrame:
    """istioctl pads columns with at least 5 spaces (tabwriter padding 5); cells hold single spaces."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return pd.DataFrame()
    header = re.split(r"\s{2,}", lines[0].strip())
    rows = [re.split(r"\s{2,}", line.strip()) for line in lines[1:]]
    return pd.DataFrame([row + [""] * (len(header) - len(row)) for row in rows], columns=header)


def istioctl_proxy_status(namespace: str | None, verbose: bool, context: str | None = None,
                          kubeconfig: str | None = None) -> pd.DataFrame:
    istioctl = shutil.which("istioctl")
    if not istioctl:
        raise LabkitError("istioctl is not installed: proxy-status on a cluster asks istiod through it",
                          hint="install istioctl (https://istio.io/latest/docs/setup/getting-started/#download) "
                               "and put it on PATH")
    import sh
    args = ["proxy-status"]
    if namespace:
        args += ["-n", namespace]
    if verbose:
        args += ["-v", "1"]
    if context:
        args += ["--context", context]
    if kubeconfig:
        args += ["--kubeconfig", str(kubeconfig)]
    try:
        out = sh.Command(istioctl)(*args, _timeout=120)
    except sh.ErrorReturnCode as exc:
        raise LabkitError(f"istioctl proxy-status failed: {exc.stderr.decode(errors='replace').strip()}") from None
    return parse_table(str(out))
