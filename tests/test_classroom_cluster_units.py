"""The shared-cluster progress board without a cluster: what it makes of odd ConfigMaps, and how it gives up
(Kubernetes' answers faked at the client's API, the one the real board calls)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from kubernetes.client import V1ConfigMap, V1ConfigMapList, V1ObjectMeta
from kubernetes.client.exceptions import ApiException

from labkit.backends.kube_prefix import NamespaceMap
from labkit.backends.kube_progress import CONFIGMAP, DATA_KEY, WRITE_ATTEMPTS, ClusterBoard, read_cluster_class
from labkit.classroom import check_change
from labkit.errors import LabkitError


def configmap(namespace: str, learner: str | None, data: str, name: str = CONFIGMAP) -> V1ConfigMap:
    labels = {"labkit.dev/progress": "true", **({"labkit.dev/learner": learner} if learner else {})}
    return V1ConfigMap(metadata=V1ObjectMeta(name=name, namespace=namespace, labels=labels, resource_version="7"),
                       data={DATA_KEY: data})


class FakeCore:
    def __init__(self, items=(), read=None, write_status=None):
        self.items, self.stored, self.write_status, self.writes = list(items), read, write_status, 0

    def list_config_map_for_all_namespaces(self, label_selector):
        assert label_selector == "labkit.dev/progress=true"
        return V1ConfigMapList(items=self.items)

    def read_namespaced_config_map(self, name, namespace):
        if self.stored is None:
            raise ApiException(status=404, reason="Not Found")
        return self.stored

    def _write(self, *args):
        self.writes += 1
        if self.write_status:
            raise ApiException(status=self.write_status, reason="Conflict" if self.write_status == 409 else "x")

    create_namespaced_config_map = replace_namespaced_config_map = _write


def test_records_read_from_configmaps_malformed_ones_reported_others_ignored():
    good = json.dumps({"learner": "alice", "lab": "03", "steps": {"03": {}}})
    core = FakeCore([configmap("alice-default", "alice", good), configmap("bob-default", "bob", "{not json"),
                     configmap("carol-default", "carol", good, name="something-else")])
    records = read_cluster_class(core)
    assert [(r["learner"], r["namespace"]) for r in records] == [("alice", "alice-default"), ("bob", "bob-default")]
    assert records[0]["lab"] == "03" and "error" not in records[0]
    assert records[1]["error"].startswith("unreadable")
    assert [r["learner"] for r in read_cluster_class(core, prefixes=["bob-"])] == ["bob"]


def test_a_board_that_keeps_meeting_newer_writes_gives_up_with_an_error():
    stored = configmap("alice-default", "alice", json.dumps({"learner": "alice", "steps": {}}))
    core = FakeCore(read=stored, write_status=409)
    with pytest.raises(LabkitError, match="met newer ones"):
        ClusterBoard(core, NamespaceMap("alice")).update(check_change("03", "step", True))
    assert core.writes == WRITE_ATTEMPTS


def test_a_missing_namespace_is_named_with_what_to_do():
    core = FakeCore(read=None, write_status=404)
    with pytest.raises(LabkitError, match="namespace alice-default does not exist") as raised:
        ClusterBoard(core, NamespaceMap("alice")).update(check_change("03", "step", True))
    assert "workshop-rbac" in str(raised.value.hint)


def test_cli_without_a_cluster_says_so():
    out = subprocess.run([sys.executable, "-m", "labkit.cli", "class", "--cluster", "--kubeconfig",
                          "/nonexistent/kubeconfig"], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "no usable Kubernetes cluster configuration" in out.stderr, out
