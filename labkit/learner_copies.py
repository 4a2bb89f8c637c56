"""The learner's copies of the labs (labs/learner/, git-ignored), written by `make lab` / `labkit release`.

A copy is the learner's work from the moment they change it: running cells and saving, typing an answer.
So a copy is (re)written only when it does not exist or is byte for byte what was generated last time; the
manifest `.generated.json` beside the copies records the hash of each generated file. Everything else is
kept and reported, so neither `make lab` nor `git pull` (which never sees labs/learner/) loses a learner's
edits.

When a lab is renamed or split (the labs were renumbered in issue 19), the copy of a lab that no longer exists
goes away if the learner never touched it; a copy they changed is moved to labs/learner/old/, kept but out of
the list of current labs.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .atomic import write_json
from .errors import LabkitError
from .release import learner_notebook

LEARNER_DIR = "learner"
OLD_DIR = "old"   # inside the learner folder: the learner's own copies of labs that no longer exist
MANIFEST = ".generated.json"
# The labs (NN-name) and the notebooks they link to (the glossary), copied beside them.
LAB_PATTERN = "[0-9][0-9]-*.ipynb"
COMPANIONS = ("glossary.ipynb",)


@dataclass
class Release:
    out_dir: Path
    written: list[Path] = field(default_factory=list)     # new, or refreshed because untouched
    unchanged: list[Path] = field(default_factory=list)   # untouched and already current
    kept: list[Path] = field(default_factory=list)        # the learner's edits: left alone
    removed: list[str] = field(default_factory=list)      # untouched copies of labs that no longer exist
    moved: list[Path] = field(default_factory=list)       # the learner's copies of such labs, now in old/

    def summary(self) -> str:
        lines = [f"learner notebooks in {self.out_dir}: {len(self.written)} written, "
                 f"{len(self.unchanged)} up to date, {len(self.kept)} kept"]
        if self.kept:
            lines.append("kept your own copies (you changed them since they were generated): "
                         + ", ".join(p.name for p in self.kept))
            lines.append("to get a lab's new version, rename or delete your copy and run `make lab` again")
        if self.removed:
            lines.append("removed untouched copies of labs that were renamed or split: " + ", ".join(self.removed))
        if self.moved:
            lines.append(f"moved your copies of labs that were renamed or split to {self.out_dir / OLD_DIR}: "
                         + ", ".join(p.name for p in self.moved))
        return "\n".join(lines)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sources(source_dir: Path) -> list[Path]:
    labs = sorted(source_dir.glob(LAB_PATTERN))
    if not labs:
        raise LabkitError(f"no lab notebooks (NN-name.ipynb) in {source_dir}",
                          hint="run from the repository root, or pass --source labs")
    return labs + [source_dir / name for name in COMPANIONS if (source_dir / name).exists()]


def read_manifest(out_dir: Path) -> dict:
    try:
        data = json.loads((out_dir / MANIFEST).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {"files": {}}
    return data if isinstance(data.get("files"), dict) else {"files": {}}


def generated_text(path: Path) -> str:
    notebook = nbformat.read(path, as_version=4)
    return nbformat.writes(learner_notebook(notebook, path.name)) + "\n"


def release(source_dir: str | Path = "labs", out_dir: str | Path | None = None) -> Release:
    """Write the learner version of every lab in `source_dir` to `out_dir` (default SOURCE/learner), never
    over a copy the learner has changed."""
    source_dir = Path(source_dir)
    out = Path(out_dir) if out_dir else source_dir / LEARNER_DIR
    labs = sources(source_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(out)
    recorded: dict[str, str] = manifest["files"]
    report = Release(out)
    for path in labs:
        text = generated_text(path).encode()
        target = out / path.name
        if target.exists():
            current = digest(target.read_bytes())
            if current != recorded.get(path.name):
                report.kept.append(target)   # changed by the learner, or not ours: theirs
                continue
            if current == digest(text):
                report.unchanged.append(target)
                continue
        target.write_bytes(text)
        recorded[path.name] = digest(text)
        report.written.append(target)
    retire_orphans(out, {path.name for path in labs}, recorded, report)
    # Where the instructor notebooks are: the Show solution button reads the solutions there.
    manifest["source"] = str(source_dir.resolve())
    write_json(out / MANIFEST, manifest)
    return report


def retire_orphans(out: Path, current: set[str], recorded: dict[str, str], report: Release) -> None:
    """Copies this folder generated for labs that are gone: an untouched one is deleted, a changed one (the
    learner's work) is moved to old/ without overwriting anything there. Files the manifest never listed (the
    learner's own notebooks) are not looked at."""
    for name in sorted(set(recorded) - current):
        target = out / name
        if target.exists():
            if digest(target.read_bytes()) == recorded[name]:
                target.unlink()
                report.removed.append(name)
            else:
                old = out / OLD_DIR
                old.mkdir(exist_ok=True)
                destination = old / name
                number = 1
                while destination.exists():
                    number += 1
                    destination = old / f"{target.stem}-{number}{target.suffix}"
                target.rename(destination)
                report.moved.append(destination)
        del recorded[name]
