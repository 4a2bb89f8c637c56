"""Small builders shared by the sidecar and gateway translators (plain dicts, no I/O)."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..model.access_logging import ISTIO_TEXT_FORMAT
from ..model.protocol import UPSTREAM_HTTP11_ALPN

TYPE = "type.googleapis.com/"
HCM_TYPE = TYPE + "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
ROUTER = {"name": "envoy.filters.http.router",
          "typed_config": {"@type": TYPE + "envoy.extensions.filters.http.router.v3.Router"}}
TLS_SOCKET = "envoy.transport_sockets.tls"
DOWNSTREAM_TLS = TYPE + "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
UPSTREAM_TLS = TYPE + "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
SECRET_TYPE = TYPE + "envoy.extensions.transport_sockets.tls.v3.Secret"
TLS_VERSIONS = {"TLS_AUTO": "TLS_AUTO", "TLSV1_0": "TLSv1_0", "TLSV1_1": "TLSv1_1", "TLSV1_2": "TLSv1_2",
                "TLSV1_3": "TLSv1_3"}
MESH_CERT, MESH_ROOT = "default", "ROOTCA"
ISTIO_ALPN = ["istio-peer-exchange", "istio", "istio-http/1.0", "istio-http/1.1", "istio-h2"]

# Istio's istio.alpn HTTP filter (only in Istio's own Envoy build) puts `istio-http/1.1` and `istio` on the
# upstream TLS of each HTTP/1.1 request, so a server whose port is sniffed picks its HTTP chain; tcp_proxy
# keeps the cluster's own ALPN (istio-peer-exchange, istio) and lands on the TCP chain. Stock Envoy does the
# same with set_filter_state and the well-known key envoy.network.application_protocols, shared with the
# upstream connection. Like Istio, every outbound HCM (sidecars and gateways) has it.
ISTIO_ALPN_FILTER = {
    "name": "istio.alpn",
    "typed_config": {
        "@type": TYPE + "envoy.extensions.filters.http.set_filter_state.v3.Config",
        "on_request_headers": [{
            "object_key": "envoy.network.application_protocols",
            "format_string": {"text_format_source": {"inline_string": ",".join(UPSTREAM_HTTP11_ALPN)}},
            "shared_with_upstream": "ONCE"}]}}

# Fields every access log line carries; the verification tools read them back.


@dataclass(frozen=True)
class ProxyPaths:
    """Where one proxy's files live (its access log); builders only put these paths into config."""
    root: str

    @property
    def access_log(self) -> str:
        return f"{self.root}/access.log"


@dataclass
class ProxyConfig:
    """Everything one Envoy needs, as xDS resources (dicts with "@type")."""
    listeners: list[dict] = field(default_factory=list)
    clusters: list[dict] = field(default_factory=list)
    routes: list[dict] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)       # mesh SDS names the runtime provides (default, ROOTCA)
    sds: dict[str, list[dict]] = field(default_factory=dict)  # other SDS names → Secret resources ([] = missing)
    endpoints: list[dict] = field(default_factory=list)    # EDS: a ClusterLoadAssignment per EDS cluster
    warnings: list[str] = field(default_factory=list)      # what istiod would log for this proxy
    proxy_log: list[str] = field(default_factory=list)     # what istio-agent would log in this istio-proxy


def all_route_configs(config: ProxyConfig) -> list[dict]:
    """Every route configuration of a proxy: the RDS ones and those inlined in listeners."""
    inline = [f["typed_config"]["route_config"] for listener in config.listeners
              for chain in listener.get("filter_chains", []) for f in chain.get("filters", [])
              if "route_config" in f.get("typed_config", {})]
    seen, out = set(), []
    for route in [*config.routes, *inline]:
        if route["name"] not in seen:
            seen.add(route["name"])
            out.append(route)
    return out


def ads_source() -> dict:
    """RDS and SDS come over the proxy's one ADS stream to the control plane, as with istiod."""
    return {"ads": {}, "resource_api_version": "V3"}


# A gateway credential the control plane cannot find is never sent (istiod's sds.go logs "failed to
# fetch key and certificate" and skips it). Envoy keeps a listener that needs it warming until the
# initial fetch times out, then serves it without a certificate, so handshakes fail (curl 35). Istio
# leaves Envoy's default of 15 s (pilot/pkg/security/model/authentication.go SDSAdsConfig); the local
# mesh waits 1 s so a learner sees the failure as soon as the apply returns.
CREDENTIAL_FETCH_TIMEOUT = "1s"


