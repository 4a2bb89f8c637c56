"""How istiod turns the hosts written in Istio resources into service names: the one place that decides it.

istiod's rule (istio/istio pilot/pkg/model/config.go, `ResolveShortnameToFQDN`; applied to a
DestinationRule's `host` in push_context.go and to a VirtualService's `hosts` and every route, mirror
and delegate destination `host` in virtualservice.go):

- `*` and IP addresses are taken as written;
- a host **without a dot** is a short name: it becomes `<host>.<namespace of the resource>.svc.<domain>`
  (`httpbin` in a rule in `legacy` → `httpbin.legacy.svc.cluster.local`);
- a host **with a dot** is taken as written. `httpbin.legacy` is *not* completed: it names no Service
  (only DNS inside a pod expands it, via the search path), so a rule written for it applies to nothing.

ServiceEntry `hosts` and Sidecar egress hosts (`namespace/dnsName`) are never completed, not even short
ones (serviceentry/conversion.go uses the host as written; sidecar.go matches egress hosts as written):
`as_written` is that rule. The local mesh serves neither kind; the rule lives here for when it does.
"""
from __future__ import annotations

import ipaddress

from ..constants import TRUST_DOMAIN

# The mesh's DNS domain (meta.Domain in istiod): cluster.local on a default cluster, the trust domain too.
DOMAIN = TRUST_DOMAIN


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def resolve(host: str, namespace: str, domain: str = DOMAIN) -> str:
    """`ResolveShortnameToFQDN`: a host from a DestinationRule or VirtualService in `namespace`."""
    host = host.strip().lower()
    if not host or host == "*" or _is_ip(host) or "." in host:
        return host
    return f"{host}.{namespace}.svc.{domain}"


def as_written(host: str) -> str:
    """A ServiceEntry or Sidecar egress host: compared as written (case aside), never completed."""
    return host.strip().lower()


def looks_like_name_dot_namespace(host: str, service_names: set[tuple[str, str]]) -> tuple[str, str] | None:
    """(name, namespace) when `host` is `name.namespace` of a known Service: the classic mistake of
    writing what works in `curl` (DNS search path) where istiod wants a short name or the FQDN."""
    parts = host.strip().lower().split(".")
    if len(parts) in (2, 3) and (len(parts) == 2 or parts[2] == "svc") and (parts[0], parts[1]) in service_names:
        return parts[0], parts[1]
    return None


def explain_unresolved(host: str, namespace: str, domain: str = DOMAIN) -> str:
    """A hint for a host istiod takes as written although it looks like a Service's name."""
    parts = host.strip().lower().split(".")
    return (f"istiod completes only names without a dot: `{parts[0]}` (in namespace {parts[1]}) or "
            f"`{parts[0]}.{parts[1]}.svc.{domain}`; `{host}` is taken as written and matches no Service, so "
            f"on a cluster this rule (namespace {namespace}) applies to nothing")
