"""Istio's protocol selection for Service ports (model/protocol.py), case by case from Istio's rules
(pkg/config/kube/conversion.go ConvertProtocol, pkg/config/protocol/instance.go Parse)."""
from __future__ import annotations

import pytest

from labkit.model.protocol import AUTO, HTTP, TCP, UDP, istio_protocol, port_protocol


@pytest.mark.parametrize("name, app_protocol, port, k8s, expected", [
    ("http", None, 8000, None, "HTTP"),
    ("http-web", None, 8000, None, "HTTP"),
    ("HTTP2", None, 8000, None, "HTTP2"),
    ("grpc-web-ui", None, 8000, None, "GRPC-Web"),     # grpc-web before the '-' split
    ("grpc-api", None, 8000, None, "GRPC"),
    ("https", None, 443, None, "HTTPS"),
    ("tls-passthrough", None, 443, None, "TLS"),
    ("tcp", None, 9000, None, "TCP"),
    ("mongo", None, 27017, None, "Mongo"),
    ("", None, 443, "TCP", "UnsupportedProtocol"),     # istio.io's SNI passthrough nginx: unnamed
    ("web", None, 8000, None, "UnsupportedProtocol"),  # a name without a protocol prefix
    ("status-port", None, 15021, None, "UnsupportedProtocol"),
    ("httpx", None, 80, None, "UnsupportedProtocol"),  # a prefix is the part before '-', whole
    ("", None, 3306, None, "TCP"),                      # well-known server-first ports are not sniffed
    ("db", None, 27017, None, "TCP"),
    ("tcp-admin", "http", 9000, None, "HTTP"),          # appProtocol beats the name
    ("web", "kubernetes.io/h2c", 80, None, "HTTP2"),
    ("web", "kubernetes.io/wss", 443, None, "HTTPS"),
    ("http", None, 53, "UDP", "UDP"),
])
def test_istio_protocol(name, app_protocol, port, k8s, expected):
    assert istio_protocol(name, app_protocol, port, k8s) == expected


def test_listener_protocols():
    assert port_protocol("http2") == HTTP and port_protocol("grpc") == HTTP
    assert port_protocol("https") == TCP and port_protocol("tls") == TCP and port_protocol("redis") == TCP
    assert port_protocol("") == AUTO and port_protocol(None, None, 8080) == AUTO
    assert port_protocol("dns", None, 53, "UDP") == UDP
