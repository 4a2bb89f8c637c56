"""Reading access-log lines into calls, on synthetic lines in the builders' JSON format (and Istio's own).

The real-Envoy side is in test_tools_mesh.py; here each kind of line a proxy can write is pinned:
a call seen by both sidecars counts once, a sidecar-less caller is seen by the server only, a gateway
line is two hops, and a listener-level line is a refused connection or nothing.
"""
from __future__ import annotations

import datetime as dt
import json

from labkit.samples import system_objects
from labkit.tools.evidence import EXTERNAL, Directory, Evidence, read_records

from tools_fixtures import migration, model_of

MODEL = model_of(migration() + [o for o in system_objects() if o["kind"] in ("Deployment", "Service")])
DIRECTORY = Directory(MODEL)
T0 = dt.datetime(2030, 1, 1, 12, 0, 0, tzinfo=dt.timezone.utc)


def pod(namespace: str, app: str):
    return next(p for p in MODEL.pods if p.namespace == namespace and p.labels.get("app") == app)


def ip(namespace: str, app: str) -> str:
    return pod(namespace, app).ip


def spiffe(namespace: str, sa: str) -> str:
    return f"spiffe://cluster.local/ns/{namespace}/sa/{sa}"


def line(seconds: float = 0, **fields) -> str:
    base = {"start_time": (T0 + dt.timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z"),
            "method": "GET", "path": "/ip", "authority": "httpbin.foo:8000", "response_code": 200,
            "response_flags": "-", "listener": "DownstreamEnd", "upstream_tls": None, "upstream_peer_uri_san": None,
            "downstream_tls": None, "downstream_peer_uri_san": None}
    return json.dumps({**base, **fields})


def client_line(namespace: str, server_ns: str, seconds: float = 0, mtls: bool = True, **extra) -> str:
    fields = {"downstream_remote_address": f"{ip(namespace, 'curl')}:40000",
              "upstream_cluster": f"outbound|8000||httpbin.{server_ns}.svc.cluster.local",
              "upstream_host": f"{ip(server_ns, 'httpbin')}:8080", "upstream_tls": "TLSv1.3" if mtls else None,
              "upstream_peer_uri_san": spiffe(server_ns, "httpbin") if mtls else None}
    return line(seconds, **{**fields, **extra})


def server_line(client_ns: str, seconds: float = 0, mtls: bool = True, **extra) -> str:
    fields = {"downstream_remote_address": f"{ip(client_ns, 'curl')}:50000", "upstream_cluster": "inbound|8080||",
              "upstream_host": f"{ip('foo', 'httpbin')}:8080", "downstream_tls": "TLSv1.3" if mtls else None,
              "downstream_peer_uri_san": spiffe(client_ns, "curl") if mtls else None}
    return line(seconds, **{**fields, **extra})


def evidence(*logs: tuple[str, str, list[str]], since=None) -> Evidence:
    texts = [(namespace, pod(namespace, app).name, "\n".join(lines)) for namespace, app, lines in logs]
    records, skipped = read_records(texts, DIRECTORY, since)
    return Evidence(records, skipped, len(texts))


def test_a_call_between_sidecars_is_one_call_with_both_identities():
    seen = evidence(("foo", "curl", [client_line("foo", "foo")]), ("foo", "httpbin", [server_line("foo", 0.001)]))
    assert len(seen.calls) == 1 and len(seen.records) == 2
    call = seen.calls.iloc[0]
    assert (call.source, call.destination, call.mtls, call.reported_by) == ("foo/curl", "foo/httpbin", True,
                                                                            "client+server")
    assert call.client_identity == spiffe("foo", "curl") and call.server_identity == spiffe("foo", "httpbin")


def test_a_sidecarless_caller_is_seen_by_the_server_only_and_in_plaintext():
    seen = evidence(("foo", "httpbin", [server_line("legacy", mtls=False)]))
    call = seen.calls.iloc[0]
    assert (call.source, call.mtls, call.reported_by, call.client_identity) == ("legacy/curl", False, "server", None)


def test_plaintext_to_a_sidecarless_server_is_seen_by_the_client_only():
    seen = evidence(("foo", "curl", [client_line("foo", "legacy", mtls=False)]))
    assert seen.edge("foo/curl", "legacy/httpbin")["mtls"] is False


def test_listener_level_lines_are_refusals_or_nothing():
    reset = line(downstream_remote_address=f"{ip('legacy', 'curl')}:1", listener="NotSet", response_code=0,
                 response_flags="NR", response_code_details="filter_chain_not_found",
                 downstream_transport_failure_reason="TLS_error|HTTP_REQUEST", method=None, path=None)
    accepted_plaintext = line(downstream_remote_address=f"{ip('legacy', 'curl')}:2", listener="NotSet",
                              response_code=0, downstream_transport_failure_reason="TLS_error|HTTP_REQUEST")
    no_cert = line(downstream_remote_address=f"{ip('legacy', 'curl')}:3", listener="NotSet", response_code=0,
                   downstream_tls="TLSv1.3", downstream_transport_failure_reason="PEER_DID_NOT_RETURN_A_CERTIFICATE")
    seen = evidence(("foo", "httpbin", [reset, accepted_plaintext, no_cert]))
    assert list(seen.calls.code) == [0, 0]
    assert "no filter chain matched" in seen.calls.detail.iloc[0]
    assert "TLS handshake failed" in seen.calls.detail.iloc[1]
    assert seen.edge("legacy/curl", "foo/httpbin")["status"] == "error"
    assert seen.edge("legacy/curl", "foo/httpbin")["codes"] == "reset×2"


def test_a_proxied_client_refused_by_the_server_counts_once_as_its_503():
    refused = line(downstream_remote_address=f"{ip('bar', 'curl')}:1", listener="NotSet", response_code=0,
                   response_flags="NR", method=None, path=None)
    client = client_line("bar", "foo", mtls=False, response_code=503, response_flags="UC")
    seen = evidence(("bar", "curl", [client]), ("foo", "httpbin", [refused]))
    assert list(seen.calls.code) == [503] and seen.edge("bar/curl", "foo/httpbin")["status"] == "error"


def test_rbac_denial_on_the_server_without_an_upstream_cluster_is_the_server_side():
    denied = server_line("bar", response_code=403, upstream_cluster=None, upstream_host=None,
                         response_code_details="rbac_access_denied_matched_policy[none]")
    seen = evidence(("bar", "curl", [client_line("bar", "foo", response_code=403)]), ("foo", "httpbin", [denied]))
    assert len(seen.calls) == 1 and seen.calls.iloc[0].reported_by == "client+server"
    assert seen.edge("bar/curl", "foo/httpbin")["status"] == "denied"


def test_a_gateway_line_is_two_hops():
    gateway = line(downstream_remote_address="127.0.0.1:33333", authority="httpbin.example.com",
                   upstream_cluster="outbound|8000||httpbin.foo.svc.cluster.local",
                   upstream_host=f"{ip('foo', 'httpbin')}:8080", upstream_tls="TLSv1.3",
                   upstream_peer_uri_san=spiffe("foo", "httpbin"))
    seen = evidence(("istio-system", "istio-ingressgateway", [gateway]))
    assert set(zip(seen.calls.source, seen.calls.destination)) == {
        (EXTERNAL, "istio-system/istio-ingressgateway"), ("istio-system/istio-ingressgateway", "foo/httpbin")}
    assert seen.edge("istio-system/istio-ingressgateway", "foo/httpbin")["mtls"] is True


def test_istio_json_without_tls_fields_infers_mtls_from_the_sni():
    istio_line = json.dumps({"start_time": T0.isoformat(), "method": "GET", "path": "/", "response_code": 200,
                             "downstream_remote_address": f"{ip('legacy', 'curl')}:1",
                             "upstream_cluster": "inbound|8080||", "requested_server_name": None})
    mesh_line = istio_line.replace('"requested_server_name": null',
                                   '"requested_server_name": "outbound_.8000_._.httpbin.foo.svc.cluster.local"')
    seen = evidence(("foo", "httpbin", ["[2030-01-01T12:00:00Z] text format line", istio_line, mesh_line]))
    assert list(seen.calls.mtls) == [False, True] and seen.skipped_lines == 1
    assert "not configured in the mesh config" in repr(seen)


def test_since_keeps_only_later_calls():
    lines = [server_line("legacy", 0, mtls=False), server_line("legacy", 10, mtls=False)]
    assert len(evidence(("foo", "httpbin", lines), since=T0 + dt.timedelta(seconds=5)).calls) == 1
    assert len(evidence(("foo", "httpbin", lines), since=(T0 + dt.timedelta(seconds=5)).timestamp()).calls) == 1


def test_an_unknown_upstream_is_named_after_its_service():
    failed = line(downstream_remote_address=f"{ip('foo', 'curl')}:1", response_code=503, response_flags="UH",
                  upstream_cluster="outbound|8000|v9|httpbin.bar.svc.cluster.local", upstream_host=None)
    seen = evidence(("foo", "curl", [failed]))
    assert seen.edge("foo/curl", "service:httpbin.bar")["status"] == "error"


def test_the_clients_local_address_picks_the_servers_line_exactly():
    """Two requests at the same moment: only the connection's addresses tell which server line is which."""
    client = client_line("foo", "foo", upstream_local_address=f"{ip('foo', 'curl')}:2222")
    decoy = server_line("foo", 0.0, downstream_peer_uri_san=spiffe("foo", "decoy"))
    real = server_line("foo", 0.0, downstream_remote_address=f"{ip('foo', 'curl')}:2222")
    seen = evidence(("foo", "curl", [client]), ("foo", "httpbin", [decoy, real]))
    matched = seen.calls[seen.calls.reported_by == "client+server"].iloc[0]
    assert matched.client_identity == spiffe("foo", "curl")


def test_istio_text_listener_line_of_a_good_plaintext_connection_is_not_a_reset():
    # Istio's TEXT format has no %ACCESS_LOG_TYPE%: the inbound listener's own line for a plaintext
    # connection into PERMISSIVE (no method, no upstream, code 0) sits beside the request's line.
    request = server_line("legacy", mtls=False)
    fields = {k: v for k, v in json.loads(server_line("legacy", mtls=False)).items() if k != "listener"}
    listener = json.dumps({**fields, "method": None, "path": None, "upstream_cluster": None, "upstream_host": None,
                           "response_code": "0", "response_flags": None, "authority": None})
    seen = evidence(("foo", "httpbin", [request, listener]))
    assert list(seen.calls.code) == [200] and seen.edge("legacy/curl", "foo/httpbin")["status"] == "ok"
