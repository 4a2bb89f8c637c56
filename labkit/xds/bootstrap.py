"""An Envoy's bootstrap: everything from the control plane over one ADS stream, nothing from files.

Like istio-proxy's bootstrap (tools/packaging/common/envoy_bootstrap.json): the `xds-grpc` static
cluster speaks HTTP/2 to istiod, `ads_config` carries LDS and CDS (and through them RDS and SDS).
No file is watched, so Envoy needs no inotify instance for its config.
"""
from __future__ import annotations

XDS_CLUSTER = "xds-grpc"


def ads_bootstrap(node_id: str, cluster: str, host: str, port: int, token: str, *, admin_socket: str) -> dict:
    """`admin_socket`: the unix socket of Envoy's admin API (private to its user, mode 0600)."""
    grpc_service = {"envoy_grpc": {"cluster_name": XDS_CLUSTER},
                    # The proxy's credential: the control plane serves this node id only to this token.
                    "initial_metadata": [{"key": "authorization", "value": f"Bearer {token}"}]}
    ads = {"ads": {}, "resource_api_version": "V3"}
    return {
        "node": {"id": node_id, "cluster": cluster},
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
