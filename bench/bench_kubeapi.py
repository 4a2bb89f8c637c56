"""The real kubectl against the local mesh's Kubernetes API: `kubectl get pods -A` and `kubectl apply -f`
of one PeerAuthentication (alternating STRICT/PERMISSIVE, so every apply is a real change), beside
`kubectl version --client` (the binary's own start, no API call) in the same run.
Median and p99 over 50 runs each, interleaved so load from others hits all three alike.
Target (issue 14): `get pods -A` within 2x kubectl's own start.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import save, summary, throwaway_lab

from labkit.samples import sample

RUNS = 50
KUBECTL = str(Path(sys.executable).parent / "kubectl")
POLICY = """apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: foo
spec:
  mtls:
    mode: {mode}
"""


def run(args: list[str], env: dict, stdin: str | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run([KUBECTL, *args], env=env, input=stdin, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)} failed: {done.stderr}")
    return elapsed


def main() -> None:
    with throwaway_lab(subnet=233) as lab:
        lab.apply({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": "foo", "labels": {"istio-injection": "enabled"}}})
        lab.apply(sample("httpbin"), namespace="foo")
        lab.apply(sample("curl"), namespace="foo")
        lab.wait_ready(timeout=60)
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "KUBECONFIG": str(lab.kubeconfig), "KUBECACHEDIR": cache}
            run(["get", "pods", "-A"], env)   # the first call fills kubectl's discovery cache, as a learner's does
            times: dict[str, list[float]] = {"version_client": [], "get_pods_all": [], "apply_policy": []}
            for index in range(RUNS):
                times["version_client"].append(run(["version", "--client"], env))
                times["get_pods_all"].append(run(["get", "pods", "-A"], env))
                mode = "STRICT" if index % 2 == 0 else "PERMISSIVE"
                times["apply_policy"].append(run(["apply", "-f", "-"], env, POLICY.format(mode=mode)))
    stats = {name: summary(values) for name, values in times.items()}
    ratio = stats["get_pods_all"]["median"] / stats["version_client"]["median"]
    for name, values in stats.items():
        print(f"{name:15s} median {values['median'] * 1000:6.1f} ms  p99 {values['p99'] * 1000:6.1f} ms  "
              f"(n={values['n']})")
    print(f"get pods -A / kubectl's own start: {ratio:.2f}x (target <= 2x)")
    path = save("kubeapi", {"runs": RUNS, "seconds": stats, "get_pods_over_start": ratio,
                            "target_get_pods_over_start": 2.0})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
