"""The verification tools against the real local mesh: real Envoy admin APIs, real access logs, real curl.

Each view is checked on a setup that shows the thing and one that does not; the evidence and the
graph are checked against the calls this test really made, and the TLS status table against what
curl really got.
"""
from __future__ import annotations

import time
import xml.etree.ElementTree as ET

import subprocess
import sys

import pytest

from labkit import certs
from labkit.errors import LabkitError
from labkit.samples import sample
from labkit.tools.graph import COLORS

from mesh_scenarios import CLIENTS, SERVERS, curl_code, deploy_migration, strict
from mesh_scenarios import destination_rule as dr

pytestmark = pytest.mark.envoy
SVG = "{http://www.w3.org/2000/svg}"
OK, RESET = ("200", 0), ("000", 56)
FOO_CLUSTER = "outbound|8000||httpbin.foo.svc.cluster.local"


@pytest.fixture(scope="module")
def mesh(lab):
    deploy_migration(lab)
    # The evidence these tests compare with curl needs the TLS fields: the JSON access-log format labs 13/15–17
    # apply (Istio's defaults say nothing about the client side's TLS).
    lab.apply(sample("mesh-access-log-json"))
    return lab


def call(mesh, client: str, server: str) -> tuple[str, int]:
    return curl_code(mesh, client, f"http://httpbin.{server}:8000/ip")


def svg_edges(graph) -> dict:
    root = ET.fromstring(graph.svg())
    return {(g.get("data-source"), g.get("data-destination")): g for g in root.iter(f"{SVG}g")
            if g.get("class") == "edge"}


def inbound_listeners_log(mesh) -> bool:
    """Whether the builders give inbound listeners a listener-level access log (refused connections)."""
    listener = mesh.proxy_config("foo", "httpbin", "listeners")["virtualInbound_8080"]
    return bool(listener.get("access_log"))


# ---- evidence and graph ----------------------------------------------------------------------------

def test_evidence_and_graph_edges_are_exactly_the_calls_made(mesh):
    since = time.time()
    made = [("foo", "foo"), ("bar", "foo"), ("legacy", "foo"), ("foo", "legacy"), ("bar", "foo")]
    for client, server in made:
        assert call(mesh, client, server) == OK
    seen = mesh.evidence(since=since)
    expected = {(f"{c}/curl", f"{s}/httpbin") for c, s in made}
    assert set(zip(seen.edges.source, seen.edges.destination)) == expected
    assert seen.edge("bar/curl", "foo/httpbin")["requests"] == 2
    mtls = {(e["source"], e["destination"]): e["mtls"] for e in seen.edges.to_dict("records")}
    assert mtls == {("foo/curl", "foo/httpbin"): True, ("bar/curl", "foo/httpbin"): True,
                    ("legacy/curl", "foo/httpbin"): False, ("foo/curl", "legacy/httpbin"): False}
    bar = seen.edge("bar/curl", "foo/httpbin")
    assert bar["client_identities"] == ["spiffe://cluster.local/ns/bar/sa/curl"]      # what foo's sidecar saw
    assert bar["server_identities"] == ["spiffe://cluster.local/ns/foo/sa/httpbin"]   # what bar's sidecar saw
    assert set(seen.calls[seen.calls.source == "legacy/curl"].reported_by) == {"server"}
    assert "bar/curl" in seen._repr_html_() and "<details>" in seen._repr_html_()

    graph = mesh.graph(since=since)
    edges = svg_edges(graph)
    # The picture names callers as Kiali would: legacy's curl has no sidecar, so foo's sidecar (the only
    # one that saw the call) cannot say who called: `unknown`.
    drawn = expected - {("legacy/curl", "foo/httpbin")} | {("unknown", "foo/httpbin")}
    assert set(edges) == drawn == graph.edge_set
    assert {k for k, g in edges.items() if g.get("data-mtls") == "true"} == {
        ("foo/curl", "foo/httpbin"), ("bar/curl", "foo/httpbin")}
    assert all(g.get("data-status") == "ok" for g in edges.values())


def test_a_call_no_proxy_sees_is_not_invented(mesh):
    since = time.time()
    assert call(mesh, "legacy", "legacy") == OK   # neither pod has a sidecar: nothing logs it
    assert mesh.evidence(since=since).calls.empty and not mesh.graph(since=since).edge_set


def test_failed_calls_are_red_with_their_real_codes(mesh):
    mesh.apply(strict("foo"))
    mesh.apply(dr("httpbin-plain", "bar", "httpbin.foo.svc.cluster.local", "DISABLE"))
    try:
        since = time.time()
        assert call(mesh, "bar", "foo") == ("503", 0)
        assert call(mesh, "legacy", "foo") == RESET
        seen = mesh.evidence(since=since)
        refused = seen.edge("bar/curl", "foo/httpbin")
        assert (refused["status"], refused["codes"], refused["mtls"]) == ("error", "503×1", False)
        edges = svg_edges(mesh.graph(since=since))
        assert edges[("bar/curl", "foo/httpbin")].find(f"{SVG}path").get("stroke") == COLORS["error"]
        reset = seen.edge("legacy/curl", "foo/httpbin")
        if inbound_listeners_log(mesh):
            assert reset["codes"] == "reset×1" and "no filter chain matched" in seen.calls.detail.iloc[-1]
        else:  # a STRICT reset happens before any HTTP: without a listener-level log no line records it
            assert reset is None
    finally:
        mesh.delete("DestinationRule", "httpbin-plain", namespace="bar")
        mesh.delete("PeerAuthentication", "default", namespace="foo")


