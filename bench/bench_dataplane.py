"""Data plane: requests/s and p50/p90/p99 latency to httpbin /ip, in one run:

- direct: a pod without sidecar → httpbin without sidecar (pod IP, as kube-proxy would send it),
- sidecars: a sidecar'd client's outbound listener (127.S.P.3:8000, Host httpbin.foo:8000) → mTLS →
  httpbin's sidecar → httpbin,
- gateway HTTPS: TLS to the ingress gateway (SNI and Host gw.example.com) → mTLS → httpbin's sidecar.

wrk drives the first two when it is installed (the preflight installs Debian's `wrk` as root); the
Python client (threads + keep-alive http.client) measures all three for a same-tool comparison.
The httpbin app is the real Flask httpbin (a threaded Python server), which is the bottleneck under
20 clients on 2 cores; the single-connection run shows the latency the proxies themselves add.
"""
from __future__ import annotations

import ssl
import statistics

from common import ensure_wrk, run_python_load, run_wrk, save, throwaway_lab
from labkit import certs
from mesh_scenarios import deploy_migration
from mesh_traffic import gateway_endpoint, pod_endpoint

SECONDS, CONNECTIONS, PY_REQUESTS, ROUNDS = 4, 20, 3000, 3
GW_HOST = "gw.example.com"


def gateway_yaml() -> list:
    bundle = certs.make_server_cert(certs.make_ca("bench CA", key_type="ec"), GW_HOST, key_type="ec")
    gateway = {"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
               "metadata": {"name": "bench", "namespace": "istio-system"},
               "spec": {"selector": {"istio": "ingressgateway"}, "servers": [
                   {"port": {"number": 443, "name": "https", "protocol": "HTTPS"}, "hosts": [GW_HOST],
                    "tls": {"mode": "SIMPLE", "credentialName": "bench-cert"}}]}}
    route = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
             "metadata": {"name": "bench", "namespace": "foo"},
             "spec": {"hosts": [GW_HOST], "gateways": ["istio-system/bench"], "http": [
                 {"route": [{"destination": {"host": "httpbin.foo.svc.cluster.local", "port": {"number": 8000}}}]}]}}
    return [certs.tls_secret("bench-cert", "istio-system", bundle), gateway, route], bundle


def median_run(runs: list[dict]) -> dict:
    """Per metric, the median over rounds (and the spread of requests/s, to show the noise)."""
    out = {k: statistics.median(r[k] for r in runs) if isinstance(runs[0][k], (int, float)) else runs[0][k]
           for k in runs[0]}
    out["rps_rounds"] = [round(r["rps"]) for r in runs]
    return out


def main() -> None:
    wrk = ensure_wrk()
    with throwaway_lab(245) as lab:
        deploy_migration(lab)
        resources, bundle = gateway_yaml()
        lab.apply(resources)
        paths = {
            "direct": pod_endpoint(lab, "legacy", "curl", "httpbin.legacy:8000"),
            "sidecars_mtls": pod_endpoint(lab, "foo", "curl", "httpbin.foo:8000"),
            "gateway_https": gateway_endpoint(lab, 443, GW_HOST,
                                              ssl.create_default_context(cadata=bundle.ca_pem.decode())),
        }
        rounds: list[dict] = []
        for _ in range(ROUNDS):  # interleaved, so a busy moment on the machine hits every path alike
            runs: dict = {"python": {}, "wrk": {}, "python_1_connection": {}}
            for name, endpoint in paths.items():
                run_python_load(endpoint, total=300, concurrency=CONNECTIONS)  # warm connections and caches
                runs["python"][name] = run_python_load(endpoint, total=PY_REQUESTS, concurrency=CONNECTIONS)
                # Unloaded latency: what the hops add, without the app's own queueing under 20 clients.
                runs["python_1_connection"][name] = run_python_load(endpoint, total=1000, concurrency=1)
                if wrk and endpoint.tls is None:
                    runs["wrk"][name] = run_wrk(f"http://{endpoint.ip}:{endpoint.port}/ip", host=endpoint.host,
                                                seconds=SECONDS, connections=CONNECTIONS)
            rounds.append(runs)
    result = {tool: {name: median_run([r[tool][name] for r in rounds]) for name in rounds[0][tool]}
              for tool in rounds[0]}
    for tool, runs in result.items():
        if "direct" in runs and "sidecars_mtls" in runs:
            direct, mesh = runs["direct"], runs["sidecars_mtls"]
            runs["ratio_sidecars_to_direct"] = {"rps": mesh["rps"] / direct["rps"],
                                                **{k: mesh[k] / direct[k] for k in ("p50_ms", "p90_ms", "p99_ms")}}
    path = save("dataplane", {"connections": CONNECTIONS, **result})
    print(f"httpbin /ip, {CONNECTIONS} concurrent keep-alive connections (python_1_connection: one):")
    print(f"   {'tool':6} {'path':15} {'req/s':>8} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'errors':>6}")
    for tool, runs in result.items():
        for name, r in runs.items():
            if name.startswith("ratio"):
                print(f"   {tool:6} {'sidecars/direct':15} {r['rps']:8.2f} {r['p50_ms']:7.2f} {r['p90_ms']:7.2f} "
                      f"{r['p99_ms']:7.2f}")
            else:
                print(f"   {tool:6} {name:15} {r['rps']:8.0f} {r.get('p50_ms', 0):7.2f} {r.get('p90_ms', 0):7.2f} "
                      f"{r.get('p99_ms', 0):7.2f} {r['errors']:6}")
    print(f"written {path}")


if __name__ == "__main__":
    main()
