"""Turning YAML text, files, dicts or lists into resource dicts, with errors that say where."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

import yaml

from ..errors import LabkitError

MAX_YAML_BYTES = 2 * 1024 * 1024  # a lab resource file is a few KB; a huge one is a mistake
MAX_NODES = MAX_YAML_BYTES // 2     # no alias-free text of MAX_YAML_BYTES holds more values than this


def _read_source(source: str | Path) -> tuple[str, str]:
    """Return (text, origin). A string is a path when it names an existing file and has no newline."""
    if isinstance(source, Path) or ("\n" not in source and len(source) < 4096 and _looks_like_path(source)):
        path = Path(source)
        if not path.exists():
            raise LabkitError(f"file not found: {path}", hint="give YAML text or an existing file path")
        if path.is_dir():
            texts = [p.read_text() for p in sorted(path.glob("*.y*ml"))]
            return "\n---\n".join(texts), str(path)
        data = path.read_bytes()
        if len(data) > MAX_YAML_BYTES:
            raise LabkitError(f"{path} is {len(data) // 1024} KB; resource files over "
                              f"{MAX_YAML_BYTES // 1024 // 1024} MB are refused")
        try:
            return data.decode("utf-8"), str(path)
        except UnicodeDecodeError:
            raise LabkitError(f"{path} is not UTF-8 text (binary file?)")
    return source, "<yaml text>"


def _looks_like_path(text: str) -> bool:
    stripped = text.strip()
    return bool(stripped) and ":" not in stripped.split("/")[0] or os.path.exists(stripped)


def _check_expansion(docs: list, origin: str) -> None:
    """Refuse documents whose YAML aliases expand far beyond the text ("billion laughs"): storing
    them would serialise every copy and take the mesh down with it."""
    budget = MAX_NODES
    stack = [docs]
    while stack:
        node = stack.pop()
        budget -= 1
        if budget < 0:
            raise LabkitError(f"{origin} expands to more than {MAX_NODES} values (YAML anchors and aliases "
                              "repeated over and over?); refused",
                              hint="write each resource out in full; `&anchor`/`*alias` are rarely needed")
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def load_documents(source: Any) -> list[dict]:
    """Every non-empty YAML document in `source` as a dict, in order.

    `source` may be YAML text (multi-document), a path to a file or folder, a dict, or a list of
    dicts. A `kind: List` document is flattened into its items, as kubectl does.
    """
    if isinstance(source, dict):
        docs: list[Any] = [source]
        origin = "<dict>"
    elif isinstance(source, (str, Path)):
        text, origin = _read_source(source)
        if len(text.encode("utf-8", "replace")) > MAX_YAML_BYTES:
            raise LabkitError(f"YAML text is over {MAX_YAML_BYTES // 1024 // 1024} MB; refused")
        if "\x00" in text:
            raise LabkitError(f"{origin} contains NUL bytes: not YAML text")
        try:
            docs = list(yaml.safe_load_all(text))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise LabkitError(f"invalid YAML in {origin}{where}: {problem}",
                              hint="check indentation (spaces, not tabs) and that each document starts with ---")
    elif isinstance(source, Iterable):
        docs, origin = list(source), "<list>"
    else:
        raise LabkitError(f"cannot read resources from a {type(source).__name__}; "
                          "give YAML text, a file path, a dict or a list of dicts")
    _check_expansion(docs, origin)
    out: list[dict] = []
    for index, doc in enumerate(docs):
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise LabkitError(f"document {index + 1} in {origin} is a {type(doc).__name__}, not a mapping "
                              "with apiVersion/kind/metadata")
        if doc.get("kind") == "List" and isinstance(doc.get("items"), list):
            out.extend(load_documents(doc["items"]))
            continue
        out.append(doc)
    return out
