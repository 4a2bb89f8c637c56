"""A Kiali-like picture of the observed calls: namespace boxes, workloads and services, calls as arrows.

Built from `evidence` calls only (named as `graph_model` says a cluster's telemetry names them), so the
picture shows what happened, not what the policies say. Graphviz lays it out (`graph_layout`: callers
left of what they call, namespaces as clusters, labels placed by dot as nodes of the layering, so they
never overlap); the SVG is written here from its coordinates, in Kiali's colours and shapes.
Every edge is a `<g class="edge">` carrying data-* attributes, and every label a `<g class="label">`
with its box in `data-box`: that is what tests (and curious learners) read back.
"""
from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from ..errors import LabkitError

from .evidence import EXTERNAL
from .graph_layout import Box, LayoutEdge, Point, lay_out
from .graph_model import UNKNOWN
from .svg_png import svg_to_png

NODE_W, NODE_H = 180, 46
MARGIN = 20
BAND_HEAD, HEAD_CHAR_W = 22, 7.6   # the namespace heading: 12 px bold
LABEL_H, CHAR_W, LOCK_W = 18, 6.6, 14
LEGEND_LINE = 18
MIN_WIDTH = 420
COLORS = {"ok": "#2e7d32", "denied": "#ef6c00", "error": "#c62828"}
NEUTRAL = "#607d8b"
PALETTE = ["#e3f2fd", "#f3e5f5", "#e8f5e9", "#fff3e0", "#fce4ec", "#e0f7fa", "#f1f8e9", "#ede7f6"]
LOCK = "\U0001F512"
LEGEND = [("mTLS", "#37474f"), ("green: 2xx/3xx", COLORS["ok"]), ("orange: 4xx", COLORS["denied"]),
          ("red: 5xx / reset", COLORS["error"]), ("dashed: no sidecar", "#37474f"),
          ("unknown: caller without sidecar", "#37474f")]
LEGEND_GAP = 16


def legend_lines(width: float) -> list[list[tuple[str, str, float]]]:
    """The legend's items as (text, colour, x), wrapped onto as many lines as the picture's width needs."""
    lines: list[list[tuple[str, str, float]]] = [[]]
    x = MARGIN + 16.0   # after the padlock
    for text, color in LEGEND:
        room = LEGEND_GAP + CHAR_W * len(text)
        if lines[-1] and x + room > width - MARGIN:
            lines.append([])
            x = float(MARGIN)
        lines[-1].append((text, color, x))
        x += room
    return lines
@dataclass(frozen=True)
class Node:
    id: str
    label: str
    namespace: str
    kind: str          # "workload", "gateway", "service", "unknown"
    proxy: bool


def _fill(namespace: str) -> str:
    digest = int(hashlib.sha1(namespace.encode()).hexdigest(), 16)
    return PALETTE[digest % len(PALETTE)]


def overlaps(a: Box, b: Box, gap: float = 0) -> bool:
    return (a[0] < b[0] + b[2] + gap and b[0] < a[0] + a[2] + gap
            and a[1] < b[1] + b[3] + gap and b[1] < a[1] + a[3] + gap)


def _padlock(x: float, y: float, color: str) -> str:
    """A drawn padlock: the 🔒 emoji needs an emoji font, which headless renderers often lack."""
    return (f"<g class='lock'><path d='M{x + 2.5},{y + 6} v-2.5 a3.5,3.5 0 0 1 7,0 v2.5' fill='none' "
            f"stroke='{color}' stroke-width='1.6'/><rect x='{x}' y='{y + 6}' width='12' height='8' rx='1.5' "
            f"fill='{color}'/></g>")


def _segment(position: dict[str, tuple[float, float]], source: str, destination: str):
    (sx, sy), (dx, dy) = position[source], position[destination]
    return (sx + NODE_W, sy + NODE_H / 2), (dx, dy + NODE_H / 2)


def _cross(a, b) -> bool:
    """Whether two segments cross properly (sharing an end point is not a crossing)."""
    def turn(p, q, r) -> float:
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])
    (p1, p2), (q1, q2) = a, b
    if {p1, p2} & {q1, q2}:
        return False
    return turn(p1, p2, q1) * turn(p1, p2, q2) < 0 and turn(q1, q2, p1) * turn(q1, q2, p2) < 0


