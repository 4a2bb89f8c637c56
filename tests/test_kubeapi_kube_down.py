"""`down()` undoes what labkit changed (issue 15, defect 8), on the local mesh's Kubernetes API: a value it took
over with force (a pre-existing istio-system PeerAuthentication's mode) comes back, labels changed with
`label_namespace` get their old values back, and an object another learner's labkit wrote is never taken."""
from __future__ import annotations

import pytest
from kubectl_support import kubectl

from labkit.errors import LabkitError

pytestmark = pytest.mark.envoy

MESH_PA = """apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: %s}}
"""
SHARED_SECRET = """apiVersion: v1
kind: Secret
metadata: {name: shared-credential, namespace: istio-system}
stringData: {owner: %s}
"""


def kube_lab(lab, **kwargs):
    from labkit.backends.kube import KubeLab
    return KubeLab(kubeconfig=str(lab.kubeconfig), poll_interval=0.2, **kwargs)


def test_down_restores_a_forced_field_and_changed_labels(lab, tmp_path):
    (tmp_path / "pa.yaml").write_text(MESH_PA % "STRICT")
    assert kubectl(lab, "apply", "-f", str(tmp_path / "pa.yaml")).exit == 0   # the admin's own policy
    assert kubectl(lab, "label", "namespace", "default", "team=blue").exit == 0
    learner = kube_lab(lab)
    try:
        assert [a.action for a in learner.apply(MESH_PA % "PERMISSIVE")] == ["configured"]
        learner.label_namespace("default", {"istio-injection": "enabled", "team": "red"})
        assert lab.get("PeerAuthentication", "default", "istio-system")[0]["spec"]["mtls"]["mode"] == "PERMISSIVE"
        assert lab.get("Namespace", "default")[0]["metadata"]["labels"]["team"] == "red"
        learner.down()
    finally:
        learner.close()
    pa = lab.get("PeerAuthentication", "default", "istio-system")[0]
    assert pa["spec"]["mtls"]["mode"] == "STRICT", "the mode labkit took with force is the admin's again"
    assert "labkit.dev/restore" not in (pa["metadata"].get("annotations") or {})
    labels = lab.get("Namespace", "default")[0]["metadata"].get("labels") or {}
    assert labels.get("team") == "blue" and "istio-injection" not in labels
    assert not any(k.startswith("labkit.dev/") or k == "app.kubernetes.io/managed-by" for k in labels), labels
    assert {(o.kind, o.action) for o in learner.cleaned} >= {("PeerAuthentication", "released"),
                                                             ("Namespace", "released")}
    kubectl(lab, "delete", "-f", str(tmp_path / "pa.yaml"))


def test_an_object_another_learner_wrote_is_not_taken(lab):
    alice = kube_lab(lab, namespace_prefix="alice", allow_mesh_wide=True)
    bob = kube_lab(lab, namespace_prefix="bob", allow_mesh_wide=True)
    try:
        alice.apply(SHARED_SECRET % "alice")
        with pytest.raises(LabkitError) as refused:
            bob.apply(SHARED_SECRET % "bob")
        assert "another learner (labkit.dev/owner=alice)" in str(refused.value)
        assert lab.get("Secret", "shared-credential", "istio-system")[0]["data"]["owner"] == "YWxpY2U="
        bob.down()
        assert lab.get("Secret", "shared-credential", "istio-system"), "bob's down() leaves alice's secret"
        alice.down()
        assert not lab.get("Secret", "shared-credential", "istio-system")
    finally:
        alice.close()
        bob.close()


def test_a_workshop_learner_does_not_exec_read_logs_or_restart_in_istio_system(lab):
    alice = kube_lab(lab, namespace_prefix="alice")
    own = kube_lab(lab, namespace_prefix="alice", allow_mesh_wide=True)
    try:
        for call in (lambda: alice.exec("istio-system", "istio-ingressgateway", ["true"]),
                     lambda: alice.logs("istio-system", "istiod"),
                     lambda: alice.restart("istio-system", "istio-ingressgateway")):
            with pytest.raises(LabkitError, match="shared namespace istio-system"):
                call()
        assert own.logs("istio-system", "istiod") is not None, "allowed on a cluster of one's own"
    finally:
        alice.close()
        own.close()