def sds_secret(name: str, paths: ProxyPaths, *, credential: bool = False) -> dict:
    source = ads_source()
    if credential:
        source["initial_fetch_timeout"] = CREDENTIAL_FETCH_TIMEOUT
    return {"name": name, "sds_config": source}


def socket_address(ip: str, port: int) -> dict:
    return {"socket_address": {"address": ip, "port_value": port}}


def access_log(paths: ProxyPaths) -> list[dict]:
    """Where a proxy can log. envoy/access_log.py replaces it with what the mesh config and Telemetry ask
    for (or removes it); what stays here is Istio's default TEXT log to the container's stdout."""
    return [{"name": "envoy.access_loggers.file",
             "typed_config": {"@type": TYPE + "envoy.extensions.access_loggers.file.v3.FileAccessLog",
                              "path": paths.access_log,
                              "log_format": {"text_format_source": {"inline_string": ISTIO_TEXT_FORMAT}}}}]


def http_connection_manager(stat_prefix: str, route: str | dict, paths: ProxyPaths, *, server_name: str | None,
                            http_filters: list[dict] | None = None, forward_client_cert: bool = False,
                            overrides: dict | None = None) -> dict:
    """`route` is an RDS route name (served over ADS) or a RouteConfiguration to inline.

    Routes that must change under live connections (inbound, for AuthorizationPolicy) use RDS.
    """
    config = {
        "@type": HCM_TYPE, "stat_prefix": stat_prefix, "codec_type": "AUTO",
        "http_filters": [*(http_filters or []), ROUTER],
        "access_log": access_log(paths),
        "use_remote_address": False,
        "normalize_path": True, "merge_slashes": True,
    }
    if isinstance(route, str):
        config["rds"] = {"route_config_name": route, "config_source": ads_source()}
    else:
        config["route_config"] = {k: v for k, v in route.items() if k != "@type"}
    if server_name:
        config["server_name"] = server_name
    if forward_client_cert:
        config["forward_client_cert_details"] = "APPEND_FORWARD"
        config["set_current_client_cert_details"] = {"uri": True}
    config.update(overrides or {})
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": config}


def tcp_proxy(stat_prefix: str, cluster: str, paths: ProxyPaths) -> dict:
    return {"name": "envoy.filters.network.tcp_proxy",
            "typed_config": {"@type": TYPE + "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                             "stat_prefix": stat_prefix, "cluster": cluster, "access_log": access_log(paths)}}


def tls_certificate_secret(name: str, cert_pem: str, key_pem: str) -> dict:
    return {"@type": SECRET_TYPE, "name": name, "tls_certificate": {
        "certificate_chain": {"inline_string": cert_pem}, "private_key": {"inline_string": key_pem}}}


def validation_secret(name: str, ca_pem: str) -> dict:
    return {"@type": SECRET_TYPE, "name": name, "validation_context": {"trusted_ca": {"inline_string": ca_pem}}}


def tls_params(min_version: str = "TLSV1_2", max_version: str = "TLSV1_3") -> dict:
    return {"tls_minimum_protocol_version": TLS_VERSIONS.get(min_version, "TLSv1_2"),
            "tls_maximum_protocol_version": TLS_VERSIONS.get(max_version, "TLSv1_3")}


def downstream_mtls(paths: ProxyPaths, alpn: list[str]) -> dict:
    """Istio's inbound TLS (BuildInboundTLS): client certificate required, validated by the mesh root."""
    return {"name": TLS_SOCKET, "typed_config": {
        "@type": DOWNSTREAM_TLS, "require_client_certificate": True,
        "common_tls_context": {
            "tls_params": tls_params(), "alpn_protocols": alpn,
            "tls_certificate_sds_secret_configs": [sds_secret(MESH_CERT, paths)],
            "validation_context_sds_secret_config": sds_secret(MESH_ROOT, paths)}}}


def upstream_mtls(paths: ProxyPaths, sni: str, sans: list[str], alpn: list[str]) -> dict:
    """Istio's ISTIO_MUTUAL client TLS: mesh cert, mesh root, SAN pinned to the server's identities."""
    default_context = {}
    if sans:
        default_context["match_typed_subject_alt_names"] = [
            {"san_type": "URI", "matcher": {"exact": san}} for san in sans]
    return {"name": TLS_SOCKET, "typed_config": {
        "@type": UPSTREAM_TLS, "sni": sni,
        "common_tls_context": {
            "tls_params": tls_params(), "alpn_protocols": alpn,
            "tls_certificate_sds_secret_configs": [sds_secret(MESH_CERT, paths)],
            "combined_validation_context": {
                "default_validation_context": default_context,
                "validation_context_sds_secret_config": sds_secret(MESH_ROOT, paths)}}}}


def static_cluster(name: str, endpoints: list[dict], *, connect_timeout: str = "1s",
                   source_ip: str | None = None) -> dict:
    cluster = {"@type": TYPE + "envoy.config.cluster.v3.Cluster", "name": name, "type": "STATIC",
               "connect_timeout": connect_timeout,
               "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": endpoints}]}}
    if source_ip:
        cluster["upstream_bind_config"] = {"source_address": {"address": source_ip, "port_value": 0}}
    return cluster


