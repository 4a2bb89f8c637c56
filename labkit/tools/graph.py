"""A Kiali-like picture of the observed calls: namespace boxes, workloads and services, calls as arrows.

Built from `evidence` calls only (named as `graph_model` says a cluster's telemetry names them), so the
picture shows what happened, not what the policies say. The SVG is written here, with a layered
left-to-right layout (Sugiyama style: break cycles, longest-path layers, barycenter ordering) where
callers sit left of what they call, and each namespace is a horizontal band of its own, so namespace
boxes never overlap. Edge labels are placed along their edge where they hit no node and no other label.
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
from .graph_model import UNKNOWN
from .svg_png import svg_to_png

NODE_W, NODE_H = 180, 46
COL_GAP, ROW_GAP, MARGIN = 150, 24, 20
BAND_HEAD, BAND_PAD, BAND_GAP = 22, 12, 16
LABEL_H, CHAR_W, LOCK_W = 18, 6.6, 14
LEGEND_LINE = 18
MIN_WIDTH = 420
MAX_PERMUTED_BANDS = 6   # 720 orders at most: milliseconds for a lab's handful of edges
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
# Where along an edge its label may sit, best first: the middle, then towards either end.
LABEL_SPOTS = (0.5, 0.4, 0.6, 0.3, 0.7, 0.22, 0.78, 0.15, 0.85)

Box = tuple[float, float, float, float]   # x, y, width, height
Point = tuple[float, float]
Curve = tuple[Point, Point, Point, Point]  # a cubic Bézier: start, two controls, end


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


def _bezier(p0, p1, p2, p3, t: float) -> tuple[float, float]:
    u = 1 - t
    x, y = (u ** 3 * a + 3 * u * u * t * b + 3 * u * t * t * c + t ** 3 * d for a, b, c, d in zip(p0, p1, p2, p3))
    return x, y


def overlaps(a: Box, b: Box, gap: float = 0) -> bool:
    return (a[0] < b[0] + b[2] + gap and b[0] < a[0] + a[2] + gap
            and a[1] < b[1] + b[3] + gap and b[1] < a[1] + a[3] + gap)


def _padlock(x: float, y: float, color: str) -> str:
    """A drawn padlock: the 🔒 emoji needs an emoji font, which headless renderers often lack."""
    return (f"<g class='lock'><path d='M{x + 2.5},{y + 6} v-2.5 a3.5,3.5 0 0 1 7,0 v2.5' fill='none' "
            f"stroke='{color}' stroke-width='1.6'/><rect x='{x}' y='{y + 6}' width='12' height='8' rx='1.5' "
            f"fill='{color}'/></g>")


def _acyclic(nodes: list[str], edges: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The edges that point forward in a greedy caller-first order (Eades, Lin and Smyth): in a reply
    cycle A→B→A the side that calls out more stays on the left, and the cycle cannot stretch the layout."""
    pairs = [(s, d) for s, d in edges if s != d]
    remaining = set(nodes)
    left: list[str] = []
    right: list[str] = []

    def degree(node: str, outgoing: bool) -> int:
        return sum(1 for s, d in pairs if (s if outgoing else d) == node and (d if outgoing else s) in remaining)

    while remaining:
        moved = True
        while moved:
            moved = False
            for node in sorted(remaining):
                if node in remaining and degree(node, outgoing=True) == 0:
                    right.insert(0, node)
                    remaining.discard(node)
                    moved = True
            for node in sorted(remaining):
                if node in remaining and degree(node, outgoing=False) == 0:
                    left.append(node)
                    remaining.discard(node)
                    moved = True
        if remaining:
            pick = max(sorted(remaining), key=lambda n: degree(n, True) - degree(n, False))
            left.append(pick)
            remaining.discard(pick)
    order = {node: index for index, node in enumerate(left + right)}
    return [(s, d) for s, d in pairs if order[s] < order[d]]


