"""Kubernetes Events of the local mesh's pods (`kubectl get events`, the Events of `kubectl describe pod`):
the reasons, messages and sources a cluster's scheduler, ReplicaSet controller and kubelet record."""
from __future__ import annotations

import pytest
from kubectl_support import kubectl

from labkit.kubeapi.events import EventLog

POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "httpbin-abc-xyz", "namespace": "foo", "uid": "u1",
                    "ownerReferences": [{"kind": "ReplicaSet", "name": "httpbin-abc", "controller": True}]},
       "spec": {"initContainers": [{"name": "istio-init", "image": "docker.io/istio/proxyv2:1.28.0"},
                                   {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.28.0",
                                    "restartPolicy": "Always"}],
                "containers": [{"name": "httpbin", "image": "docker.io/mccutchen/go-httpbin:v2.15.0"}]}}


def row(**containers) -> dict:
    return {"namespace": "foo", "pod": "httpbin-abc-xyz",
            "containers": [{"name": n, "ready": s == "running", "restarts": r, "state": s, "message": m}
                           for n, (s, r, m) in containers.items()]}


def reasons(log: EventLog) -> list[tuple[str, str, str]]:
    return [(e["involvedObject"]["kind"], e["reason"], e["message"]) for e in log.list("foo")]


def test_a_pod_is_scheduled_created_and_started_then_killed():
    log, lookup = EventLog(), lambda namespace, name: POD
    log.observe([row(httpbin=("waiting", 0, ""), **{"istio-proxy": ("waiting", 0, "")})], lookup)
    assert reasons(log) == [("Pod", "Scheduled", "Successfully assigned foo/httpbin-abc-xyz to labkit-local"),
                            ("ReplicaSet", "SuccessfulCreate", "Created pod: httpbin-abc-xyz")]
    running = row(httpbin=("running", 0, ""), **{"istio-proxy": ("running", 0, "")})
    log.observe([running], lookup)
    log.observe([running], lookup)                          # nothing new happened: nothing recorded
    started = [r for r in reasons(log) if r[1] == "Started"]
    assert started == [("Pod", "Started", "Started container istio-init"),
                       ("Pod", "Started", "Started container istio-proxy"),
                       ("Pod", "Started", "Started container httpbin")]
    assert ("Pod", "Pulled", 'Container image "docker.io/mccutchen/go-httpbin:v2.15.0" already present on machine') \
        in reasons(log)
    log.observe([], lookup)
    assert reasons(log)[-2:] == [("Pod", "Killing", "Stopping container httpbin"),
                                 ("ReplicaSet", "SuccessfulDelete", "Deleted pod: httpbin-abc-xyz")]


def test_a_missing_secret_is_a_counted_failed_mount_warning_and_a_crash_loop_backs_off():
    log, lookup = EventLog(), lambda namespace, name: POD
    waiting = row(httpbin=("ContainerCreating", 0, 'MountVolume.SetUp failed for volume "tls" : secret "x" not found'))
    log.observe([waiting], lookup)
    log.observe([waiting], lookup)
    mount = [e for e in log.list("foo") if e["reason"] == "FailedMount"]
    assert len(mount) == 1 and mount[0]["type"] == "Warning" and mount[0]["count"] == 2
    log.observe([row(httpbin=("CrashLoopBackOff", 2, ""))], lookup)
    backoff = [e for e in log.list("foo") if e["reason"] == "BackOff"]
    assert backoff and backoff[0]["message"] == \
        "Back-off restarting failed container httpbin in pod httpbin-abc-xyz_foo(u1)"
    assert log.list("bar") == []


@pytest.mark.envoy
def test_kubectl_get_events_and_describe_show_them(lab):
    assert kubectl(lab, "apply", "-f", "workloads.yaml").exit == 0
    assert kubectl(lab, "wait", "--for=condition=Available", "deployment", "--all", "-n", "foo",
                   "--timeout=60s").exit == 0
    events = kubectl(lab, "get", "events", "-n", "foo")
    assert events.exit == 0 and events.stdout.split("\n")[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT",
                                                                        "MESSAGE"], events
    assert "Scheduled" in events.stdout and "Started container httpbin" in events.stdout
    pod = kubectl(lab, "get", "pods", "-n", "foo", "-l", "app=httpbin", "-o", "name").stdout.strip()
    described = kubectl(lab, "describe", pod, "-n", "foo")
    assert "Events:" in described.stdout and "Successfully assigned foo/" in described.stdout, described.stdout
