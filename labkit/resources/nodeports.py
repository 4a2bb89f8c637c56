"""NodePort allocation, the API server's job: 30000–32767, unique, kept across re-applies."""
from __future__ import annotations

import socket

from ..errors import LabkitError

NODE_PORT_RANGE = range(30000, 32768)
NODE_PORT_TYPES = ("NodePort", "LoadBalancer")


def _node_ports(obj: dict) -> list[int]:
    return [p["nodePort"] for p in (obj.get("spec") or {}).get("ports") or [] if p.get("nodePort")]


def _bindable(port: int) -> bool:
    """Another program (or another mesh) may hold the loopback port already: skip it when allocating."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def assign_node_ports(obj: dict, old: dict | None, stored: list[dict]) -> None:
    """Fill in missing nodePorts of a NodePort Service (in place); reject taken or out-of-range ones."""
    if obj["kind"] != "Service" or (obj.get("spec") or {}).get("type") not in NODE_PORT_TYPES:
        return
    meta = obj["metadata"]
    others = [o for o in stored if o["kind"] == "Service"
              and (o["metadata"]["namespace"], o["metadata"]["name"]) != (meta["namespace"], meta["name"])]
    used = {port for o in others for port in _node_ports(o)}
    previous = {p.get("port"): p.get("nodePort") for p in ((old or {}).get("spec") or {}).get("ports") or []}
    for index, port in enumerate(obj["spec"].get("ports") or []):
        where = {"kind": "Service", "name": meta["name"], "namespace": meta["namespace"],
                 "field": f"spec.ports[{index}].nodePort"}
        wanted = port.get("nodePort")
        if wanted is not None:
            if wanted not in NODE_PORT_RANGE:
                raise LabkitError(f"provided port {wanted} is not in the valid range 30000-32767", **where)
            if wanted in used:
                raise LabkitError(f"provided port {wanted} is already allocated", **where)
        elif obj["spec"]["type"] == "NodePort":
            wanted = previous.get(port.get("port"))
            if wanted is None or wanted in used:
                wanted = next((p for p in NODE_PORT_RANGE if p not in used and _bindable(p)), None)
                if wanted is None:
                    raise LabkitError("no free NodePort left in 30000-32767", **where)
            port["nodePort"] = wanted
        if wanted is not None:
            used.add(wanted)
