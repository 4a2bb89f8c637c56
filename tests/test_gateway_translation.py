"""Unit tests of the Gateway, VirtualService and AuthorizationPolicy translation, without starting Envoy."""
from __future__ import annotations

from importlib import resources

import pytest

from golden_support import model_from_yaml
from labkit import certs
from labkit.envoy.common import all_route_configs
from labkit.envoy.common import ProxyPaths
from labkit.envoy.gateway import build_gateway, virtual_host_domains
from labkit.envoy.proxy import GatewaySettings
from labkit.envoy.rbac import (ALLOW_FILTER, DENY_FILTER, rbac_configs, rbac_network_filters, rbac_warnings,
                               string_matcher)
from labkit.envoy.routing import catch_all_last
from labkit.model.gateways import CredentialError, ca_credential, gateway_servers, server_credential, vs_hosts
from labkit.model.hostmatch import intersect_hosts, subset_of
from labkit.model.vsbinding import RouteContext, applicable_rule

SYSTEM = resources.files("labkit.data").joinpath("istio-system.yaml").read_text()
HTTPBIN = """
apiVersion: v1
kind: Namespace
metadata: {name: demo, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: demo}
spec:
  selector: {app: httpbin}
  ports: [{name: http, port: 8000, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: httpbin, namespace: demo}
spec:
  selector: {matchLabels: {app: httpbin}}
  template:
    metadata: {labels: {app: httpbin}}
    spec:
      serviceAccountName: httpbin
      containers: [{name: httpbin, image: mccutchen/go-httpbin, ports: [{containerPort: 80}]}]
"""


class _Text:
    """golden_support builds models from anything with read_text()."""

    def __init__(self, text: str):
        self.text = text

    def read_text(self) -> str:
        return self.text


def model_of(*docs: str):
    return model_from_yaml(_Text("\n---\n".join((SYSTEM, HTTPBIN, *docs))))


def gateway_pod(model):
    return next(p for p in model.pods if p.is_gateway)


def pod_named(model, prefix: str):
    return next(p for p in model.pods if p.name.startswith(prefix))


def gateway_config(model):
    return build_gateway(model, gateway_pod(model), ProxyPaths("/state/pod"), GatewaySettings())


def gw(name: str, servers: str, namespace: str = "istio-system", selector: str = "{istio: ingressgateway}") -> str:
    return (f"apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {{name: {name}, namespace: {namespace}}}\n"
            f"spec:\n  selector: {selector}\n  servers:\n{servers}")


def vs(name: str, hosts: str, gateways: str, namespace: str = "demo", extra: str = "") -> str:
    return (f"apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: {name}, "
            f"namespace: {namespace}}}\nspec:\n  hosts: {hosts}\n  gateways: {gateways}\n{extra}"
            "  http:\n  - route: [{destination: {host: httpbin.demo.svc.cluster.local, port: {number: 8000}}}]\n")


HTTP_ANY = "  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: ['*']\n"


def vhost_domains(config) -> dict[str, list[str]]:
    return {vh["name"]: vh["domains"] for r in all_route_configs(config) for vh in r["virtual_hosts"]}


# ---- hosts -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, other, expected", [
    ("a.example.com", "*.example.com", True),
    ("example.com", "*.example.com", False),        # a wildcard needs at least one more label
    ("*.a.example.com", "*.example.com", True),
    ("*.example.com", "*.a.example.com", False),
    ("anything", "*", True),
    ("*", "a.example.com", False),
    ("a.example.com", "a.example.com", True),
])
def test_subset_of_follows_istio_host_names(name, other, expected):
    assert subset_of(name, other) is expected


def test_intersection_keeps_the_more_specific_name():
    assert intersect_hosts(["*"], ["local.test"]) == ["local.test"]
    assert intersect_hosts(["*.example.com"], ["*"]) == ["*.example.com"]
    assert intersect_hosts(["local.test"], ["other.test"]) == []
    assert intersect_hosts(["*.example.com", "local.test"], ["a.example.com", "*"]) == \
        ["a.example.com", "*.example.com", "local.test"]