# ---- TLS status against reality ------------------------------------------------------------------

def test_tls_status_predicts_what_curl_gets(mesh):
    mesh.apply(strict("foo"))
    mesh.apply(dr("httpbin-plain", "bar", "httpbin.foo.svc.cluster.local", "DISABLE"))
    mesh.apply(dr("legacy-mtls", "foo", "httpbin.legacy.svc.cluster.local", "ISTIO_MUTUAL"))
    try:
        table = mesh.tls_status(service=None)
        outcome = {"200": OK, "503": ("503", 0), "connection reset (curl 56)": RESET}
        for client in CLIENTS:
            for server in SERVERS:
                row = table[(table.client == f"{client}/curl")
                            & (table.host == f"httpbin.{server}.svc.cluster.local:8000")].iloc[0]
                assert call(mesh, client, server) == outcome[row.expected], (client, server, row.to_dict())
        assert set(table[table.status == "CONFLICT"].apply(lambda r: (r.client, r.host.split(".")[1]), axis=1)) >= {
            ("legacy/curl", "foo"), ("bar/curl", "foo"), ("foo/curl", "legacy")}
    finally:
        mesh.delete("DestinationRule", "httpbin-plain", namespace="bar")
        mesh.delete("DestinationRule", "legacy-mtls", namespace="foo")
        mesh.delete("PeerAuthentication", "default", namespace="foo")


# ---- proxy config ----------------------------------------------------------------------------------

def test_clusters_show_auto_mtls_and_a_destination_rule_turning_it_off(mesh):
    clusters = mesh.proxy_config("foo", "curl", "clusters")
    row = clusters.table[clusters.table.cluster == FOO_CLUSTER].iloc[0]
    assert row.tls.startswith("auto mTLS") and row.expected_san == "spiffe://cluster.local/ns/foo/sa/httpbin"
    assert row.sni == "outbound_.8000_._.httpbin.foo.svc.cluster.local"
    assert [m["name"] for m in clusters[FOO_CLUSTER]["transport_socket_matches"]] == ["tlsMode-istio",
                                                                                      "tlsMode-disabled"]
    assert "<details>" in clusters._repr_html_() and FOO_CLUSTER in clusters._repr_html_()
    assert len(clusters.widget().children[1].children) == len(clusters.items)
    mesh.apply(dr("plain", "foo", "httpbin.foo.svc.cluster.local", "DISABLE"))
    try:
        plain = mesh.proxy_config("foo", "curl", "cluster").table.set_index("cluster")
        assert plain.loc[FOO_CLUSTER, "tls"] == "plaintext"
    finally:
        mesh.delete("DestinationRule", "plain", namespace="foo")


def test_listeners_show_the_inbound_chains_per_mode(mesh):
    permissive = mesh.proxy_config("foo", "httpbin", "listeners").table
    inbound = permissive[permissive.listener == "virtualInbound_8080"]
    # An HTTP port has no chain for TLS the app speaks itself (Istio: "explicitly declared as HTTP type").
    assert set(inbound.chain) == {"0.0.0.0_8080_mtls", "0.0.0.0_8080_plaintext"}
    mesh.apply(strict("foo"))
    try:
        strict_table = mesh.proxy_config("foo", "httpbin", "listeners").table
        inbound = strict_table[strict_table.listener == "virtualInbound_8080"]
        assert list(inbound.chain) == ["0.0.0.0_8080_mtls"]
        assert list(inbound.tls) == ["mTLS (mesh cert, client cert required)"]
        assert list(inbound.destination) == ["Route: inbound|8080||"]
    finally:
        mesh.delete("PeerAuthentication", "default", namespace="foo")


def test_routes_and_endpoints(mesh):
    routes = mesh.proxy_config("foo", "curl", "routes").table
    vhost = routes[routes.virtual_host == "httpbin.foo.svc.cluster.local:8000"].iloc[0]
    assert vhost.route == "8000" and vhost.destination == FOO_CLUSTER and "httpbin," in vhost.domains + ","
    endpoints = mesh.proxy_config("foo", "curl", "endpoints").table.set_index("cluster")
    assert endpoints.loc[FOO_CLUSTER, "tlsMode"] == "istio"
    assert endpoints.loc["outbound|8000||httpbin.legacy.svc.cluster.local", "tlsMode"] == "-"


