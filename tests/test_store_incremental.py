"""The store's in-process cache and incremental writes: what a reader of the file gets is what the writer
keeps; objects a write left alone keep their identity; build_model reuses what those objects built."""
from __future__ import annotations

import json

import pytest

from labkit.model.deployments import reconcile_pods
from labkit.model.mesh import build_model
from labkit.resources.loader import load_documents
from labkit.resources.store import Store
from labkit.samples import sample, system_objects
from mesh_scenarios import strict

PA_WITH_PORT = {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
                "metadata": {"name": "one", "namespace": "foo"},
                "spec": {"selector": {"matchLabels": {"app": "httpbin"}}, "portLevelMtls": {80: {"mode": "DISABLE"}}}}


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_STORE_VERIFY", "1")   # every cached read is checked against the file
    store = Store(tmp_path)
    store.apply(system_objects(), system=True)
    store.apply(load_documents("apiVersion: v1\nkind: Namespace\nmetadata: {name: foo, labels: "
                               "{istio-injection: enabled}}\n"))
    store.apply(load_documents(sample("httpbin")), namespace="foo")
    create, _ = reconcile_pods(store.snapshot()[1])
    store.apply(create, system=True)
    return store


def test_the_file_is_a_whole_dump_and_the_writer_sees_what_readers_see(store, tmp_path):
    store.apply([PA_WITH_PORT])
    raw = store.path.read_bytes()
    assert json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode() == raw
    other = Store(tmp_path)   # another process
    assert other.snapshot() == store.snapshot()
    pa = next(o for o in store.snapshot()[1] if o["kind"] == "PeerAuthentication")
    assert pa["spec"]["portLevelMtls"] == {"80": {"mode": "DISABLE"}}   # as JSON gives it back, not int keys
    # A write by the other one is seen here (the bytes changed), and the reverse.
    other.delete([("PeerAuthentication", "foo", "one")])
    assert not [o for o in store.snapshot()[1] if o["kind"] == "PeerAuthentication"]
    assert store.generation == other.generation
    store.apply(load_documents(strict("foo")))
    assert other.snapshot() == store.snapshot()


def test_a_write_keeps_the_objects_it_left_alone(store):
    before = store.snapshot()[1]
    store.apply(load_documents(strict("foo", name="one", selector={"app": "httpbin"})))
    after = store.snapshot()[1]
    assert len(after) == len(before) + 1
    assert all(any(a is b for b in after) for a in before)   # nothing re-parsed
    # A changed object is a new one; the list handed out is the caller's own.
    after.clear()
    assert len(store.snapshot()[1]) == len(before) + 1


def test_build_model_reuses_only_what_unchanged_objects_built(store):
    first = build_model(store.snapshot()[1], 10)
    store.apply(load_documents(strict("foo", name="one", selector={"app": "httpbin"})))
    objects = store.snapshot()[1]
    second = build_model(objects, 10, previous=first)
    assert second == build_model(objects, 10)
    assert second.pods[0] is first.pods[0] and second.services[0] is first.services[0]
    # A Service changed: services rebuilt (pods kept); a pod changed: everything rebuilt.
    service = next(o for o in objects if o["kind"] == "Service")
    changed = json.loads(json.dumps(service))
    changed["spec"]["ports"][0]["port"] = 8080
    store.apply([changed], system=True)
    objects = store.snapshot()[1]
    third = build_model(objects, 10, previous=second)
    assert third == build_model(objects, 10) and third.services != second.services
    assert third.pods[0] is second.pods[0]
    pod = json.loads(json.dumps(next(o for o in objects if o["kind"] == "Pod")))
    pod["metadata"]["labels"]["extra"] = "yes"
    store.apply([pod], system=True)
    objects = store.snapshot()[1]
    fourth = build_model(objects, 10, previous=third)
    assert fourth == build_model(objects, 10) and fourth.pods[0] is not third.pods[0]
    assert fourth.pods[0].labels["extra"] == "yes"
