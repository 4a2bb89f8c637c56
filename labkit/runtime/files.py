"""Writing the files the runtime keeps (bootstraps, pod network, mounted secrets): whole and atomic."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import yaml


class _PlainDumper(yaml.SafeDumper):
    """No &anchors/*aliases: builders share dicts (e.g. the default retry policy); files stay readable."""

    def ignore_aliases(self, data) -> bool:
        return True


def dump_yaml(data, sort_keys: bool = False) -> str:
    return yaml.dump(data, Dumper=_PlainDumper, sort_keys=sort_keys, width=120)


def write_atomic(path: Path, text: str, mode: int = 0o644) -> bool:
    """Write only when content changed; returns whether it did. Readers never see half a file."""
    if path.exists() and path.read_text() == text:
        return False
    # A private file's directory is private too.
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700 if not mode & 0o077 else 0o777)
    # A temp name of its own: two threads writing the same file must not rename each other's temp file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True
