"""The rules that live once in labkit.model (and the curl outcome table): each shown to decide both ways."""
from __future__ import annotations

import base64

import pytest

from labkit.checks.curl_outcomes import Outcome, describe_expected, exit_name
from labkit.model.gateways import (CredentialError, ca_credential, ca_pem, ca_secret, credential_cert_pem,
                                   has_key_pair)
from labkit.model.hostmatch import exported_to, host_matches, hosts_overlap, route_destinations
from labkit.model.mesh import build_model, workload_selector
from labkit.model.vsbinding import destination_hosts


@pytest.mark.parametrize("pattern, host, expected", [
    ("*", "httpbin.foo.svc.cluster.local", True),
    ("*.example.com", "a.example.com", True),
    ("*.example.com", "example.com", False),
    ("*foo", "barfoo", True),               # Istio's host.Name: any `*` prefix is a suffix match
    ("*foo", "foo.bar", False),
    ("httpbin.foo.svc.cluster.local", "HTTPBIN.foo.svc.cluster.local", True),
    ("httpbin.foo.svc.cluster.local", "httpbin.bar.svc.cluster.local", False),
])
def test_host_matches_follows_istio_host_names(pattern, host, expected):
    assert host_matches(pattern, host) is expected


def test_hosts_overlap_is_symmetric():
    assert hosts_overlap("*.example.com", "a.example.com") and hosts_overlap("a.example.com", "*.example.com")
    assert hosts_overlap("*.a.example.com", "*.example.com")
    assert not hosts_overlap("a.example.com", "b.example.com")


def _vs(namespace="foo", export=None, **spec):
    if export is not None:
        spec["exportTo"] = export
    return {"kind": "VirtualService", "metadata": {"name": "r", "namespace": namespace}, "spec": spec}


def test_export_to():
    assert exported_to(_vs(), "bar")                       # unset: everywhere
    assert exported_to(_vs(export=["."]), "foo")
    assert not exported_to(_vs(export=["."]), "bar")
    assert exported_to(_vs(export=["bar"]), "bar")
    assert not exported_to(_vs(export=["baz"]), "bar")


def test_route_destinations_cover_http_tls_and_tcp():
    vs = _vs(http=[{"route": [{"destination": {"host": "a", "port": {"number": 80}}}]}],
             tls=[{"route": [{"destination": {"host": "b.bar"}}]}],
             tcp=[{"route": [{"destination": {"host": "c.example.com"}}]}, {"route": [{}]}])
    assert [(s, d["host"]) for s, _, _, d in route_destinations(vs)] == [("http", "a"), ("tls", "b.bar"),
                                                                        ("tcp", "c.example.com")]
    assert destination_hosts(vs) == [("a.foo.svc.cluster.local", 80), ("b.bar.svc.cluster.local", None),
                                     ("c.example.com", None)]


def _secret(name, **data):
    return {"kind": "Secret", "metadata": {"name": name, "namespace": "istio-system"},
            "data": {k: base64.b64encode(v).decode() for k, v in data.items()}}


def test_which_ca_a_mutual_gateway_trusts(tmp_path):
    from labkit import certs
    own_ca, other_ca = certs.make_ca("own"), certs.make_ca("other")
    model = build_model([_secret("both", **{"ca.crt": own_ca.cert_pem}),
                         _secret("both-cacert", **{"cacert": other_ca.cert_pem}),
                         _secret("inline", **{"ca.crt": own_ca.cert_pem}),
                         _secret("empty-companion", **{"ca.crt": own_ca.cert_pem}),
                         _secret("empty-companion-cacert", unrelated=b"x")], subnet=10)
    # `<name>-cacert` wins over the secret's own ca.crt: what Envoy gets, and what hints must name.
    assert ca_credential(model, "istio-system", "both") == other_ca.cert_pem
    assert ca_credential(model, "istio-system", "inline") == own_ca.cert_pem
    # ... even when it lacks the keys (istiod does not fall back then).
    with pytest.raises(CredentialError, match="cacert or ca.crt"):
        ca_credential(model, "istio-system", "empty-companion")
    assert ca_pem(ca_secret({"ca.crt": b"A"}, {"cacert": b"B"})) == b"B"
    assert ca_pem(ca_secret({"ca.crt": b"A"}, None)) == b"A"