def crossings(position: dict[str, tuple[float, float]], pairs: list[tuple[str, str]]) -> int:
    """How many pairs of forward arrows cross, drawn as straight lines between the boxes' sides: a measure
    of a layout (tests, bench/bench_graph.py), not part of making one."""
    lines = [_segment(position, s, d) for s, d in pairs if position[d][0] > position[s][0]]
    return sum(_cross(a, b) for a, b in itertools.combinations(lines, 2))


def edge_label(edge: dict, window: float | None = None) -> str:
    """What an edge says at a glance: how many requests (per second over the last `window` seconds, when
    given, as Kiali's "requests per second" edge label) and, when some failed, which codes; when only some
    failed, their share too (Kiali's "% error")."""
    if window:
        rate = edge["requests"] / window
        text = f"{rate:.2f} rps" if rate < 1 else f"{rate:.1f} rps"
    else:
        text = f"{edge['requests']} req"
    counted = [part.split("×") for part in str(edge["codes"]).split(", ") if "×" in part]
    failed = [(code, int(count)) for code, count in counted if not (code.isdigit() and int(code) < 400)]
    if failed:
        shown = ", ".join(f"{code}×{count}" for code, count in failed)
        errors = sum(count for _, count in failed)
        share = "" if errors >= edge["requests"] else f"{100 * errors / edge['requests']:.0f}% "
        text += f" · {share}{shown}"
    elif edge["mtls"] == "mixed":
        text += " · some plaintext"
    return text


