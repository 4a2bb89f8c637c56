"""An Envoy's bootstrap: everything from the control plane over one ADS stream, nothing from files.

Like istio-proxy's bootstrap (tools/packaging/common/envoy_bootstrap.json): the `xds-grpc` static
cluster speaks HTTP/2 to istiod, `ads_config` carries LDS and CDS (and through them RDS and SDS).
No file is watched, so Envoy needs no inotify instance for its config.
"""
from __future__ import annotations

XDS_CLUSTER = "xds-grpc"

# Which stats Envoy keeps: istio-proxy's default inclusion list (pkg/bootstrap/config.go,
# requiredEnvoyStatsMatcherInclusion{Prefixes,Suffixes,Regexes}, plus tools/packaging/common/
# envoy_bootstrap.json's "reporter=", "component" and "istio"), so `pilot-agent request GET stats` lists
# what it lists in a pod. Besides, a sidecar that knows a hundred services no longer creates ~100 stats
# per cluster it will never be asked for: a large part of each Envoy's start-up CPU at 100 pods.
# (A pod's `sidecar.istio.io/statsInclusionPrefixes` annotation would extend it; the labs do not use it.)
STATS_INCLUSION_PREFIXES = ("reporter=", "cluster_manager", "listener_manager", "server", "cluster.xds-grpc",
                            "wasm", "component", "istio")
STATS_INCLUSION_SUFFIXES = ("rbac.allowed", "rbac.denied", "shadow_allowed", "shadow_denied",
                            "downstream_cx_active")
STATS_INCLUSION_REGEXES = (r"vhost\..*\.route\..*",)


def stats_config() -> dict:
    patterns = ([{"prefix": p} for p in STATS_INCLUSION_PREFIXES] + [{"suffix": s} for s in STATS_INCLUSION_SUFFIXES]
                + [{"safe_regex": {"regex": r}} for r in STATS_INCLUSION_REGEXES])
    # use_all_default_tags false, as Istio's: tag extraction runs a regex per tag over every new stat name.
    return {"use_all_default_tags": False, "stats_matcher": {"inclusion_list": {"patterns": patterns}}}


def ads_bootstrap(node_id: str, cluster: str, host: str, port: int, token: str, *, admin_socket: str) -> dict:
    """`admin_socket`: the unix socket of Envoy's admin API (private to its user, mode 0600)."""
    grpc_service = {"envoy_grpc": {"cluster_name": XDS_CLUSTER},
                    # The proxy's credential: the control plane serves this node id only to this token.
                    "initial_metadata": [{"key": "authorization", "value": f"Bearer {token}"}]}
    # initial_fetch_timeout 0s, as istio-proxy's bootstrap: a proxy started before its config is computed
    # waits for it instead of giving up after 15 s and starting empty.
    ads = {"ads": {}, "initial_fetch_timeout": "0s", "resource_api_version": "V3"}
    return {
        "node": {"id": node_id, "cluster": cluster},
        "stats_config": stats_config(),
        "admin": {"address": {"pipe": {"path": admin_socket, "mode": 0o600}}},
        "dynamic_resources": {
            "ads_config": {"api_type": "GRPC", "transport_api_version": "V3",
                           "set_node_on_first_message_only": True, "grpc_services": [grpc_service]},
            "lds_config": ads, "cds_config": ads,
        },
        "static_resources": {"clusters": [{
            "name": XDS_CLUSTER, "type": "STATIC", "connect_timeout": "1s",
            "load_assignment": {"cluster_name": XDS_CLUSTER, "endpoints": [{"lb_endpoints": [
                {"endpoint": {"address": {"socket_address": {"address": host, "port_value": port}}}}]}]},
            "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}}}},
        }]},
    }
