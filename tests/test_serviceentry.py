"""ServiceEntry: istiod's validation rules (each shown to refuse a wrong entry and accept a right one) and
the model's answers (hosts, ports, endpoints, exportTo, DestinationRule lookup for an entry host)."""
from __future__ import annotations

import pytest
import yaml
from golden_support import model_from_yaml

from labkit.envoy.common import ProxyPaths
from labkit.envoy.proxy import GatewaySettings, build_proxy_config
from labkit.errors import LabkitError
from labkit.model.destrule import client_tls
from labkit.model.mesh import build_model
from labkit.model.serviceentry import entry_for_host, visible_entries
from labkit.resources.validate import validate
from labkit.samples import system_objects


def entry(spec: dict, name: str = "ext", namespace: str = "foo") -> dict:
    return {"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


GOOD = {"hosts": ["api.example.com"], "ports": [{"number": 443, "name": "https", "protocol": "HTTPS"}],
        "resolution": "DNS"}


@pytest.mark.parametrize("change, message, field", [
    ({"hosts": []}, "at least one host", "spec.hosts"),
    ({"hosts": ["*"]}, "invalid host *", "spec.hosts[0]"),
    ({"hosts": ["api"]}, "invalid host api", "spec.hosts[0]"),
    ({"ports": [{"number": 443, "name": "https", "protocol": "HTTPS"},
                {"number": 443, "name": "tls", "protocol": "TLS"}]}, "port 443 already defined", "spec.ports[1].number"),
    ({"ports": [{"number": 443, "name": "https", "protocol": "QUIC"}]}, "unsupported protocol: QUIC",
     "spec.ports[0].protocol"),
    ({"resolution": "STATIC"}, "endpoints must be provided", "spec.endpoints"),
    ({"resolution": "STATIC", "endpoints": [{"address": "db.example.com"}]}, "STATIC endpoints are IP addresses",
     "spec.endpoints[0].address"),
    ({"hosts": ["*.example.com"]}, "hosts must be FQDN if no endpoints", "spec.hosts[0]"),
    ({"endpoints": [{"address": "10.0.0.1", "ports": {"grpc": 9000}}]}, "endpoint port 9000 is not defined",
     "spec.endpoints[0].ports.grpc"),
    ({"addresses": ["10.0.0.300"]}, "invalid address", "spec.addresses[0]"),
    ({"location": "OUTSIDE"}, "'OUTSIDE' is not valid", "spec.location"),
])
def test_istiod_refuses_a_wrong_service_entry(change, message, field):
    with pytest.raises(LabkitError) as info:
        validate(entry({**GOOD, **change}))
    assert message in str(info.value) and info.value.field == field and info.value.kind == "ServiceEntry"


@pytest.mark.parametrize("change", [
    {}, {"hosts": ["*.example.com"], "resolution": "NONE"},
    {"resolution": "STATIC", "endpoints": [{"address": "10.0.0.1", "ports": {"https": 8443}}]},
    {"endpoints": [{"address": "origin.example.com"}]}, {"addresses": ["240.0.0.1", "10.1.0.0/16"]},
])
def test_a_right_service_entry_is_accepted(change):
    assert validate(entry({**GOOD, **change}))["kind"] == "ServiceEntry"


def model(*objects: dict):
    return build_model([validate(o) for o in objects], 10)


def test_hosts_ports_endpoints_and_export_to():
    private = entry({"hosts": ["db.internal.example"], "exportTo": ["."], "resolution": "STATIC",
                     "ports": [{"number": 5432, "name": "tcp", "protocol": "TCP", "targetPort": 6432}],
                     "endpoints": [{"address": "10.0.0.1"}, {"address": "10.0.0.2", "ports": {"tcp": 7432}}]},
                    name="db")
    mesh = model(entry({**GOOD, "ports": [{"number": 80, "name": "http", "protocol": "HTTP", "targetPort": 443}]}),
                 private)
    seen_from_foo = {e.host for e in visible_entries(mesh, "foo")}
    assert seen_from_foo == {"api.example.com", "db.internal.example"}
    assert {e.host for e in visible_entries(mesh, "bar")} == {"api.example.com"}
    db = entry_for_host(mesh, "foo", "db.internal.example")
    assert db.fqdn == "db.internal.example" and db.ports[0].protocol == "TCP"
    assert db.endpoints_for(db.ports[0]) == [("10.0.0.1", 6432), ("10.0.0.2", 7432)]
    api = entry_for_host(mesh, "foo", "API.example.com")
    assert api.ports[0].protocol == "HTTP" and api.endpoints_for(api.ports[0]) == [("api.example.com", 443)]
    assert entry_for_host(mesh, "bar", "db.internal.example") is None


def test_wildcard_host_covers_names_and_the_exact_host_wins():
    mesh = model(entry({"hosts": ["*.example.com"], "resolution": "NONE",
                        "ports": [{"number": 443, "name": "tls", "protocol": "TLS"}]}, name="wild"),
                 entry(GOOD))
    assert entry_for_host(mesh, "foo", "api.example.com").entry == "ext.foo"
    assert entry_for_host(mesh, "foo", "www.example.com").entry == "wild.foo"
    assert entry_for_host(mesh, "foo", "example.org") is None


def test_a_destination_rule_for_an_entry_host_originates_tls_and_auto_mtls_does_not():
    dr = {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
          "metadata": {"name": "api", "namespace": "foo"},
          "spec": {"host": "api.example.com",
                   "trafficPolicy": {"portLevelSettings": [{"port": {"number": 80}, "tls": {"mode": "SIMPLE"}}]}}}
    ports = [{"number": 80, "name": "http", "protocol": "HTTP", "targetPort": 443},
             {"number": 443, "name": "https", "protocol": "HTTPS"}]
    mesh = model(entry({**GOOD, "ports": ports}), dr)
    api = entry_for_host(mesh, "bar", "api.example.com")
    assert client_tls(mesh, "bar", api, 80).mode == "SIMPLE"
    assert client_tls(mesh, "bar", api, 443).mode == "AUTO" and api.mesh_external


def test_the_analyzer_finds_a_service_entry_host_a_virtual_service_routes_to():
    from labkit.tools.analyze import analyze_documents
    vs = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
          "metadata": {"name": "api", "namespace": "foo"},
          "spec": {"hosts": ["api.example.com"], "http": [{"route": [{"destination": {"host": "api.example.com"}}]}]}}
    missing = [m for m in analyze_documents([vs]) if m.code == "IST0101"]
    assert missing and "api.example.com" in missing[0].text
    assert [m for m in analyze_documents([vs, entry(GOOD)]) if m.code == "IST0101"] == []


