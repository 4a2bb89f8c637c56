"""How long the mesh graph takes to draw (Graphviz layout + our SVG), for the live mode's refresh interval.

`lab.graph(live=True, every=2)` redraws every 2 s: a redraw must take well under that on a busy 2-core VM.
Measured on synthetic graphs of the sizes labs have and beyond: lab 03 (3 namespaces, 8 edges), lab 14's
Bookinfo (about 10 edges), and larger meshes (N namespaces, each with a client calling every namespace's
server), each drawn `--repeat` times. Also reported: how many straight-line crossings the layout leaves
(`graph.crossings`), a number to watch when the layout settings change.

    bench/bench_graph.py [--repeat 20]
"""
from __future__ import annotations

import argparse
import time

from common import save, summary

from labkit.tools.graph import build_graph, crossings


def edge(source: str, destination: str, mtls: bool = True) -> dict:
    return {"source": source, "destination": destination, "mtls": mtls, "status": "ok", "requests": 3,
            "codes": "200×3"}


def mesh(namespaces: int) -> list[dict]:
    """Every namespace's curl calls every namespace's httpbin; a sidecar-less `unknown` caller reaches each."""
    names = [f"ns{i}" for i in range(namespaces)]
    edges = [edge(f"{a}/curl", f"{b}/httpbin") for a in names for b in names]
    return edges + [edge("unknown", f"{b}/httpbin", mtls=False) for b in names]


def measure(edges: list[dict], repeat: int) -> dict:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        graph = build_graph(edges, {})
        graph.svg()
        times.append(time.perf_counter() - start)
    return {"nodes": len(graph.nodes), "edges": len(edges), "crossings": crossings(graph.position, list(graph.edge_set)),
            "draw_s": summary(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    bookinfo = [edge("istio-system/istio-ingressgateway", "bookinfo/productpage"),
                edge("bookinfo/productpage", "bookinfo/details"), edge("bookinfo/productpage", "bookinfo/reviews-v1"),
                edge("bookinfo/productpage", "bookinfo/reviews-v2"), edge("bookinfo/productpage", "bookinfo/reviews-v3"),
                edge("bookinfo/reviews-v2", "bookinfo/ratings"), edge("bookinfo/reviews-v3", "bookinfo/ratings"),
                edge("unknown", "istio-system/istio-ingressgateway", mtls=False)]
    cases = {"lab03": mesh(3)[:6] + [edge("unknown", "ns0/httpbin", False), edge("unknown", "ns1/httpbin", False)],
             "bookinfo": bookinfo, "mesh-5-namespaces": mesh(5), "mesh-10-namespaces": mesh(10)}
    results = {}
    for name, edges in cases.items():
        results[name] = measure(edges, args.repeat)
        row = results[name]
        print(f"{name:20} {row['nodes']:3} nodes {row['edges']:4} edges  draw p50 {row['draw_s']['p50'] * 1000:7.1f} ms"
              f"  p99 {row['draw_s']['p99'] * 1000:7.1f} ms  crossings {row['crossings']}")
    print("wrote", save("graph", {"repeat": args.repeat, "cases": results}))


if __name__ == "__main__":
    main()
