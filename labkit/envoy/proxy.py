"""One entry point: the config for whichever proxy a pod runs (sidecar or gateway)."""
from __future__ import annotations

from ..model.mesh import MeshModel, Pod
from .common import ProxyConfig, ProxyPaths
from .gateway import build_gateway
from .gateway_settings import GatewaySettings
from .sidecar import build_sidecar


def build_proxy_config(model: MeshModel, pod: Pod, paths: ProxyPaths, gateway: GatewaySettings) -> ProxyConfig:
    if pod.is_gateway:
        return build_gateway(model, pod, paths, gateway)
    return build_sidecar(model, pod, paths)
