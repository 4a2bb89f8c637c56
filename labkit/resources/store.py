"""The resource store: the local mesh's API server, one JSON file under the state directory.

Every process that talks to the same state directory (a notebook kernel, the CLI) sees the same
objects; a file lock serialises writers and `generation` tells watchers something changed.
"""
from __future__ import annotations

import builtins
import contextlib
import copy
import datetime as dt
import json
import os
import uuid
from pathlib import Path
from typing import Iterator

from ..atomic import locked, write_atomic
from ..errors import LabkitError
from .clusterips import assign_cluster_ip
from .nodeports import assign_node_ports
from .schema import store_kind
from .validate import validate

BUILTIN_NAMESPACES = ("default", "istio-system", "kube-system")
Key = tuple[str, str, str]  # (kind, namespace or "", name)


class StoreConflict(LabkitError):
    """A write that expected another version of an object (or none, for a create) than the stored one."""


def key_of(obj: dict) -> Key:
    meta = obj["metadata"]
    return store_kind(obj), meta.get("namespace", ""), meta["name"]


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _content(obj: dict) -> dict:
    """The part of an object a learner controls: what decides 'unchanged'."""
    meta = obj.get("metadata", {})
    kept = {k: v for k, v in meta.items() if k in ("name", "namespace", "labels", "annotations")}
    return {**{k: v for k, v in obj.items() if k not in ("metadata", "status")}, "metadata": kept}


