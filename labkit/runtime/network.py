"""Each pod's view of the cluster network: the resolve file for apps and the .curlrc for curl.

Service names resolve the way DNS + kube-proxy (+ iptables capture, with a sidecar) would:
a pod with a sidecar reaches every service through its own outbound listeners; a pod without one
goes straight to an endpoint pod's port. `curl` reads `$CURL_HOME/.curlrc`, so the learner's curl
commands run unchanged and keep their real URLs and Host headers.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..model.addressing import real_port, service_hostnames
from ..model.hostmatch import is_wildcard
from ..model.mesh import MeshModel, Pod
from ..model.serviceentry import visible_entries
from .files import write_if_changed

DEFAULT_PORTS = {80: "http", 443: "https"}


def address_map(model: MeshModel, pod: Pod, gateway_ports: dict[tuple[str, str, int], str]) -> dict[str, str]:
    """"host:port" → "ip:port" for every name of every service port this pod can reach."""
    mapping: dict[str, str] = {}
    for service in model.services:
        endpoints = [p for p in model.endpoints(service)]
        for sp in service.ports:
            fixed = gateway_ports.get((service.namespace, service.name, sp.port))
            if fixed:
                target = fixed
            elif pod.sidecar:
                target = f"{pod.outbound_ip}:{real_port(sp.port)}"
            elif endpoints:
                target = f"{endpoints[0].ip}:{real_port(sp.target_port)}"
            else:
                continue  # no endpoint: connection refused, as a ClusterIP with no pods
            for name in service_hostnames(service.name, service.namespace, pod.namespace):
                mapping[f"{name}:{sp.port}"] = target
            if service.cluster_ip:
                # The Service's virtual IP goes where its names go: kube-proxy (or the sidecar) takes it.
                mapping[f"{service.cluster_ip}:{sp.port}"] = target
    if pod.sidecar:
        # A ServiceEntry host's traffic is captured by the sidecar's outbound listener on that port, as
        # iptables does on a cluster (where DNS gives the real address, or Istio's DNS proxy an automatic one).
        # Without a sidecar a ServiceEntry changes nothing, and this machine has no DNS for external names.
        for entry in visible_entries(model, pod.namespace):
            if not is_wildcard(entry.host):
                for sp in entry.ports:
                    mapping.setdefault(f"{entry.host}:{sp.port}", f"{pod.outbound_ip}:{real_port(sp.port)}")
    return mapping


def write_pod_network(directory: Path, mapping: dict[str, str], source_ip: str) -> None:
    # Compact: an indent forces Python's slow JSON encoder, and at start every pod's file is rewritten as each
    # new Service appears (100 pods: ~600 names each, 14 ms per pod indented).
    write_if_changed(directory / "resolve.json", json.dumps({"hosts": mapping}, separators=(",", ":"),
                                                            sort_keys=True))
    lines = ["# written by labkit: this pod's DNS and kube-proxy, for the real curl"]
    for hostport, target in sorted(mapping.items()):
        host, port = hostport.rsplit(":", 1)
        ip, target_port = target.rsplit(":", 1)
        lines.append(f'connect-to = "{host}:{port}:{ip}:{target_port}"')
    # Connections leave from the pod's own IP, so servers (and ipBlocks rules) see who called.
    lines.append(f'interface = "{source_ip}"')
    write_if_changed(directory / ".curlrc", "\n".join(lines) + "\n")
