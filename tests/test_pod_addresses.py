"""Issue 21 item 1: a new pod does not take the address a deleted pod just had (CNI host-local IPAM hands
out the next free address after the last one it reserved), so old access-log lines never name a new pod."""
from __future__ import annotations

import yaml

from labkit.model.addressing import MAX_POD_INDEX
from labkit.model.deployments import AddressAllocator, reconcile_pods

NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "foo"}}


def deployment(name: str) -> dict:
    return yaml.safe_load(f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: foo}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec: {{containers: [{{name: {name}, image: docker.io/mccutchen/go-httpbin:v2.15.0}}]}}
""")


def index_of(pod: dict) -> int:
    return pod["status"]["index"]


def test_a_recreated_pod_gets_the_next_address_not_the_freed_one():
    addresses = AddressAllocator()
    first, _ = reconcile_pods([NAMESPACE, deployment("a"), deployment("b")], addresses=addresses)
    assert sorted(index_of(p) for p in first) == [2, 3]
    # "a" is deleted and created again (a new lab, a rollout): index 2 is free, but was just used.
    survivors = [p for p in first if p["metadata"]["labels"]["app"] == "b"]
    again, _ = reconcile_pods([NAMESPACE, deployment("a"), deployment("b"), *survivors], addresses=addresses)
    assert [index_of(p) for p in again] == [4]


def test_addresses_wrap_around_and_skip_those_in_use():
    addresses = AddressAllocator(last=MAX_POD_INDEX - 1)
    assert addresses.allocate({MAX_POD_INDEX}) == 2           # past the end, back to the start
    assert addresses.allocate({3, 4}) == 5
    assert AddressAllocator().allocate(set(range(2, MAX_POD_INDEX + 1))) is None


def test_without_an_allocator_the_lowest_free_addresses_are_used():
    pods, _ = reconcile_pods([NAMESPACE, deployment("a")])
    assert [index_of(p) for p in pods] == [2]