def _layers(nodes: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    """Longest-path layering on the acyclic part, then renumbered 0..k-1 without gaps."""
    dag = _acyclic(nodes, edges)
    layer = {n: 0 for n in nodes}
    for _ in range(len(nodes)):
        changed = False
        for source, destination in dag:
            if layer[destination] < layer[source] + 1:
                layer[destination] = layer[source] + 1
                changed = True
        if not changed:
            break
    # A pure caller sits just left of the first workload it calls, not at the far left: its arrows
    # then cross no other column's boxes (curl beside the gateway, both calling httpbin).
    called = {d for _, d in dag}
    for node in nodes:
        callees = [layer[d] for s, d in dag if s == node]
        if node not in called and callees:
            layer[node] = min(callees) - 1
    ranks = {value: rank for rank, value in enumerate(sorted(set(layer.values())))}
    return {n: ranks[v] for n, v in layer.items()}


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
    """How many pairs of forward arrows cross, drawn as straight lines between the boxes' sides."""
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
        self._place()
        self._ports()
        self._place_labels()

    @property
    def edge_set(self) -> set[tuple[str, str]]:
        return {(e["source"], e["destination"]) for e in self.edges}

    # ---- layout ---------------------------------------------------------------------------------------

    def _bands(self, layer: dict[str, int]) -> list[str]:
        """Namespaces top to bottom: the namespace-less nodes (`unknown`, unresolved services) first, then
        those whose workloads sit furthest left (entry points), then by name."""
        spread: dict[str, list[int]] = {}
        for node in self.nodes.values():
            spread.setdefault(node.namespace, []).append(layer[node.id])
        return sorted(spread, key=lambda ns: (ns != "", sum(spread[ns]) / len(spread[ns]), ns))

    def _place(self) -> None:
        pairs = [(e["source"], e["destination"]) for e in self.edges]
        layer = _layers(list(self.nodes), pairs)
        self.columns = max(layer.values(), default=0) + 1
        default = self._bands(layer)
        # The order of the namespace bands decides most crossings between them: with the few namespaces a
        # lab has, every order is tried and the one with the fewest crossings wins (ties: the default order).
        orders = itertools.permutations(default) if len(default) <= MAX_PERMUTED_BANDS else [tuple(default)]
        best = min((self._arrange(list(order), layer, pairs) for order in orders),
                   key=lambda placed: placed[0])
        _, bands, self.position, band_top, band_rows, top = best
        step = NODE_H + ROW_GAP
        self.band_box: dict[str, Box] = {}
        for namespace in bands:
            if not namespace:
                continue
            xs = [self.position[n][0] for n in self.nodes if self.nodes[n].namespace == namespace]
            y = band_top[namespace]
            self.band_box[namespace] = (min(xs) - BAND_PAD, y, max(xs) - min(xs) + NODE_W + 2 * BAND_PAD,
                                        BAND_HEAD + band_rows[namespace] * step - ROW_GAP + BAND_PAD)
        self.width = int(MARGIN * 2 + BAND_PAD * 2 + self.columns * (NODE_W + COL_GAP) - COL_GAP)
        self.width = max(self.width, MIN_WIDTH)
        self.legend_h = 12 + LEGEND_LINE * len(legend_lines(self.width))
        self.height = int(top - BAND_GAP + MARGIN + self.legend_h)

    def _arrange(self, bands: list[str], layer: dict[str, int], pairs: list[tuple[str, str]]):
        """Node positions for one order of the bands, and how many arrows then cross."""
        members: dict[tuple[str, int], list[str]] = {}
        for node_id in sorted(self.nodes, key=lambda n: self.nodes[n].label):
            members.setdefault((self.nodes[node_id].namespace, layer[node_id]), []).append(node_id)
        step = NODE_H + ROW_GAP
        top: float = MARGIN
        band_top: dict[str, float] = {}
        band_rows: dict[str, int] = {}
        for namespace in bands:
            rows = max(len(ids) for (ns, _), ids in members.items() if ns == namespace)
            band_top[namespace], band_rows[namespace] = top, rows
            top += BAND_HEAD + rows * step - ROW_GAP + BAND_PAD + BAND_GAP
        position: dict[str, tuple[float, float]] = {}
        # Column by column, each node sits near the callers already placed (barycenter), which uncrosses
        # most arrows; a shorter column is centred in its band so its arrows run straight.
        for column in range(self.columns):
            for namespace in bands:
                ids = members.get((namespace, column), [])
                natural = {node_id: band_top[namespace] + BAND_HEAD + row * step for row, node_id in enumerate(ids)}

                def height(node_id: str, natural=natural) -> float:
                    callers = [position[s][1] for s, d in pairs if d == node_id and s in position]
                    return sum(callers) / len(callers) if callers else natural[node_id]
                ids.sort(key=height)
                offset = (band_rows[namespace] - len(ids)) * step / 2
                for row, node_id in enumerate(ids):
                    position[node_id] = (MARGIN + BAND_PAD + column * (NODE_W + COL_GAP),
                                         band_top[namespace] + BAND_HEAD + offset + row * step)
        return crossings(position, pairs), bands, position, band_top, band_rows, top

    def node_box(self, node_id: str) -> Box:
        x, y = self.position[node_id]
        return (x, y, NODE_W, NODE_H)

    def _ports(self) -> None:
        """Where each edge leaves and enters a box: spread along the side, ordered by the other end's height."""
        self.out_y: dict[int, float] = {}
        self.in_y: dict[int, float] = {}
        for node_id in self.nodes:
            top = self.position[node_id][1]
            for side, key, other in ((self.out_y, "source", "destination"), (self.in_y, "destination", "source")):
                mine = sorted((e for e in self.edges if e[key] == node_id),
                              key=lambda e: self.position[e[other]][1])
                for index, edge in enumerate(mine):
                    side[id(edge)] = top + NODE_H * (index + 1) / (len(mine) + 1)

    def _curve(self, edge: dict) -> Curve:
        """The edge's cubic Bézier: forward edges leave the right side and enter the left one; a call back to
        an earlier column (or within one) loops below the boxes."""
        sx, sy = self.position[edge["source"]]
        dx, dy = self.position[edge["destination"]]
        x1, y1, x2, y2 = float(sx + NODE_W), self.out_y[id(edge)], float(dx), self.in_y[id(edge)]
        if x2 <= x1:
            x1, y1, x2, y2 = sx + NODE_W / 2, sy + NODE_H, dx + NODE_W / 2, dy + NODE_H
            return (x1, y1), (x1, y1 + 70), (x2, y2 + 70), (x2, y2)
        bend = max(60.0, (x2 - x1) / 2)
        return (x1, y1), (x1 + bend, y1), (x2 - bend, y2), (x2, y2)

    def _place_labels(self) -> None:
        """Each label on its own edge, at the first spot that touches no node and no label placed before;
        when every spot is taken, the middle one slides down (then up) until it is free."""
        obstacles: list[Box] = [self.node_box(n) for n in self.nodes]
        self.label_box: dict[int, Box] = {}
        order = sorted(self.edges, key=lambda e: (self.position[e["source"]], self.position[e["destination"]]))
        for edge in order:
            width = len(edge_label(edge, self.window)) * CHAR_W + 12 + (LOCK_W if edge["mtls"] is True else 0)
            curve = self._curve(edge)

            def box_at(t: float, shift: float = 0.0, width=width, curve=curve) -> Box:
                x, y = _bezier(curve[0], curve[1], curve[2], curve[3], t)
                return (x - width / 2, y - LABEL_H / 2 + shift, width, LABEL_H)

            def free(box: Box) -> bool:   # on the canvas, and clear of every node and earlier label
                return box[0] >= 2 and box[1] >= 2 and not any(overlaps(box, other, 2) for other in obstacles)

            chosen = next((box for box in map(box_at, LABEL_SPOTS) if free(box)), None)
            shift = 0.0
            while chosen is None:
                shift = -shift if shift > 0 else -shift + LABEL_H + 3
                box = box_at(0.5, shift)
                if free(box):
                    chosen = box
            self.label_box[id(edge)] = chosen
            obstacles.append(chosen)
        # A label pushed past the top or bottom edge widens the picture instead of being cut off.
        lowest = max((b[1] + b[3] for b in self.label_box.values()), default=0)
        self.height = int(max(self.height, lowest + MARGIN + self.legend_h))
        rightmost = max((b[0] + b[2] for b in self.label_box.values()), default=0)
        self.width = int(max(self.width, rightmost + MARGIN))

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

    def _edge_svg(self, edge: dict) -> str:
        (x1, y1), (c1x, c1y), (c2x, c2y), (x2, y2) = self._curve(edge)
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
                f"<path d='M{x1},{y1} C{c1x},{c1y} {c2x},{c2y} {x2},{y2}' fill='none' stroke='{color}' "
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
