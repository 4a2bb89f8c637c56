"""A sync starts new pods' Envoys and apps while it translates (labkit/runtime/mesh_runtime.py): when the
translation fails midway, nothing it started is left running, and the next sync starts those pods afresh."""
from __future__ import annotations

import psutil
import pytest

from labkit.errors import LabkitError
from labkit.runtime import mesh_runtime

pytestmark = pytest.mark.envoy
NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata: {name: early, labels: {istio-injection: enabled}}\n"


def deployment(name: str) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "early"},
            "spec": {"selector": {"matchLabels": {"app": name}}, "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": 80}]}]}}}}


def processes_in(directory) -> list[psutil.Process]:
    """Live processes working in (apps) or configured from (Envoys) a pod's folder."""
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if str(directory) in proc.cwd() or str(directory) in " ".join(proc.cmdline()):
                if proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def test_a_failed_sync_leaves_no_new_process_and_the_next_starts_them(lab, monkeypatch):
    lab.apply(NAMESPACE)
    real = mesh_runtime.build_proxy_config
    started = []

    def broken(model, pod, paths, gateway):
        if pod.namespace == "early" and pod.name.startswith("second"):
            # By now the new pods' Envoys and the first pod's app have been started.
            started.extend(r.directory for r in lab.runtime.pods.values() if r.pod.namespace == "early")
            raise LabkitError("translation failed on purpose")
        return real(model, pod, paths, gateway)
    monkeypatch.setattr(mesh_runtime, "build_proxy_config", broken)
    try:
        with pytest.raises(LabkitError, match="on purpose"):
            lab.apply([deployment("first"), deployment("second")])
        assert len(set(started)) == 2
        # Under the runtime's lock no sync is under way (the owner's control loop may retry the failed one
        # meanwhile, which fails and cleans up the same way).
        with lab.runtime.lock:
            assert not [r for r in lab.runtime.pods.values() if r.pod.namespace == "early"]
            assert not [(p.pid, p.cmdline()) for d in set(started) for p in processes_in(d)]
    finally:
        monkeypatch.setattr(mesh_runtime, "build_proxy_config", real)
    lab.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: nudge, namespace: early}\ndata: {a: b}\n")
    lab.wait_ready("early", timeout=60)
    pods = lab.pods("early")
    assert list(pods["ready"]) == ["2/2", "2/2"] and list(pods["status"]) == ["Running", "Running"]
    assert all(processes_in(r.directory) for r in lab.runtime.pods.values() if r.pod.namespace == "early")



BURST = "apiVersion: v1\nkind: Namespace\nmetadata: {name: burst, labels: {istio-injection: enabled}}\n"


def burst_workload(name: str) -> list[dict]:
    deploy = deployment(name)
    deploy["metadata"]["namespace"] = "burst"
    return [deploy, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "burst"},
                     "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": 80}]}}]


def test_a_start_pushes_each_proxy_once(lab):
    """Pods started together are each sent their config once (one response per type), not again as the
    others appear and become ready: state of the world resends whole types, so that would be O(N²) work
    across the mesh at start (bench/README.md, "are the Envoys sent the same config again?")."""
    import time
    lab.apply(BURST)
    control_plane = lab.runtime.control_plane
    control_plane.push_log.clear()
    lab.apply([obj for i in range(4) for obj in burst_workload(f"web{i}")])
    lab.wait_ready("burst", timeout=60)
    time.sleep(1.0)   # a push caused by readiness would come about now
    pushed = [node for node, _ in control_plane.push_log]
    burst = [r for r in lab.runtime.pods.values() if r.pod.namespace == "burst"]
    assert len(burst) == 4 and {r.envoy.node_id for r in burst} <= set(pushed)
    assert sorted(pushed) == sorted(set(pushed)), f"pushed more than once: {pushed}"
    for runtime in burst:
        stats = runtime.envoy.stats(r"^(cluster_manager\.cds|listener_manager\.lds)\.update_(success|rejected)$")
        assert stats == {"cluster_manager.cds.update_success": 1, "cluster_manager.cds.update_rejected": 0,
                         "listener_manager.lds.update_success": 1, "listener_manager.lds.update_rejected": 0}
