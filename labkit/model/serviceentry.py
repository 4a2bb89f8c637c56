"""ServiceEntry: hosts added to the mesh's service registry, the one home of its rules.

As istiod reads a ServiceEntry (istio.io reference "Service Entry"; istio/istio
pilot/pkg/serviceregistry/serviceentry/conversion.go and pilot/pkg/networking/core/cluster_builder.go):
- each host becomes a service of its own, named as written (`api.example.com`, no namespace suffix),
  with the entry's ports; `targetPort` (or an endpoint's `ports[<port name>]`) is where the endpoint
  listens, else the port's own number;
- `protocol` decides how a sidecar treats the port, parsed as a Service port's name is (model/protocol.py):
  HTTP/HTTP2/GRPC get HTTP routes, HTTPS/TLS/TCP pass bytes through, an unknown one is sniffed;
- `resolution` decides the cluster: STATIC → the endpoints' IPs (Envoy cluster type STATIC),
  DNS / DNS_ROUND_ROBIN → the endpoints' addresses, or the host itself when there are none, resolved
  by Envoy (STRICT_DNS / LOGICAL_DNS), NONE → the address the app connected to (ORIGINAL_DST);
- `location` MESH_EXTERNAL (the default) means the endpoints have no sidecar: auto mTLS never sends
  Istio mTLS there, only a DestinationRule's TLS (TLS origination) applies;
- `exportTo` limits which namespaces see the entry, like a VirtualService's (hostmatch.exported_to).
"""
from __future__ import annotations

from dataclasses import dataclass

from .hostmatch import exported_to, host_matches
from .mesh import MeshModel, Pod, Service, ServicePort
from .protocol import istio_protocol, listener_protocol

EXTERNAL = "MESH_EXTERNAL"
INTERNAL = "MESH_INTERNAL"
# Istio's protocols whose bytes are the app's own TLS: a sidecar matches them on SNI.
TLS_PROTOCOLS = ("HTTPS", "TLS")


@dataclass(frozen=True)
class EntryEndpoint:
    address: str
    ports: tuple[tuple[str, int], ...] = ()   # (port name, number) overrides
    labels: tuple[tuple[str, str], ...] = ()

    def port_for(self, sp: ServicePort) -> int:
        return dict(self.ports).get(sp.name, sp.target_port)


@dataclass(frozen=True)
class EntryService(Service):
    """One host of one ServiceEntry, shaped as a Service so DestinationRules, VirtualServices and cluster
    names treat it like any service: `fqdn` is the host as written."""
    host: str = ""
    location: str = EXTERNAL
    resolution: str = "NONE"
    entry_endpoints: tuple[EntryEndpoint, ...] = ()
    entry: str = ""                 # "name.namespace" of the ServiceEntry
    tls_ports: tuple[int, ...] = ()  # ports declared HTTPS or TLS: the app speaks TLS, matched by SNI
    workload_selector: tuple[tuple[str, str], ...] = ()   # pods of the entry's namespace as its endpoints

    @property
    def fqdn(self) -> str:
        return self.host

    @property
    def mesh_external(self) -> bool:
        return self.location != INTERNAL

    def speaks_tls(self, port: int) -> bool:
        return port in self.tls_ports

    def endpoints_for(self, sp: ServicePort) -> list[tuple[str, int]]:
        """(address, port) of each endpoint for one port; for DNS without endpoints, the host itself."""
        if self.resolution in ("DNS", "DNS_ROUND_ROBIN") and not self.entry_endpoints:
            return [(self.host, sp.target_port)]
        if self.resolution == "NONE":
            return []
        return [(e.address, e.port_for(sp)) for e in self.entry_endpoints]


def _ports(spec: dict) -> tuple[ServicePort, ...]:
    # A ServiceEntry port names its protocol (required); istiod parses it like a Service port's name.
    ports = []
    for p in spec.get("ports") or []:
        instance = istio_protocol(p.get("protocol"))
        ports.append(ServicePort(name=p.get("name", ""), port=p["number"], target_port=p.get("targetPort") or p["number"],
                                 protocol=listener_protocol(instance), istio_protocol=instance))
    return tuple(ports)


def selected_pods(model: MeshModel, entry: EntryService) -> list[Pod]:
    """A `workloadSelector` entry's endpoints: the pods of its own namespace with those labels (istio.io:
    "workloadSelector ... applicable only for MESH_INTERNAL services"; each keeps its sidecar, so auto mTLS
    applies to them as to a Service's pods)."""
    if not entry.workload_selector:
        return []
    labels = dict(entry.workload_selector)
    return [p for p in model.pods if p.namespace == entry.namespace and p.matches(labels)]


def entry_services(entry: dict) -> list[EntryService]:
    """The services one ServiceEntry adds, one per host."""
    spec, meta = entry.get("spec") or {}, entry["metadata"]
    endpoints = tuple(EntryEndpoint(address=e.get("address", ""), ports=tuple(sorted((e.get("ports") or {}).items())),
                                    labels=tuple(sorted((e.get("labels") or {}).items())))
                      for e in spec.get("endpoints") or [])
    return [EntryService(namespace=meta["namespace"], name=host, selector={}, ports=_ports(spec), host=host.lower(),
                         location=spec.get("location") or EXTERNAL, resolution=spec.get("resolution") or "NONE",
                         entry_endpoints=endpoints, entry=f"{meta['name']}.{meta['namespace']}",
                         tls_ports=tuple(p["number"] for p in spec.get("ports") or []
                                         if istio_protocol(p.get("protocol")) in TLS_PROTOCOLS),
                         workload_selector=tuple(sorted(((spec.get("workloadSelector") or {}).get("labels")
                                                         or {}).items())))
            for host in spec.get("hosts") or []]


def visible_entries(model: MeshModel, client_namespace: str) -> list[EntryService]:
    """The ServiceEntry hosts a proxy in `client_namespace` sees (exportTo), first created first. When two
    entries declare the same host, istiod keeps the oldest one's ports for a port number both declare."""
    out: list[EntryService] = []
    seen: set[tuple[str, int]] = set()
    for entry in model.of_kind("ServiceEntry"):   # oldest first (build_model sorts by creation)
        if not exported_to(entry, client_namespace):
            continue
        for service in entry_services(entry):
            ports = tuple(sp for sp in service.ports if (service.host, sp.port) not in seen)
            seen.update((service.host, sp.port) for sp in ports)
            if ports:
                out.append(EntryService(**{**service.__dict__, "ports": ports}))
    return out


def entry_for_host(model: MeshModel, client_namespace: str, host: str) -> EntryService | None:
    """The ServiceEntry service that a request for `host` reaches from `client_namespace` (exact host first,
    then the longest wildcard that covers it), or None."""
    entries = visible_entries(model, client_namespace)
    exact = [e for e in entries if e.host == host.lower()]
    if exact:
        return exact[0]
    covering = sorted((e for e in entries if host_matches(e.host, host)), key=lambda e: -len(e.host))
    return covering[0] if covering else None


__all__ = ["EXTERNAL", "INTERNAL", "EntryEndpoint", "EntryService", "entry_for_host", "entry_services",
           "selected_pods", "visible_entries"]
