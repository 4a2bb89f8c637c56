"""`istioctl proxy-config`: a proxy's real Envoy config (admin `/config_dump`) as summary tables.

The summary is what a learner scans (which chain needs TLS, which cluster does mTLS to whom); each
resource's full JSON stays one click away in the notebook, and `view[name]` returns it.
"""
from __future__ import annotations

import html
from typing import Any

import pandas as pd

from ..errors import LabkitError
from . import certs_view
from .common import dump_section
from .render import folded_json, frame_html, heading

KIND_ALIASES = {"listener": "listeners", "listeners": "listeners", "cluster": "clusters", "clusters": "clusters",
                "route": "routes", "routes": "routes", "secret": "secrets", "secrets": "secrets",
                "endpoint": "endpoints", "endpoints": "endpoints"}
DUMP_TYPES = {"listeners": "ListenersConfigDump", "clusters": "ClustersConfigDump", "routes": "RoutesConfigDump",
              "secrets": "SecretsConfigDump"}
TLS_SOCKET = "envoy.transport_sockets.tls"


def normalise_kind(kind: str) -> str:
    try:
        return KIND_ALIASES[kind.lower()]
    except KeyError:
        raise LabkitError(f"unknown proxy-config kind {kind!r}",
                          hint="use listeners, clusters, routes, endpoints or secrets") from None


def resources(dump: dict, kind: str) -> list[dict]:
    """The listeners, clusters, route configs or secrets a config_dump holds (static and dynamic)."""
    kind = normalise_kind(kind)
    if kind == "endpoints":
        # EDS clusters (istiod's outbound ones) carry no endpoints: they are in the dump's EDS section, which
        # Envoy adds only when asked (`config_dump?include_eds`, as istioctl does); static clusters keep theirs.
        return assignments(dump) or [{"cluster_name": c.get("name"), **(c.get("load_assignment") or {})}
                                     for c in resources(dump, "clusters")]
    section = dump_section(dump, DUMP_TYPES[kind])
    if kind == "listeners":
        return [e["listener"] for e in section.get("static_listeners") or [] if e.get("listener")] + \
            [(e.get("active_state") or e.get("warming_state") or {}).get("listener")
             for e in section.get("dynamic_listeners") or []
             if (e.get("active_state") or e.get("warming_state") or {}).get("listener")]
    if kind == "clusters":
        return [e["cluster"] for key in ("static_clusters", "dynamic_active_clusters", "dynamic_warming_clusters")
                for e in section.get(key) or [] if e.get("cluster")]
    if kind == "routes":
        rds = [e["route_config"] for key in ("static_route_configs", "dynamic_route_configs")
               for e in section.get(key) or [] if e.get("route_config")]
        # The local mesh inlines outbound and gateway routes in their listeners; show them with the
        # RDS ones, as `proxy-config routes` would.
        return rds + _inline_routes(resources(dump, "listeners"))
    return [e.get("secret") or e for key in ("static_secrets", "dynamic_active_secrets", "dynamic_warming_secrets")
            for e in section.get(key) or []]


PROXY_CONFIG_TYPES = {
    "bootstrap": "BootstrapConfigDump",
    "cluster": "ClustersConfigDump", "clusters": "ClustersConfigDump",
    "listener": "ListenersConfigDump", "listeners": "ListenersConfigDump",
    "route": "RoutesConfigDump", "routes": "RoutesConfigDump",
    "secret": "SecretsConfigDump", "secrets": "SecretsConfigDump",
    "endpoint": "EndpointsConfigDump", "endpoints": "EndpointsConfigDump",
}


def select_config(dump: dict, kind: str) -> Any:
    """The part of an Envoy config_dump `istioctl proxy-config <kind> -o json` shows (KubeLab.proxy_config_json):
    listeners, clusters and routes as the tables read them (`resources`), bootstrap, endpoints and secrets as
    their sections."""
    kind = kind.lower()
    if kind in ("all", "config_dump"):
        return dump
    type_name = PROXY_CONFIG_TYPES[kind]
    if type_name in ("ClustersConfigDump", "ListenersConfigDump", "RoutesConfigDump"):
        return resources(dump, kind)
    section = dump_section(dump, type_name) or None
    if section is None:
        return [] if kind not in ("bootstrap", "secret", "secrets") else {}
    if type_name == "BootstrapConfigDump":
        return section.get("bootstrap", section)
    if type_name == "EndpointsConfigDump":
        return [c.get("endpoint_config") for c in (section.get("static_endpoint_configs") or [])
                + (section.get("dynamic_endpoint_configs") or []) if c.get("endpoint_config")]
    return section


def assignments(dump: dict) -> list[dict]:
    """The ClusterLoadAssignments of a dump taken with `include_eds` (static and EDS clusters alike)."""
    section = dump_section(dump, "EndpointsConfigDump")
    return [c["endpoint_config"] for key in ("static_endpoint_configs", "dynamic_endpoint_configs")
            for c in section.get(key) or [] if c.get("endpoint_config")]


