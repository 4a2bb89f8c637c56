"""How Kubernetes addresses map onto loopback, the one place that decides it.

Each pod gets three addresses in 127.<subnet>.<index>.0/24:
- .1 is the pod IP: what other pods connect to (the sidecar's inbound listeners, or the app itself
  when the pod has no sidecar),
- .2 is the pod's own "localhost", where the app listens when a sidecar sits in front of it,
- .3 is where the sidecar's outbound listeners wait for the app's calls (iptables' job in Istio).
Ports below 1024 need root; since the labs must not, they are shifted by PRIVILEGED_PORT_OFFSET.
"""
from __future__ import annotations

PRIVILEGED_PORT_OFFSET = 20000
MAX_POD_INDEX = 254


def real_port(port: int) -> int:
    """The loopback port that stands for a Kubernetes port number."""
    return port + PRIVILEGED_PORT_OFFSET if port < 1024 else port


def pod_ip(subnet: int, index: int) -> str:
    return f"127.{subnet}.{index}.1"


def app_ip(subnet: int, index: int) -> str:
    return f"127.{subnet}.{index}.2"


def outbound_ip(subnet: int, index: int) -> str:
    return f"127.{subnet}.{index}.3"


def control_plane_ip(subnet: int) -> str:
    """Where the mesh's xDS server (istiod's part) listens: on the mesh's own subnet, outside any pod's
    addresses (pods take 127.<subnet>.<index>.x from index 2)."""
    return f"127.{subnet}.0.1"


def service_hostnames(name: str, namespace: str, from_namespace: str | None) -> list[str]:
    """Every name that reaches a Service from a pod in `from_namespace` (DNS search path semantics).

    None means 'from anywhere outside the namespace' (no short name).
    """
    names = [f"{name}.{namespace}.svc.cluster.local", f"{name}.{namespace}.svc", f"{name}.{namespace}"]
    if from_namespace == namespace:
        names.append(name)
    return names


def fqdn(name: str, namespace: str) -> str:
    return f"{name}.{namespace}.svc.cluster.local"
