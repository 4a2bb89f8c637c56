"""The graph model from recorded access-log lines (lab 03's mesh and a gateway): which edges, which padlocks,
and callers named as a cluster's telemetry names them (`unknown` when only the server's sidecar saw them),
then the layout facts of the picture drawn from them."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from labkit.tools.graph import build_graph
from labkit.tools.graph_model import UNKNOWN, graph_edges
from labkit.tools.svg_png import chromium

from graph_facts import groups, layout_problems
from test_tools_evidence_parse import client_line, evidence, ip, line, server_line, spiffe

ARTIFACTS = Path(os.environ.get("LABKIT_ARTIFACTS_DIR") or Path(__file__).parent.parent / "artifacts") / "graph"
GATEWAY = "istio-system/istio-ingressgateway"
REFUSED = {"listener": "NotSet", "response_code": 0, "response_flags": "NR", "method": None, "path": None}


def lab03_logs(strict_foo: bool) -> list[tuple[str, str, list[str]]]:
    """One call from every curl to every httpbin, as each proxy logs it (foo and bar have sidecars, legacy
    has none; with foo STRICT, legacy's plaintext call into foo is refused at the connection)."""
    logs: dict[tuple[str, str], list[str]] = {}
    second = 0.0
    for client in ("foo", "bar", "legacy"):
        for server in ("foo", "bar", "legacy"):
            second += 1
            proxied_server = server != "legacy"
            if client != "legacy":
                logs.setdefault((client, "curl"), []).append(
                    client_line(client, server, second, mtls=proxied_server))
                if proxied_server:
                    logs.setdefault((server, "httpbin"), []).append(server_line(client, second + 0.001))
            elif proxied_server:
                refused = strict_foo and server == "foo"
                text = (line(second, downstream_remote_address=f"{ip('legacy', 'curl')}:4", **REFUSED) if refused
                        else server_line("legacy", second, mtls=False))
                logs.setdefault((server, "httpbin"), []).append(text)
    return [(ns, app, lines) for (ns, app), lines in logs.items()]


def model_edges(logs) -> dict[tuple[str, str], dict]:
    seen = evidence(*logs)
    return {(e["source"], e["destination"]): e for e in graph_edges(seen.call_rows)}


def test_lab03_every_client_to_every_service_edges_and_locks():
    edges = model_edges(lab03_logs(strict_foo=True))
    assert set(edges) == {("foo/curl", "foo/httpbin"), ("foo/curl", "bar/httpbin"), ("foo/curl", "legacy/httpbin"),
                          ("bar/curl", "foo/httpbin"), ("bar/curl", "bar/httpbin"), ("bar/curl", "legacy/httpbin"),
                          (UNKNOWN, "foo/httpbin"), (UNKNOWN, "bar/httpbin")}
    locked = {pair for pair, e in edges.items() if e["mtls"] is True}
    assert locked == {(c, s) for c in ("foo/curl", "bar/curl") for s in ("foo/httpbin", "bar/httpbin")}
    assert edges[(UNKNOWN, "foo/httpbin")]["status"] == "error" and edges[(UNKNOWN, "foo/httpbin")]["mtls"] is False
    assert edges[(UNKNOWN, "bar/httpbin")]["status"] == "ok"
    assert all(e["status"] == "ok" for pair, e in edges.items() if pair[0] != UNKNOWN)


def test_a_sidecarless_caller_is_unknown_only_where_the_server_alone_saw_it():
    # Two sidecar-less pods call foo's httpbin: the server cannot tell them apart, one `unknown` edge.
    from_curl = server_line("legacy", 1, mtls=False)
    from_httpbin = server_line("legacy", 2, mtls=False, downstream_remote_address=f"{ip('legacy', 'httpbin')}:7")
    edges = model_edges([("foo", "httpbin", [from_curl, from_httpbin])])
    assert list(edges) == [(UNKNOWN, "foo/httpbin")] and edges[(UNKNOWN, "foo/httpbin")]["requests"] == 2
    # The evidence tables still name the pod by its address: that is troubleshooting, not the picture.
    assert set(evidence(("foo", "httpbin", [from_curl])).calls.source) == {"legacy/curl"}
    # A proxied caller that logged nothing itself still presented its certificate: the server knows it.
    edges = model_edges([("foo", "httpbin", [server_line("bar", 3)])])
    assert list(edges) == [("bar/curl", "foo/httpbin")]
    # ... even when the log format does not print it (Istio's defaults: only the SNI tells mTLS).
    quiet = server_line("bar", 4, downstream_peer_uri_san=None, requested_server_name="outbound_.8000_._.httpbin.foo")
    quiet = json.dumps({k: v for k, v in json.loads(quiet).items() if k not in ("downstream_tls",
                                                                               "downstream_peer_uri_san")})
    assert list(model_edges([("foo", "httpbin", [quiet])])) == [("bar/curl", "foo/httpbin")]
    # A pod with a sidecar whose plaintext call bypassed it sent no metadata either: `unknown`.
    assert list(model_edges([("foo", "httpbin", [server_line("bar", 5, mtls=False)])])) == [(UNKNOWN, "foo/httpbin")]


def test_the_gateway_is_the_entry_point_and_outside_callers_are_unknown():
    gateway = line(downstream_remote_address="127.0.0.1:33333", authority="httpbin.example.com",
                   upstream_cluster="outbound|8000||httpbin.foo.svc.cluster.local",
                   upstream_host=f"{ip('foo', 'httpbin')}:8080", upstream_tls="TLSv1.3",
                   upstream_peer_uri_san=spiffe("foo", "httpbin"))
    seen = evidence(("istio-system", "istio-ingressgateway", [gateway]),
                    ("foo", "curl", [client_line("foo", "foo", 5)]))
    edges = graph_edges(seen.call_rows)
    assert {(e["source"], e["destination"]) for e in edges} == {
        (UNKNOWN, GATEWAY), (GATEWAY, "foo/httpbin"), ("foo/curl", "foo/httpbin")}
    graph = build_graph(edges, seen.endpoints if seen.endpoints else _endpoints())
    x = {node: graph.position[node][0] for node in graph.nodes}
    assert x[UNKNOWN] < x[GATEWAY] < x["foo/httpbin"]
    assert graph.nodes[GATEWAY].kind == "gateway" and graph.nodes[UNKNOWN].kind == "unknown"
    assert layout_problems(graph.svg()) == []


def _endpoints():
    from test_tools_evidence_parse import DIRECTORY
    return {e.node: e for e in DIRECTORY.by_pod.values()}


def test_lab03_picture_namespace_boxes_and_layout_facts():
    seen = evidence(*lab03_logs(strict_foo=True))
    graph = build_graph(graph_edges(seen.call_rows), _endpoints())
    svg = graph.svg()
    assert layout_problems(svg) == []
    import xml.etree.ElementTree as ET
    root = ET.fromstring(svg)
    assert {g.get("data-namespace") for g in groups(root, "namespace")} == {"foo", "bar", "legacy"}
    assert {g.get("data-id") for g in groups(root, "node") if g.get("data-kind") == "unknown"} == {UNKNOWN}
    labels = ["".join(g.itertext()) for g in groups(root, "label")]
    assert len(labels) == 8 and all(re.match(r"\d+ req", text) for text in labels)
    assert any("reset×1" in text for text in labels)
    assert graph.width <= 1400   # three columns at most: fits a notebook pane once scaled
    # The picture for the record (test artifacts): lab 03's mesh after one call from every client to every
    # service, with foo STRICT.
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    graph.save(ARTIFACTS / "lab03-every-client-to-every-service.svg")
    if chromium() is not None:
        graph.save(ARTIFACTS / "lab03-every-client-to-every-service.png")


def test_the_layout_facts_catch_a_broken_picture():
    seen = evidence(*lab03_logs(strict_foo=False))
    good = build_graph(graph_edges(seen.call_rows), _endpoints()).svg()
    assert layout_problems(good) == []
    # Every label moved onto the same spot; a padlock added to a plaintext edge; one label removed.
    stacked = re.sub(r"<rect x='[^']*' y='[^']*' width='([^']*)' height='18'",
                     r"<rect x='500' y='40' width='\1' height='18'", good)
    assert any("overlap" in p for p in layout_problems(stacked))
    lock = "<g class='lock'><rect x='0' y='0' width='1' height='1'/></g>"
    plain_locked = re.sub(r"(data-mtls='false'[^>]*>)", lambda m: m.group(1) + lock, good, count=1)
    assert any("padlocks" in p for p in layout_problems(plain_locked))
    unlabelled = re.sub(r"<g class='label'.*?</g></g>", "</g>", good, count=1)
    assert any("0 labels" in p for p in layout_problems(unlabelled))
