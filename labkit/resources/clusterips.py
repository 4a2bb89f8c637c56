"""Cluster IP allocation, the API server's job: every Service but ExternalName and headless ones
(`clusterIP: None`) gets a virtual IP from the service range, kept for the Service's life (the field is
immutable), unique. The range is kubeadm's and kind's default, 10.96.0.0/16 here; 10.96.0.1 (the
`kubernetes` Service) and 10.96.0.10 (kube-dns) are left out as a cluster has them taken.

The local mesh routes these addresses inside pods as kube-proxy (or the sidecar) would: see
runtime/network.py (the pod's connect-to map) and the sidecar's virtual host domains.
"""
from __future__ import annotations

import hashlib
import ipaddress

from ..errors import LabkitError

SERVICE_RANGE = ipaddress.ip_network("10.96.0.0/16")
RESERVED = {"10.96.0.0", "10.96.0.1", "10.96.0.10", "10.96.255.255"}
HEADLESS = "None"


def _cluster_ip(obj: dict) -> str | None:
    return (obj.get("spec") or {}).get("clusterIP")


def assign_cluster_ip(obj: dict, old: dict | None, stored: list[dict]) -> None:
    """Fill in a Service's spec.clusterIP/clusterIPs (in place); refuse a change, a taken or an outside one."""
    spec = obj.get("spec") or {}
    if obj["kind"] != "Service" or spec.get("type") == "ExternalName":
        return
    meta = obj["metadata"]
    where = {"kind": "Service", "name": meta["name"], "namespace": meta.get("namespace"), "field": "spec.clusterIP"}
    previous = _cluster_ip(old) if old is not None else None
    wanted = spec.get("clusterIP") or previous
    if previous and wanted != previous:
        raise LabkitError(f"Invalid value: {wanted!r}: field is immutable", **where)
    used = {_cluster_ip(o) for o in stored if o["kind"] == "Service"
            and (o["metadata"].get("namespace"), o["metadata"]["name"]) != (meta.get("namespace"), meta["name"])}
    if wanted and wanted != HEADLESS and wanted != previous:
        try:
            address = ipaddress.ip_address(wanted)
        except ValueError:
            raise LabkitError(f"Invalid value: {wanted!r}: must be a valid IP address or None", **where)
        if address not in SERVICE_RANGE:
            raise LabkitError(f"Invalid value: {wanted!r}: provided IP is not in the valid range. The range of "
                              f"valid IPs is {SERVICE_RANGE}", **where)
        if wanted in used:
            raise LabkitError(f"Invalid value: {wanted!r}: provided IP is already allocated", **where)
    if not wanted:
        wanted = _free_address(f"{meta.get('namespace')}/{meta['name']}", used)
    spec = obj.setdefault("spec", {})
    spec["clusterIP"] = wanted
    spec["clusterIPs"] = [wanted]


def _free_address(seed: str, used: set) -> str:
    """A free address, the same one for a Service's name on every mesh (readable docs and logs), else the next."""
    size = SERVICE_RANGE.num_addresses
    start = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:4], "big") % size
    for step in range(size):
        candidate = str(SERVICE_RANGE[(start + step) % size])
        if candidate not in used and candidate not in RESERVED:
            return candidate
    raise LabkitError(f"no free cluster IP left in {SERVICE_RANGE}", kind="Service")
