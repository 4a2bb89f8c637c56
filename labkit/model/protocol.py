"""Which protocol Istio gives a Service port (https://istio.io/latest/docs/ops/configuration/traffic-management/protocol-selection/).

The rule, as istiod applies it (istio/istio pkg/config/kube/conversion.go `ConvertProtocol`,
pkg/config/protocol/instance.go `Parse`, pilot/pkg/networking/networking.go `ModelProtocolToListenerProtocol`):
- a UDP port is UDP (no proxying);
- `appProtocol`, when set, decides; otherwise the port's `name`. Kubernetes' standard appProtocols:
  `kubernetes.io/h2c` is HTTP2, `kubernetes.io/ws` HTTP, `kubernetes.io/wss` HTTPS;
- the name (or appProtocol) is read up to its first `-` (`http-web` → http), case-insensitively, except that a
  `grpc-web` prefix is gRPC-Web; known: tcp, udp, grpc, grpc-web, http, http_proxy, http2, https, tls,
  mongo, redis, mysql;
- anything else (an unnamed port, `web`, `metrics`) is "UnsupportedProtocol": Istio detects the protocol
  per connection (protocol sniffing), except on the well-known server-first ports 25, 53, 3306 and 27017,
  which are TCP.

The proxies then see three kinds of port: HTTP (an HTTP connection manager), TCP (a TCP proxy; TLS and
HTTPS included, routed by SNI at most) and AUTO (both, chosen per connection by Envoy's tls_inspector and
http_inspector and, between sidecars, by the ALPN istio-proxy sets: see ALPN names below).
"""
from __future__ import annotations

HTTP, TCP, AUTO, UDP = "HTTP", "TCP", "AUTO", "UDP"

_KNOWN = {"tcp": "TCP", "udp": "UDP", "grpc": "GRPC", "grpc-web": "GRPC-Web", "http": "HTTP",
          "http_proxy": "HTTP_PROXY", "http2": "HTTP2", "https": "HTTPS", "tls": "TLS", "mongo": "Mongo",
          "redis": "Redis", "mysql": "MySQL"}
_K8S_APP_PROTOCOLS = {"kubernetes.io/h2c": "HTTP2", "kubernetes.io/ws": "HTTP", "kubernetes.io/wss": "HTTPS"}
UNSUPPORTED = "UnsupportedProtocol"
# Server-first protocols, where waiting for the client to speak (sniffing) would hang: SMTP, DNS, MySQL, MongoDB.
WELL_KNOWN_TCP_PORTS = frozenset({25, 53, 3306, 27017})

_HTTP_LIKE = frozenset({"HTTP", "HTTP2", "HTTP_PROXY", "GRPC", "GRPC-Web"})
_TCP_LIKE = frozenset({"TCP", "HTTPS", "TLS", "Mongo", "Redis", "MySQL"})

# ALPN values Istio's sidecars use to tell each other what a connection carries (pilot/pkg/networking/core
# listener.go): the client's istio.alpn filter sends istio-http/1.1 (or istio-h2, istio-http/1.0) with
# "istio" for HTTP it detected, istio-peer-exchange and istio for TCP; the server's filter chains match them.
MTLS_HTTP_ALPNS = ["istio-http/1.0", "istio-http/1.1", "istio-h2"]
MTLS_TCP_ALPNS = ["istio-peer-exchange", "istio"]
# What Envoy's http_inspector reports for plaintext HTTP; HTTP/1.0 only with PILOT_HTTP10 (off by default).
PLAINTEXT_HTTP_ALPNS = ["http/1.1", "h2c"]
# What the client's istio.alpn filter puts on an HTTP/1.1 request's upstream connection.
UPSTREAM_HTTP11_ALPN = ["istio-http/1.1", "istio"]


def istio_protocol(name: str | None, app_protocol: str | None = None, port: int | None = None,
                   k8s_protocol: str | None = None) -> str:
    """Istio's protocol for a Service port: HTTP, HTTP2, GRPC, GRPC-Web, HTTPS, TLS, TCP, Mongo, Redis, MySQL,
    UDP, or UnsupportedProtocol (sniffed)."""
    if (k8s_protocol or "TCP").upper() == "UDP":
        return "UDP"
    label = name or ""
    if app_protocol:
        label = app_protocol
        if label in _K8S_APP_PROTOCOLS:
            return _K8S_APP_PROTOCOLS[label]
    if label[:len("grpc-web")].lower() == "grpc-web":
        return "GRPC-Web"
    found = _KNOWN.get(label.split("-", 1)[0].lower(), UNSUPPORTED)
    if found == UNSUPPORTED and port in WELL_KNOWN_TCP_PORTS:
        return "TCP"
    return found


def listener_protocol(instance: str) -> str:
    """How a proxy handles a port of that protocol: HTTP, TCP, AUTO (sniffed) or UDP (not proxied)."""
    if instance in _HTTP_LIKE:
        return HTTP
    if instance in _TCP_LIKE:
        return TCP
    if instance == "UDP":
        return UDP
    return AUTO


def port_protocol(name: str | None, app_protocol: str | None = None, port: int | None = None,
                  k8s_protocol: str | None = None) -> str:
    """HTTP, TCP, AUTO or UDP for a Service port, as istiod's listeners treat it."""
    return listener_protocol(istio_protocol(name, app_protocol, port, k8s_protocol))


def carries_http(protocol: str) -> bool:
    """Whether HTTP requests on a port of this listener protocol get HTTP routing (HTTP, or HTTP detected)."""
    return protocol in (HTTP, AUTO)


def carries_tcp(protocol: str) -> bool:
    """Whether raw TCP (and TLS the app speaks itself) on such a port is proxied as bytes."""
    return protocol in (TCP, AUTO)


def inbound_passes_app_tls(protocol: str, mode: str) -> bool:
    """Whether a sidecar's inbound port hands TLS that is not Istio's (no Istio ALPN: the app's own, from a
    DestinationRule SIMPLE/MUTUAL or a client without a sidecar) to the app as bytes. Only PERMISSIVE TCP and
    sniffed ports have that chain; a port declared HTTP has none, so such a connection is closed
    (pilot/pkg/networking/core/filterchain_options.go: "explicitly declared as HTTP type")."""
    return mode == "PERMISSIVE" and protocol in (TCP, AUTO)
