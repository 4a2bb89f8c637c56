"""Which TLS a client uses towards a service port: DestinationRule or auto mTLS.

Rules followed (istio-semantics.md §2): a DR's `host` short name resolves against the DR's
namespace; lookup order is the client's namespace, the service's namespace, then the root namespace;
exportTo "." keeps a DR private; portLevelSettings match the Service port and replace the top-level
policy entirely (a port entry without tls falls back to auto mTLS); without a DR tls setting auto
mTLS applies unless the namespace/mesh-level inferred mode is DISABLE, and each endpoint is mTLS only
if it has a sidecar and its effective port mode is not DISABLE.
"""
from __future__ import annotations

from dataclasses import dataclass

from .addressing import fqdn
from .hostmatch import exported_to, host_matches
from .mesh import ROOT_NAMESPACE, MeshModel, Service
from .peerauth import DISABLE, effective_mtls, inferred_service_mode

AUTO = "AUTO"  # auto mTLS: ISTIO_MUTUAL to sidecar'd endpoints, plaintext to others


@dataclass(frozen=True)
class ClientTls:
    mode: str                     # AUTO, DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL
    rule: str | None = None       # "name.namespace" of the DR that decided, None for auto
    settings: dict | None = None  # the DR's tls block as written
    subsets: tuple = ()           # (name, labels, tls mode or None)


def dr_host(rule: dict) -> str:
    """The DestinationRule's host as an FQDN (short names resolve against the DR's namespace)."""
    host = rule["spec"]["host"].lower()
    if "." not in host and host != "*":
        return fqdn(host, rule["metadata"]["namespace"])
    if host.count(".") == 1:  # name.ns
        name, namespace = host.split(".")
        return fqdn(name, namespace)
    return host


def applies_to_host(rule: dict, fqdn: str) -> bool:
    """Whether the DestinationRule's host (maybe a wildcard) covers the service FQDN."""
    return host_matches(dr_host(rule), fqdn)


def destination_rule_for(model: MeshModel, client_namespace: str, service: Service) -> dict | None:
    rules = [r for r in model.of_kind("DestinationRule")
             if applies_to_host(r, service.fqdn) and not (r.get("spec") or {}).get("workloadSelector")]
    for namespace in (client_namespace, service.namespace, ROOT_NAMESPACE):
        candidates = [r for r in rules if r["metadata"]["namespace"] == namespace and exported_to(r, client_namespace)]
        if candidates:
            # An exact host beats a wildcard, as istiod's most-specific match does.
            candidates.sort(key=lambda r: dr_host(r).startswith("*"))
            return candidates[0]
    return None


def _policy_for_port(traffic_policy: dict | None, port: int) -> dict:
    policy = traffic_policy or {}
    for entry in policy.get("portLevelSettings") or []:
        if (entry.get("port") or {}).get("number") == port:
            return entry
    return policy


def client_tls(model: MeshModel, client_namespace: str, service: Service, port: int) -> ClientTls:
    rule = destination_rule_for(model, client_namespace, service)
    subsets: tuple = ()
    if rule is not None:
        spec = rule.get("spec") or {}
        subsets = tuple((s["name"], dict(s.get("labels") or {}),
                         ((_policy_for_port(s.get("trafficPolicy"), port).get("tls") or {}).get("mode")))
                        for s in spec.get("subsets") or [])
        tls = _policy_for_port(spec.get("trafficPolicy"), port).get("tls")
        if tls and tls.get("mode"):
            name = f"{rule['metadata']['name']}.{rule['metadata']['namespace']}"
            return ClientTls(mode=tls["mode"], rule=name, settings=tls, subsets=subsets)
    if inferred_service_mode(model, service.namespace) == DISABLE:
        return ClientTls(mode="DISABLE", rule=None, subsets=subsets)
    return ClientTls(mode=AUTO, subsets=subsets)


def endpoint_wants_mtls(model: MeshModel, pod, target_port: int, tls: ClientTls) -> bool:
    """The endpoint's tlsMode=istio marker (mtls_checker.go)."""
    if tls.mode == "ISTIO_MUTUAL":
        return True
    if tls.mode != AUTO:
        return False
    return pod.sidecar and effective_mtls(model, pod).for_port(target_port) != DISABLE
