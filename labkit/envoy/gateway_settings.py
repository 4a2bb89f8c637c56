"""Where the gateway's listeners are reachable from this machine (local mesh: loopback ports)."""
from __future__ import annotations

from dataclasses import dataclass

from ..model.addressing import real_port


@dataclass(frozen=True)
class GatewaySettings:
    bind_ip: str = "127.0.0.1"
    host_ports: tuple[tuple[int, int], ...] = ((8080, 8080), (8443, 8443))  # gateway target port → loopback port

    def host_port(self, target_port: int) -> int:
        return dict(self.host_ports).get(target_port, real_port(target_port))