def test_only_dotless_vs_hosts_are_short_names():
    doc = {"metadata": {"namespace": "demo"}, "spec": {"hosts": ["reviews", "local.test", "*", "httpbin.foo"]}}
    assert vs_hosts(doc) == ["reviews.demo.svc.cluster.local", "local.test", "*", "httpbin.foo"]


@pytest.mark.parametrize("host, domains", [
    ("*", ["*"]),
    ("local.test", ["local.test", "local.test:*"]),
    ("*.example.com", ["*.example.com", "*.example.com:443"]),   # Envoy allows one wildcard per domain
])
def test_virtual_host_domains(host, domains):
    assert virtual_host_domains(host, 443) == domains


# ---- servers and binding --------------------------------------------------------------------------

def test_server_ports_map_through_the_gateway_service_and_name_the_routes():
    https = "  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: [a.test]\n" \
            "    tls: {mode: SIMPLE, credentialName: cred}\n"
    model = model_of(gw("mygateway", HTTP_ANY + https, namespace="demo"))
    servers, warnings = gateway_servers(model, gateway_pod(model))
    assert [(s.number, s.target_port, s.route_name) for s in servers] == [
        (80, 8080, "http.8080"), (443, 8443, "https.443.https.mygateway.demo")]
    assert warnings == []


def test_a_port_no_service_exposes_is_used_as_is():
    model = model_of(gw("g", "  - port: {number: 31400, name: tcp, protocol: TCP}\n    hosts: ['*']\n"))
    assert gateway_servers(model, gateway_pod(model))[0][0].target_port == 31400


def test_gateways_select_by_labels_in_any_namespace():
    model = model_of(gw("other", HTTP_ANY, selector="{istio: eastwestgateway}"),
                     gw("empty", HTTP_ANY, namespace="demo", selector="{}"))
    assert [s.gateway for s in gateway_servers(model, gateway_pod(model))[0]] == ["demo/empty"]


def test_server_host_namespaces_decide_which_virtual_services_bind():
    servers = ("  - port: {number: 80, name: http, protocol: HTTP}\n"
               "    hosts: [./own.test, demo/demo.test, '*/any.test', other.test]\n")
    model = model_of(gw("g", servers, namespace="shop"),
                     vs("from-demo", "[own.test, demo.test, any.test, other.test]", "[shop/g]"),
                     vs("from-shop", "[own.test, demo.test]", "[g]", namespace="shop"))
    domains = vhost_domains(gateway_config(model))
    assert sorted(domains) == ["any.test:80", "demo.test:80", "other.test:80", "own.test:80"]
    route = all_route_configs(gateway_config(model))[0]
    own = next(vh for vh in route["virtual_hosts"] if vh["name"] == "own.test:80")
    demo = next(vh for vh in route["virtual_hosts"] if vh["name"] == "demo.test:80")
    assert {r["name"].split(".")[0] for r in own["routes"]} == {"from-shop"}
    assert {r["name"].split(".")[0] for r in demo["routes"]} == {"from-demo"}


def test_unbound_or_hidden_virtual_services_leave_the_404_vhost():
    model = model_of(gw("g", HTTP_ANY), vs("mesh-only", "['*']", "[mesh]"),
                     vs("hidden", "['*']", "[istio-system/g]", extra="  exportTo: ['.']\n"))
    assert vhost_domains(gateway_config(model)) == {"blackhole:80": ["*"]}


def test_match_conditions_for_other_gateways_or_ports_are_dropped():
    rule = {"match": [{"uri": {"prefix": "/a"}, "gateways": ["mesh"]}, {"uri": {"prefix": "/b"}, "port": 80},
                      {"uri": {"prefix": "/c"}, "port": 443}, {"uri": {"prefix": "/d"}, "gateways": ["g"]}],
            "route": []}
    kept = applicable_rule(rule, "istio-system", RouteContext(port=80, gateway="istio-system/g"))
    assert [m["uri"]["prefix"] for m in kept["match"]] == ["/b", "/d"]
    assert applicable_rule({"match": [{"port": 9}], "route": []}, "x", RouteContext(port=80)) is None