class Store:
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / "store.json"
        # The file's bytes and what they parse to, as last read or written here: a read that finds the same
        # bytes is not parsed again (the owner's watcher asks for the generation ten times a second, and
        # every change read the whole store twice), and objects a write left alone keep their identity, so
        # the model builder can tell they did not change. Callers treat what snapshot() hands out as
        # read-only (list() and get() hand out copies).
        self._parsed: tuple[bytes, int, tuple[dict, ...]] | None = None
        self._texts: dict[int, tuple[dict, str]] = {}   # id of a parsed object → (it, its JSON in the file)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict]:
        with locked(self.path):
            state = self._read()
            before = state["generation"]
            read = {id(o) for o in state["objects"]}
            yield state
            if state["generation"] != before:
                self._write(state, read)

    def _read(self) -> dict:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {"generation": 0, "objects": []}
        parsed = self._parsed
        if parsed is None or parsed[0] != raw:
            try:
                state = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise LabkitError(f"the mesh state {self.path} is corrupt ({exc})",
                                  hint="`labkit down` removes the state; the labs can then start afresh")
            parsed = self._parsed = (raw, state["generation"], tuple(state["objects"]))
        elif os.environ.get("LABKIT_STORE_VERIFY"):
            # Tests' check that nobody changed an object snapshot() handed out (it is shared).
            changed = [o["metadata"].get("name") for o, f in zip(parsed[2], json.loads(raw)["objects"]) if o != f]
            assert not changed, f"an object from Store.snapshot() was modified: {changed}"
        # A list of its own: writers add and replace entries, never change a stored object in place.
        return {"generation": parsed[1], "objects": list(parsed[2])}

    def _write(self, state: dict, read: set[int]) -> None:
        """`read`: ids of the objects as read under the lock (already what JSON gives back)."""
        # Compact JSON, each object's text kept with it: a write serializes only the objects it changed
        # (the whole store, dumped again at every apply, was most of a one-policy change's cost left at 50
        # pods; indented, a third of it before that: bench/README.md). The bytes parse as a whole dump does.
        known = self._texts
        texts: dict[int, tuple[dict, str]] = {}
        objects, parts = [], []
        for obj in state["objects"]:
            hit = known.get(id(obj)) if id(obj) in read else None
            if hit is not None and hit[0] is obj:
                text = hit[1]
            else:
                text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
                if id(obj) not in read:
                    # What a reader of the file gets: the object as JSON gives it back (a port number as a
                    # map key comes back a string).
                    obj = json.loads(text)
            objects.append(obj)
            parts.append(text)
            texts[id(obj)] = (obj, text)
        raw = f'{{"generation":{int(state["generation"])},"objects":[{",".join(parts)}]}}'.encode()
        write_atomic(self.path, raw)
        self._parsed = (raw, state["generation"], tuple(objects))
        self._texts = texts

    @property
    def generation(self) -> int:
        return self._read()["generation"]

    def snapshot(self) -> tuple[int, list[dict]]:
        state = self._read()
        return state["generation"], state["objects"]

    def list(self, kind: str | None = None, namespace: str | None = None) -> list[dict]:
        return [copy.deepcopy(o) for o in self._read()["objects"]
                if (kind is None or store_kind(o) == kind)
                and (namespace is None or o["metadata"].get("namespace") == namespace)]

    def get(self, kind: str, name: str, namespace: str = "") -> dict | None:
        for obj in self._read()["objects"]:
            if key_of(obj) == (kind, namespace, name):
                return copy.deepcopy(obj)
        return None

    def apply(self, docs: builtins.list[dict], *, system: bool = False, namespace: str | None = None,
              expect: dict[Key, str | None] | None = None) -> builtins.list[tuple[dict, str]]:
        """Validate every doc, then store them all (or none). Returns (object, action) pairs.

        `namespace` is kubectl's `-n`: the namespace for documents that name none. `expect` maps keys
        to the resourceVersion the writer read (None: the object must not exist yet); a different
        stored version raises StoreConflict, so read-modify-write callers never lose a concurrent write."""
        objects = [d if system else validate(d, namespace or "default") for d in docs]
        # Namespaces first, so one file can create a namespace and what goes in it.
        objects.sort(key=lambda o: 0 if o["kind"] == "Namespace" else 1)
        results = []
        with self._locked() as state:
            index = {key_of(o): i for i, o in enumerate(state["objects"])}
            known_ns = set(BUILTIN_NAMESPACES) | {o["metadata"]["name"] for o in state["objects"]
                                                  if o["kind"] == "Namespace"}
            for key, version in (expect or {}).items():
                stored = state["objects"][index[key]]["metadata"].get("resourceVersion") if key in index else None
                if key in index and version is None:
                    raise StoreConflict("already exists", kind=key[0], name=key[2], namespace=key[1] or None)
                if version is not None and stored != version:
                    raise StoreConflict("the object has been modified", kind=key[0], name=key[2],
                                        namespace=key[1] or None)
            seen: set[Key] = set()
            for obj in objects:
                key = key_of(obj)
                if key in seen and not system:
                    raise LabkitError("the same resource appears twice in one apply", kind=key[0], name=key[2],
                                      namespace=key[1] or None)
                seen.add(key)
                namespace = obj["metadata"].get("namespace")
                if obj["kind"] == "Namespace":
                    known_ns.add(obj["metadata"]["name"])
                elif namespace and namespace not in known_ns:
                    raise LabkitError(f'namespaces "{namespace}" not found', kind=obj["kind"],
                                      name=obj["metadata"]["name"], namespace=namespace,
                                      hint=f"create it first: kubectl create namespace {namespace}")
            for obj in objects:
                key = key_of(obj)
                assign_node_ports(obj, state["objects"][index[key]] if key in index else None, state["objects"])
                assign_cluster_ip(obj, state["objects"][index[key]] if key in index else None, state["objects"])
                if key in index:
                    old = state["objects"][index[key]]
                    if _content(old) == _content(obj) and obj.get("status") == old.get("status"):
                        results.append((copy.deepcopy(old), "unchanged"))
                        continue
                    merged = copy.deepcopy(obj)
                    for field in ("uid", "creationTimestamp"):
                        merged["metadata"][field] = old["metadata"][field]
                    merged["metadata"]["generation"] = old["metadata"].get("generation", 1) + (
                        0 if _content(old) == _content(obj) else 1)
                    state["objects"][index[key]] = merged
                    action = "configured"
                else:
                    merged = copy.deepcopy(obj)
                    merged["metadata"].setdefault("uid", str(uuid.uuid4()))
                    merged["metadata"].setdefault("creationTimestamp", _now())
                    merged["metadata"]["generation"] = 1
                    state["objects"].append(merged)
                    index[key] = len(state["objects"]) - 1
                    action = "created"
                state["generation"] += 1
                merged["metadata"]["resourceVersion"] = str(state["generation"])
                results.append((copy.deepcopy(merged), action))
        return results

    def delete(self, keys: builtins.list[Key], *, ignore_missing: bool = False) -> builtins.list[dict]:
        """Remove objects; deleting a Namespace removes everything in it, as Kubernetes does."""
        removed: builtins.list[dict] = []
        with self._locked() as state:
            present = {key_of(o) for o in state["objects"]}
            for key in keys:
                if key not in present and not ignore_missing:
                    kind, namespace, name = key
                    raise LabkitError(f'{kind} "{name}" not found', kind=kind, name=name, namespace=namespace or None)
            doomed = set(keys)
            for kind, _namespace, name in keys:
                if kind == "Namespace":
                    doomed |= {key_of(o) for o in state["objects"] if o["metadata"].get("namespace") == name}
            kept: builtins.list[dict] = []
            for obj in state["objects"]:
                (removed if key_of(obj) in doomed else kept).append(obj)
            if removed:
                state["objects"] = kept
                state["generation"] += 1
        return removed

    def replace_all(self, objects: builtins.list[dict]) -> None:
        """Reset the store to exactly these (already validated) objects."""
        with self._locked() as state:
            state["objects"] = []
            state["generation"] += 1
        self.apply(objects, system=True) if objects else None
