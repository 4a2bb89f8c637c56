"""Pieces of the local Kubernetes API that need no mesh: patches, selectors, Status errors, tables, protobuf."""
from __future__ import annotations

import pytest

from labkit.errors import LabkitError
from labkit.kubeapi.patch import json_merge, json_patch, server_side_apply, strategic_merge
from labkit.kubeapi.protobuf import decode
from labkit.kubeapi.registry import BY_KIND, RESOURCES
from labkit.kubeapi.selectors import field_selector, label_selector
from labkit.kubeapi.status import ApiError, from_labkit
from labkit.durations import human_duration
from labkit.kubeapi.tables import table
from labkit.resources.store import Store, StoreConflict


def test_strategic_merge_merges_containers_by_name_and_deletes_with_null():
    current = {"spec": {"template": {"metadata": {"annotations": {"a": "1"}},
                                     "spec": {"containers": [{"name": "app", "image": "v1"},
                                                             {"name": "side", "image": "s"}]}}}}
    patch = {"spec": {"template": {"metadata": {"annotations": {"a": None, "b": "2"}},
                                   "spec": {"$setElementOrder/containers": [{"name": "app"}, {"name": "side"}],
                                            "containers": [{"name": "app", "image": "v2"}]}}}}
    merged = strategic_merge(current, patch)
    assert merged["spec"]["template"]["metadata"]["annotations"] == {"b": "2"}
    assert merged["spec"]["template"]["spec"]["containers"] == [{"name": "app", "image": "v2"},
                                                                {"name": "side", "image": "s"}]
    deleted = strategic_merge(merged, {"spec": {"template": {"spec": {"containers": [
        {"name": "side", "$patch": "delete"}]}}}})
    assert [c["name"] for c in deleted["spec"]["template"]["spec"]["containers"]] == ["app"]


def test_json_merge_replaces_lists_and_json_patch_tests_first():
    assert json_merge({"spec": {"hosts": ["a", "b"], "x": 1}}, {"spec": {"hosts": ["c"], "x": None}}) == \
        {"spec": {"hosts": ["c"]}}
    doc = {"metadata": {"resourceVersion": "5", "labels": {"a": "1"}}}
    assert json_patch(doc, [{"op": "test", "path": "/metadata/resourceVersion", "value": "5"},
                            {"op": "add", "path": "/metadata/labels/b", "value": "2"}])["metadata"]["labels"] == \
        {"a": "1", "b": "2"}
    with pytest.raises(ApiError):
        json_patch(doc, [{"op": "test", "path": "/metadata/resourceVersion", "value": "4"}])


def test_server_side_apply_removes_only_fields_the_applier_dropped():
    first = server_side_apply(None, {"kind": "X", "metadata": {"name": "n"}, "spec": {"a": 1, "b": 2}},
                              "kubectl", "v1", "t")
    first["metadata"]["labels"] = {"team": "blue"}   # a label written by another manager stays
    second = server_side_apply(first, {"kind": "X", "metadata": {"name": "n"}, "spec": {"a": 3}}, "kubectl",
                               "v1", "t")
    assert second["spec"] == {"a": 3} and second["metadata"]["labels"] == {"team": "blue"}
    other = server_side_apply(second, {"metadata": {"name": "n", "annotations": {"k": "v"}}},
                              "kubectl-last-applied", "v1", "t")
    assert other["spec"] == {"a": 3} and other["metadata"]["annotations"] == {"k": "v"}


def test_selectors():
    obj = {"metadata": {"name": "p", "namespace": "foo", "labels": {"app": "httpbin", "version": "v1"}}}
    assert label_selector("app=httpbin,version in (v1,v2)")(obj)
    assert not label_selector("app!=httpbin")(obj)
    assert label_selector("!missing,app")(obj)
    assert not label_selector("version notin (v1)")(obj)
    assert field_selector("metadata.name=p,metadata.namespace=foo")(obj)
    assert not field_selector("metadata.name=q")(obj)


def test_labkit_errors_become_api_statuses_with_the_field():
    pa = BY_KIND["PeerAuthentication"]
    invalid = from_labkit(LabkitError("'X' is not valid", kind="PeerAuthentication", name="p", namespace="foo",
                                      field="spec.mtls.mode"), pa, "p", "v1")
    assert invalid.code == 422 and invalid.reason == "Invalid"
    assert invalid.details["causes"][0]["field"] == "spec.mtls.mode"
    assert invalid.message.startswith('PeerAuthentication.security.istio.io "p" is invalid: spec.mtls.mode:')
    unknown = from_labkit(LabkitError("unknown field 'mood'", kind="PeerAuthentication", name="p",
                                      field="spec.mtls.mood"), pa, "p", "v1")
    assert unknown.code == 400 and "strict decoding error" in unknown.message
    assert from_labkit(StoreConflict("already exists"), pa, "p", "v1").reason == "AlreadyExists"
    assert from_labkit(StoreConflict("the object has been modified"), pa, "p", "v1").code == 409


def test_store_refuses_a_write_based_on_a_stale_version(tmp_path):
    store = Store(tmp_path)
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "foo"}}
    [(stored, _)] = store.apply([ns])
    store.apply([{**ns, "metadata": {"name": "foo", "labels": {"a": "1"}}}])
    with pytest.raises(StoreConflict):
        store.apply([ns], expect={("Namespace", "", "foo"): stored["metadata"]["resourceVersion"]})
    with pytest.raises(StoreConflict):
        store.apply([ns], expect={("Namespace", "", "foo"): None})
    assert store.get("Namespace", "foo")["metadata"]["labels"] == {"a": "1"}


def test_human_duration_matches_kubernetes():
    assert [human_duration(s) for s in (5, 119, 125, 600, 7200, 8 * 3600 + 60, 3 * 86400 + 3600, 400 * 86400)] == \
        ["5s", "119s", "2m5s", "10m", "120m", "8h", "3d1h", "400d"]


def test_crd_tables_carry_istio_printer_columns():
    pa = {"kind": "PeerAuthentication", "metadata": {"name": "default", "creationTimestamp": "2020-01-01T00:00:00Z"},
          "spec": {"mtls": {"mode": "STRICT"}}}
    shown = table("PeerAuthentication", [pa], "1", None)
    assert [c["name"] for c in shown["columnDefinitions"]] == ["Name", "Mode", "Age"]
    assert shown["rows"][0]["cells"][:2] == ["default", "STRICT"]
    assert shown["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    assert {r.short for r in RESOURCES.values() if r.group.endswith("istio.io")} >= {("pa",), ("dr",), ("vs",),
                                                                                     ("gw",), ("ap",)}


def _field(number: int, payload: bytes) -> bytes:
    return bytes([number << 3 | 2, len(payload)]) + payload


def test_protobuf_secret_body_decodes_like_json():
    meta = _field(1, b"tls") + _field(3, b"foo")
    data = _field(2, _field(1, b"tls.crt") + _field(2, b"\x00\x01"))
    raw = _field(1, meta) + data + _field(3, b"kubernetes.io/tls")
    body = b"k8s\x00" + _field(1, _field(1, b"v1") + _field(2, b"Secret")) + _field(2, raw)
    assert decode(body) == {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tls", "namespace": "foo"},
                            "data": {"tls.crt": "AAE="}, "type": "kubernetes.io/tls"}
    with pytest.raises(ApiError):
        decode(b"not protobuf")


def test_last_lines_follows_tail_lines():
    from labkit.kubeapi.podio import last_lines
    text = "a\nb\nc\n"
    assert [last_lines(text, n) for n in (None, 0, 2, 9)] == [text, "", "b\nc\n", text]