def test_catch_all_routes_go_last_and_keep_their_order():
    routes = [{"name": "all-1", "match": {"prefix": "/"}}, {"name": "api", "match": {"prefix": "/api"}},
              {"name": "all-2", "match": {"prefix": "/"}}, {"name": "hdr", "match": {"prefix": "/", "headers": []}}]
    assert [r["name"] for r in catch_all_last(routes)] == ["api", "hdr", "all-1", "all-2"]


# ---- credentials -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pki():
    ca = certs.make_ca("test-ca", key_type="ec")
    return ca, certs.make_server_cert(ca, "local.test", key_type="ec")


def secret_yaml(secret: dict) -> str:
    import yaml
    return yaml.safe_dump(secret)


def test_missing_credential_gives_an_empty_sds_file_and_istiods_warning():
    mutual = "  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: [a.test]\n" \
             "    tls: {mode: MUTUAL, credentialName: nope}\n"
    model = model_of(gw("g", mutual), vs("v", "[a.test]", "[istio-system/g]"))
    config = gateway_config(model)
    assert config.sds == {"kubernetes://nope": [], "kubernetes://nope-cacert": []}
    assert config.warnings == [
        "failed to fetch key and certificate for kubernetes://nope: secret istio-system/nope not found",
        "failed to fetch ca certificate for kubernetes://nope-cacert: secret istio-system/nope not found"]
    assert [chain["filter_chain_match"] for chain in config.listeners[0]["filter_chains"]] == \
        [{"server_names": ["a.test"]}]   # the chain stays: only its handshakes fail


def test_credentials_are_read_from_the_gateway_pods_namespace(pki):
    ca, server = pki
    model = model_of(secret_yaml(certs.tls_secret("cred", "demo", server)))
    with pytest.raises(CredentialError, match="secret istio-system/cred not found"):
        server_credential(model, "istio-system", "cred")
    assert server_credential(model, "demo", "cred").cert_pem == server.cert_pem


def test_generic_secret_keys_and_missing_keys(pki):
    ca, server = pki
    generic = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "gen", "namespace": "istio-system"},
               "stringData": {"cert": server.cert_pem.decode(), "key": server.key_pem.decode()}}
    empty = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "empty", "namespace": "istio-system"},
             "stringData": {"foo": "bar"}}
    model = model_of(secret_yaml(generic), secret_yaml(empty))
    assert server_credential(model, "istio-system", "gen").key_pem == server.key_pem
    with pytest.raises(CredentialError, match=r"didn't have expected keys .*found: foo"):
        server_credential(model, "istio-system", "empty")


def test_a_key_that_does_not_match_the_certificate_is_refused(pki):
    ca, server = pki
    other = certs.make_server_cert(ca, "other.test", key_type="ec")
    mixed = certs.CertBundle(cert_pem=server.cert_pem, key_pem=other.key_pem)
    model = model_of(secret_yaml(certs.tls_secret("mixed", "istio-system", mixed)))
    with pytest.raises(CredentialError, match="does not match"):
        server_credential(model, "istio-system", "mixed")


def test_ca_comes_from_the_cacert_secret_first_then_ca_crt(pki):
    ca, server = pki
    other_ca = certs.make_ca("other-ca", key_type="ec")
    model = model_of(secret_yaml(certs.tls_secret("both", "istio-system", server, ca_pem=ca.cert_pem)),
                     secret_yaml(certs.cacert_secret("both", "istio-system", other_ca.cert_pem)),
                     secret_yaml(certs.tls_secret("inline", "istio-system", server, ca_pem=ca.cert_pem)),
                     secret_yaml(certs.tls_secret("plain", "istio-system", server)))
    assert ca_credential(model, "istio-system", "both") == other_ca.cert_pem
    assert ca_credential(model, "istio-system", "inline") == ca.cert_pem
    with pytest.raises(CredentialError, match="cacert or ca.crt"):
        ca_credential(model, "istio-system", "plain")


