"""Decoding the protobuf bodies kubectl's typed clients send (`kubectl create namespace|secret|configmap`).

kubectl's clientsets write built-in types as `application/vnd.kubernetes.protobuf` and do not fall back to
JSON when refused, so the API decodes the few types those commands create. Wire format: the 4-byte
magic "k8s\\0", then a runtime.Unknown {1: TypeMeta{1: apiVersion, 2: kind}, 2: raw} whose raw bytes
are the object's generated message (field numbers from k8s.io/api core/v1 generated.proto).
"""
from __future__ import annotations

import base64

from .status import ApiError

MAGIC = b"k8s\x00"
STRING_MAP = "map<string,string>"
BYTES_MAP = "map<string,bytes>"
OBJECT_META = {1: ("name", str), 2: ("generateName", str), 3: ("namespace", str), 11: ("labels", STRING_MAP),
               12: ("annotations", STRING_MAP), 14: ("finalizers", [str])}
SCHEMAS: dict[str, dict] = {
    "Namespace": {1: ("metadata", OBJECT_META)},
    "Secret": {1: ("metadata", OBJECT_META), 2: ("data", BYTES_MAP), 3: ("type", str),
               4: ("stringData", STRING_MAP), 5: ("immutable", bool)},
    "ConfigMap": {1: ("metadata", OBJECT_META), 2: ("data", STRING_MAP), 3: ("binaryData", BYTES_MAP),
                  4: ("immutable", bool)},
    "ServiceAccount": {1: ("metadata", OBJECT_META), 4: ("automountServiceAccountToken", bool)},
}
# `kubectl auth whoami` / `auth can-i` (k8s.io/api authentication/v1 and authorization/v1 generated.proto).
RESOURCE_ATTRIBUTES = {1: ("namespace", str), 2: ("verb", str), 3: ("group", str), 4: ("version", str),
                       5: ("resource", str), 6: ("subresource", str), 7: ("name", str)}
SCHEMAS.update({
    "SelfSubjectReview": {1: ("metadata", OBJECT_META)},
    "SelfSubjectAccessReview": {1: ("metadata", OBJECT_META), 2: ("spec", {
        1: ("resourceAttributes", RESOURCE_ATTRIBUTES),
        2: ("nonResourceAttributes", {1: ("path", str), 2: ("verb", str)})})},
    "SelfSubjectRulesReview": {1: ("metadata", OBJECT_META), 2: ("spec", {1: ("namespace", str)})},
})
UNKNOWN: dict = {1: ("typeMeta", {1: ("apiVersion", str), 2: ("kind", str)}), 2: ("raw", bytes)}


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes):
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            size, pos = _varint(data, pos)
            value, pos = data[pos:pos + size], pos + size
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, value


def _message(data: bytes, schema: dict) -> dict:
    out: dict = {}
    for number, value in _fields(data):
        if number not in schema:
            continue   # fields kubectl's create commands never set (status, timestamps)
        name, kind = schema[number]
        if kind is str:
            out[name] = value.decode()
        elif kind is bytes:
            out[name] = value
        elif kind is bool:
            out[name] = bool(value)
        elif kind in (STRING_MAP, BYTES_MAP):
            entry = dict(_fields(value))
            raw = entry.get(2, b"")
            out.setdefault(name, {})[entry.get(1, b"").decode()] = (
                raw.decode() if kind == STRING_MAP else base64.b64encode(raw).decode())
        elif isinstance(kind, list):
            out.setdefault(name, []).append(value.decode())
        else:
            out[name] = _message(value, kind)
    return out


def decode(body: bytes) -> dict:
    """The object in a Kubernetes protobuf body, as the JSON kubectl would otherwise have sent."""
    if not body.startswith(MAGIC):
        raise ApiError(400, "BadRequest", "the body of the request was not a Kubernetes protobuf message")
    try:
        envelope = _message(body[len(MAGIC):], UNKNOWN)
        type_meta = envelope.get("typeMeta", {})
        kind = type_meta.get("kind", "")
        schema = SCHEMAS.get(kind)
        if schema is None:
            raise ApiError(415, "UnsupportedMediaType", f"protobuf bodies of kind {kind or '?'} are not accepted "
                           "by the local API; send JSON")
        obj = _message(envelope.get("raw", b""), schema)
    except (IndexError, UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, "BadRequest", f"the body of the request could not be decoded: {exc}")
    return {"apiVersion": type_meta.get("apiVersion", "v1"), "kind": kind, **obj}
