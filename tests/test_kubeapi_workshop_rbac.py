"""A shared workshop cluster (issue 15, deliverable 3), tested on the local mesh's Kubernetes API with RBAC:
two learners, each with a client certificate (CN alice / bob, O labkit-learners) and the shipped learner
roles (deploy/workshop-rbac.yaml + `labkit workshop-rbac`), run a lab at once under their own prefix. Each
works in their own namespaces and cannot read or change the other's, and every refusal is a LabkitError
naming the missing permission."""
from __future__ import annotations

import json

import pytest
from kubectl_support import DATA, kubectl_binary

from labkit.errors import LabkitError
from labkit.kubeapi.kubeconfig import write_user_kubeconfig
from labkit.workshop_rbac import LEARNER_GROUP, workshop_yaml

pytestmark = pytest.mark.envoy


def as_user(kubeconfig, *args: str):
    import subprocess
    return subprocess.run([kubectl_binary(), "--kubeconfig", str(kubeconfig), *args], capture_output=True,
                          text=True, timeout=60)


@pytest.fixture(scope="module")
def learners(lab, tmp_path_factory):
    from labkit.backends.kube import KubeLab
    lab.apply(workshop_yaml(["alice", "bob"]))   # what the instructor applies as cluster admin
    folder = tmp_path_factory.mktemp("learners")
    configs = {name: write_user_kubeconfig(folder / name, lab.state_dir, name, LEARNER_GROUP)
               for name in ("alice", "bob")}
    labs = {name: KubeLab(kubeconfig=str(path), namespace_prefix=name, poll_interval=0.2)
            for name, path in configs.items()}
    for learner in labs.values():
        learner.apply(DATA / "workloads.yaml")
    for learner in labs.values():
        learner.wait_ready("foo", timeout=120)
    yield labs, configs
    for learner in labs.values():
        learner.close()


def test_each_learner_runs_the_lab_in_their_own_namespaces(lab, learners):
    labs, _ = learners
    for name, learner in labs.items():
        pods = learner.pods("foo")
        assert sorted(pods["ready"]) == ["2/2", "2/2"], name
        assert lab.get("Deployment", "httpbin", f"{name}-foo"), "the learner's objects live under their prefix"
        assert [d["metadata"]["namespace"] for d in learner.get("Deployment")] == ["foo", "foo"]
        # The lab's URL reaches the learner's own httpbin over mTLS; the SPIFFE ids read back in the lab's names.
        seen = learner.exec("foo", "sleep", ["curl", "-s", "http://httpbin.foo:8000/headers"])
        assert seen.exit_code == 0 and "spiffe://cluster.local/ns/foo/sa/" in seen.stdout, seen
        assert name not in seen.stdout
        log = lab.logs(f"{name}-foo", "httpbin", container="istio-proxy")
        assert f"httpbin.{name}-foo.svc.cluster.local" in log, "the request went to this learner's pod"


def test_a_learner_cannot_read_or_change_the_other_learners_namespaces(learners):
    from labkit.backends.kube import KubeLab
    labs, configs = learners
    denied = as_user(configs["alice"], "get", "pods", "-n", "bob-foo")
    assert denied.returncode == 1
    assert 'pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace ' \
           '"bob-foo"' in denied.stderr
    assert as_user(configs["alice"], "delete", "deploy", "httpbin", "-n", "bob-foo").returncode == 1
    # Nor see bob's traffic: his proxies' access logs and config are behind pods/log and pods/exec.
    logs = as_user(configs["alice"], "logs", "-n", "bob-foo", "deploy/httpbin", "-c", "istio-proxy")
    assert logs.returncode == 1 and "forbidden" in logs.stderr
    dump = as_user(configs["alice"], "exec", "-n", "bob-foo", "deploy/httpbin", "-c", "istio-proxy", "--",
                   "pilot-agent", "request", "GET", "config_dump")
    assert dump.returncode == 1 and "forbidden" in dump.stderr
    cani = as_user(configs["alice"], "auth", "can-i", "create", "pods/exec", "-n", "bob-foo")
    assert cani.stdout.strip() == "no", (cani.stdout, cani.stderr)
    assert as_user(configs["alice"], "auth", "can-i", "create", "pods/exec", "-n", "alice-foo").stdout.strip() == "yes"
    whoami = json.loads(as_user(configs["alice"], "auth", "whoami", "-o", "json").stdout)
    assert whoami["status"]["userInfo"]["username"] == "alice"
    assert LEARNER_GROUP in whoami["status"]["userInfo"]["groups"]
    # Through labkit, without a prefix (as if alice pointed her lab at bob's names): clear, named refusals.
    raw = KubeLab(kubeconfig=str(configs["alice"]), namespace_prefix="", poll_interval=0.2)
    try:
        with pytest.raises(LabkitError) as listing:
            raw.pods("bob-foo")
        assert 'cannot list resource "pods"' in str(listing.value) and "bob-foo" in str(listing.value)
        with pytest.raises(LabkitError) as execing:
            raw.exec("bob-foo", "sleep", ["true"])
        assert "bob-foo" in str(execing.value)
        with pytest.raises(LabkitError) as writing:
            raw.apply("apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, "
                      "namespace: bob-foo}\nspec: {mtls: {mode: DISABLE}}\n")
        assert 'cannot' in str(writing.value) and "peerauthentications" in str(writing.value)
    finally:
        raw.close()
    # The cluster's secrets stay out of reach: not even the mesh's CA.
    assert "forbidden" in as_user(configs["bob"], "get", "secrets", "-n", "istio-system").stderr
    # What the labs read outside the learner's namespaces is allowed, read-only.
    assert as_user(configs["bob"], "get", "svc", "istio-ingressgateway", "-n", "istio-system").returncode == 0
    assert as_user(configs["bob"], "get", "nodes").returncode == 0
    assert as_user(configs["bob"], "delete", "svc", "istio-ingressgateway", "-n", "istio-system").returncode == 1


