"""The mesh graph picture, headless: well-formed SVG whose edges, locks and colours follow the evidence,
laid out so that labels, padlocks, nodes and namespace boxes never sit on one another."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from labkit.errors import LabkitError

from labkit.tools.evidence import EXTERNAL, Endpoint
from labkit.tools.graph import COLORS, build_graph, crossings, edge_label
from labkit.tools.svg_png import chromium

from graph_facts import SVG, groups, layout_problems


def endpoint(node: str, proxy: bool = True, gateway: bool = False) -> Endpoint:
    return Endpoint(node, node + "-1", proxy, gateway, "spiffe://cluster.local/ns/x/sa/y")


ENDPOINTS = {n: endpoint(n) for n in ("foo/curl", "foo/httpbin", "bar/curl")}
ENDPOINTS["legacy/curl"] = endpoint("legacy/curl", proxy=False)
ENDPOINTS["istio-system/istio-ingressgateway"] = endpoint("istio-system/istio-ingressgateway", gateway=True)


def edge(source, destination, mtls=True, status="ok", requests=1, codes="200×1"):
    return {"source": source, "destination": destination, "mtls": mtls, "status": status, "requests": requests,
            "codes": codes}


def parse(graph):
    root = ET.fromstring(graph.svg())
    edges = {(g.get("data-source"), g.get("data-destination")): g for g in root.iter(f"{SVG}g")
             if g.get("class") == "edge"}
    nodes = {g.get("data-id"): g for g in root.iter(f"{SVG}g") if g.get("class") == "node"}
    return root, edges, nodes


def test_edges_locks_and_colours_follow_the_evidence():
    graph = build_graph([edge("foo/curl", "foo/httpbin", requests=3, codes="200×3"),
                         edge("legacy/curl", "foo/httpbin", mtls=False, status="error", codes="reset×1"),
                         edge("bar/curl", "foo/httpbin", status="denied", codes="403×1")], ENDPOINTS)
    _, edges, nodes = parse(graph)
    assert set(edges) == graph.edge_set == {("foo/curl", "foo/httpbin"), ("legacy/curl", "foo/httpbin"),
                                            ("bar/curl", "foo/httpbin")}
    mtls = edges[("foo/curl", "foo/httpbin")]
    assert mtls.get("data-mtls") == "true" and len(groups(mtls, "lock")) == 1
    assert "3 req" in "".join(mtls.itertext()) and "\U0001F512" in mtls.find(f"{SVG}title").text
    failed = edges[("legacy/curl", "foo/httpbin")]
    assert failed.get("data-status") == "error" and failed.find(f"{SVG}path").get("stroke") == COLORS["error"]
    assert not groups(failed, "lock") and "reset×1" in "".join(groups(failed, "label")[0].itertext())
    assert edges[("bar/curl", "foo/httpbin")].find(f"{SVG}path").get("stroke") == COLORS["denied"]
    assert nodes["legacy/curl"].get("data-proxy") == "false" and "stroke-dasharray" in ET.tostring(
        nodes["legacy/curl"]).decode()
    assert layout_problems(graph.svg()) == []


def test_callers_sit_left_of_what_they_call_and_a_reply_cycle_stays_compact():
    graph = build_graph([edge(EXTERNAL, "istio-system/istio-ingressgateway", mtls=False),
                         edge("istio-system/istio-ingressgateway", "foo/httpbin"),
                         edge("foo/curl", "foo/httpbin"), edge("foo/httpbin", "foo/curl")], ENDPOINTS)
    x = {node: graph.position[node][0] for node in graph.nodes}
    assert x[EXTERNAL] < x["istio-system/istio-ingressgateway"] < x["foo/httpbin"]
    assert x["foo/curl"] < x["foo/httpbin"]
    assert graph.width < 4 * 320  # three columns, not one per cycle round
    assert all(0 <= graph.position[n][0] < graph.width for n in graph.nodes)


def test_idle_workloads_and_an_empty_picture():
    graph = build_graph([], ENDPOINTS, idle=["foo/curl", "legacy/curl"])
    _, edges, nodes = parse(graph)
    assert not edges and set(nodes) == {"foo/curl", "legacy/curl"}
    assert "No calls observed yet" in build_graph([], {}).svg()
    assert graph._repr_svg_() == graph.svg()


def test_namespace_bands_are_ordered_so_arrows_do_not_cross():
    # In the default order (unknown on top, then a, then z) unknown's arrow to z would cross a's own call.
    graph = build_graph([edge("unknown", "z/httpbin", mtls=False), edge("a/curl", "a/httpbin")], {})
    assert crossings(graph.position, list(graph.edge_set)) == 0
    unknown, z_httpbin = graph.position["unknown"][1], graph.position["z/httpbin"][1]
    a_curl = graph.position["a/curl"][1]
    assert not (unknown < a_curl < z_httpbin or z_httpbin < a_curl < unknown)
    assert layout_problems(graph.svg()) == []


def test_saved_as_svg_or_png_for_docs(tmp_path):
    graph = build_graph([edge("foo/curl", "foo/httpbin")], ENDPOINTS)
    graph.save(tmp_path / "mesh.svg")
    assert ET.fromstring((tmp_path / "mesh.svg").read_text().split("\n", 1)[1]).tag == f"{SVG}svg"
    with pytest.raises(LabkitError, match="svg or .png"):
        graph.save(tmp_path / "mesh.jpg")
    if chromium() is None:
        pytest.skip("no Chromium here: PNG export says so (checked below)")
    graph.save(tmp_path / "mesh.png")
    header = (tmp_path / "mesh.png").read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(header[16:20], "big") == graph.width and int.from_bytes(header[20:24], "big") == graph.height


def test_png_export_without_chromium_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_CHROMIUM", str(tmp_path / "no-such-browser"))
    with pytest.raises(LabkitError, match="save as .svg"):
        build_graph([], {}).save(tmp_path / "mesh.png")


def test_a_service_no_pod_answered_for_sits_in_its_namespace_only_when_that_is_known():
    graph = build_graph([edge("foo/curl", "service:httpbin.foo", status="error", codes="503×1"),
                         edge("istio-system/istio-ingressgateway", "service:httpbin.example.com", status="denied",
                              codes="404×1")], ENDPOINTS)
    assert (graph.nodes["service:httpbin.foo"].namespace, graph.nodes["service:httpbin.foo"].label) == ("foo",
                                                                                                        "httpbin")
    outside = graph.nodes["service:httpbin.example.com"]
    assert (outside.namespace, outside.label, outside.kind) == ("", "httpbin.example.com", "service")
    assert graph.nodes["istio-system/istio-ingressgateway"].kind == "gateway"
    assert layout_problems(graph.svg()) == []


def test_labels_say_requests_failed_codes_and_their_share():
    assert edge_label(edge("a/x", "a/y", requests=3, codes="200×3")) == "3 req"
    assert edge_label(edge("a/x", "a/y", status="error", requests=2, codes="reset×2")) == "2 req · reset×2"
    assert edge_label(edge("a/x", "a/y", status="denied", requests=4, codes="200×3, 403×1")) == "4 req · 25% 403×1"
    assert edge_label(edge("a/x", "a/y", mtls="mixed", requests=2, codes="200×2")) == "2 req · some plaintext"


def test_over_a_window_labels_are_requests_per_second():
    assert edge_label(edge("a/x", "a/y", requests=30, codes="200×30"), window=60) == "0.50 rps"
    assert edge_label(edge("a/x", "a/y", status="error", requests=120, codes="200×60, 503×60"),
                      window=60) == "2.0 rps · 50% 503×60"
    graph = build_graph([edge("foo/curl", "foo/httpbin", requests=6, codes="200×6")], ENDPOINTS, window=60)
    assert "0.10 rps" in graph.svg() and layout_problems(graph.svg()) == []


def test_many_edges_into_one_service_keep_their_labels_apart_and_on_the_canvas():
    callers = [f"ns{i}/curl" for i in range(7)]
    graph = build_graph([edge(c, "foo/httpbin", mtls=i % 2 == 0, status=["ok", "denied", "error"][i % 3],
                              requests=i + 1, codes="503×1" if i % 3 == 2 else "200×1")
                         for i, c in enumerate(callers)] + [edge("foo/httpbin", "ns0/curl")], ENDPOINTS)
    assert layout_problems(graph.svg()) == []
    assert all(0 <= x and 0 <= y and x + w <= graph.width and y + h <= graph.height
               for x, y, w, h in graph.label_box.values())


def test_layout_facts_fail_on_a_broken_picture():
    # The facts checker must catch what it is there for: a label moved off its arrow onto another label.
    graph = build_graph([edge("foo/curl", "foo/httpbin"), edge("bar/curl", "foo/httpbin", mtls=False)], ENDPOINTS)
    assert layout_problems(graph.svg()) == []
    first, second = graph.edges
    graph.label_box[id(second)] = graph.label_box[id(first)]
    problems = layout_problems(graph.svg())
    assert any("overlap" in p for p in problems), problems
    assert any("bar/curl → foo/httpbin: its label is not on its own arrow" in p for p in problems), problems


def test_graphviz_lays_out_namespaces_as_clusters_with_labels_on_their_edges():
    from labkit.tools.graph_layout import LayoutEdge, dot_source
    source = dot_source({"foo/curl": "foo", "foo/httpbin": "foo", "unknown": ""}, (180, 46),
                        [LayoutEdge("foo/curl", "foo/httpbin", (60, 18)), LayoutEdge("unknown", "foo/httpbin", (60, 18))],
                        {"foo": (120, 22)})
    # A call within foo keeps its label node in foo's cluster; unknown's call crosses into it from outside.
    cluster = next(line for line in source.splitlines() if "subgraph cluster_" in line)
    assert '"label:e0"' in cluster and '"label:e1"' not in cluster and '"foo/curl"' in cluster
    graph = build_graph([edge("foo/curl", "foo/httpbin"), edge("unknown", "foo/httpbin", mtls=False)], ENDPOINTS)
    foo = graph.band_box["foo"]
    for node in ("foo/curl", "foo/httpbin"):
        x, y, w, h = graph.node_box(node)
        assert foo[0] <= x and x + w <= foo[0] + foo[2] and foo[1] <= y and y + h <= foo[1] + foo[3]
    assert not (foo[0] <= graph.position["unknown"][0] < foo[0] + foo[2]
                and foo[1] <= graph.position["unknown"][1] < foo[1] + foo[3])
    assert layout_problems(graph.svg()) == []


def test_without_graphviz_the_error_says_how_to_get_it(monkeypatch):
    monkeypatch.setenv("LABKIT_GRAPHVIZ", "/nonexistent/dot")
    with pytest.raises(LabkitError, match="LABKIT_GRAPHVIZ") as raised:
        build_graph([edge("foo/curl", "foo/httpbin")], ENDPOINTS)
    assert raised.value.kind == "graph" and "graphviz-pure" in str(raised.value.hint)


def test_a_pod_calling_itself_and_a_reply_cycle_keep_the_layout_facts():
    graph = build_graph([edge("foo/curl", "foo/curl"), edge("foo/curl", "foo/httpbin"), edge("foo/httpbin", "foo/curl"),
                         edge("foo/curl", "service:x.example.com", mtls=False, status="error", codes="503×1")],
                        ENDPOINTS)
    _, edges, _ = parse(graph)
    assert set(edges) == graph.edge_set and len(edges) == 4
    assert layout_problems(graph.svg()) == []


@pytest.mark.parametrize("program", ["graphviz-pure", "dot"])
def test_the_wheel_and_a_system_graphviz_give_the_same_layout_facts(program, monkeypatch):
    import shutil
    import sys
    from pathlib import Path
    found = Path(sys.executable).parent / program if program == "graphviz-pure" else shutil.which(program)
    if not found or not Path(found).exists():
        pytest.skip(f"no {program} here (a system Graphviz is optional: apt-get install graphviz)")
    monkeypatch.setenv("LABKIT_GRAPHVIZ", str(found))
    graph = build_graph([edge("foo/curl", "foo/httpbin"), edge("bar/curl", "foo/httpbin", status="denied", codes="403×1"),
                         edge(EXTERNAL, "istio-system/istio-ingressgateway", mtls=False),
                         edge("istio-system/istio-ingressgateway", "foo/httpbin")], ENDPOINTS)
    assert layout_problems(graph.svg()) == []
    x = {node: graph.position[node][0] for node in graph.nodes}
    assert x[EXTERNAL] < x["istio-system/istio-ingressgateway"] < x["foo/httpbin"]


def test_doctor_names_the_layout_program_and_says_how_to_get_one(monkeypatch):
    from labkit.doctor import graphviz_line
    line = graphviz_line()
    assert line.ok and "graphviz" in line.detail.lower(), line
    monkeypatch.setenv("LABKIT_GRAPHVIZ", "/nonexistent/dot")
    missing = graphviz_line()
    assert not missing.ok and "graphviz-pure" in missing.fix, missing
