"""The instructor view on a shared cluster (issue 17): learners on the kube backend with a namespace prefix
publish their progress as a ConfigMap in their own namespace, the instructor reads every prefix's from the
cluster. Run against the local mesh's Kubernetes API with the real kubernetes client (and the real kubectl)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest

from labkit import classroom, progress
from labkit.backends.kube_progress import CONFIGMAP, DATA_KEY, cluster_class
from labkit.labs import lab_info

pytestmark = pytest.mark.envoy

LAB01, LAB03 = (lab_info(i).steps for i in ("01", "03"))


@pytest.fixture(scope="module")
def instructor(lab):
    """What the workshop's instructor does first: each learner's namespaces exist (the learner Role cannot
    create namespaces), here the one the progress ConfigMap lives in."""
    from kubernetes import client

    from labkit.backends.kube_client import load_api_client
    api = load_api_client(kubeconfig=str(lab.kubeconfig))
    core = client.CoreV1Api(api)
    for learner in ("alice", "bob"):
        core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"{learner}-default"}})
    yield core
    api.close()


def learner(lab, prefix: str):
    from labkit.backends.kube import KubeLab
    return KubeLab(kubeconfig=str(lab.kubeconfig), namespace_prefix=prefix, poll_interval=0.2)


@pytest.fixture
def class_of_two(lab, instructor, tmp_path, monkeypatch):
    """alice in lab 03 with two steps done; bob in lab 01, failing the same check three times."""
    monkeypatch.delenv("LABKIT_CLASS_DIR", raising=False)   # no class folder: the cluster is the only board
    monkeypatch.setenv("LABKIT_STATE_DIR", str(tmp_path / "state"))
    alice, bob = learner(lab, "alice"), learner(lab, "bob")
    progress.started(alice, "03")
    for title in LAB03[:2]:
        progress.record(alice, "03", title, True)
    progress.started(bob, "01")
    progress.record(bob, "01", LAB01[0], True)
    for _ in range(3):
        progress.record(bob, "01", LAB01[1], False)
    yield alice, bob
    alice.close()
    bob.close()
    for name in ("alice", "bob"):
        instructor.delete_namespaced_config_map(CONFIGMAP, f"{name}-default")


def test_two_learner_prefixes_one_stuck_read_from_the_cluster(lab, instructor, class_of_two):
    records = cluster_class(kubeconfig=str(lab.kubeconfig))
    assert [(r["learner"], r["namespace"]) for r in records] == [("alice", "alice-default"), ("bob", "bob-default")]
    frame = classroom.class_table(records)
    assert frame.loc["alice", "lab"] == "03" and frame.loc["alice", "step"] == LAB03[2]
    assert frame.loc["alice", "checks passed"] == f"2/{len(LAB03)}" and frame.loc["alice", "stuck"] == ""
    assert frame.loc["bob", "stuck"] == f"failed 3× in a row: {LAB01[1]}"
    # One prefix only, as an instructor with a big class would ask.
    assert [r["learner"] for r in cluster_class(kubeconfig=str(lab.kubeconfig), prefixes=["bob-"])] == ["bob"]
    # What is on the cluster is a plain ConfigMap in the learner's namespace, as kubectl shows it.
    stored = instructor.read_namespaced_config_map(CONFIGMAP, "alice-default")
    assert json.loads(stored.data[DATA_KEY])["learner"] == "alice"
    shown = subprocess.run(["kubectl", "get", "configmaps", "-A", "-l", "labkit.dev/progress=true", "-o", "name"],
                           capture_output=True, text=True, timeout=60,
                           env={**os.environ, "KUBECONFIG": str(lab.kubeconfig),
                                "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]})
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split() == [f"configmap/{CONFIGMAP}", f"configmap/{CONFIGMAP}"]


def test_cli_reads_the_cluster(lab, class_of_two):
    out = subprocess.run([sys.executable, "-m", "labkit.cli", "class", "--cluster", "--kubeconfig",
                          str(lab.kubeconfig)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("2 learners, 1 stuck: bob"), out.stdout
    only = subprocess.run([sys.executable, "-m", "labkit.cli", "class", "--cluster", "--kubeconfig",
                           str(lab.kubeconfig), "--prefix", "alice", "--json"], capture_output=True, text=True,
                          timeout=60)
    assert only.returncode == 0, only.stderr
    assert [r["learner"] for r in json.loads(only.stdout)] == ["alice"]


def test_concurrent_kernels_of_one_learner_lose_no_check(lab, class_of_two):
    # Two notebooks of alice publish at once: Kubernetes' 409 on a stale resourceVersion makes each retry.
    alice = class_of_two[0]
    titles = [f"probe {kernel}-{i}" for kernel in "ab" for i in range(6)]

    def kernel(mine: list[str]) -> None:
        for title in mine:
            classroom.publish_check(alice, "03", title, True)
    threads = [threading.Thread(target=kernel, args=(titles[:6],)), threading.Thread(target=kernel, args=(titles[6:],))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    record = next(r for r in cluster_class(kubeconfig=str(lab.kubeconfig)) if r["learner"] == "alice")
    assert set(titles) <= set(record["steps"]["03"]), sorted(record["steps"]["03"])


def test_a_learner_whose_namespace_is_missing_gets_one_warning_and_the_check_goes_on(lab, class_of_two, capsys):
    carol = learner(lab, "carol")    # the instructor forgot carol: no carol-default namespace
    try:
        for _ in range(2):
            progress.record(carol, "01", LAB01[0], True)
    finally:
        carol.close()
    warned = capsys.readouterr().err
    assert warned.count("could not publish progress") == 1 and "carol-default" in warned
    assert "carol" not in [r["learner"] for r in cluster_class(kubeconfig=str(lab.kubeconfig))]


def test_without_a_prefix_nothing_is_published(lab):
    solo = learner(lab, "")
    try:
        assert solo.class_board() is None
    finally:
        solo.close()
