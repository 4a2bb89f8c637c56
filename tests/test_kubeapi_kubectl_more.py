"""The real kubectl against the local API: ReplicaSets, `kubectl explain`, `kubectl port-forward`,
ServiceEntries. Expected shapes come from kubectl's printers and a cluster's answers."""
from __future__ import annotations

import json

import pytest
from kubectl_support import kubectl, normalise

pytestmark = pytest.mark.envoy


@pytest.fixture(scope="module")
def mesh(lab):
    run = kubectl(lab, "apply", "-f", "workloads.yaml")
    assert run.exit == 0, run.stderr
    ready = kubectl(lab, "wait", "--for=condition=Available", "deployment", "--all", "-n", "foo", "--timeout=60s")
    assert ready.exit == 0, ready.stderr
    return lab


def check(run, exit: int, stdout: str = "", stderr: str = "") -> None:
    assert (run.exit, normalise(run.stdout), normalise(run.stderr)) == (exit, normalise(stdout), normalise(stderr))


def test_deployments_own_replica_sets_which_own_pods(mesh):
    rs = kubectl(mesh, "get", "rs", "-n", "foo")
    assert rs.exit == 0, rs.stderr
    lines = [line.split() for line in rs.stdout.splitlines()]
    assert lines[0] == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
    assert [row[0].rsplit("-", 1)[0] for row in lines[1:]] == ["httpbin", "sleep"]
    assert all(row[1:4] == ["1", "1", "1"] for row in lines[1:])
    # The chain as the controllers write it: Pod → ReplicaSet → Deployment, by uid.
    pod = json.loads(kubectl(mesh, "get", "pods", "-n", "foo", "-l", "app=httpbin", "-o", "json").stdout)["items"][0]
    owner = pod["metadata"]["ownerReferences"][0]
    thash = pod["metadata"]["labels"]["pod-template-hash"]
    assert owner["kind"] == "ReplicaSet" and owner["name"] == f"httpbin-{thash}"
    replica_set = json.loads(kubectl(mesh, "get", "rs", owner["name"], "-n", "foo", "-o", "json").stdout)
    assert replica_set["metadata"]["uid"] == owner["uid"]
    assert replica_set["spec"]["selector"]["matchLabels"] == {"app": "httpbin", "pod-template-hash": thash}
    deployment = json.loads(kubectl(mesh, "get", "deploy", "httpbin", "-n", "foo", "-o", "json").stdout)
    rs_owner = replica_set["metadata"]["ownerReferences"][0]
    assert (rs_owner["kind"], rs_owner["name"], rs_owner["uid"], rs_owner["controller"]) == \
        ("Deployment", "httpbin", deployment["metadata"]["uid"], True)
    # kubectl describe deployment finds its ReplicaSet by the owner uid.
    described = kubectl(mesh, "describe", "deploy", "httpbin", "-n", "foo").stdout
    assert f"NewReplicaSet:   httpbin-{thash} (1/1 replicas created)" in described
    # ReplicaSets belong to the deployment controller.
    refused = kubectl(mesh, "delete", "rs", owner["name"], "-n", "foo")
    assert refused.exit == 1 and "MethodNotAllowed" in refused.stderr


def test_rollout_restart_makes_a_new_replica_set(mesh):
    before = kubectl(mesh, "get", "rs", "-n", "foo", "-l", "app=sleep", "-o", "name").stdout.split()
    assert kubectl(mesh, "rollout", "restart", "deployment/sleep", "-n", "foo").exit == 0
    status = kubectl(mesh, "rollout", "status", "deployment/sleep", "-n", "foo", "--timeout=60s")
    assert status.exit == 0, status.stderr
    after = kubectl(mesh, "get", "rs", "-n", "foo", "-l", "app=sleep", "-o", "name").stdout.split()
    assert len(after) >= 1 and after[0] not in before
    check(kubectl(mesh, "get", after[0], "-n", "foo", "-o", "jsonpath={.spec.replicas}/{.status.readyReplicas}"),
          0, "1/1")
