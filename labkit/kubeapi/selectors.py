"""Label and field selectors as the API server parses them (k8s.io/apimachinery/pkg/labels, fields)."""
from __future__ import annotations

import re
from typing import Callable

from .status import bad_request

Predicate = Callable[[dict], bool]
_SET = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(notin|in)\s*\(([^)]*)\))?\s*$")


def _split_terms(text: str) -> list[str]:
    """Split on commas outside parentheses (`a in (x,y),b=c`)."""
    terms, depth, current = [], 0, ""
    for char in text:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [t.strip() for t in terms if t.strip()]


def _term(term: str) -> Callable[[dict], bool]:
    for op in ("!=", "==", "="):
        if op in term:
            key, value = (part.strip() for part in term.split(op, 1))
            if op == "!=":
                return lambda labels: labels.get(key) != value
            return lambda labels: labels.get(key) == value
    match = _SET.match(term)
    if not match:
        raise bad_request(f"unable to parse requirement: {term!r}")
    negated, key, op, values = match.groups()
    if op:
        wanted = {v.strip() for v in values.split(",")}
        if op == "in":
            return lambda labels: labels.get(key) in wanted
        return lambda labels: labels.get(key) not in wanted
    if negated:
        return lambda labels: key not in labels
    return lambda labels: key in labels


def label_selector(text: str | None) -> Predicate:
    checks = [_term(t) for t in _split_terms(text or "")]
    return lambda obj: all(check(obj["metadata"].get("labels") or {}) for check in checks)


def _field_value(obj: dict, path: str) -> str | None:
    value: object = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return None if value is None else str(value)


def field_selector(text: str | None) -> Predicate:
    """`metadata.name=x`, `metadata.namespace!=y`, `involvedObject.uid=...` (kubectl describe/wait send these)."""
    checks = []
    for term in _split_terms(text or ""):
        op = "!=" if "!=" in term else "==" if "==" in term else "="
        if op not in term:
            raise bad_request(f"invalid field selector: {term!r}")
        path, value = (part.strip() for part in term.split(op, 1))
        if op == "!=":
            checks.append(lambda obj, p=path, v=value: _field_value(obj, p) != v)
        else:
            checks.append(lambda obj, p=path, v=value: (_field_value(obj, p) or "") == v)
    return lambda obj: all(check(obj) for check in checks)
