"""Writing the files the runtime keeps (bootstraps, pod network, mounted secrets): whole and atomic."""
from __future__ import annotations

from pathlib import Path

import yaml

from ..atomic import write_atomic


class _PlainDumper(yaml.SafeDumper):
    """No &anchors/*aliases: builders share dicts (e.g. the default retry policy); files stay readable."""

    def ignore_aliases(self, data) -> bool:
        return True


def dump_yaml(data, sort_keys: bool = False) -> str:
    return yaml.dump(data, Dumper=_PlainDumper, sort_keys=sort_keys, width=120)


def write_if_changed(path: Path, text: str, mode: int = 0o644) -> bool:
    """Write (atomically, labkit.atomic) only when the content changed; returns whether it did."""
    if path.exists() and path.read_text() == text:
        return False
    # A private file's directory is private too.
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700 if not mode & 0o077 else 0o777)
    write_atomic(path, text, mode)
    return True
