"""Where the gateway's listeners are reachable from this machine (local mesh: loopback ports)."""
from __future__ import annotations

from dataclasses import dataclass

from ..model.addressing import real_port
from ..model.gateway_deploy import automated_gateway_of
from ..model.mesh import Pod


@dataclass(frozen=True)
class GatewaySettings:
    bind_ip: str = "127.0.0.1"
    host_ports: tuple[tuple[int, int], ...] = ((8080, 8080), (8443, 8443))  # gateway target port → loopback port

    def host_port(self, target_port: int) -> int:
        return dict(self.host_ports).get(target_port, real_port(target_port))


def settings_for(pod: Pod, ingress: GatewaySettings) -> GatewaySettings:
    """The Istio API's ingress gateway listens where the mesh claimed (like a kind port mapping); an automated
    Gateway API gateway listens on its own pod IP, which stands for its LoadBalancer address (the Gateway's
    status.addresses), on the listener ports (below 1024 shifted as every local port is)."""
    if automated_gateway_of(pod.labels) is None:
        return ingress
    return GatewaySettings(bind_ip=pod.ip, host_ports=())
