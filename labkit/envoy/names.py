"""istiod's names for outbound clusters and their SNI (used by sidecar and gateway routes alike)."""
from __future__ import annotations

from ..model.mesh import Service


def outbound_cluster_name(service: Service, port: int, subset: str = "") -> str:
    return f"outbound|{port}|{subset}|{service.fqdn}"


def outbound_sni(service: Service, port: int, subset: str = "") -> str:
    return f"outbound_.{port}_.{subset}_.{service.fqdn}"
