"""kube-proxy's NodePort rules as an Envoy: <node address>:<nodePort> → a pod's target port, plain TCP.

Like kube-proxy it only forwards bytes: whatever TLS there is (or is not) comes from the client, so a
browser's plaintext reaches a STRICT sidecar as plaintext and is reset (seed 003's NodePort case).
"""
from __future__ import annotations

from ..model.addressing import real_port
from ..model.mesh import MeshModel
from . import common as c


def node_ports(model: MeshModel) -> list[tuple]:
    """(service, service port) for every port that has a nodePort."""
    return [(service, sp) for service in model.services for sp in service.ports if sp.node_port]


def build_node_proxy(model: MeshModel, paths: c.ProxyPaths, bind_ip: str,
                     host_ports: dict[int, int] | None = None) -> c.ProxyConfig:
    """`host_ports` maps a nodePort to the host port that stands for it (a port mapping, as kind does)."""
    config = c.ProxyConfig()
    host_ports = host_ports or {}
    for service, sp in node_ports(model):
        cluster = f"nodeport|{sp.node_port}||{service.fqdn}"
        endpoints = [c.lb_endpoint(pod.ip, real_port(sp.target_port)) for pod in model.endpoints(service)]
        config.clusters.append(c.static_cluster(cluster, endpoints))
        name = f"nodeport_{sp.node_port}"
        chain = {"name": name, "filters": [c.tcp_proxy(name, cluster, paths)]}
        config.listeners.append(c.listener(name, bind_ip, host_ports.get(sp.node_port, sp.node_port), [chain]))
    return config