def test_a_gateway_routes_to_a_service_entry_host(tmp_path):
    path = tmp_path / "se.in.yaml"
    path.write_text(yaml.safe_dump_all(list(system_objects()) + [entry(
        {"hosts": ["api.example.com"], "ports": [{"number": 443, "name": "tls", "protocol": "TLS"}],
         "resolution": "STATIC", "endpoints": [{"address": "127.77.0.1"}]}, name="api", namespace="istio-system")]))
    mesh = model_from_yaml(path)   # pods made as the deployment controller makes them
    gateway = next(p for p in mesh.pods if p.is_gateway)
    config = build_proxy_config(mesh, gateway, ProxyPaths("/state/gw/istio-proxy"), GatewaySettings())
    assert "outbound|443||api.example.com" in [c["name"] for c in config.clusters]


def test_a_workload_selector_entry_has_the_selected_pods_as_endpoints_with_auto_mtls(tmp_path):
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "legacy-db", "namespace": "foo"},
                  "spec": {"selector": {"matchLabels": {"app": "db"}}, "template": {
                      "metadata": {"labels": {"app": "db"}},
                      "spec": {"containers": [{"name": "db", "image": "tcp-echo", "ports": [{"containerPort": 5432}]}]}}}}
    client = {**deployment, "metadata": {"name": "curl", "namespace": "foo"},
              "spec": {"selector": {"matchLabels": {"app": "curl"}}, "template": {
                  "metadata": {"labels": {"app": "curl"}}, "spec": {"containers": [{"name": "curl", "image": "curl"}]}}}}
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "foo",
                                                                     "labels": {"istio-injection": "enabled"}}}
    selected = entry({"hosts": ["db.internal.example"], "location": "MESH_INTERNAL", "resolution": "STATIC",
                      "ports": [{"number": 5432, "name": "tcp", "protocol": "TCP"}],
                      "workloadSelector": {"labels": {"app": "db"}}}, name="db")
    path = tmp_path / "in.yaml"
    path.write_text(yaml.safe_dump_all([namespace, deployment, client, selected]))
    mesh = model_from_yaml(path)
    curl = next(p for p in mesh.pods if p.name.startswith("curl"))
    db = next(p for p in mesh.pods if p.name.startswith("legacy-db"))
    config = build_proxy_config(mesh, curl, ProxyPaths("/state/curl/istio-proxy"), GatewaySettings())
    cluster = next(c for c in config.clusters if c["name"] == "outbound|5432||db.internal.example")
    (endpoint,) = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
    assert endpoint["endpoint"]["address"]["socket_address"]["address"] == db.ip
    assert endpoint["metadata"]["filter_metadata"]["envoy.transport_socket_match"] == {"tlsMode": "istio"}
    assert [m["name"] for m in cluster["transport_socket_matches"]] == ["tlsMode-istio", "tlsMode-disabled"]
