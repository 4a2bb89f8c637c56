"""Convergence: a policy change → the first request that shows its new outcome, p50/p99 over 50 flips
each for PeerAuthentication (PERMISSIVE↔STRICT), DestinationRule (DISABLE towards STRICT) and
AuthorizationPolicy (ALLOW only foo). Also how long `lab.apply` itself takes (it returns once every
proxy reports the new version), and the same for meshes of growing size (see bench_scale.py).

Probes are fresh connections from the client pod's address (as its curl would make), so nothing
rides on a connection opened before the change.
"""
from __future__ import annotations

import time

from common import save, summary, throwaway_lab
from mesh_scenarios import deploy_migration, destination_rule, strict
from mesh_traffic import plain_request, pod_endpoint, raw_exchange

FLIPS = 50
OK = "HTTP/1.1 200 OK"
DR_DISABLE = destination_rule("httpbin-plain", "bar", "httpbin.foo.svc.cluster.local", "DISABLE")
ONLY_FOO = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: only-foo, namespace: foo}
spec:
  selector: {matchLabels: {app: httpbin}}
  rules: [{from: [{source: {namespaces: [foo]}}]}]
"""


def probe(lab, client_ns: str):
    endpoint = pod_endpoint(lab, client_ns, "curl", "httpbin.foo:8000")
    request = plain_request("httpbin.foo:8000")
    return lambda: raw_exchange(endpoint.ip, endpoint.port, request, source_ip=endpoint.source_ip)


def flips(lab, on, off, observe, outcome_on, outcome_off) -> dict:
    """Alternate on()/off(); per flip: apply duration and time until observe() shows the new outcome."""
    applied, observed, stale = [], [], 0
    for flip in range(FLIPS):
        change, want = (on, outcome_on) if flip % 2 == 0 else (off, outcome_off)
        start = time.perf_counter()
        change()
        applied.append(time.perf_counter() - start)
        # `lab.apply` promises the change is in force when it returns: count the times it was not.
        stale += not want(observe())
        while not want(observe()):
            if time.perf_counter() - start > 5:
                raise RuntimeError("change not observed within 5 s")
        observed.append(time.perf_counter() - start)
    return {"apply_ms": summary([a * 1000 for a in applied]), "observed_ms": summary([o * 1000 for o in observed]),
            "stale_after_apply": stale}


def measure(lab) -> dict:
    refused = lambda r: r in ("reset", "eof")  # noqa: E731
    results = {"peer_authentication": flips(
        lab, lambda: lab.apply(strict("foo")), lambda: lab.delete("PeerAuthentication", "default", namespace="foo"),
        probe(lab, "legacy"), refused, lambda r: r == OK)}
    lab.apply(strict("foo"))
    results["destination_rule"] = flips(
        lab, lambda: lab.apply(DR_DISABLE), lambda: lab.delete(DR_DISABLE), probe(lab, "bar"),
        lambda r: r.startswith("HTTP/1.1 503"), lambda r: r == OK)
    results["authorization_policy"] = flips(
        lab, lambda: lab.apply(ONLY_FOO), lambda: lab.delete(ONLY_FOO), probe(lab, "bar"),
        lambda r: r.startswith("HTTP/1.1 403"), lambda r: r == OK)
    lab.delete("PeerAuthentication", "default", namespace="foo")
    return results


def main() -> None:
    with throwaway_lab(240) as lab:
        deploy_migration(lab)
        result = measure(lab)
    path = save("convergence", {"flips": FLIPS, **result})
    print(f"policy change → first request with the new outcome, {FLIPS} flips each (ms):")
    print(f"   {'':22} {'apply p50':>9} {'apply p99':>9} {'seen p50':>9} {'seen p99':>9}  stale after apply")
    for name, stats in result.items():
        print(f"   {name:22} {stats['apply_ms']['p50']:9.1f} {stats['apply_ms']['p99']:9.1f} "
              f"{stats['observed_ms']['p50']:9.1f} {stats['observed_ms']['p99']:9.1f}  {stats['stale_after_apply']}")
    print(f"written {path}")


if __name__ == "__main__":
    main()
