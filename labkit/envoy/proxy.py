"""One entry point: the config for whichever proxy a pod runs (sidecar or gateway)."""
from __future__ import annotations

from ..model.mesh import MeshModel, Pod
from .access_log import apply_access_logging
from .common import ProxyConfig, ProxyPaths
from .gateway import build_gateway
from .gateway_settings import GatewaySettings, settings_for
from .sidecar import build_sidecar


def build_proxy_config(model: MeshModel, pod: Pod, paths: ProxyPaths, gateway: GatewaySettings) -> ProxyConfig:
    if pod.is_gateway:
        return apply_access_logging(build_gateway(model, pod, paths, settings_for(pod, gateway)), model, pod, paths)
    return apply_access_logging(build_sidecar(model, pod, paths), model, pod, paths)