# ---- AuthorizationPolicy → RBAC --------------------------------------------------------------------

@pytest.mark.parametrize("pattern, matcher", [
    ("/admin", {"exact": "/admin"}),
    ("/admin*", {"prefix": "/admin"}),
    ("*.php", {"suffix": ".php"}),
    ("*", {"safe_regex": {"regex": ".+"}}),
])
def test_istio_string_forms(pattern, matcher):
    assert string_matcher(pattern) == matcher


def ap(name: str, spec: str, namespace: str = "demo") -> str:
    return (f"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: {name}, "
            f"namespace: {namespace}}}\nspec:\n{spec}")


def httpbin_rbac(*policies: str, **kwargs) -> dict:
    model = model_of(*policies)
    return rbac_configs(model, pod_named(model, "httpbin"), **kwargs)


def test_allow_nothing_denies_everything_and_a_rule_less_deny_denies_nothing():
    rules = httpbin_rbac(ap("allow-nothing", "  {}\n"), ap("deny-none", "  action: DENY\n"))
    assert rules == {DENY_FILTER: {"action": "DENY", "policies": {}}, ALLOW_FILTER: {"action": "ALLOW", "policies": {}}}


def test_principals_namespaces_and_not_principals():
    rules = httpbin_rbac(ap("p", "  rules:\n  - from:\n    - source: {principals: [cluster.local/ns/foo/sa/curl, "
                                 "'cluster.local/ns/bar/*'], notNamespaces: [legacy]}\n"))
    principal = rules[ALLOW_FILTER]["policies"]["ns[demo]-policy[p]-rule[0]"]["principals"][0]["and_ids"]["ids"]
    assert principal == [
        {"or_ids": {"ids": [
            {"authenticated": {"principal_name": {"exact": "spiffe://cluster.local/ns/foo/sa/curl"}}},
            {"authenticated": {"principal_name": {"prefix": "spiffe://cluster.local/ns/bar/"}}}]}},
        {"not_id": {"authenticated": {"principal_name": {"safe_regex": {"regex": ".*/ns/legacy/.*"}}}}}]


def test_ports_name_the_workload_port_and_point_at_its_listener():
    # httpbin listens on container port 80, which the local mesh serves on loopback port 20080.
    rules = httpbin_rbac(ap("p", "  rules:\n  - to: [{operation: {ports: ['80']}}]\n"))
    assert rules[ALLOW_FILTER]["policies"]["ns[demo]-policy[p]-rule[0]"]["permissions"] == [{"destination_port": 20080}]


def test_unknown_when_keys_never_match():
    rules = httpbin_rbac(ap("p", "  rules:\n  - when: [{key: 'request.auth.claims[iss]', values: [x]}]\n"))
    assert rules[ALLOW_FILTER]["policies"]["ns[demo]-policy[p]-rule[0]"]["principals"] == [{"not_id": {"any": True}}]


def test_root_namespace_policies_are_mesh_wide_and_selectors_reach_every_namespace():
    model = model_of(ap("mesh-deny", "  action: DENY\n  rules: [{to: [{operation: {paths: [/x]}}]}]\n",
                        "istio-system"),
                     ap("gateway-only", "  selector: {matchLabels: {istio: ingressgateway}}\n  rules: [{}]\n",
                        "istio-system"),
                     ap("demo-only", "  rules: [{}]\n"))
    httpbin, gateway = pod_named(model, "httpbin"), gateway_pod(model)
    assert set(rbac_configs(model, httpbin)[DENY_FILTER]["policies"]) == {"ns[istio-system]-policy[mesh-deny]-rule[0]"}
    assert set(rbac_configs(model, httpbin)[ALLOW_FILTER]["policies"]) == {"ns[demo]-policy[demo-only]-rule[0]"}
    assert set(rbac_configs(model, gateway)[ALLOW_FILTER]["policies"]) == \
        {"ns[istio-system]-policy[gateway-only]-rule[0]"}