ENDPOINT_TYPE = TYPE + "envoy.config.endpoint.v3.ClusterLoadAssignment"


def eds_cluster(name: str, *, service_name: str | None = None, connect_timeout: str = "1s",
                source_ip: str | None = None) -> dict:
    """An outbound cluster whose endpoints come over EDS (ADS), as istiod builds them
    (pilot/pkg/networking/core/cluster_builder.go: type EDS, eds_cluster_config.service_name = the
    cluster's name). A pod added or removed then changes only the ClusterLoadAssignment, so only EDS is
    pushed, and Envoy keeps the cluster and its connections."""
    cluster = {"@type": TYPE + "envoy.config.cluster.v3.Cluster", "name": name, "type": "EDS",
               "connect_timeout": connect_timeout,
               "eds_cluster_config": {"eds_config": ads_source(), "service_name": service_name or name}}
    if source_ip:
        cluster["upstream_bind_config"] = bind_to(source_ip)
    return cluster


def bind_to(source_ip: str) -> dict:
    """A cluster's upstream_bind_config: connect from the pod's own address."""
    return {"source_address": {"address": source_ip, "port_value": 0}}


def load_assignment(service_name: str, endpoints: list[dict]) -> dict:
    """The EDS resource for an EDS cluster: its endpoints (empty when the service has none: Envoy must still
    be told, or the cluster stays warming until its initial fetch times out)."""
    return {"@type": ENDPOINT_TYPE, "cluster_name": service_name,
            "endpoints": [{"lb_endpoints": endpoints}] if endpoints else []}


def lb_endpoint(ip: str, port: int, metadata: dict | None = None) -> dict:
    endpoint = {"endpoint": {"address": socket_address(ip, port)}}
    if metadata:
        endpoint["metadata"] = {"filter_metadata": {"envoy.transport_socket_match": metadata}}
    return endpoint


def route_config(name: str, virtual_hosts: list[dict], *, ignore_port: bool = True) -> dict:
    config = {"@type": TYPE + "envoy.config.route.v3.RouteConfiguration", "name": name,
              "virtual_hosts": virtual_hosts, "validate_clusters": False}
    if ignore_port:
        config["ignore_port_in_host_matching"] = True
    return config


def listener(name: str, ip: str, port: int, filter_chains: list[dict], *, tls_inspector: bool = False,
             http_inspector: bool = False, log_paths: ProxyPaths | None = None) -> dict:
    # Envoy sets SO_REUSEPORT on listeners by default (Listener.enable_reuse_port): two Envoys of one user
    # could then bind the same address:port and the kernel would spread one mesh's connections over another
    # mesh's proxy. Off, a second bind fails loudly instead (cluster-fidelity.md, "Envoy and sockets").
    out = {"@type": TYPE + "envoy.config.listener.v3.Listener", "name": name,
           "address": socket_address(ip, port), "filter_chains": filter_chains, "enable_reuse_port": False}
    if log_paths is not None:
        # Connections refused before any request (plaintext into STRICT, a failed handshake) leave no
        # HCM or tcp_proxy line; only a listener-level log records them, for labkit.tools.evidence.
        out["access_log"] = access_log(log_paths)
    filters = []
    if tls_inspector:
        filters.append({"name": "envoy.filters.listener.tls_inspector", "typed_config": {
            "@type": TYPE + "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"}})
    if http_inspector:
        # Protocol sniffing: names plaintext HTTP/1.x and h2c by ALPN for the filter chain match (it leaves
        # TLS connections, which the tls_inspector has already named, alone).
        filters.append({"name": "envoy.filters.listener.http_inspector", "typed_config": {
            "@type": TYPE + "envoy.extensions.filters.listener.http_inspector.v3.HttpInspector"}})
    if filters:
        out["listener_filters"] = filters
    return out
