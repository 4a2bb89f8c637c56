"""The live traffic chart: one row per route, one coloured tick per request, newest on the right.

A picture of what seed 001's two terminals running `while true; do curl ...; done` showed, scrolled by:
a row turns red the moment a PeerAuthentication makes its plaintext caller reset, and green again when the
policy goes. Drawn as inline SVG (no plotting library, nothing to load in the browser), with the colours
every table uses (`colours.py`), so a tick means the same as a traffic-matrix cell.
Each tick carries `data-kind` and `data-route`, which is what the browser test reads.
"""
from __future__ import annotations

from dataclasses import dataclass
from html import escape

from .colours import GREEN, GREY, ORANGE, RED, YELLOW

# The outcomes the chart tells apart, in legend order. "other" is any other status or curl failure.
KINDS = ("200", "reset", "403", "503", "other")
KIND_COLOURS = {"200": GREEN, "reset": RED, "403": ORANGE, "503": GREY, "other": YELLOW}
# The ticks' edges are a darker shade of the same colour, so light cells stay visible on white.
KIND_STROKES = {"200": "#388e3c", "reset": "#c62828", "403": "#ef6c00", "503": "#757575", "other": "#f9a825"}

LABEL_WIDTH, PLOT_WIDTH, ROW_HEIGHT, AXIS_HEIGHT = 190, 440, 22, 18


@dataclass(frozen=True)
class Tick:
    """One request on the chart: when it ended (seconds, time.time()), its route's row, its outcome."""
    at: float
    route: int
    kind: str
    label: str = ""   # what a table would show: "200", "reset (56)"


def counts(ticks: list[Tick], route: int | None = None) -> dict[str, int]:
    """How many requests ended in each kind (of one route, or all), kinds in legend order, zeros left out."""
    found = {kind: 0 for kind in KINDS}
    for tick in ticks:
        if route is None or tick.route == route:
            found[tick.kind] = found.get(tick.kind, 0) + 1
    return {kind: n for kind, n in found.items() if n}


def chart_svg(routes: list[str], ticks: list[Tick], now: float, window: float) -> str:
    """The chart of the last `window` seconds before `now`; `routes` are the rows' names."""
    height = AXIS_HEIGHT + ROW_HEIGHT * max(1, len(routes))
    width = LABEL_WIDTH + PLOT_WIDTH + 10
    scale = PLOT_WIDTH / window
    parts = [f'<svg class="labkit-traffic-chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" style="max-width:100%;font:12px sans-serif">']
    for row, name in enumerate(routes):
        y = row * ROW_HEIGHT
        parts.append(f'<text x="{LABEL_WIDTH - 8}" y="{y + ROW_HEIGHT * 0.68:.1f}" text-anchor="end">'
                     f'{escape(name)}</text>')
        parts.append(f'<rect x="{LABEL_WIDTH}" y="{y + 2}" width="{PLOT_WIDTH}" height="{ROW_HEIGHT - 4}" '
                     'fill="#fafafa" stroke="#e0e0e0"/>')
    for tick in ticks:
        age = now - tick.at
        if age < 0 or age > window:
            continue
        x = LABEL_WIDTH + PLOT_WIDTH - age * scale
        y = tick.route * ROW_HEIGHT
        parts.append(f'<rect data-kind="{tick.kind}" data-route="{tick.route}" x="{x - 2:.1f}" y="{y + 4}" '
                     f'width="4" height="{ROW_HEIGHT - 8}" fill="{KIND_COLOURS[tick.kind]}" '
                     f'stroke="{KIND_STROKES[tick.kind]}"><title>{escape(tick.label or tick.kind)}</title></rect>')
    axis = AXIS_HEIGHT + ROW_HEIGHT * len(routes) - 5
    for fraction in (0, 0.25, 0.5, 0.75, 1):
        x = LABEL_WIDTH + PLOT_WIDTH * fraction
        seconds = window * (1 - fraction)
        text = "now" if seconds == 0 else f"-{seconds:g} s"
        parts.append(f'<text x="{x:.1f}" y="{axis}" text-anchor="middle" fill="#555">{text}</text>')
    parts.append("</svg>")
    return "".join(parts)


def legend_html(ticks: list[Tick]) -> str:
    """The colours and how many requests of each kind the chart holds."""
    seen = counts(ticks)
    items = []
    for kind in KINDS:
        swatch = (f'<span style="display:inline-block;width:10px;height:10px;background:{KIND_COLOURS[kind]};'
                  f'border:1px solid {KIND_STROKES[kind]};margin-right:3px"></span>')
        items.append(f'<span style="margin-right:12px">{swatch}{kind} <b>{seen.get(kind, 0)}</b></span>')
    return f'<div class="labkit-traffic-legend" style="font-size:12px">{"".join(items)}</div>'


def summary_text(routes: list[str], ticks: list[Tick], now: float, last: float) -> str:
    """Per route, the outcomes of the last `last` seconds, for places that show text (a terminal, nbval)."""
    recent = [t for t in ticks if now - t.at <= last]
    lines = []
    for row, name in enumerate(routes):
        seen = counts(recent, row)
        shown = ", ".join(f"{kind} x{n}" for kind, n in seen.items()) or "no request yet"
        lines.append(f"{name}: {shown}")
    return "\n".join(lines)