def test_proxy_config_needs_a_proxy_and_a_known_kind(mesh):
    with pytest.raises(LabkitError, match="no running proxy"):
        mesh.proxy_config("legacy", "curl", "clusters")
    with pytest.raises(LabkitError, match="unknown proxy-config kind"):
        mesh.proxy_config("foo", "curl", "bogus")
    with pytest.raises(KeyError):
        mesh.proxy_config("foo", "curl", "clusters")["nope"]


# ---- certificates and describe -------------------------------------------------------------------

def test_workload_certificate_from_the_live_proxy(mesh):
    table = mesh.certs("foo", "httpbin")
    leaf = table[table.role == "leaf"].iloc[0]
    assert (leaf.source, leaf.spiffe_id, leaf.chain, leaf.status) == (
        "default", "spiffe://cluster.local/ns/foo/sa/httpbin", "ok", "valid")
    assert leaf.issuer == "O=cluster.local, CN=Root CA" and 0 < leaf.days_left <= 1
    assert set(table.role) == {"leaf", "trusted CA"}
    secrets = mesh.proxy_config("foo", "httpbin", "secrets")
    assert set(secrets.names) == {"default", "ROOTCA"} and list(secrets.table.spiffe_id.dropna()) == [leaf.spiffe_id]
    with pytest.raises(LabkitError, match="no running proxy"):
        mesh.certs("legacy", "httpbin")


def test_gateway_secret_certificates(mesh):
    ca, other_ca = certs.make_ca("example.com", key_type="ec"), certs.make_ca("other.com", key_type="ec")
    server = certs.make_server_cert(ca, "httpbin.example.com", ["httpbin.example.com"], key_type="ec")
    expired = certs.make_expired_client_cert(ca, "old.example.com", key_type="ec")
    mesh.apply([certs.tls_secret("good", "istio-system", server, ca.cert_pem),
                certs.tls_secret("wrong-ca", "istio-system", server, other_ca.cert_pem),
                certs.tls_secret("expired", "istio-system", expired, ca.cert_pem)])
    try:
        good = mesh.certs("istio-system", "secret/good")
        leaf = good[good.role == "leaf"].iloc[0]
        assert leaf.sans == "DNS:httpbin.example.com" and leaf.chain == "ok" and leaf.issuer == "CN=example.com"
        assert list(good.role) == ["leaf", "trusted CA"]
        wrong = mesh.certs("istio-system", "secret/wrong-ca")
        assert wrong.chain.iloc[0].startswith("signed by a different CA")
        assert mesh.certs("istio-system", "secret/expired").status.iloc[0] == "EXPIRED"
        with pytest.raises(LabkitError, match='secrets "nope" not found'):
            mesh.certs("istio-system", "secret/nope")
    finally:
        for name in ("good", "wrong-ca", "expired"):
            mesh.delete("Secret", name, namespace="istio-system")


def test_describe_reads_identity_from_the_proxy(mesh):
    mesh.apply(strict("foo"))
    try:
        found = mesh.describe("foo", "httpbin")
        assert found.mtls_mode == "STRICT" and found.peer_authentications == ["default.foo"]
        assert found.certificate["spiffe_id"] == found.spiffe_id == "spiffe://cluster.local/ns/foo/sa/httpbin"
        assert "Certificate: valid" in str(found)
        assert mesh.describe("legacy", "curl").proxy is None
    finally:
        mesh.delete("PeerAuthentication", "default", namespace="foo")


# ---- analyze on the live lab ---------------------------------------------------------------------

def test_analyze_sees_pods_that_predate_injection_until_restarted(mesh):
    mesh.apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: late}\n")
    mesh.apply(sample("curl"), namespace="late")
    try:
        mesh.wait_ready("late", timeout=30)
        assert "LAB0001" not in mesh.analyze()
        mesh.label_namespace("late", {"istio-injection": "enabled"})
        report = mesh.analyze()
        assert [m.name for m in report.by_code("LAB0001")] == ["curl"]
        assert [m.namespace for m in report.by_code("IST0103")] == ["late"]
        mesh.restart("late", "curl")
        mesh.wait_ready("late", timeout=30)
        report = mesh.analyze()
        assert not report.by_code("LAB0001") and not report.by_code("IST0103")
    finally:
        mesh.delete("Namespace", "late")


def test_analyze_warns_when_strict_locks_out_an_observed_plaintext_caller(mesh):
    assert call(mesh, "legacy", "foo") == OK
    assert "LAB0002" not in mesh.analyze()
    mesh.apply(strict("foo"))
    try:
        warning = mesh.analyze().by_code("LAB0002")
        assert len(warning) == 1 and "legacy/curl (observed in the access logs)" in warning[0].text
    finally:
        mesh.delete("PeerAuthentication", "default", namespace="foo")


def test_cli_analyze_reads_the_running_mesh(mesh):
    mesh.apply(dr("ghost", "foo", "nothere", "ISTIO_MUTUAL"))
    try:
        out = subprocess.run([sys.executable, "-m", "labkit.cli", "analyze", "--state-dir", str(mesh.state_dir)],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert 'Warning [IST0174] (DestinationRule foo/ghost)' in out.stdout
    finally:
        mesh.delete("DestinationRule", "ghost", namespace="foo")