def _inline_routes(listeners: list[dict]) -> list[dict]:
    return [f["typed_config"]["route_config"] for listener in listeners
            for chain in listener.get("filter_chains") or [] for f in chain.get("filters") or []
            if "route_config" in (f.get("typed_config") or {})]


# ---- listeners -----------------------------------------------------------------------------------

def _address(resource: dict) -> tuple[str, int | None]:
    socket = (resource.get("address") or {}).get("socket_address") or {}
    return socket.get("address", ""), socket.get("port_value")


def _chain_match(chain: dict) -> str:
    match = chain.get("filter_chain_match") or {}
    parts = []
    if match.get("transport_protocol"):
        parts.append(match["transport_protocol"])
    if match.get("application_protocols"):
        parts.append("ALPN " + ",".join(match["application_protocols"]))
    if match.get("server_names"):
        parts.append("SNI " + ",".join(match["server_names"]))
    if match.get("destination_port"):
        parts.append(f"port {match['destination_port']}")
    return "; ".join(parts) or "all"


def _downstream_tls(chain: dict) -> str:
    socket = chain.get("transport_socket") or {}
    if socket.get("name") != TLS_SOCKET:
        return "-"
    config = socket.get("typed_config") or {}
    context = config.get("common_tls_context") or {}
    certs = [s.get("name") for s in context.get("tls_certificate_sds_secret_configs") or []]
    required = config.get("require_client_certificate")
    if required and certs == ["default"]:
        return "mTLS (mesh cert, client cert required)"
    label = "mutual TLS" if required else "TLS"
    return f"{label} ({', '.join(certs)})" if certs else label


def _chain_destination(chain: dict) -> str:
    for entry in chain.get("filters") or []:
        config = entry.get("typed_config") or {}
        if "rds" in config:
            return f"Route: {config['rds'].get('route_config_name')}"
        if "route_config" in config:
            return f"Inline route: {config['route_config'].get('name', '')}"
        if "cluster" in config:
            return f"Cluster: {config['cluster']}"
    return "-"


def listener_rows(items: list[dict]) -> list[dict]:
    rows = []
    for listener in items:
        address, port = _address(listener)
        for chain in listener.get("filter_chains") or [{}]:
            rows.append({"listener": listener.get("name"), "address": address, "port": port,
                         "chain": chain.get("name", ""), "match": _chain_match(chain), "tls": _downstream_tls(chain),
                         "destination": _chain_destination(chain)})
    return rows


# ---- clusters ------------------------------------------------------------------------------------

def _upstream_tls(socket: dict | None) -> tuple[str, str, str]:
    """(mode, sni, expected SANs) of an upstream transport socket, named as a DestinationRule would."""
    if not socket or socket.get("name") != TLS_SOCKET:
        return "plaintext", "", ""
    config = socket.get("typed_config") or {}
    context = config.get("common_tls_context") or {}
    combined = context.get("combined_validation_context") or {}
    validation = combined.get("default_validation_context") or context.get("validation_context") or {}
    matchers = validation.get("match_typed_subject_alt_names") or []
    sans = ", ".join((m.get("matcher") or {}).get("exact", "") for m in matchers)
    sds = [s.get("name") for s in context.get("tls_certificate_sds_secret_configs") or []]
    if sds == ["default"]:
        mode = "ISTIO_MUTUAL"
    elif sds or context.get("tls_certificates"):
        mode = "MUTUAL"
    else:
        mode = "SIMPLE"
    return mode, config.get("sni", ""), sans


def _cluster_tls(cluster: dict) -> tuple[str, str, str]:
    matches = cluster.get("transport_socket_matches") or []
    if matches:
        mtls = next((m for m in matches if (m.get("match") or {}).get("tlsMode") == "istio"), None)
        _, sni, sans = _upstream_tls((mtls or {}).get("transport_socket"))
        return "auto mTLS (tlsMode=istio endpoints: ISTIO_MUTUAL, others: plaintext)", sni, sans
    return _upstream_tls(cluster.get("transport_socket"))


def _lb_endpoints(assignment: dict) -> list[dict]:
    return [lb for group in assignment.get("endpoints") or [] for lb in group.get("lb_endpoints") or []]


def _eds_name(cluster: dict) -> str:
    """The EDS resource a cluster takes its endpoints from (its service_name, else its own name)."""
    return (cluster.get("eds_cluster_config") or {}).get("service_name") or cluster.get("name", "")


def _split_name(name: str) -> tuple[str, str, str, str]:
    """Istio cluster names `outbound|8000|v1|fqdn` / `inbound|8080||` → (direction, port, subset, fqdn)."""
    parts = name.split("|")
    if len(parts) == 4:
        return parts[0], parts[1], parts[2], parts[3]
    return "", "", "", name