class MeshGraph:
    def __init__(self, nodes: list[Node], edges: list[dict], window: float | None = None):
        self.nodes = {n.id: n for n in nodes}
        self.edges = edges
        self.window = window
        self._lay_out()

    @property
    def edge_set(self) -> set[tuple[str, str]]:
        return {(e["source"], e["destination"]) for e in self.edges}

    # ---- layout (by Graphviz: graph_layout.py) -------------------------------------------------------

    def label_size(self, edge: dict) -> tuple[float, float]:
        """The pill an edge's label is drawn in: its text, plus the padlock on mTLS edges."""
        text = edge_label(edge, self.window)
        return (len(text) * CHAR_W + 12 + (LOCK_W if edge["mtls"] is True else 0), LABEL_H)

    def _lay_out(self) -> None:
        self.position: dict[str, tuple[float, float]] = {}
        self.band_box: dict[str, Box] = {}
        self.label_box: dict[int, Box] = {}
        self.curve: dict[int, tuple[list[Point], Point | None]] = {}
        width = height = 0.0
        if self.nodes:
            clusters = {n.id: n.namespace for n in self.nodes.values()}
            headings = {ns: (len(f"namespace {ns}") * HEAD_CHAR_W + 20, float(BAND_HEAD)) for ns in clusters.values()}
            layout = lay_out(clusters, (NODE_W, NODE_H),
                             [LayoutEdge(e["source"], e["destination"], self.label_size(e)) for e in self.edges],
                             headings)

            def shift(box: Box) -> Box:
                return (box[0] + MARGIN, box[1] + MARGIN, box[2], box[3])

            def moved(point: Point) -> Point:
                return (point[0] + MARGIN, point[1] + MARGIN)
            for node_id, box in layout.nodes.items():
                self.position[node_id] = (box[0] + MARGIN, box[1] + MARGIN)
            self.band_box = {ns: shift(box) for ns, box in sorted(layout.clusters.items())}
            for edge, path, tip, label in zip(self.edges, layout.paths, layout.arrow_tips, layout.labels):
                self.label_box[id(edge)] = shift(label)
                self.curve[id(edge)] = ([moved(p) for p in path], moved(tip) if tip else None)
            width, height = layout.width, layout.height
        self.width = int(max(width + 2 * MARGIN, MIN_WIDTH))
        self.legend_h = 12 + LEGEND_LINE * len(legend_lines(self.width))
        self.height = int(max(height, 30) + 2 * MARGIN + self.legend_h)

    def node_box(self, node_id: str) -> Box:
        x, y = self.position[node_id]
        return (x, y, NODE_W, NODE_H)

    # ---- drawing --------------------------------------------------------------------------------------

    def _band_svg(self, namespace: str) -> str:
        x, y, w, h = self.band_box[namespace]
        return (f"<g class='namespace' data-namespace={quoteattr(namespace)}>"
                f"<rect x='{x}' y='{y}' width='{w}' height='{h}' rx='10' fill='{_fill(namespace)}' "
                f"fill-opacity='0.55' stroke='#90a4ae' stroke-width='1'/>"
                f"<text x='{x + 10}' y='{y + 15}' font-size='12' font-weight='bold' fill='#455a64'>"
                f"namespace {escape(namespace)}</text></g>")

    def _node_svg(self, node: Node) -> str:
        x, y = self.position[node.id]
        dashed = node.kind in ("workload", "unknown") and not node.proxy
        dash = " stroke-dasharray='5,3'" if dashed else ""
        tag = {"gateway": "ingress gateway · entry point", "service": "service (no pod reached)",
               "unknown": "caller not identified"}.get(node.kind, "workload · sidecar" if node.proxy
                                                       else "workload · no sidecar")
        # Kiali's shapes: a circle for a workload, a triangle for a service; a gateway gets an entry arrow.
        cx, cy = x + 16, y + NODE_H / 2
        icon = {"service": f"<path d='M{cx},{cy - 8} L{cx + 8},{cy + 6} L{cx - 8},{cy + 6} z' fill='#78909c'/>",
                "gateway": f"<path d='M{cx - 8},{cy - 3} h8 v-6 l9,9 l-9,9 v-6 h-8 z' fill='#1565c0'/>",
                "unknown": f"<text x='{cx}' y='{cy + 5}' text-anchor='middle' font-size='15' "
                           "font-weight='bold' fill='#78909c'>?</text>"}.get(
            node.kind, f"<circle cx='{cx}' cy='{cy}' r='7' fill='#546e7a'/>")
        stroke = "#1565c0" if node.kind == "gateway" else "#455a64"
        return (f"<g class='node' data-id={quoteattr(node.id)} data-kind='{node.kind}' "
                f"data-proxy='{str(node.proxy).lower()}'>"
                f"<rect x='{x}' y='{y}' width='{NODE_W}' height='{NODE_H}' rx='{NODE_H / 2 if node.kind == 'service' else 6}' "
                f"fill='#ffffff' stroke='{stroke}' stroke-width='{2 if node.kind == 'gateway' else 1.5}'{dash}/>{icon}"
                f"<text x='{x + 32}' y='{y + 20}' font-weight='bold' font-size='13'>{escape(node.label)}</text>"
                f"<text x='{x + 32}' y='{y + 36}' font-size='10.5' fill='#546e7a'>{escape(tag)}</text></g>")

    def _path(self, edge: dict) -> str:
        """Graphviz's spline (a start point, then cubic Bézier triples), then a line to the arrow's tip."""
        points, tip = self.curve[id(edge)]
        first, rest = points[0], points[1:]
        d = f"M{first[0]:.1f},{first[1]:.1f}"
        for index in range(0, len(rest) - 2, 3):
            d += " C" + " ".join(f"{x:.1f},{y:.1f}" for x, y in rest[index:index + 3])
        if tip is not None:
            d += f" L{tip[0]:.1f},{tip[1]:.1f}"
        return d

    def _edge_svg(self, edge: dict) -> str:
        color = COLORS.get(edge["status"], NEUTRAL)
        mtls = edge["mtls"] is True
        title = (f"{edge['source']} → {edge['destination']}: {edge['codes']}; "
                 f"{LOCK + ' mTLS' if mtls else 'plaintext' if edge['mtls'] is False else str(edge['mtls'])}")
        bx, by, bw, bh = self.label_box[id(edge)]
        lock = _padlock(bx + 5, by + 2, color) if mtls else ""
        text_x = bx + 6 + (LOCK_W if mtls else 0)
        label = (f"<g class='label' data-box='{bx:.1f} {by:.1f} {bw:.1f} {bh:.1f}'>"
                 f"<rect x='{bx}' y='{by}' width='{bw}' height='{bh}' rx='{bh / 2}' fill='#ffffff' "
                 f"stroke='{color}' stroke-width='1'/>{lock}"
                 f"<text x='{text_x}' y='{by + 13}' font-size='11' fill='{color}'>{escape(edge_label(edge, self.window))}</text></g>")
        return (f"<g class='edge' data-source={quoteattr(edge['source'])} "
                f"data-destination={quoteattr(edge['destination'])} data-mtls='{str(edge['mtls']).lower()}' "
                f"data-status='{edge['status']}' data-requests='{edge['requests']}'>"
                f"<title>{escape(title)}</title>"
                f"<path d='{self._path(edge)}' fill='none' stroke='{color}' "
                f"stroke-width='{3 if mtls else 2}' marker-end='url(#arrow-{edge['status']})'/>{label}</g>")

    def _legend(self) -> str:
        top = self.height - self.legend_h + 20
        parts = [_padlock(MARGIN, top - 11, "#37474f")]
        for row, line in enumerate(legend_lines(self.width)):
            for text, color, x in line:
                parts.append(f"<text x='{x}' y='{top + row * LEGEND_LINE}' font-size='11' fill='{color}'>"
                             f"{escape(text)}</text>")
        return "<g class='legend'>" + "".join(parts) + "</g>"

    def svg(self) -> str:
        markers = "".join(
            f"<marker id='arrow-{status}' viewBox='0 0 10 10' refX='10' refY='5' markerWidth='10' markerHeight='10' "
            "markerUnits='userSpaceOnUse' "
            f"orient='auto-start-reverse'><path d='M0,0 L10,5 L0,10 z' fill='{color}'/></marker>"
            for status, color in COLORS.items())
        # Drawn back to front: namespace boxes, nodes, edges, then the labels on top of every arrow.
        edges = [self._edge_svg(e) for e in self.edges]
        body = ("".join(self._band_svg(ns) for ns in self.band_box)
                + "".join(self._node_svg(n) for n in self.nodes.values()) + "".join(edges))
        if not self.nodes:
            body = f"<text x='{MARGIN}' y='{MARGIN + 20}' font-size='13'>No calls observed yet.</text>"
        # max-width: shown inline, the picture shrinks to the pane's width instead of hiding nodes off-screen.
        return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{self.width}' height='{self.height}' "
                f"viewBox='0 0 {self.width} {self.height}' style='max-width: 100%; height: auto' "
                "font-family='sans-serif'>"
                f"<defs>{markers}</defs>{body}{self._legend()}</svg>")

    def _repr_svg_(self) -> str:
        return self.svg()

    def _repr_html_(self) -> str:
        """Inline SVG for notebooks: JupyterLab shows an image/svg+xml output as an image at its own width
        (1180-1490 px, wider than the pane); inline it scales down to fit."""
        return f"<div class='labkit-graph'>{self.svg()}</div>"

    def save(self, path) -> None:
        """Write the picture for docs: `.svg` (standalone, any browser opens it) or `.png`."""
        suffix = Path(path).suffix.lower()
        if suffix == ".png":
            svg_to_png(self.svg().replace("style='max-width: 100%; height: auto' ", ""), self.width, self.height,
                       Path(path))
        elif suffix == ".svg":
            Path(path).write_text("<?xml version='1.0' encoding='UTF-8'?>\n" + self.svg(), encoding="utf-8")
        else:
            raise LabkitError(f"cannot save the graph as {suffix or 'a file without an extension'}",
                              kind="graph", field="path", hint="name the file .svg or .png")

    def __repr__(self) -> str:
        lines = [f"MeshGraph: {len(self.nodes)} nodes, {len(self.edges)} edges"]
        for e in self.edges:
            lock = f"{LOCK} " if e["mtls"] is True else ""
            lines.append(f"  {e['source']} -> {e['destination']}: {lock}{e['requests']} req, {e['codes']}")
        return "\n".join(lines)