def test_credential_keys_come_in_pairs():
    assert has_key_pair({"tls.crt": b"c", "tls.key": b"k"}) and has_key_pair({"cert": b"c", "key": b"k"})
    assert not has_key_pair({"tls.crt": b"c", "key": b"k"})   # mixed schemes: istiod finds neither pair
    assert not has_key_pair({"tls.crt": b"c"}) and not has_key_pair(None)
    assert credential_cert_pem({"cert": b"c"}) == b"c" and credential_cert_pem({}) is None


def test_workload_selector():
    assert workload_selector({"spec": {"selector": {"matchLabels": {"app": "a"}}}}) == {"app": "a"}
    assert workload_selector({"spec": {}}) == {} == workload_selector({})


def _outcome(url, code, status="000"):
    return Outcome("this machine", url, status, code)


def test_curl_exit_codes_mean_what_curl_says():
    assert _outcome("https://h/", 60).label == "untrusted certificate (60)"
    assert _outcome("https://h/", 60).matches("untrusted") and _outcome("http://h/", 60).matches("bad certificate")
    # Under TLS 1.3 a server that wants a client certificate refuses it after the handshake: 56, not 35.
    assert _outcome("https://h/", 56).label == "TLS failure (56)" and _outcome("https://h/", 56).tls_failed
    assert _outcome("https://h/", 35).matches("TLS failure")
    # Plaintext: 56 is a reset (a STRICT sidecar closing a request without mTLS), not a TLS failure.
    assert _outcome("http://h/", 56).label == "reset (56)" and _outcome("http://h/", 56).matches("reset")
    assert not _outcome("http://h/", 56).matches("TLS failure")
    assert _outcome("http://h/", 0, "200").matches(200) and not _outcome("http://h/", 0, "200").matches(503)
    assert exit_name(7, tls=True) == "refused"
    assert describe_expected("reset") == "reset (curl 56)"
    assert describe_expected("TLS failure") == "TLS failure (curl 16/35/55/56)"
    assert describe_expected(403) == "403"


def _pa(name, namespace, mode, created, selector=None):
    spec = {"mtls": {"mode": mode}}
    if selector:
        spec["selector"] = {"matchLabels": selector}
    return {"kind": "PeerAuthentication", "spec": spec,
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": created}}


def test_the_oldest_level_policy_wins_and_the_rest_are_ignored():
    from labkit.model.peerauth import ignored_policies, level_policy
    model = build_model([_pa("newer", "foo", "DISABLE", "2030-01-02T00:00:00Z"),
                         _pa("older", "foo", "STRICT", "2030-01-01T00:00:00Z"),
                         _pa("mesh", "istio-system", "PERMISSIVE", "2030-01-01T00:00:00Z"),
                         _pa("root-selector", "istio-system", "STRICT", "2030-01-01T00:00:00Z", {"app": "x"})],
                        subnet=10)
    assert level_policy(model, "foo")["metadata"]["name"] == "older"
    assert level_policy(model, "istio-system")["metadata"]["name"] == "mesh"
    assert level_policy(model, "bar") is None
    assert sorted(p["metadata"]["name"] for p, _ in ignored_policies(model)) == ["newer", "root-selector"]


def test_server_hosts_per_namespace():
    from labkit.model.gateways import server_dns_names, server_hosts_for_namespace
    server = {"hosts": ["a.example.com", "*/b.example.com", "./c.example.com", "bar/d.example.com"]}
    assert server_dns_names(server) == ["a.example.com", "b.example.com", "c.example.com", "d.example.com"]
    assert server_hosts_for_namespace(server, "istio-system", "istio-system") == [
        "a.example.com", "b.example.com", "c.example.com"]
    assert server_hosts_for_namespace(server, "istio-system", "bar") == ["a.example.com", "b.example.com",
                                                                        "d.example.com"]