def cluster_rows(items: list[dict], eds: dict[str, dict] | None = None) -> list[dict]:
    """`eds`: EDS name → its assignment (from a dump with include_eds), to count an EDS cluster's endpoints."""
    rows = []
    for cluster in items:
        direction, port, subset, fqdn = _split_name(cluster.get("name", ""))
        mode, sni, sans = _cluster_tls(cluster)
        assignment = cluster.get("load_assignment") or (eds or {}).get(_eds_name(cluster)) or {}
        rows.append({"cluster": cluster.get("name"), "fqdn": fqdn, "port": port, "subset": subset,
                     "direction": direction, "type": cluster.get("type", ""),
                     "endpoints": len(_lb_endpoints(assignment)),
                     "tls": mode, "sni": sni, "expected_san": sans})
    return rows


def endpoint_rows(items: list[dict]) -> list[dict]:
    rows = []
    for assignment in items:
        for lb in _lb_endpoints(assignment):
            address, port = _address(lb.get("endpoint") or {})
            marker = ((lb.get("metadata") or {}).get("filter_metadata") or {}).get("envoy.transport_socket_match") or {}
            rows.append({"endpoint": f"{address}:{port}", "cluster": assignment.get("cluster_name"),
                         "tlsMode": marker.get("tlsMode", "-")})
    return rows


# ---- routes --------------------------------------------------------------------------------------

def _route_match(match: dict) -> str:
    for key in ("path", "prefix"):
        if key in match:
            text = f"{key} {match[key]}"
            break
    else:
        text = f"regex {(match.get('safe_regex') or {}).get('regex', '')}"
    headers = [h.get("name") for h in match.get("headers") or []]
    return text + (f" + headers {','.join(headers)}" if headers else "")


def _route_action(route: dict) -> str:
    if "route" in route:
        action = route["route"]
        if "cluster" in action:
            return action["cluster"]
        weighted = (action.get("weighted_clusters") or {}).get("clusters") or []
        return ", ".join(f"{c.get('name')} ({c.get('weight')})" for c in weighted)
    if "redirect" in route:
        return "redirect"
    if "direct_response" in route:
        return f"direct response {route['direct_response'].get('status')}"
    return "-"


def route_rows(items: list[dict]) -> list[dict]:
    rows = []
    for config in items:
        for vhost in config.get("virtual_hosts") or []:
            for route in vhost.get("routes") or []:
                rows.append({"route": config.get("name"), "virtual_host": vhost.get("name"),
                             "domains": ", ".join(vhost.get("domains") or []),
                             "match": _route_match(route.get("match") or {}), "destination": _route_action(route)})
    return rows


def _item_name(item: dict) -> str:
    """A resource's name; an endpoint assignment (EDS) is named by its cluster."""
    return item.get("name") or item.get("cluster_name") or ""


SUMMARIES = {"listeners": listener_rows, "clusters": cluster_rows, "routes": route_rows, "endpoints": endpoint_rows}


class ProxyConfigView:
    """One kind of a proxy's config: `.table` (DataFrame), `.items` (full JSON), `view[name]`."""

    def __init__(self, target: str, kind: str, dump: dict):
        self.target, self.kind, self.dump = target, normalise_kind(kind), dump
        self.items = resources(dump, self.kind)
        if self.kind == "secrets":
            self.table = certs_view.proxy_certs(dump)
        elif self.kind == "clusters":
            self.table = pd.DataFrame(cluster_rows(self.items, {str(a.get("cluster_name")): a for a in assignments(dump)}))
        else:
            self.table = pd.DataFrame(SUMMARIES[self.kind](self.items))

    @property
    def names(self) -> list[str]:
        return [_item_name(item) for item in self.items]

    def __getitem__(self, name: str) -> dict:
        for item in self.items:
            if _item_name(item) == name:
                return item
        raise KeyError(f"{name!r} is not among this proxy's {self.kind}: {', '.join(self.names[:10])}")

    def __len__(self) -> int:
        return len(self.table)

    def __repr__(self) -> str:
        return f"{self.kind} of {self.target} ({len(self.items)}):\n{self.table.to_string(index=False)}"

    def _repr_html_(self) -> str:
        parts = [heading(f"{self.kind} of {self.target}"), frame_html(self.table)]
        parts.append("<p>Full JSON (click to open):</p>")
        parts += [folded_json(_item_name(item) or "?", item) for item in self.items]
        return "".join(parts)

    def widget(self):
        """An ipywidgets view: the table, then one Accordion entry per resource with its JSON."""
        import json

        import ipywidgets as widgets
        panes = [widgets.HTML(f"<pre>{html.escape(json.dumps(item, indent=2))}</pre>") for item in self.items]
        accordion = widgets.Accordion(children=panes)
        for index, item in enumerate(self.items):
            accordion.set_title(index, _item_name(item) or "?")
        accordion.selected_index = None
        return widgets.VBox([widgets.HTML(heading(f"{self.kind} of {self.target}") + frame_html(self.table)),
                             accordion])
