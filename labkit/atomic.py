"""Writing files so that a reader sees the old content or the new, never half of it: the one helper.

Each write goes to a temp file of its own in the same directory (two threads writing the same path must
not rename each other's temp file), gets its mode, and is renamed over the target. mkstemp creates it
0600, so a key is never readable by others, not even for a moment.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator


def write_atomic(path: Path, data: bytes | str, mode: int = 0o644, *, durable: bool = False) -> None:
    """Replace `path` with `data` in one step; `durable` also fsyncs (for what must survive a crash)."""
    path = Path(path)
    payload = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: Path, data: Any, mode: int = 0o644, *, compact: bool = False) -> None:
    """`data` as indented, key-sorted JSON, written atomically. `compact`: on one line, for large files
    written often (json's C encoder serves only unindented output; indenting is ~10× slower)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":")) if compact else \
        json.dumps(data, indent=1, sort_keys=True)
    write_atomic(path, text, mode)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock across processes for read-modify-write of `path` (on `<path>.lock`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
