"""The patch types kubectl sends: JSON merge (custom resources, `kubectl label`), strategic merge
(built-in kinds: client-side apply, `rollout restart`), JSON patch (`kubectl patch --type=json`) and
server-side apply (`apply --server-side`).

Strategic merge follows k8s.io/apimachinery/pkg/util/strategicpatch as far as kubectl's patches
use it: maps merge, null deletes, lists of objects with a patch merge key merge by that key
(`$patch: delete` removes an item), other lists are replaced, and the `$setElementOrder/`,
`$retainKeys` and `$deleteFromPrimitiveList/` directives are honoured.
"""
from __future__ import annotations

import copy
from typing import Any

from .status import bad_request

# patchMergeKey of the list fields in the built-in types kubectl applies (k8s.io/api core/v1, apps/v1).
MERGE_KEYS = {"containers": "name", "initContainers": "name", "ephemeralContainers": "name", "env": "name",
              "volumes": "name", "volumeMounts": "mountPath", "imagePullSecrets": "name",
              "conditions": "type", "hostAliases": "ip"}


def json_merge(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = json_merge(out.get(key), value)
    return out


def _merge_key(field: str, items: list) -> str | None:
    if field == "ports":
        sample = next((i for i in items if isinstance(i, dict)), {})
        return "containerPort" if "containerPort" in sample else "port"
    return MERGE_KEYS.get(field)


def strategic_merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            out[field] = [v for v in out.get(field) or [] if v not in value]
            continue
        if value is None:
            out.pop(key, None)
        elif isinstance(value, list):
            out[key] = _merge_list(key, out.get(key), value)
        else:
            out[key] = strategic_merge(out.get(key), value)
    if retain is not None:
        out = {k: v for k, v in out.items() if k in retain}
    return out


def _merge_list(field: str, current: Any, patch: list) -> list:
    key = _merge_key(field, patch + (current or []))
    if key is None or not all(isinstance(i, dict) for i in patch):
        return copy.deepcopy([i for i in patch if not (isinstance(i, dict) and i.get("$patch"))])
    out = copy.deepcopy(current) if isinstance(current, list) else []
    for item in patch:
        if item.get("$patch") == "replace":
            return copy.deepcopy([i for i in patch if i.get("$patch") != "replace"])
        index = next((n for n, existing in enumerate(out)
                      if isinstance(existing, dict) and existing.get(key) == item.get(key)), None)
        if item.get("$patch") == "delete":
            if index is not None:
                out.pop(index)
        elif index is None:
            out.append(strategic_merge({}, item))
        else:
            out[index] = strategic_merge(out[index], item)
    return out


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise bad_request(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def json_patch(target: dict, operations: list) -> dict:
    """RFC 6902: add, remove, replace, test, copy, move."""
    doc = copy.deepcopy(target)
    for op in operations:
        parts = _pointer(op.get("path", ""))
        parent: Any = doc
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent.get(part)
            if parent is None:
                raise bad_request(f"jsonpatch {op.get('op')} operation does not apply: doc is missing path: "
                                  f"{op.get('path')}")
        last = parts[-1] if parts else ""
        kind = op.get("op")
        if kind in ("add", "replace"):
            if isinstance(parent, list):
                if last == "-":
                    parent.append(op.get("value"))
                elif kind == "add":
                    parent.insert(int(last), op.get("value"))
                else:
                    parent[int(last)] = op.get("value")
            else:
                if kind == "replace" and last not in parent:
                    raise bad_request(f"jsonpatch replace operation does not apply: doc is missing key: {op['path']}")
                parent[last] = op.get("value")
        elif kind == "remove":
            try:
                del parent[int(last) if isinstance(parent, list) else last]
            except (KeyError, IndexError):
                raise bad_request(f"jsonpatch remove operation does not apply: doc is missing path: {op['path']}")
        elif kind == "test":
            current = parent[int(last)] if isinstance(parent, list) else parent.get(last)
            if current != op.get("value"):
                raise bad_request(f"testing value {op['path']} failed")
        else:
            raise bad_request(f"Unexpected kind: {kind}")
    return doc


def fields_of(obj: dict, top: bool = True) -> dict:
    """The FieldsV1 set an applied configuration owns: {"f:spec": {"f:mtls": {"f:mode": {}}}}."""
    out = {}
    for key, value in obj.items():
        if top and key in ("apiVersion", "kind"):
            continue
        if top and key == "metadata":
            value = {k: v for k, v in (value or {}).items() if k in ("labels", "annotations")}
            if not value:
                continue
        out[f"f:{key}"] = fields_of(value, False) if isinstance(value, dict) else {}
    return out


def _paths(fields: dict, prefix: tuple = ()) -> set[tuple]:
    out = set()
    for key, sub in fields.items():
        path = prefix + (key[2:],)
        out |= _paths(sub, path) if sub else {path}
    return out


def _remove(obj: dict, path: tuple) -> None:
    node: Any = obj
    for part in path[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return
    if isinstance(node, dict):
        node.pop(path[-1], None)


def _apply_merge(target: Any, applied: Any) -> Any:
    # Maps merge field by field; lists and scalars belong wholly to the applier (atomic).
    if not isinstance(applied, dict) or not isinstance(target, dict):
        return copy.deepcopy(applied)
    out = copy.deepcopy(target)
    for key, value in applied.items():
        out[key] = _apply_merge(out.get(key), value)
    return out


def server_side_apply(current: dict | None, applied: dict, manager: str, api_version: str, now: str) -> dict:
    """Server-side apply with field ownership (metadata.managedFields, operation Apply): the applier's
    fields are set, fields it applied before and applies no more are removed unless another manager
    owns them, and everything other managers own stays (kubectl's `kubectl-last-applied` manager
    updates only the annotation; `kubectl label` keeps its labels)."""
    owned = fields_of(applied)
    entry = {"manager": manager, "operation": "Apply", "apiVersion": api_version, "time": now,
             "fieldsType": "FieldsV1", "fieldsV1": owned}
    if current is None:
        out = copy.deepcopy(applied)
        out.setdefault("metadata", {})["managedFields"] = [entry]
        return out
    managers = list((current.get("metadata") or {}).get("managedFields") or [])
    mine = next((m for m in managers if m.get("manager") == manager and m.get("operation") == "Apply"), None)
    others = set().union(*[_paths(m.get("fieldsV1") or {}) for m in managers if m is not mine])
    out = copy.deepcopy(current)
    if mine is not None:
        for path in _paths(mine.get("fieldsV1") or {}) - _paths(owned) - others:
            _remove(out, path)
    out = _apply_merge(out, {k: v for k, v in applied.items() if k != "metadata"})
    meta = out.setdefault("metadata", {})
    for field in ("labels", "annotations"):
        if (applied.get("metadata") or {}).get(field):
            meta[field] = {**(meta.get(field) or {}), **applied["metadata"][field]}
    meta["managedFields"] = [m for m in managers if m is not mine] + [entry]
    return out
