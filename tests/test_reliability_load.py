"""2,000 requests through the gateway and the sidecars, 20 at a time, while policies flip under them.

What must hold: no Envoy crashes or restarts, no request hangs past its timeout, and every request
that ran entirely while one policy was in force got the outcome that policy promises. Requests that
overlap a change may see either side of it, but nothing else.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from mesh_scenarios import HTTPBIN_GATEWAY, HTTPBIN_GATEWAY_HOST, deploy_migration, strict
from mesh_traffic import gateway_endpoint, pod_endpoint, run_load

pytestmark = pytest.mark.envoy
TOTAL, CONCURRENCY, TIMEOUT = 2000, 20, 5.0
REFUSED = {"reset", "eof"}

ONLY_FOO_AND_GATEWAY = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: only-foo-and-gateway, namespace: foo}
spec:
  selector: {matchLabels: {app: httpbin}}
  action: ALLOW
  rules:
  - from:
    - source:
        principals:
        - cluster.local/ns/foo/sa/curl
        - cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account
"""
# Each phase: the change that enters it, and what each client must see while it is in force.
PHASES = {
    "permissive": {"foo": {200}, "bar": {200}, "legacy": {200}, "gateway": {200}},
    "strict": {"foo": {200}, "bar": {200}, "legacy": REFUSED, "gateway": {200}},
    "strict+authz": {"foo": {200}, "bar": {403}, "legacy": REFUSED, "gateway": {200}},
}
CYCLE = ["strict", "strict+authz", "strict", "permissive"]


@pytest.fixture(scope="module")
def mesh(lab):
    deploy_migration(lab)
    lab.apply(HTTPBIN_GATEWAY)
    return lab


def enter(lab, current: str, target: str) -> None:
    if (current, target) == ("permissive", "strict"):
        lab.apply(strict("foo"))
    elif (current, target) == ("strict", "strict+authz"):
        lab.apply(ONLY_FOO_AND_GATEWAY)
    elif (current, target) == ("strict+authz", "strict"):
        lab.delete(ONLY_FOO_AND_GATEWAY)
    elif (current, target) == ("strict", "permissive"):
        lab.delete("PeerAuthentication", "default", namespace="foo")


def flip_until(lab, stop: threading.Event, windows: list, dwell: float = 0.08) -> None:
    """Cycle the policies; windows get (phase, in force from, in force until)."""
    phase, since = "permissive", time.monotonic()
    step = 0
    while not stop.wait(dwell):
        target = CYCLE[step % len(CYCLE)]
        changing = time.monotonic()
        windows.append((phase, since, changing))
        enter(lab, phase, target)  # returns once every proxy reports the new config
        phase, since, step = target, time.monotonic(), step + 1
    windows.append((phase, since, time.monotonic()))


def test_policies_flipping_under_load(mesh):
    clients = {
        "foo": pod_endpoint(mesh, "foo", "curl", "httpbin.foo:8000"),        # client sidecar → server sidecar
        "bar": pod_endpoint(mesh, "bar", "curl", "httpbin.foo:8000"),
        "legacy": pod_endpoint(mesh, "legacy", "curl", "httpbin.foo:8000"),  # plaintext, no client sidecar
        "gateway": gateway_endpoint(mesh, 80, HTTPBIN_GATEWAY_HOST),
    }
    proxies = {uid: r.envoy.process.pid for uid, r in mesh.runtime.pods.items() if r.envoy}
    stop, windows = threading.Event(), []
    flipper = threading.Thread(target=flip_until, args=(mesh, stop, windows), daemon=True)
    share = CONCURRENCY // len(clients)
    flipper.start()
    try:
        with ThreadPoolExecutor(max_workers=len(clients)) as pool:
            futures = {name: pool.submit(run_load, endpoint, "/ip", total=TOTAL // len(clients), concurrency=share,
                                         timeout=TIMEOUT, fresh_connections=(name == "legacy"))
                       for name, endpoint in clients.items()}
            results = {name: future.result() for name, future in futures.items()}
    finally:
        stop.set()
        flipper.join(timeout=30)
    try:
        assert sum(len(r.samples) for r in results.values()) == TOTAL
        assert {uid: r.envoy.process.pid for uid, r in mesh.runtime.pods.items() if r.envoy} == proxies
        assert mesh.pods().restarts.sum() == 0
        for name, result in results.items():
            assert "timeout" not in result.counts and result.slowest < TIMEOUT + 0.5, (name, result.counts)
        seen = {phase: 0 for phase in PHASES}
        wrong = []
        for name, result in results.items():
            allowed_anywhere = set().union(*(PHASES[p][name] for p in PHASES))
            for sample in result.samples:
                inside = [phase for phase, begin, end in windows if begin <= sample.start and sample.end <= end]
                if inside:
                    seen[inside[0]] += 1
                    if sample.result not in PHASES[inside[0]][name]:
                        wrong.append((name, inside[0], sample.result))
                elif sample.result not in allowed_anywhere:
                    wrong.append((name, "during a change", sample.result))
        assert not wrong, wrong[:20]
        assert len(windows) > len(CYCLE) and all(seen.values()), (len(windows), seen)  # every change ran
    finally:
        mesh.delete(ONLY_FOO_AND_GATEWAY, ignore_missing=True)
        mesh.delete("PeerAuthentication", "default", namespace="foo", ignore_missing=True)
