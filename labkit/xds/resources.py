"""The translator's plain dicts as xDS protobuf messages (Envoy's own API types from xds-protos).

The builders in labkit.envoy write resources the way Envoy's JSON/YAML config reads ("@type" on
every Any); json_format parses them into the real messages, so a field Envoy does not know fails
here, with its name, before anything reaches a proxy.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import pkgutil
import threading
from functools import lru_cache

from google.protobuf import any_pb2, descriptor_pool, json_format, message_factory

from ..errors import LabkitError

TYPE_PREFIX = "type.googleapis.com/"
LISTENER = TYPE_PREFIX + "envoy.config.listener.v3.Listener"
CLUSTER = TYPE_PREFIX + "envoy.config.cluster.v3.Cluster"
ROUTE = TYPE_PREFIX + "envoy.config.route.v3.RouteConfiguration"
ENDPOINT = TYPE_PREFIX + "envoy.config.endpoint.v3.ClusterLoadAssignment"
SECRET = TYPE_PREFIX + "envoy.extensions.transport_sockets.tls.v3.Secret"

# istioctl's short names for the xDS types (pilot/pkg/model/push_context.go GetShortType).
SHORT_NAMES = {CLUSTER: "CDS", LISTENER: "LDS", ROUTE: "RDS", ENDPOINT: "EDS", SECRET: "SDS"}
# Envoy subscribes clusters before listeners; a push follows the same order so a listener never
# names a cluster or route the proxy has not been sent yet (Envoy's ADS ordering).
PUSH_ORDER = (CLUSTER, ENDPOINT, LISTENER, ROUTE, SECRET)
# Types whose request names the resources wanted; LDS and CDS are wildcard (all of the proxy's).
NAMED_TYPES = (ROUTE, ENDPOINT, SECRET)

ANY = "google.protobuf.Any"
# Message fields that make each sidecar's copy of a shared resource its own (the pod's source address on
# its outbound clusters); the encoder parses the rest once for all of them.
PER_PROXY_FIELDS = ("upstream_bind_config",)
_import_lock = threading.Lock()


def _typed(value, field) -> bool:
    """An Any given as a dict with its "@type" (every item of it, when repeated)."""
    items = value if field.is_repeated else [value]
    return isinstance(value, (list, dict)) and all(isinstance(i, dict) and "@type" in i for i in items)


def _load_package(proto_package: str) -> None:
    """Import every generated module of one proto package, so its messages join the descriptor pool
    (a nested Any is resolved from the pool by its type URL)."""
    try:
        package = importlib.import_module(proto_package)
    except ImportError:
        return
    for info in pkgutil.iter_modules(getattr(package, "__path__", [])):
        if info.name.endswith("_pb2"):
            importlib.import_module(f"{proto_package}.{info.name}")


@lru_cache(maxsize=None)
def message_class(full_name: str):
    with _import_lock:
        try:
            descriptor = descriptor_pool.Default().FindMessageTypeByName(full_name)
        except KeyError:
            _load_package(full_name.rsplit(".", 1)[0])
            try:
                descriptor = descriptor_pool.Default().FindMessageTypeByName(full_name)
            except KeyError:
                raise LabkitError(f"unknown xDS message type {full_name}") from None
        return message_factory.GetMessageClass(descriptor)


def _load_nested_types(value) -> None:
    if isinstance(value, dict):
        type_url = value.get("@type")
        if isinstance(type_url, str) and type_url.startswith(TYPE_PREFIX):
            message_class(type_url[len(TYPE_PREFIX):])
        for item in value.values():
            _load_nested_types(item)
    elif isinstance(value, list):
        for item in value:
            _load_nested_types(item)


def canonical(resource: dict) -> str:
    """The builders emit keys in a fixed order, so no sorting: equal configs give equal text."""
    return json.dumps(resource, separators=(",", ":"))


def digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


class Encoder:
    """dict → packed Any, cached by content: most resources of a proxy survive a change unchanged."""

    def __init__(self, limit: int = 50000):
        self._cache: dict[str, any_pb2.Any] = {}
        self._references: dict[str, dict[str, set[str]]] = {}
        self._parts: dict[tuple[str, str], object] = {}
        # ids of a resource's shared field values → (the values, their digest, their encoding)
        self._shared: dict[tuple, tuple[tuple, str, any_pb2.Any]] = {}
        self._limit = limit
        self._lock = threading.Lock()

    def encode(self, resource: dict) -> tuple[str, any_pb2.Any]:
        """(content digest, Any) for one resource with its "@type". A resource handed here is not changed
        afterwards (the translators build new dicts for every change)."""
        overlay = [name for name in PER_PROXY_FIELDS if name in resource]
        if overlay or resource.get("@type") == ENDPOINT:
            return self._encode_shared(resource, overlay)
        return self._encode_whole(resource)

    def _encode_whole(self, resource: dict) -> tuple[str, any_pb2.Any]:
        text = canonical(resource)
        key = digest(text)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return key, cached
        type_url = resource.get("@type", "")
        if not type_url.startswith(TYPE_PREFIX):
            raise LabkitError(f"xDS resource {resource.get('name', resource.get('cluster_name'))!r} has no @type")
        _load_nested_types(resource)
        try:
            with self._lock:
                if len(self._cache) >= self._limit or len(self._parts) >= 4 * self._limit \
                        or len(self._shared) >= self._limit:
                    self._cache.clear()
                    self._references.clear()
                    self._parts.clear()
                    self._shared.clear()
                packed = self._part(any_pb2.Any.DESCRIPTOR, resource)
                self._cache[key] = packed
        except json_format.ParseError as exc:
            raise LabkitError(f"invalid {type_url.rsplit('.', 1)[-1]} "
                              f"{resource.get('name', resource.get('cluster_name'))!r}: {exc}") from None
        return key, packed

    def _encode_shared(self, resource: dict, overlay: list[str]) -> tuple[str, any_pb2.Any]:
        """A resource that differs from its neighbours' only in per-proxy fields (or not at all, as an
        endpoint assignment every client of a service gets): the shared rest is encoded once (and its
        references found once), then copied in C with this proxy's fields set. Protobuf serializes by field
        number, so the bytes equal those of a parse of the whole.

        The translators hand every proxy the very same objects for the shared fields (sidecar.py's
        outbound_clusters), so they are recognised by identity, without serializing them again: at 100
        pods that JSON was most of the encoder's time. The entry keeps the objects alive, so an id is
        never reused while it is remembered."""
        shared = [(k, v) for k, v in resource.items() if k not in overlay]
        ident = tuple((k, id(v)) for k, v in shared)
        with self._lock:
            hit = self._shared.get(ident)
        if hit is not None and all(value is kept for (_, value), kept in zip(shared, hit[0])):
            base_key, base_packed = hit[1], hit[2]
        else:
            base = dict(shared)
            base_key, base_packed = self._encode_whole(base)
            references = self.references(base_key, base)
            with self._lock:
                self._shared[ident] = (tuple(v for _, v in shared), base_key, base_packed)
                self._references[base_key] = references
        if not overlay:
            return base_key, base_packed
        key = digest(base_key + canonical({name: resource[name] for name in overlay}))
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return key, cached
        message = message_class(resource["@type"][len(TYPE_PREFIX):])()
        base_packed.Unpack(message)
        try:
            with self._lock:
                for name in overlay:
                    field = message.DESCRIPTOR.fields_by_name[name]
                    getattr(message, name).CopyFrom(self._part(field.message_type, resource[name]))
                packed = any_pb2.Any()
                packed.Pack(message)
                self._cache[key] = packed
                self._references[key] = self._references.get(base_key) or referenced_names([dict(shared)])
        except (json_format.ParseError, KeyError) as exc:
            raise LabkitError(f"invalid {resource['@type'].rsplit('.', 1)[-1]} {resource.get('name')!r}: {exc}") \
                from None
        return key, packed

    # json_format.ParseDict walks every field in Python (~2 ms for a cluster here); a sidecar's clusters
    # differ from its neighbours' only in a field or two (the pod's source address), so each nested
    # message is parsed once and copied (in C) wherever it appears again.
    def _part(self, descriptor, data: dict):
        """The message `descriptor` names, from `data`; an Any (packed) when `data` has an "@type"."""
        key = (descriptor.full_name, digest(canonical(data)))  # a digest: the text would double the memory
        cached = self._parts.get(key)
        if cached is not None:
            return cached
        if descriptor.full_name == ANY:
            inner = message_class(data["@type"][len(TYPE_PREFIX):]).DESCRIPTOR
            message = any_pb2.Any()
            message.Pack(self._part(inner, {k: v for k, v in data.items() if k != "@type"}))
        else:
            message = message_factory.GetMessageClass(descriptor)()
            plain = {}
            for name, value in data.items():
                if name == "@type":
                    continue
                field = descriptor.fields_by_name.get(name)
                kind = field.message_type if field is not None else None
                if kind is None or kind.GetOptions().map_entry or \
                        (kind.full_name.startswith("google.protobuf.") and kind.full_name != ANY) or \
                        (kind.full_name == ANY and not _typed(value, field)):
                    plain[name] = value  # scalars, enums, maps, well-known types: json_format's job
                elif field.is_repeated:
                    target = getattr(message, name)
                    for item in value:
                        target.add().CopyFrom(self._part(kind, item))
                else:
                    getattr(message, name).CopyFrom(self._part(kind, value))
            if plain:
                json_format.ParseDict(plain, message)
        self._parts[key] = message
        return message

    def references(self, key: str, resource: dict) -> dict[str, set[str]]:
        """referenced_names of one resource, remembered by its digest."""
        cached = self._references.get(key)
        if cached is None:
            cached = self._references[key] = referenced_names([resource])
        return cached


def to_dict(packed: any_pb2.Any) -> dict:
    """An Any back to Envoy's JSON shape (for tests and tools)."""
    message = message_class(packed.type_url[len(TYPE_PREFIX):])()
    packed.Unpack(message)
    return {"@type": packed.type_url, **json_format.MessageToDict(message, preserving_proto_field_name=True)}


def resource_name(resource: dict) -> str:
    """An xDS resource's name: `name`, or `cluster_name` for a ClusterLoadAssignment (EDS)."""
    return resource["name"] if "name" in resource else resource["cluster_name"]


def referenced_names(resources: list[dict]) -> dict[str, set[str]]:
    """RDS, EDS and SDS names the given listeners/clusters subscribe to (via ADS): the proxy is in sync
    only once it has asked for and accepted each of them."""
    out: dict[str, set[str]] = {ROUTE: set(), ENDPOINT: set(), SECRET: set()}

    def walk(value) -> None:
        if isinstance(value, dict):
            if "route_config_name" in value and "config_source" in value:
                out[ROUTE].add(value["route_config_name"])
            if value.get("type") == "EDS" and "eds_cluster_config" in value:
                out[ENDPOINT].add(value["eds_cluster_config"].get("service_name") or value["name"])
            if "sds_config" in value and "name" in value:
                out[SECRET].add(value["name"])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
    walk(resources)
    return out
