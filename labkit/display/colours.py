"""How results look in a notebook: the colours of outcomes and the short forms of response bodies.

Every table in the labs (traffic matrix, TLS tables, edge and caller tables, access logs) colours its
result cells here, so one outcome has one colour everywhere: 2xx green, 403 orange, 503 grey,
reset/refused/TLS failures red, anything else yellow.
"""
from __future__ import annotations

import re

GREEN, RED, ORANGE, GREY, YELLOW = "#c8e6c9", "#ffcdd2", "#ffe0b2", "#e0e0e0", "#fff9c4"


def outcome_colour(value) -> str:
    """CSS for a traffic-matrix cell: an HTTP status or `reset (56)`."""
    text = str(value)
    if text.startswith("2"):
        colour = GREEN
    elif text.startswith("reset") or text == "000":
        colour = RED
    elif text == "403":
        colour = ORANGE
    elif text.startswith("503"):
        colour = GREY
    else:
        colour = YELLOW
    return f"background-color: {colour}; text-align: center"


def result_colour(value) -> str:
    """CSS for a result cell that is a status or any curl failure (refused, TLS failure: red)."""
    text = str(value)
    if text[:1].isdigit():
        return outcome_colour(text)
    return f"background-color: {RED}; text-align: center"


def short(body: str, width: int = 80) -> str:
    """The start of a response body on one line (tags dropped): enough to recognise it."""
    body = re.sub(r"<(style|script)\b.*?</\1>", " ", body or "", flags=re.S | re.I)
    text = " ".join(re.sub(r"<[^>]+>", " ", body).split())
    return text if len(text) <= width else text[:width] + "…"
