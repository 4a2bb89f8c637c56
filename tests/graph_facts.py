"""The layout facts a mesh graph's SVG must show, read back from the SVG itself (shared by the unit tests
and the browser test): every edge labelled once, no label on another label or on a node, padlocks on
exactly the mTLS edges, namespace boxes that do not overlap and hold their own nodes."""
from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET

SVG = "{http://www.w3.org/2000/svg}"


def _box(rect) -> tuple[float, float, float, float]:
    return tuple(float(rect.get(k)) for k in ("x", "y", "width", "height"))  # type: ignore[return-value]


def _overlap(a, b) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _inside(inner, outer) -> bool:
    return (outer[0] <= inner[0] and inner[0] + inner[2] <= outer[0] + outer[2]
            and outer[1] <= inner[1] and inner[1] + inner[3] <= outer[1] + outer[3])


def _runs_through(path: str, box, slack: float = 2.0) -> bool:
    """Whether an arrow's path has a point on (or in) the label's box: the label sits on its own edge."""
    numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", path)]
    grown = (box[0] - slack, box[1] - slack, box[2] + 2 * slack, box[3] + 2 * slack)
    return any(_inside((x, y, 0, 0), grown) for x, y in zip(numbers[::2], numbers[1::2]))


def groups(root, kind: str) -> list:
    return [g for g in root.iter(f"{SVG}g") if g.get("class") == kind]


def layout_problems(svg: str) -> list[str]:
    """Every broken layout fact, in words (empty when the picture is right)."""
    root = ET.fromstring(svg)
    problems: list[str] = []
    nodes = {g.get("data-id"): _box(g.find(f"{SVG}rect")) for g in groups(root, "node")}
    labels = {}
    for edge in groups(root, "edge"):
        name = f"{edge.get('data-source')} → {edge.get('data-destination')}"
        found = groups(edge, "label")
        if len(found) != 1 or not "".join(found[0].itertext()).strip():
            problems.append(f"{name}: {len(found)} labels")
            continue
        labels[name] = _box(found[0].find(f"{SVG}rect"))
        if not _runs_through(edge.find(f"{SVG}path").get("d"), labels[name]):
            problems.append(f"{name}: its label is not on its own arrow")
        locks = len(groups(edge, "lock"))
        if locks != (1 if edge.get("data-mtls") == "true" else 0):
            problems.append(f"{name}: {locks} padlocks on a data-mtls={edge.get('data-mtls')} edge")
        elif locks and not _inside(_box(groups(edge, "lock")[0].find(f"{SVG}rect")), labels[name]):
            problems.append(f"{name}: padlock outside its label on the edge")
    for (a, box_a), (b, box_b) in itertools.combinations(labels.items(), 2):
        if _overlap(box_a, box_b):
            problems.append(f"labels of {a} and {b} overlap")
    for (label, box), (node, node_box) in itertools.product(labels.items(), nodes.items()):
        if _overlap(box, node_box):
            problems.append(f"label of {label} covers node {node}")
    for (a, box_a), (b, box_b) in itertools.combinations(nodes.items(), 2):
        if _overlap(box_a, box_b):
            problems.append(f"nodes {a} and {b} overlap")
    spaces = {g.get("data-namespace"): _box(g.find(f"{SVG}rect")) for g in groups(root, "namespace")}
    for (a, box_a), (b, box_b) in itertools.combinations(spaces.items(), 2):
        if _overlap(box_a, box_b):
            problems.append(f"namespace boxes {a} and {b} overlap")
    for node, box in nodes.items():
        namespace = node.split("/")[0] if "/" in node else None
        if namespace is not None and not _inside(box, spaces.get(namespace, (0, 0, 0, 0))):
            problems.append(f"node {node} is not inside namespace box {namespace}")
    return problems


def rendered_layout_problems(drawn: dict) -> list[str]:
    """The same facts on the boxes a browser really drew (`NotebookPage.graph_layout`): the text must also
    fit inside its label pill, which only real fonts can show."""
    problems: list[str] = []
    pills = {}
    for edge in drawn["edges"]:
        if len(edge["labels"]) != 1 or not edge["labels"][0]["words"]:
            problems.append(f"{edge['name']}: {len(edge['labels'])} labels")
            continue
        label = edge["labels"][0]
        pills[edge["name"]] = label["pill"]
        grown = (label["pill"][0] - 1, label["pill"][1] - 1, label["pill"][2] + 2, label["pill"][3] + 2)
        if not _inside(label["text"], grown):
            problems.append(f"{edge['name']}: label text {label['text']} sticks out of its pill {label['pill']}")
        if edge["locks"] != (1 if edge["mtls"] == "true" else 0):
            problems.append(f"{edge['name']}: {edge['locks']} padlocks on a data-mtls={edge['mtls']} edge")
    for (a, box_a), (b, box_b) in itertools.combinations(pills.items(), 2):
        if _overlap(box_a, box_b):
            problems.append(f"labels of {a} and {b} overlap")
    for (label, box), (node, node_box) in itertools.product(pills.items(), drawn["nodes"].items()):
        if _overlap(box, node_box):
            problems.append(f"label of {label} covers node {node}")
    return problems
