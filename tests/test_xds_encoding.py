"""The control plane's encoder gives exactly json_format.ParseDict's messages, part-cached or not."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from google.protobuf import any_pb2, json_format

from labkit.errors import LabkitError
from labkit.xds.resources import TYPE_PREFIX, Encoder, message_class

GOLDEN = Path(__file__).parent / "golden"
RESOURCE_TYPES = ("Cluster", "Listener", "RouteConfiguration", "Secret", "ClusterLoadAssignment")


def golden_resources() -> list[dict]:
    found: list[dict] = []

    def walk(value):
        if isinstance(value, dict):
            if value.get("@type", "").endswith(RESOURCE_TYPES) and ("name" in value or "cluster_name" in value):
                found.append(value)
                return
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
    for path in sorted(GOLDEN.glob("*/*.out.yaml")):
        walk(yaml.safe_load(path.read_text()))
    return found


def reference(resource: dict) -> any_pb2.Any:
    Encoder().encode(resource)  # loads the nested types into the pool
    message = message_class(resource["@type"][len(TYPE_PREFIX):])()
    json_format.ParseDict({k: v for k, v in resource.items() if k != "@type"}, message)
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def unpacked(packed: any_pb2.Any) -> dict:
    """The message as JSON, nested Anys unpacked (their bytes may order map entries differently)."""
    message = message_class(packed.type_url[len(TYPE_PREFIX):])()
    packed.Unpack(message)
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def test_every_golden_resource_encodes_as_parsedict_does():
    resources = golden_resources()
    assert len(resources) > 50
    shared = Encoder()
    for resource in resources:
        _, packed = shared.encode(resource)
        assert packed.type_url == resource["@type"]
        assert unpacked(packed) == unpacked(reference(resource)), resource.get("name", resource.get("cluster_name"))
        # A neighbour's variant (another source address) reuses the cached parts yet differs where it must.
        if resource["@type"].endswith("Cluster"):
            variant = copy.deepcopy(resource)
            variant["upstream_bind_config"] = {"source_address": {"address": "127.9.9.9", "port_value": 0}}
            _, other = shared.encode(variant)
            assert unpacked(other) == unpacked(reference(variant)) != unpacked(packed)


def test_an_unknown_field_is_a_clear_error():
    cluster = copy.deepcopy(next(r for r in golden_resources() if r["@type"].endswith("Cluster")
                                 and "load_assignment" in r))
    cluster["load_assignment"]["endpointz"] = []
    with pytest.raises(LabkitError, match="endpointz"):
        Encoder().encode(cluster)


def test_goldens_hold_eds_assignments():
    """Outbound clusters are EDS, and their endpoints are ClusterLoadAssignments the encoder takes."""
    found = golden_resources()
    assert any(r["@type"].endswith("Cluster") and r.get("type") == "EDS" for r in found)
    assert any(r["@type"].endswith("ClusterLoadAssignment") for r in found)


def test_shared_parts_are_reused_by_identity_and_never_stale():
    """Sidecars get the same objects for a cluster's shared fields and their own source address: each
    encodes exactly as a full parse would, and a cluster built anew with other content is not mistaken
    for the one before."""
    from labkit.envoy import common as c
    encoder = Encoder()
    shared = c.eds_cluster("outbound|80||a.ns.svc.cluster.local")
    first = {**shared, "upstream_bind_config": c.bind_to("127.0.0.2")}
    second = {**shared, "upstream_bind_config": c.bind_to("127.0.0.3")}
    for resource in (first, second, first):
        _, packed = encoder.encode(resource)
        assert unpacked(packed) == unpacked(reference(resource))
    assert encoder.encode(first)[0] != encoder.encode(second)[0]
    rebuilt = c.eds_cluster("outbound|80||a.ns.svc.cluster.local", connect_timeout="5s")
    changed = {**rebuilt, "upstream_bind_config": c.bind_to("127.0.0.2")}
    _, packed = encoder.encode(changed)
    assert unpacked(packed)["connect_timeout"] == "5s" and unpacked(packed) == unpacked(reference(changed))
    assignment = c.load_assignment("outbound|80||a.ns.svc.cluster.local", [c.lb_endpoint("127.0.0.9", 80)])
    assert encoder.encode(assignment) == encoder.encode(assignment)
    assert unpacked(encoder.encode(assignment)[1]) == unpacked(reference(assignment))
