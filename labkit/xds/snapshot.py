"""One proxy's desired configuration as versioned xDS resources, one version per type."""
from __future__ import annotations

from dataclasses import dataclass, field

from google.protobuf import any_pb2

from .resources import CLUSTER, ENDPOINT, LISTENER, ROUTE, SECRET, Encoder, digest, resource_name


@dataclass
class TypeSnapshot:
    resources: dict[str, tuple[str, any_pb2.Any]] = field(default_factory=dict)  # name → (digest, Any)
    version: str = ""

    def select(self, names: set[str] | None) -> list[any_pb2.Any]:
        """What a response carries: all resources (wildcard) or the requested ones that exist."""
        if names is None:
            return [packed for _, packed in self.resources.values()]
        return [self.resources[n][1] for n in sorted(names) if n in self.resources]


@dataclass
class Snapshot:
    types: dict[str, TypeSnapshot] = field(default_factory=dict)
    required: dict[str, set[str]] = field(default_factory=dict)  # RDS/SDS names the proxy must ask for

    def version(self, type_url: str) -> str:
        snap = self.types.get(type_url)
        return snap.version if snap else ""


def build_type(encoder: Encoder, resources: list[dict], suffix: str = "",
               required: dict[str, set[str]] | None = None) -> TypeSnapshot:
    snap = TypeSnapshot()
    for resource in resources:
        key, packed = encoder.encode(resource)
        snap.resources[resource_name(resource)] = (key, packed)
        if required is not None:
            for type_url, names in encoder.references(key, resource).items():
                required.setdefault(type_url, set()).update(names)
    # The version names the content: an unchanged type keeps its version and is not pushed again.
    snap.version = digest("|".join(f"{n}={d}" for n, (d, _) in sorted(snap.resources.items()))) + suffix
    return snap


def build_snapshot(encoder: Encoder, listeners: list[dict], clusters: list[dict], routes: list[dict],
                   secrets: list[dict], listener_suffix: str = "", endpoints: list[dict] | None = None) -> Snapshot:
    required: dict[str, set[str]] = {ROUTE: set(), ENDPOINT: set(), SECRET: set()}
    snapshot = Snapshot(types={
        CLUSTER: build_type(encoder, clusters, required=required),
        ENDPOINT: build_type(encoder, endpoints or []),
        LISTENER: build_type(encoder, listeners, listener_suffix, required=required),
        ROUTE: build_type(encoder, routes),
        SECRET: build_type(encoder, secrets),
    })
    snapshot.required = required
    return snapshot