def _node_for(node_id: str, endpoints: dict, namespaces: set[str]) -> Node:
    if node_id in (EXTERNAL, UNKNOWN):
        return Node(node_id, UNKNOWN, "", "unknown", False)
    if node_id.startswith("service:"):
        # "service:name.namespace" from an outbound cluster's name, or the request's authority when no
        # cluster was chosen ("httpbin.example.com", "httpbin.foo:8000"): boxed only in a namespace we know.
        service = node_id.split(":", 1)[1]
        name, _, namespace = service.partition(".")
        if namespace in namespaces:
            return Node(node_id, name, namespace, "service", False)
        return Node(node_id, service, "", "service", False)
    namespace, _, label = node_id.partition("/")
    endpoint = endpoints.get(node_id)
    kind = "gateway" if endpoint is not None and endpoint.gateway else "workload"
    return Node(node_id, label, namespace, kind, bool(endpoint and endpoint.proxy))


def build_graph(edges: list[dict], endpoints: dict, idle: list[str] | None = None,
                window: float | None = None) -> MeshGraph:
    """`edges` from `graph_model.graph_edges` (or `Evidence.edges`); `endpoints`: node id → evidence.Endpoint;
    `idle`: extra nodes to draw; `window`: the seconds the edges cover, to label them in requests per second."""
    ids = sorted({e["source"] for e in edges} | {e["destination"] for e in edges} | set(idle or []))
    namespaces = {node.split("/")[0] for node in list(endpoints) + ids if "/" in node}
    return MeshGraph([_node_for(i, endpoints, namespaces) for i in ids], edges, window)
