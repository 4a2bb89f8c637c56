"""Which TLS a client uses towards a service port: DestinationRule or auto mTLS.

Rules followed (istio-semantics.md §2): a DR's `host` short name (no dot) resolves against the DR's
namespace, any host with a dot is taken as written (fqdn.py); lookup order is the client's namespace,
the service's namespace, then the root namespace;
exportTo "." keeps a DR private; portLevelSettings match the Service port and replace the top-level
policy entirely (a port entry without tls falls back to auto mTLS); without a DR tls setting auto
mTLS applies unless the namespace/mesh-level inferred mode is DISABLE, and each endpoint is mTLS only
if it has a sidecar and its effective port mode is not DISABLE.

A DR with a `workloadSelector` applies only to the selected workloads of its own namespace, and for
them it comes before the namespace's other DRs for the host. `credentialName` in a SIMPLE/MUTUAL DR
(istio/istio pilot/pkg/networking/core/cluster_tls.go, pilot/pkg/xds/sds.go):
- at a sidecar it is honoured only in a DR with a workloadSelector; otherwise the cluster gets no TLS
  at all (plaintext goes out);
- the Secret is looked up in the proxy's own namespace; its CA part (`ca.crt` or the `<name>-cacert`
  Secret) is served to any proxy of that namespace, its key and certificate only when the proxy's
  service account may `list` secrets there (k8s_rbac.py); a gateway's own credentialName is
  model/gateways.py's business.
"""
from __future__ import annotations

from dataclasses import dataclass

from .fqdn import resolve as resolve_host
from .gateways import CA_SUFFIX, CredentialError, KeyCert, ca_credential, credential_resource, server_credential
from .hostmatch import exported_to, host_matches
from .k8s_rbac import service_account_may
from .mesh import ROOT_NAMESPACE, MeshModel, Pod, Service
from .peerauth import DISABLE, effective_mtls, inferred_service_mode

AUTO = "AUTO"  # auto mTLS: ISTIO_MUTUAL to sidecar'd endpoints, plaintext to others


@dataclass(frozen=True)
class ClientTls:
    mode: str                     # AUTO, DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL
    rule: str | None = None       # "name.namespace" of the DR that decided, None for auto
    settings: dict | None = None  # the DR's tls block as written
    subsets: tuple = ()           # (name, labels, tls mode or None)
    selected: bool = False        # the DR has a workloadSelector (and it selects this client)


def dr_host(rule: dict) -> str:
    """The DestinationRule's host as istiod reads it: ResolveShortnameToFQDN (model/fqdn.py) completes only a
    dotless name against the DR's namespace; `name.ns` is taken as written and names no Service."""
    return resolve_host(rule["spec"]["host"], rule["metadata"]["namespace"])


def applies_to_host(rule: dict, fqdn: str) -> bool:
    """Whether the DestinationRule's host (maybe a wildcard) covers the service FQDN."""
    return host_matches(dr_host(rule), fqdn)


def _selector(rule: dict) -> dict | None:
    selector = (rule.get("spec") or {}).get("workloadSelector")
    return None if selector is None else dict(selector.get("matchLabels") or {})


def destination_rule_for(model: MeshModel, client_namespace: str, service: Service,
                         client: Pod | None = None) -> dict | None:
    hosted = [r for r in model.of_kind("DestinationRule") if applies_to_host(r, service.fqdn)]
    if client is not None:
        selected = [r for r in hosted if _selector(r) is not None and r["metadata"]["namespace"] == client.namespace
                    and client.matches(_selector(r))]
        if selected:
            selected.sort(key=lambda r: dr_host(r).startswith("*"))
            return selected[0]
    rules = [r for r in hosted if _selector(r) is None]
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


def client_tls(model: MeshModel, client_namespace: str, service: Service, port: int,
               client: Pod | None = None) -> ClientTls:
    rule = destination_rule_for(model, client_namespace, service, client)
    subsets: tuple = ()
    if rule is not None:
        spec = rule.get("spec") or {}
        subsets = tuple((s["name"], dict(s.get("labels") or {}),
                         ((_policy_for_port(s.get("trafficPolicy"), port).get("tls") or {}).get("mode")))
                        for s in spec.get("subsets") or [])
        tls = _policy_for_port(spec.get("trafficPolicy"), port).get("tls")
        if tls and tls.get("mode"):
            name = f"{rule['metadata']['name']}.{rule['metadata']['namespace']}"
            return ClientTls(mode=tls["mode"], rule=name, settings=tls, subsets=subsets,
                             selected=_selector(rule) is not None)
    if inferred_service_mode(model, service.namespace) == DISABLE:
        return ClientTls(mode="DISABLE", rule=None, subsets=subsets)
    return ClientTls(mode=AUTO, subsets=subsets)


def server_identities(tls: ClientTls, endpoints: list[Pod]) -> list[str]:
    """Secure naming: the SPIFFE ids a mesh-mTLS client accepts in the server's certificate.

    Istio pins the service's endpoints' service accounts; a DestinationRule's `tls.subjectAltNames`, when
    set, replaces them (istio/istio pilot/pkg/networking/core/cluster_tls.go: "Use Service Accounts if
    Subject Alt names are not specified in TLS settings"). Entries without the scheme get `spiffe://`.
    """
    sans = list((tls.settings or {}).get("subjectAltNames") or []) or sorted({p.spiffe_id for p in endpoints})
    return [s if s.startswith("spiffe://") or "/" not in s else f"spiffe://{s}" for s in sans]


def endpoint_wants_mtls(model: MeshModel, pod, target_port: int, tls: ClientTls) -> bool:
    """The endpoint's tlsMode=istio marker (mtls_checker.go)."""
    if tls.mode == "ISTIO_MUTUAL":
        return True
    if tls.mode != AUTO:
        return False
    return pod.sidecar and effective_mtls(model, pod).for_port(target_port) != DISABLE


def credential_ignored_at_sidecar(tls: ClientTls, client: Pod | None) -> bool:
    """SIMPLE/MUTUAL with credentialName in a DR without workloadSelector, seen from a sidecar: Istio builds
    the cluster without TLS (cluster_tls.go: "we do not want to support CredentialName ... in non
    workloadSelector based DestinationRules")."""
    credential = (tls.settings or {}).get("credentialName")
    return bool(credential and tls.mode in ("SIMPLE", "MUTUAL") and client is not None and client.sidecar
                and not tls.selected)


def sidecar_ca(model: MeshModel, client: Pod, credential: str) -> bytes:
    """The CA behind `kubernetes://<credential>-cacert` for a sidecar: its own namespace, no RBAC needed."""
    return ca_credential(model, client.namespace, credential)


def sidecar_key_cert(model: MeshModel, client: Pod, credential: str) -> KeyCert:
    """The client key and certificate behind `kubernetes://<credential>` for a sidecar, or CredentialError
    with what istiod logs."""
    if not service_account_may(model, client.namespace, client.service_account, "list", "secrets"):
        raise CredentialError(
            f"proxy {client.name}.{client.namespace} attempted to access unauthorized certificates {credential}: "
            f"{client.service_account}/{client.namespace} is not authorized to read secrets")
    return server_credential(model, client.namespace, credential)


__all__ = ["AUTO", "CA_SUFFIX", "ClientTls", "client_tls", "credential_ignored_at_sidecar", "credential_resource",
           "destination_rule_for", "endpoint_wants_mtls", "sidecar_ca", "sidecar_key_cert"]
