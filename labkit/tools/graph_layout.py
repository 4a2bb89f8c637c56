"""Where the mesh graph's boxes, arrows and labels go, decided by Graphviz's `dot` layout engine.

`dot` is the layered (Sugiyama) layout Kiali's "dagre" layout also follows: callers left of what they call,
cycles broken, node order chosen to avoid crossings, splines routed around boxes. We hand it:
- every node as a fixed-size box, each namespace as a cluster (`subgraph cluster_*`), which dot keeps
  together in a box of its own that no other node or cluster enters;
- every edge's label as a node of its own, the size of the pill we draw, that the edge runs through
  (source → label → destination): dot then keeps labels off each other and off the boxes as it does for
  any node, orders them to avoid crossings with the rest, and each label sits on its own edge (dot's own
  edge labels sit beside the edge, which leaves a reader guessing which edge a label belongs to).
and read back the coordinates (`-Tjson`). The picture itself is drawn by `graph.py`.

The program is `graphviz-pure` (a Rust port of Graphviz 16.1 installed by pip as a wheel, a dependency in
pyproject.toml: no root, no apt), else a system Graphviz `dot` (Debian's `graphviz`); `LABKIT_GRAPHVIZ`
names another. Both take the same DOT and write the same JSON (Graphviz "json" output format: `bb`,
`pos`, `lp`, splines as "e,x,y p1 p2 ..." in points, y growing upwards).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import LabkitError

POINTS_PER_INCH = 72.0
TIMEOUT_SECONDS = 30.0

Box = tuple[float, float, float, float]   # x, y, width, height (SVG coordinates: y grows downwards)
Point = tuple[float, float]


@dataclass(frozen=True)
class LayoutEdge:
    source: str
    destination: str
    label_size: tuple[float, float]   # the label pill's width and height


@dataclass
class Layout:
    width: float
    height: float
    nodes: dict[str, Box]                  # node id → its box
    clusters: dict[str, Box]               # cluster name (a namespace) → its box
    paths: list[list[Point]]               # per edge (in the order given): start, then cubic Bézier triples
    arrow_tips: list[Point | None]         # per edge: where the arrowhead points, when dot drew one
    labels: list[Box]                      # per edge: the label pill's box


def layout_program() -> str:
    """The Graphviz program to run: `LABKIT_GRAPHVIZ`, the venv's graphviz-pure, or one on PATH."""
    named = os.environ.get("LABKIT_GRAPHVIZ")
    if named:
        if shutil.which(named) is None:
            raise LabkitError(f"LABKIT_GRAPHVIZ names {named!r}, which is not a program here", kind="graph",
                              field="LABKIT_GRAPHVIZ", hint="unset it to use graphviz-pure (installed by make install)")
        return named
    beside_python = Path(sys.executable).parent / "graphviz-pure"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("graphviz-pure") or shutil.which("dot")
    if found is None:
        raise LabkitError("no Graphviz here to lay out the graph", kind="graph",
                          hint="`make install` installs it (pip install graphviz-pure), or apt-get install graphviz")
    return found


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _fixed_label(width: float, height: float) -> str:
    """An empty HTML-like label of exactly the pill's size, so dot reserves that room and no more."""
    return (f'<<TABLE BORDER="0" CELLBORDER="0" CELLPADDING="0" CELLSPACING="0"><TR>'
            f'<TD FIXEDSIZE="TRUE" WIDTH="{width:.0f}" HEIGHT="{height:.0f}"> </TD></TR></TABLE>>')


