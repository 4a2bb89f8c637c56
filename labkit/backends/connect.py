"""Pick a backend by name: the only place that knows both."""
from __future__ import annotations

import os

from ..contract import Lab
from ..errors import LabkitError


def connect(backend: str | None = None, **options) -> Lab:
    """The lab to drive: the local mesh by default, `"kube"` for a real cluster with Istio.

    The backend comes from the argument, else $LABKIT_BACKEND, else "local".
    """
    name = (backend or os.environ.get("LABKIT_BACKEND") or "local").lower()
    if name == "local":
        from .local import LocalLab
        return LocalLab.connect(**options)
    if name in ("kube", "kubernetes", "k8s"):
        from .kube import KubeLab
        return KubeLab(**options)
    raise LabkitError(f"unknown backend {name!r}", hint='use "local" (default) or "kube"')
