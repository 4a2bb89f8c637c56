"""A Kubernetes API server for the local mesh, so the real kubectl drives it as it drives a cluster."""
from __future__ import annotations

from .kubeconfig import kubeconfig_path
from .server import KubeAPIServer

__all__ = ["KubeAPIServer", "kubeconfig_path"]
