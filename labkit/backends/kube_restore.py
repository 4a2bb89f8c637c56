"""What `down()` puts back on objects labkit changed but did not create (issue 15, defect 8).

Releasing labkit's fields (an empty server-side apply) removes them, which is right for fields labkit added
but wrong for fields it took over with `force=true` (a pre-existing istio-system PeerAuthentication would lose
its mode) and for labels changed with `label_namespace` (a merge patch, which a release does not touch).
So the first time labkit changes such an object it records, on the object itself, the values it is about
to overwrite (annotation `labkit.dev/restore`, JSON; a kernel restart loses nothing), and `down()` writes
them back after the release. Pure functions; KubeWrites and KubeCleanup call them.
"""
from __future__ import annotations

import json

RESTORE_ANNOTATION = "labkit.dev/restore"
SKIPPED = ("apiVersion", "kind", "metadata", "status")


def recorded(obj: dict | None) -> dict:
    """The record already on an object ({} when none or unreadable)."""
    text = (((obj or {}).get("metadata") or {}).get("annotations") or {}).get(RESTORE_ANNOTATION)
    try:
        record = json.loads(text) if text else {}
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def _first_wins(old: dict, new: dict) -> dict:
    """Merge records: a value recorded earlier is the original; a later change must not replace it."""
    out = dict(old)
    for key, value in new.items():
        if key in ("labels", "annotations"):
            out[key] = {**value, **(old.get(key) or {})}
        elif key not in out:
            out[key] = value
    return out


def record_for_apply(existing: dict, doc: dict) -> str:
    """The record after applying `doc` over `existing`: the top-level fields the document sets (spec, data,
    ...) and its labels/annotations, as they were before labkit (None: absent)."""
    meta, old_meta = doc.get("metadata") or {}, existing.get("metadata") or {}
    new: dict = {key: existing.get(key) for key in doc if key not in SKIPPED}
    for part in ("labels", "annotations"):
        keys = [k for k in (meta.get(part) or {}) if k != RESTORE_ANNOTATION]
        if keys:
            new[part] = {k: (old_meta.get(part) or {}).get(k) for k in keys}
    return json.dumps(_first_wins(recorded(existing), new), sort_keys=True, separators=(",", ":"))


def record_for_labels(existing: dict, labels: dict) -> str:
    old = (existing.get("metadata") or {}).get("labels") or {}
    new = {"labels": {k: old.get(k) for k in labels}}
    return json.dumps(_first_wins(recorded(existing), new), sort_keys=True, separators=(",", ":"))


def restore_patch(obj: dict, labkit_labels: tuple[str, ...]) -> dict | None:
    """A JSON merge patch putting the recorded values back and removing labkit's marks, or None without a
    record. `labkit_labels`: the labels labkit adds to mark objects (removed too)."""
    record = recorded(obj)
    if not record:
        return None
    patch: dict = {key: value for key, value in record.items() if key not in ("labels", "annotations")}
    labels = {**{k: None for k in labkit_labels}, **(record.get("labels") or {})}
    annotations = {**(record.get("annotations") or {}), RESTORE_ANNOTATION: None}
    patch["metadata"] = {"labels": labels, "annotations": annotations}
    return patch
