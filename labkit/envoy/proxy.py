"""One entry point: the config for whichever proxy a pod runs (sidecar or gateway)."""
from __future__ import annotations

from dataclasses import dataclass

from ..model.mesh import MeshModel, Pod
from .common import ProxyConfig, ProxyPaths


@dataclass(frozen=True)
class GatewaySettings:
    bind_ip: str = "127.0.0.1"
    host_ports: tuple[tuple[int, int], ...] = ((8080, 8080), (8443, 8443))  # gateway target port → loopback port

    def host_port(self, target_port: int) -> int:
        from ..model.addressing import real_port
        return dict(self.host_ports).get(target_port, real_port(target_port))


def build_proxy_config(model: MeshModel, pod: Pod, paths: ProxyPaths, gateway: GatewaySettings) -> ProxyConfig:
    from .access_log import apply_access_logging
    if pod.is_gateway:
        from .gateway import build_gateway
        return apply_access_logging(build_gateway(model, pod, paths, gateway), model, pod, paths)
    from .sidecar import build_sidecar
    return apply_access_logging(build_sidecar(model, pod, paths), model, pod, paths)
