"""Host names and visibility, as istiod compares them: the one home of these rules.

- Istio's host.Name (pkg/config/host/name.go): a name that starts with `*` is a wildcard covering every
  name ending in the rest (`*` alone covers everything, `*.example.com` covers `a.example.com`, and
  `*foo` covers `barfoo`); any other name matches only itself. Compared lower-case.
- exportTo (networking API): unset or `*` is every namespace, `.` is the resource's own namespace,
  other entries are namespace names.
- A VirtualService's destinations are the `route[].destination` of its `http`, `tls` and `tcp` rules.
"""
from __future__ import annotations

from typing import Iterator

VS_ROUTE_SECTIONS = ("http", "tls", "tcp")


def is_wildcard(name: str) -> bool:
    return name.startswith("*")


def host_matches(pattern: str, host: str) -> bool:
    """Whether `pattern` (maybe a wildcard) covers the concrete name `host`."""
    pattern, host = pattern.lower(), host.lower()
    if is_wildcard(pattern):
        return host.endswith(pattern[1:])
    return pattern == host


def hosts_overlap(a: str, b: str) -> bool:
    """Istio's host.Name.Matches: equal names, or a wildcard on either side covering the other."""
    a, b = a.lower(), b.lower()
    if is_wildcard(a) and is_wildcard(b):
        return a[1:].endswith(b[1:]) or b[1:].endswith(a[1:])
    if is_wildcard(a):
        return b.endswith(a[1:])
    if is_wildcard(b):
        return a.endswith(b[1:])
    return a == b


def subset_of(name: str, other: str) -> bool:
    """Istio's host.Name.SubsetOf: every host `name` stands for is also covered by `other`."""
    if is_wildcard(other):
        if is_wildcard(name):
            return len(name) >= len(other) and name[1:].endswith(other[1:])
        return name.endswith(other[1:])
    return not is_wildcard(name) and name == other


def intersect_hosts(hosts: list[str], others: list[str]) -> list[str]:
    """Istio's Names.Intersection: for each overlapping pair the more specific name, first seen first."""
    out: list[str] = []
    for a in hosts:
        for b in others:
            pick = a if subset_of(a, b) else b if subset_of(b, a) else None
            if pick is not None and pick not in out:
                out.append(pick)
    return out


def exported_to(obj: dict, namespace: str) -> bool:
    """Whether a VirtualService/DestinationRule/ServiceEntry is visible to proxies in `namespace` (exportTo)."""
    export = (obj.get("spec") or {}).get("exportTo") or ["*"]
    own = obj["metadata"]["namespace"]
    return "*" in export or namespace in export or ("." in export and namespace == own)


def route_destinations(vs: dict) -> Iterator[tuple[str, int, int, dict]]:
    """(section, rule index, route index, destination) for each route of a VirtualService, as written
    (the destination dict itself, so a caller may rewrite it); routes without a destination are skipped."""
    spec = vs.get("spec") or {}
    for section in VS_ROUTE_SECTIONS:
        for index, rule in enumerate(spec.get(section) or []):
            for r_index, route in enumerate(rule.get("route") or []):
                destination = route.get("destination")
                if isinstance(destination, dict):
                    yield section, index, r_index, destination