def dot_source(nodes: dict[str, str], node_size: tuple[float, float], edges: list[LayoutEdge],
               headings: dict[str, tuple[float, float]]) -> str:
    """The DOT text: `nodes` maps node id → its cluster (namespace) or "" for none; `headings` maps a
    cluster to the size of the heading drawn in its top left corner."""
    width, height = (size / POINTS_PER_INCH for size in node_size)
    lines = ["digraph mesh {",
             # Left to right as Kiali draws; ranksep/nodesep in inches; splines routed around boxes.
             "  graph [rankdir=LR, nodesep=0.3, ranksep=0.45, splines=spline, outputorder=edgesfirst];",
             f"  node [shape=box, fixedsize=true, width={width:.4f}, height={height:.4f}, label=\"\"];",
             "  edge [arrowsize=1.0];"]
    clusters: dict[str, list[str]] = {}
    for node_id, cluster in sorted(nodes.items()):
        clusters.setdefault(cluster, []).append(_quote(node_id))
    for index, edge in enumerate(edges):
        # A call within one namespace keeps its label inside that namespace's box.
        inside = nodes[edge.source] if nodes[edge.source] == nodes[edge.destination] else ""
        w, h = (size / POINTS_PER_INCH for size in edge.label_size)
        clusters.setdefault(inside, []).append(f"{_label_node(index)} [width={w:.4f}, height={h:.4f}]")
    for index, (cluster, members) in enumerate(sorted(clusters.items())):
        names = "; ".join(members)
        if not cluster:
            lines.append(f"  {names};")
            continue
        # The cluster's label is an empty box the size of the namespace heading we draw over it.
        heading = _fixed_label(*headings.get(cluster, (40.0, 22.0)))
        lines.append(f"  subgraph cluster_{index} {{ graph [id={_quote(cluster)}, margin=12, "
                     f"labeljust=l, labelloc=t, label={heading}]; {names}; }}")
    for index, edge in enumerate(edges):
        label = _label_node(index)
        lines.append(f"  {_quote(edge.source)} -> {label} [id=\"e{index}a\", arrowhead=none];")
        lines.append(f"  {label} -> {_quote(edge.destination)} [id=\"e{index}b\"];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _label_node(index: int) -> str:
    return f'"label:e{index}"'


def _points(text: str) -> list[Point]:
    return [(float(x), float(y)) for x, y in (pair.split(",")[:2] for pair in text.split())]


def lay_out(nodes: dict[str, str], node_size: tuple[float, float], edges: list[LayoutEdge],
            headings: dict[str, tuple[float, float]] | None = None) -> Layout:
    """Run dot over the graph and return the boxes and curves in SVG coordinates (origin top left)."""
    source = dot_source(nodes, node_size, edges, headings or {})
    program = layout_program()
    try:
        done = subprocess.run([program, "-Tjson"], input=source, capture_output=True, text=True,
                              timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise LabkitError(f"Graphviz took more than {TIMEOUT_SECONDS:g} s to lay out the graph", kind="graph",
                          hint="show fewer calls (lab.graph(since=...))")
    if done.returncode != 0:
        raise LabkitError(f"Graphviz ({program}) could not lay out the graph: {done.stderr.strip()[-300:]}",
                          kind="graph", hint="report this with the graph's edges (repr(graph))")
    drawn = json.loads(done.stdout)
    return _read(drawn, nodes, edges)


def _read(drawn: dict, nodes: dict[str, str], edges: list[LayoutEdge]) -> Layout:
    left, bottom, right, top = (float(v) for v in drawn["bb"].split(","))
    height = top - bottom

    def flip(point: Point) -> Point:
        return (point[0] - left, top - point[1])

    node_boxes: dict[str, Box] = {}
    clusters: dict[str, Box] = {}
    for obj in drawn.get("objects", []):
        if "bb" in obj:        # a cluster: its bounding box, "llx,lly,urx,ury"
            x1, y1, x2, y2 = (float(v) for v in obj["bb"].split(","))
            (sx, sy) = flip((x1, y2))
            clusters[obj.get("id", obj["name"])] = (sx, sy, x2 - x1, y2 - y1)
        elif obj.get("name") in nodes:
            cx, cy = flip(_points(obj["pos"])[0])
            w, h = float(obj["width"]) * POINTS_PER_INCH, float(obj["height"]) * POINTS_PER_INCH
            node_boxes[obj["name"]] = (cx - w / 2, cy - h / 2, w, h)
    by_id = {e.get("id"): e for e in drawn.get("edges", [])}
    placed = {obj["name"]: obj for obj in drawn.get("objects", []) if "pos" in obj}

    def spline(dot_edge: dict) -> tuple[list[Point], Point | None]:
        parts = dot_edge["pos"].split(";")[0].split()   # one spline per edge (no concentrate)
        tip = flip(_points(parts.pop(0)[2:])[0]) if parts and parts[0].startswith("e,") else None
        if parts and parts[0].startswith("s,"):
            parts.pop(0)
        return [flip(p) for p in _points(" ".join(parts))], tip

    paths: list[list[Point]] = []
    tips: list[Point | None] = []
    labels: list[Box] = []
    for index, edge in enumerate(edges):
        into, _ = spline(by_id[f"e{index}a"])
        out_of, tip = spline(by_id[f"e{index}b"])
        # One curve: into the label's box, straight across it (the pill covers that stretch), and on.
        paths.append(into + [into[-1], out_of[0], out_of[0]] + out_of)
        tips.append(tip)
        lx, ly = flip(_points(placed[_label_node(index).strip('"')]["pos"])[0])
        w, h = edge.label_size
        labels.append((lx - w / 2, ly - h / 2, w, h))
    return Layout(right - left, height, node_boxes, clusters, paths, tips, labels)