def test_down_of_one_learner_leaves_the_other_alone(lab, learners):
    labs, _ = learners
    labs["alice"].down()
    assert not lab.get("Deployment", "httpbin", "alice-foo")
    assert lab.get("Deployment", "httpbin", "bob-foo"), "bob's lab is untouched"
    assert lab.get("Namespace", "alice-foo"), "the instructor's namespace stays (labkit did not create it)"
    assert sorted(labs["bob"].pods("foo")["ready"]) == ["2/2", "2/2"]


def test_doctor_checks_native_sidecars_and_permissions(lab, learners, tmp_path, monkeypatch):
    from labkit.doctor_kube import kube_doctor
    _, configs = learners
    by_check = lambda lines: {line["check"]: line for line in lines}  # noqa: E731
    admin = by_check(kube_doctor(kubeconfig=str(lab.kubeconfig)))
    assert admin["permissions"]["ok"], admin["permissions"]
    assert admin["native sidecars"]["ok"] and "native sidecar" in admin["native sidecars"]["detail"]
    monkeypatch.setenv("LABKIT_NAMESPACE_PREFIX", "alice")
    alice = by_check(kube_doctor(kubeconfig=str(configs["alice"])))
    assert alice["permissions"]["ok"], alice["permissions"]
    assert alice["native sidecars"]["ok"], alice["native sidecars"]
    # A user nobody bound to the learner role: every missing permission is named, with the RBAC to ask for.
    monkeypatch.setenv("LABKIT_NAMESPACE_PREFIX", "carol")
    stranger = write_user_kubeconfig(tmp_path / "carol", lab.state_dir, "carol")
    carol = by_check(kube_doctor(kubeconfig=str(stranger)))
    assert not carol["permissions"]["ok"]
    assert "create deployments.apps in carol-foo" in carol["permissions"]["detail"]
    assert "create pods/exec in carol-foo" in carol["permissions"]["detail"]
    assert "workshop-rbac" in carol["permissions"]["fix"]
    assert not carol["native sidecars"]["ok"] and "nodes" in carol["native sidecars"]["fix"]


def test_native_sidecar_check_fails_when_pods_do_not_have_the_shape_the_nodes_give():
    from types import SimpleNamespace

    from labkit.doctor_kube_access import native_sidecar_check

    def api_returning(nodes, pods):
        reply = lambda items: SimpleNamespace(data=json.dumps({"items": items}))  # noqa: E731
        core = SimpleNamespace(list_node=lambda **_: reply(nodes), list_namespaced_pod=lambda *_a, **_: reply(pods))
        return SimpleNamespace(CoreV1Api=lambda api: core)

    node = lambda v: {"status": {"nodeInfo": {"kubeletVersion": v}}}  # noqa: E731
    classic = {"metadata": {"name": "httpbin-1"}, "spec": {"containers": [{"name": "httpbin"}, {"name": "istio-proxy"}]}}
    native = {"metadata": {"name": "httpbin-2"}, "spec": {"containers": [{"name": "httpbin"}], "initContainers": [
        {"name": "istio-proxy", "restartPolicy": "Always"}]}}
    assert native_sidecar_check(api_returning([node("v1.34.1")], [native]), None, None)["ok"]
    assert native_sidecar_check(api_returning([node("v1.32.3")], [classic]), None, None)["ok"]
    wrong = native_sidecar_check(api_returning([node("v1.34.1")], [classic]), None, None)
    assert not wrong["ok"] and "httpbin-1 has a classic sidecar" in wrong["detail"]
    mixed = native_sidecar_check(api_returning([node("v1.34.1"), node("v1.32.0")], [native]), None, None)
    assert not mixed["ok"], "one older kubelet turns native sidecars off for new pods"


def test_workshop_rbac_command_prints_the_roles_and_each_learners_bindings(capsys):
    import yaml

    from labkit.cli import main
    assert main(["workshop-rbac", "alice", "bob"]) == 0
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    kinds = {(d["kind"], d["metadata"]["name"], d["metadata"].get("namespace")) for d in docs}
    assert ("ClusterRole", "labkit-learner", None) in kinds and ("Namespace", "bob-foo", None) in kinds
    assert ("RoleBinding", "labkit-learner-alice", "alice-foo") in kinds
    assert not any(d["kind"] == "Role" and "secrets" in str(d.get("rules")) for d in docs
                   if d["metadata"].get("namespace") == "istio-system"), "no secrets readable in istio-system"
