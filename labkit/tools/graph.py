"""A Kiali-like picture of the observed calls: workloads as boxes, calls as arrows, 🔒 on mTLS.

Built from `evidence` edges only, so the picture shows what happened, not what the policies say.
The SVG is written by hand (no graphviz): a layered left-to-right layout where callers sit left of
the workloads they call. Each edge is a `<g class="edge">` carrying data-* attributes, which is what
tests (and curious learners) read back.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from .evidence import EXTERNAL

NODE_W, NODE_H = 190, 50
COL_GAP, ROW_GAP, MARGIN = 120, 40, 30
LEGEND_H = 40
COLORS = {"ok": "#2e7d32", "denied": "#ef6c00", "error": "#c62828"}
PALETTE = ["#e3f2fd", "#f3e5f5", "#e8f5e9", "#fff3e0", "#fce4ec", "#e0f7fa", "#f1f8e9", "#ede7f6"]
LOCK = "\U0001F512"


@dataclass(frozen=True)
class Node:
    id: str
    label: str
    namespace: str
    kind: str          # "workload", "gateway", "service", "external"
    proxy: bool


def _fill(namespace: str) -> str:
    digest = int(hashlib.sha1(namespace.encode()).hexdigest(), 16)
    return PALETTE[digest % len(PALETTE)]


def _bezier(p0, p1, p2, p3, t: float) -> tuple[float, float]:
    u = 1 - t
    return tuple(u ** 3 * a + 3 * u * u * t * b + 3 * u * t * t * c + t ** 3 * d for a, b, c, d in zip(p0, p1, p2, p3))


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


class MeshGraph:
    def __init__(self, nodes: list[Node], edges: list[dict]):
        self.nodes = {n.id: n for n in nodes}
        self.edges = edges
        self._place()

    @property
    def edge_set(self) -> set[tuple[str, str]]:
        return {(e["source"], e["destination"]) for e in self.edges}

    def _place(self) -> None:
        pairs = [(e["source"], e["destination"]) for e in self.edges]
        layer = _layers(list(self.nodes), pairs)
        columns: dict[int, list[str]] = {}
        for node_id in sorted(self.nodes, key=lambda n: (self.nodes[n].namespace, self.nodes[n].label)):
            columns.setdefault(layer[node_id], []).append(node_id)
        # Barycenter ordering: a node sits near the callers that reach it, which uncrosses most arrows.
        row_of: dict[str, float] = {}
        for column in sorted(columns):
            ids = columns[column]
            if column > 0:
                before = {node_id: row for row, node_id in enumerate(ids)}

                def weight(node_id: str, before=before) -> float:
                    callers = [row_of[s] for s, d in pairs if d == node_id and s in row_of]
                    return sum(callers) / len(callers) if callers else before[node_id]
                ids.sort(key=weight)
            row_of.update({node_id: row for row, node_id in enumerate(ids)})
        self.position = {}
        for column, ids in columns.items():
            for row, node_id in enumerate(ids):
                self.position[node_id] = (MARGIN + column * (NODE_W + COL_GAP), MARGIN + row * (NODE_H + ROW_GAP))
        rows = max((len(ids) for ids in columns.values()), default=0)
        self.width = MARGIN * 2 + max(len(columns), 1) * (NODE_W + COL_GAP) - COL_GAP
        self.height = MARGIN * 2 + max(rows, 1) * (NODE_H + ROW_GAP) - ROW_GAP + LEGEND_H
        self._ports()

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

    def _node_svg(self, node: Node) -> str:
        x, y = self.position[node.id]
        dash = "" if node.proxy or node.kind in ("service", "external") else " stroke-dasharray='5,3'"
        fill = "#ffffff" if node.kind in ("service", "external") else _fill(node.namespace)
        radius = 25 if node.kind == "external" else 8
        tag = {"gateway": "gateway", "service": "service (no endpoint reached)", "external": "outside the mesh"}.get(
            node.kind, "sidecar" if node.proxy else "no sidecar")
        return (f"<g class='node' data-id={quoteattr(node.id)} data-proxy='{str(node.proxy).lower()}'>"
                f"<rect x='{x}' y='{y}' width='{NODE_W}' height='{NODE_H}' rx='{radius}' fill='{fill}' "
                f"stroke='#455a64' stroke-width='1.5'{dash}/>"
                f"<text x='{x + NODE_W / 2}' y='{y + 21}' text-anchor='middle' font-weight='bold' font-size='13'>"
                f"{escape(node.label)}</text>"
                f"<text x='{x + NODE_W / 2}' y='{y + 38}' text-anchor='middle' font-size='11' fill='#546e7a'>"
                f"{escape(node.namespace + ' · ' + tag if node.namespace else tag)}</text></g>")

    def _edge_svg(self, edge: dict) -> str:
        sx, sy = self.position[edge["source"]]
        dx, dy = self.position[edge["destination"]]
        x1: float = sx + NODE_W
        y1: float = self.out_y[id(edge)]
        x2: float = dx
        y2: float = self.in_y[id(edge)]
        if x2 <= x1:  # a call back to an earlier column (or within one): loop below the boxes
            x1, y1, x2, y2 = sx + NODE_W / 2, sy + NODE_H, dx + NODE_W / 2, dy + NODE_H
            controls: tuple[tuple[float, float], tuple[float, float]] = ((x1, y1 + 70), (x2, y2 + 70))
        else:
            bend = max(60.0, (x2 - x1) / 2)
            controls = ((x1 + bend, y1), (x2 - bend, y2))
        (c1x, c1y), (c2x, c2y) = controls
        path = f"M{x1},{y1} C{c1x},{c1y} {c2x},{c2y} {x2},{y2}"
        # Labels sit near the caller, where crossing arrows are still apart; short arrows need it closer.
        lx, ly = _bezier((x1, y1), controls[0], controls[1], (x2, y2), 0.3 if abs(x2 - x1) > 2 * COL_GAP else 0.08)
        color = COLORS.get(edge["status"], "#607d8b")
        mtls = edge["mtls"] is True
        label = f"{edge['requests']} req"
        if edge["status"] != "ok":
            label += f" ({edge['codes']})"
        elif edge["mtls"] == "mixed":
            label += " (some plaintext)"
        title = (f"{edge['source']} → {edge['destination']}: {edge['codes']}; "
                 f"{LOCK + ' mTLS' if mtls else 'plaintext' if edge['mtls'] is False else str(edge['mtls'])}")
        lock = _padlock(lx - 14, ly - 15, color) if mtls else ""
        return (f"<g class='edge' data-source={quoteattr(edge['source'])} "
                f"data-destination={quoteattr(edge['destination'])} data-mtls='{str(edge['mtls']).lower()}' "
                f"data-status='{edge['status']}' data-requests='{edge['requests']}'>"
                f"<title>{escape(title)}</title>"
                f"<path d='{path}' fill='none' stroke='{color}' stroke-width='{3 if mtls else 2}' "
                f"marker-end='url(#arrow-{edge['status']})'/>{lock}"
                f"<text x='{lx}' y='{ly - 4}' font-size='12' fill='{color}' "
                f"stroke='#ffffff' stroke-width='3' paint-order='stroke'>{escape(label)}</text></g>")

    def _legend(self) -> str:
        y = self.height - LEGEND_H + 25
        items = [("mTLS", "#37474f"), ("green: ok", COLORS["ok"]), ("orange: 4xx", COLORS["denied"]),
                 ("red: 5xx / reset", COLORS["error"]), ("dashed box: no sidecar", "#37474f")]
        parts, x = [_padlock(MARGIN, y - 11, "#37474f")], MARGIN + 16
        for text, color in items:
            parts.append(f"<text x='{x}' y='{y}' font-size='11' fill='{color}'>{escape(text)}</text>")
            x += 30 + 7 * len(text)
        return "<g class='legend'>" + "".join(parts) + "</g>"

    def svg(self) -> str:
        markers = "".join(
            f"<marker id='arrow-{status}' viewBox='0 0 10 10' refX='10' refY='5' markerWidth='7' markerHeight='7' "
            f"orient='auto-start-reverse'><path d='M0,0 L10,5 L0,10 z' fill='{color}'/></marker>"
            for status, color in COLORS.items())
        body = "".join(self._edge_svg(e) for e in self.edges) + "".join(self._node_svg(n) for n in self.nodes.values())
        if not self.nodes:
            body = f"<text x='{MARGIN}' y='{MARGIN + 20}' font-size='13'>No calls observed yet.</text>"
        return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{self.width}' height='{self.height}' "
                f"viewBox='0 0 {self.width} {self.height}' font-family='sans-serif'>"
                f"<defs>{markers}</defs>{body}{self._legend()}</svg>")

    def _repr_svg_(self) -> str:
        return self.svg()

    def save(self, path) -> None:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(self.svg())

    def __repr__(self) -> str:
        lines = [f"MeshGraph: {len(self.nodes)} nodes, {len(self.edges)} edges"]
        for e in self.edges:
            lock = f"{LOCK} " if e["mtls"] is True else ""
            lines.append(f"  {e['source']} -> {e['destination']}: {lock}{e['requests']} req, {e['codes']}")
        return "\n".join(lines)


def _node_for(node_id: str, endpoints: dict) -> Node:
    if node_id == EXTERNAL:
        return Node(node_id, "external client", "", "external", False)
    if node_id.startswith("service:"):
        name = node_id.split(":", 1)[1]
        return Node(node_id, name, "", "service", False)
    namespace, _, label = node_id.partition("/")
    endpoint = endpoints.get(node_id)
    kind = "gateway" if endpoint is not None and endpoint.gateway else "workload"
    return Node(node_id, label, namespace, kind, bool(endpoint and endpoint.proxy))


def build_graph(edges: list[dict], endpoints: dict, idle: list[str] | None = None) -> MeshGraph:
    """`edges` from `Evidence.edges`; `endpoints`: node id → evidence.Endpoint; `idle`: extra nodes to draw."""
    ids = sorted({e["source"] for e in edges} | {e["destination"] for e in edges} | set(idle or []))
    return MeshGraph([_node_for(i, endpoints) for i in ids], edges)