def test_http_only_fields_on_tcp_drop_allow_rules_and_widen_deny_rules():
    model = model_of(ap("allow-get", "  rules: [{to: [{operation: {methods: [GET]}}]}, {from: [{source: "
                                     "{namespaces: [foo]}}]}]\n"),
                     ap("deny-post", "  action: DENY\n"
                                     "  rules: [{to: [{operation: {methods: [POST], ports: ['80']}}]}]\n"))
    filters = {f["name"]: f["typed_config"]["rules"]
               for f in rbac_network_filters(model, pod_named(model, "httpbin"), "inbound_0.0.0.0_80")}
    assert list(filters[ALLOW_FILTER]["policies"]) == ["ns[demo]-policy[allow-get]-rule[1]"]
    assert filters[DENY_FILTER]["policies"]["ns[demo]-policy[deny-post]-rule[0]"]["permissions"] == \
        [{"destination_port": 20080}]


def test_audit_and_custom_are_reported_not_enforced():
    model = model_of(ap("audit", "  action: AUDIT\n  rules: [{}]\n"),
                     ap("ext", "  action: CUSTOM\n  provider: {name: my-authz}\n  rules: [{}]\n"))
    httpbin = pod_named(model, "httpbin")
    assert rbac_configs(model, httpbin) == {}
    assert [w.split(":")[0] for w in rbac_warnings(model, httpbin)] == \
        ["AuthorizationPolicy audit.demo", "AuthorizationPolicy ext.demo"]


def test_gateway_policies_ride_on_every_virtual_host_with_gateway_ports():
    model = model_of(gw("g", HTTP_ANY), vs("v", "['*']", "[istio-system/g]"),
                     ap("gw", "  selector: {matchLabels: {istio: ingressgateway}}\n"
                              "  rules: [{to: [{operation: {ports: ['8080']}}]}]\n", "istio-system"))
    settings = GatewaySettings(host_ports=((8080, 18080), (8443, 18443)))
    config = build_gateway(model, gateway_pod(model), ProxyPaths("/state/pod"), settings)
    vhost = all_route_configs(config)[0]["virtual_hosts"][0]
    rules = vhost["typed_per_filter_config"][ALLOW_FILTER]["rbac"]["rules"]
    assert rules["policies"]["ns[istio-system]-policy[gw]-rule[0]"]["permissions"] == [{"destination_port": 18080}]
    assert config.listeners[0]["address"]["socket_address"]["port_value"] == 18080



def test_https_servers_sharing_a_port_name_share_one_route():
    servers = "".join(f"  - port: {{number: 443, name: https, protocol: HTTPS}}\n    hosts: [{h}]\n"
                      f"    tls: {{mode: SIMPLE, credentialName: cred}}\n" for h in ("a.test", "b.test"))
    model = model_of(gw("g", servers), vs("v", "[a.test, b.test]", "[istio-system/g]"))
    config = gateway_config(model)
    assert [r["name"] for r in all_route_configs(config)] == ["https.443.https.g.istio-system"]
    assert sorted(vhost_domains(config)) == ["a.test:443", "b.test:443"]
    assert len(config.listeners[0]["filter_chains"]) == 2


def test_auto_passthrough_sni_clusters_are_made_once():
    servers = "".join(f"  - port: {{number: {p}, name: tls-{p}, protocol: TLS}}\n    hosts: ['*.local']\n"
                      "    tls: {mode: AUTO_PASSTHROUGH}\n" for p in (15443, 15444))
    config = gateway_config(model_of(gw("east-west", servers)))
    names = [cl["name"] for cl in config.clusters]
    assert len(names) == len(set(names))
    assert "outbound_.8000_._.httpbin.demo.svc.cluster.local" in names
    assert [lst["name"] for lst in config.listeners] == ["0.0.0.0_15443", "0.0.0.0_15444"]
