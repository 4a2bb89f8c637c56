"""The tools on any backend through the public Lab API only (get, pods, exec, logs), as on a cluster.

A fake Lab answers like a cluster would: real pod IPs (not the local mesh's loopback plan),
`pilot-agent request GET config_dump` in the istio-proxy container, and Istio's JSON access log
(which has no TLS fields: mTLS then shows through the SNI)."""
from __future__ import annotations

import base64
import json

import pandas as pd
import pytest

from labkit.backends.base import ExecResult, LabBase
from labkit.certs import MeshCA
from labkit.errors import LabkitError
from labkit.tools.access import ToolAccess

from mesh_scenarios import strict
from tools_fixtures import migration, with_pods


class ClusterLikeLab(LabBase):
    backend = "fake-cluster"

    def __init__(self, objects: list[dict], dump: dict, logs: dict[str, str]):
        self.objects, self.dump, self.log_text = objects, dump, logs
        pods = [o for o in objects if o["kind"] == "Pod"]
        self.ips = {f"{p['metadata']['namespace']}/{p['metadata']['name']}": f"10.244.0.{i + 10}"
                    for i, p in enumerate(pods)}
        self.commands: list[list[str]] = []

    def pod_name(self, namespace: str, app: str) -> str:
        return next(o["metadata"]["name"] for o in self.objects if o["kind"] == "Pod"
                    and o["metadata"]["namespace"] == namespace and o["metadata"]["labels"].get("app") == app)

    def get(self, kind, name=None, namespace=None):
        if kind == "ConfigMap":
            raise LabkitError("the server doesn't have a resource type configmaps")
        return [o for o in self.objects if o["kind"] == kind and (namespace is None or o["metadata"].get("namespace")
                                                                  == namespace)]

    def pods(self, namespace=None):
        return pd.DataFrame([{"namespace": key.split("/")[0], "pod": key.split("/")[1], "ip": ip}
                             for key, ip in self.ips.items()])

    def exec(self, namespace, target, command, *, container=None, timeout=30):
        self.commands.append([container, *command])
        return ExecResult(0, json.dumps(self.dump), "", command)

    def logs(self, namespace, target, container=None, tail=None):
        return self.log_text.get(f"{namespace}/{target}", "")

    def apply(self, source, namespace=None): raise NotImplementedError
    def delete(self, source, name=None, namespace=None, *, ignore_missing=False): raise NotImplementedError
    def wait_ready(self, namespace=None, timeout=60): raise NotImplementedError
    def restart(self, namespace, target): raise NotImplementedError
    def gateway_url(self, port=80, scheme=None): raise NotImplementedError
    def down(self, keep=False): raise NotImplementedError
    def reset(self, resources=None): raise NotImplementedError
    def label_namespace(self, namespace, labels): raise NotImplementedError
    def environment(self): return []
    def proxy_status(self, namespace=None, *, verbose=False): raise NotImplementedError
    def ensure_running(self): pass
    running = True


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    ca = MeshCA.load_or_create(tmp_path_factory.mktemp("ca"))
    leaf = ca.issue("spiffe://cluster.local/ns/foo/sa/httpbin", hours=24)
    dump = {"configs": [{"@type": "type.googleapis.com/envoy.admin.v3.SecretsConfigDump", "dynamic_active_secrets": [
        {"name": "default", "secret": {"name": "default", "tls_certificate": {
            "certificate_chain": {"inline_bytes": base64.b64encode(leaf.cert_pem).decode()}}}},
        {"name": "ROOTCA", "secret": {"name": "ROOTCA", "validation_context": {
            "trusted_ca": {"inline_string": ca.root_pem.decode()}}}}]}]}
    lab = ClusterLikeLab(with_pods(migration(strict("foo"))), dump, {})

    def line(source_ns: str, sni: str | None) -> str:
        return json.dumps({"start_time": "2030-01-01T00:00:00.000Z", "method": "GET", "path": "/ip",
                           "response_code": 200, "upstream_cluster": "inbound|8080||",
                           "downstream_remote_address": lab.ips[f"{source_ns}/{lab.pod_name(source_ns, 'curl')}"]
                           + ":4242", "requested_server_name": sni})
    lab.log_text[f"foo/{lab.pod_name('foo', 'httpbin')}"] = "\n".join(
        [line("bar", "outbound_.8000_._.httpbin.foo.svc.cluster.local"), line("legacy", None)])
    return lab


def test_a_backend_without_its_own_access_gets_the_generic_one(cluster):
    assert type(cluster.mesh_access()) is ToolAccess


def test_describe_and_certs_read_the_proxy_through_pilot_agent(cluster):
    found = cluster.describe("foo", "httpbin")
    assert found.mtls_mode == "STRICT" and found.certificate["spiffe_id"] == "spiffe://cluster.local/ns/foo/sa/httpbin"
    assert cluster.commands[-1] == ["istio-proxy", "pilot-agent", "request", "GET", "config_dump"]
    table = cluster.certs("foo", "httpbin")
    assert table[table.role == "leaf"].chain.iloc[0] == "ok"


def test_evidence_maps_cluster_ips_and_reads_istio_json(cluster):
    seen = cluster.evidence()
    assert {(e["source"], e["mtls"]) for e in seen.edges.to_dict("records")} == {("bar/curl", True),
                                                                                ("legacy/curl", False)}
    # Drawn as Kiali would: legacy's curl has no sidecar, so foo's sidecar alone saw it and names it `unknown`.
    assert cluster.graph().edge_set == {("bar/curl", "foo/httpbin"), ("unknown", "foo/httpbin")}


def test_tls_status_and_analyze_from_the_clusters_resources(cluster):
    table = cluster.tls_status(client="legacy/curl", service="httpbin.foo")
    assert list(table.status) == ["CONFLICT"]
    assert "LAB0002" in cluster.analyze()   # legacy/curl was seen calling foo/httpbin, which is now STRICT
