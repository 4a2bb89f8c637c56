"""The Python kube backend (KubeLab, the kubernetes client) against the local mesh's Kubernetes API:
the same calls a learner's notebook makes on a cluster, here with real pods and real traffic."""
from __future__ import annotations

import pytest
from kubectl_support import DATA, kube_backend

pytestmark = pytest.mark.envoy


@pytest.fixture(scope="module")
def kube(lab):
    with kube_backend(lab) as client:
        yield client


def test_kube_backend_apply_pods_exec_logs_restart_wait(lab, kube):
    applied = kube.apply(DATA / "workloads.yaml")
    assert [(a.kind, a.name, a.action) for a in applied] == [
        ("Namespace", "foo", "created"), ("Service", "httpbin", "created"),
        ("Deployment", "httpbin", "created"), ("Deployment", "sleep", "created")]
    assert lab.get("Deployment", "httpbin", "foo"), "the local mesh sees what the kube backend wrote"
    kube.wait_ready("foo", timeout=60)
    pods = kube.pods("foo")
    assert sorted(pods["ready"]) == ["2/2", "2/2"] and set(pods["status"]) == {"Running"}
    ok = kube.exec("foo", "sleep", ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                    "http://httpbin.foo:8000/ip"])
    assert (ok.exit_code, ok.stdout) == (0, "200")
    assert kube.exec("foo", "sleep", ["sh", "-c", "exit 56"]).exit_code == 56
    assert kube.exec("foo", "sleep", ["curl", "-s", "http://nowhere.foo:8000/"]).exit_code == 6
    assert '"GET /ip HTTP/1.1" 200' in kube.logs("foo", "httpbin", tail=5)
    before = set(lab.pods("foo")["pod"])
    kube.restart("foo", "httpbin")
    kube.wait_ready("foo", timeout=60)
    after = set(kube.pods("foo")["pod"])
    assert len(after) == 2 and after != before, "rollout restart replaced the httpbin pod"
    kube.apply(DATA / "pa-strict.yaml")
    assert lab.get("PeerAuthentication", "default", "foo")[0]["spec"]["mtls"]["mode"] == "STRICT"
