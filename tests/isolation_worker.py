"""One learner's mesh, as a notebook kernel would run it: used by tests/test_isolation.py and the workshop bench.

Starts (owns) a mesh in LABKIT_STATE_DIR with whatever subnet and ports labkit claims, deploys httpbin and
curl in `foo` (sidecars), httpbin behind the ingress gateway and on a NodePort, waits until ready, prints
one JSON line (where everything ended up, or the LabkitError), then keeps the mesh until stdin closes.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from mesh_scenarios import HTTPBIN_GATEWAY   # httpbin.foo behind the ingress gateway (HTTPBIN_GATEWAY_HOST)

WORKLOAD = """
apiVersion: v1
kind: Namespace
metadata: {name: foo, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Service
metadata: {name: httpbin-nodeport, namespace: foo}
spec:
  type: NodePort
  selector: {app: httpbin}
  ports: [{name: http, port: 8000, targetPort: 8080}]
---
"""
WORKLOAD += HTTPBIN_GATEWAY


def python_for_user(uid: int, gid: int) -> tuple[str, dict] | None:
    """A Python with labkit that user `uid` may run, and the environment it needs: this venv's, or (when the
    venv's base interpreter sits in a folder only root can enter, as under /root/.pyenv) the system Python of
    the same version on this venv's packages. On a hub the environment lives in a shared prefix
    (/opt/tljh/user) and the first one works. None when neither does."""
    import site
    paths = os.pathsep.join([*site.getsitepackages(), str(Path(__file__).resolve().parents[1])])
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for python, env in ((sys.executable, {}), (f"/usr/bin/{version}", {"PYTHONPATH": paths})):
        try:
            probe = subprocess.run([python, "-c", "import labkit, cryptography, psutil"], user=uid, group=gid,
                                   extra_groups=[], capture_output=True, cwd="/",
                                   env={"PATH": os.environ["PATH"], **env})
        except OSError:
            continue
        if probe.returncode == 0:
            return python, env
    return None


def main() -> int:
    import labkit
    from labkit.errors import LabkitError
    from labkit.samples import sample
    started = time.monotonic()
    try:
        lab = labkit.connect()
        lab.apply(WORKLOAD)
        lab.apply(sample("httpbin"), namespace="foo")
        lab.apply(sample("curl"), namespace="foo")
        lab.wait_ready(timeout=120)
    except LabkitError as exc:
        print(json.dumps({"error": str(exc)}), flush=True)
        return 1
    pods = lab.pods()
    print(json.dumps({
        "state_dir": str(lab.state_dir), "subnet": lab.settings.subnet, "cold_start_s": time.monotonic() - started,
        "gateway_http": lab.gateway_url(80), "gateway_https": lab.gateway_url(443),
        "node_url": lab.node_url("foo", "httpbin-nodeport"), "pod_ips": sorted(pods["ip"]),
    }), flush=True)
    sys.stdin.read()  # until the test (or bench) lets go
    lab.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
