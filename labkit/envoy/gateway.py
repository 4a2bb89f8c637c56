"""The ingress gateway's Envoy config from Gateway and VirtualService resources."""
from __future__ import annotations

from ..model.mesh import MeshModel, Pod
from .common import ProxyConfig, ProxyPaths


def build_gateway(model: MeshModel, pod: Pod, paths: ProxyPaths, settings) -> ProxyConfig:
    config = ProxyConfig(secrets=["default", "ROOTCA"])
    return config
