"""The analyzer: every message on a setup that triggers it and on a fixed one that does not; output and CLI."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from labkit import certs
from labkit.tools.analyze import analyze_documents, analyze_objects

from mesh_scenarios import strict
from mesh_scenarios import destination_rule as dr
from tools_fixtures import GATEWAY, GATEWAY_VS, SUBNET, docs, migration, with_pods

CA = certs.make_ca("example.com", days=30, key_type="ec")
SERVER = certs.make_server_cert(CA, "httpbin.example.com", ["httpbin.example.com"], days=30, key_type="ec")
EXPIRED = certs.make_expired_client_cert(CA, "httpbin.example.com", key_type="ec")


def secret(name: str, namespace: str, bundle=SERVER) -> str:
    return yaml.safe_dump(certs.tls_secret(name, namespace, bundle))


def https_gateway(credential: str = "httpbin-credential", mode: str = "SIMPLE") -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: mygateway, namespace: foo}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 443, name: https, protocol: HTTPS}}
    hosts: ["httpbin.example.com"]
    tls: {{mode: {mode}, credentialName: {credential}}}
"""


def mesh_vs(destination: str, subset: str = "") -> str:
    sub = f", subset: {subset}" if subset else ""
    return f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: httpbin, namespace: foo}}
spec:
  hosts: [httpbin]
  http: [{{route: [{{destination: {{host: {destination}{sub}}}}}]}}]
"""


def policy(name: str, namespace: str, selector: str, namespaces: str = "[foo]") -> str:
    return f"""
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  selector: {{matchLabels: {{{selector}}}}}
  rules: [{{from: [{{source: {{namespaces: {namespaces}}}}}]}}]
"""


WEB_WITHOUT_SIDECAR = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: legacy}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: curlimages/curl
        env: [{name: BACKEND_URL, value: "http://httpbin.foo:8000/ip"}]
"""
SECOND_GATEWAY = GATEWAY.replace("name: mygateway", "name: other")
PORT_TLS = "  trafficPolicy:\n    portLevelSettings:\n    - {{port: {{number: 8000}}, tls: {{mode: {}}}}}\n"
SUBSET_V = "  subsets:\n  - {{name: v1, labels: {{version: {}}}}}\n"

# code → (resources that trigger it, the same setup fixed, text the message must contain)
# istio.io's SNI passthrough nginx: its Service port has no name, so Istio sniffs it (IST0118, Info).
UNNAMED_PORT = ("apiVersion: v1\nkind: Service\nmetadata: {name: my-nginx, namespace: foo}\n"
                "spec:\n  selector: {run: my-nginx}\n  ports:\n  - {port: 443, protocol: TCP}\n")

CASES = {
    "gateway not found": ("IST0101", [mesh_vs("httpbin").replace("http:", 'gateways: ["nope"]\n  http:')],
                          [GATEWAY, GATEWAY_VS], 'Referenced gateway not found: "nope"'),
    "host not found": ("IST0101", [mesh_vs("nothere")], [mesh_vs("httpbin")], 'Referenced host not found: "nothere"'),
    "subset not found": ("IST0101", [mesh_vs("httpbin", "v1")],
                         [mesh_vs("httpbin", "v1"), dr("httpbin", "foo", "httpbin", None, SUBSET_V.format("v1"))],
                         'host+subset in destinationrule not found: "httpbin+v1"'),
    # The classic mistake: the secret next to the Gateway resource instead of the gateway pod (istio-system).
    "credential not found": ("IST0101", [https_gateway(), secret("httpbin-credential", "foo")],
                             [https_gateway(), secret("httpbin-credential", "istio-system")],
                             'Referenced credentialName not found: "httpbin-credential"'),
    "gateway selector": ("IST0101", [GATEWAY.replace("istio: ingressgateway", "istio: nope")], [GATEWAY],
                         'Referenced selector not found: "istio=nope"'),
    "authz namespace": ("IST0101", [policy("p", "foo", "app: httpbin", "[nope]")], [policy("p", "foo", "app: httpbin")],
                        'Referenced namespace not found: "nope"'),
    "namespace not injected": ("IST0102", [], ["apiVersion: v1\nkind: Namespace\nmetadata: {name: legacy, labels: "
                                               "{istio-injection: disabled}}\n"],
                               "kubectl label namespace legacy istio-injection=enabled"),
    "port name without protocol": ("IST0118", [UNNAMED_PORT], [UNNAMED_PORT.replace("- {port: 443", "- {name: https, port: 443")],
                                   "Port name  (port: 443, targetPort: 443) doesn't follow the naming convention"),
    "no matching workloads": ("IST0127", [policy("p", "foo", "app: nope")],
                              [policy("p", "foo", "app: httpbin"), policy("q", "istio-system", "app: httpbin")],
                              "No matching workloads for this resource with the following labels: app=nope"),
    "no ca destination level": ("IST0128", [dr("tls", "foo", "httpbin.bar.svc.cluster.local", "SIMPLE")],
                                [dr("tls", "foo", "httpbin.bar.svc.cluster.local", "SIMPLE").replace(
                                    "mode: SIMPLE", "mode: SIMPLE, caCertificates: /etc/certs/ca.pem")],
                                "has TLS mode set to SIMPLE but no caCertificates"),
    "no ca port level": ("IST0129",
                         # MUTUAL without the client's certificate and key is refused by Istio's webhook itself.
                         [dr("tls", "foo", "httpbin.bar.svc.cluster.local", extra=PORT_TLS.format(
                             "MUTUAL, clientCertificate: /etc/certs/cert.pem, privateKey: /etc/certs/key.pem"))],
                         [dr("tls", "foo", "httpbin.bar.svc.cluster.local", extra=PORT_TLS.format("ISTIO_MUTUAL"))],
                         "at port 8000"),
    "vs host not in gateway": ("IST0132", [GATEWAY, GATEWAY_VS.replace('["httpbin.example.com"]',
                                                                        '["other.example.com"]')],
                               [GATEWAY.replace('"httpbin.example.com"', '"*.example.com"'), GATEWAY_VS],
                               "one or more host [other.example.com] defined in VirtualService foo/httpbin not found "
                               "in Gateway istio-system/mygateway."),
    "conflicting gateways": ("IST0145", [GATEWAY, SECOND_GATEWAY],
                             [GATEWAY, SECOND_GATEWAY.replace("httpbin.example.com", "helloworld.example.com")],
                             "Conflict with gateways istio-system/other (workload selector istio=ingressgateway, "
                             "port 80, hosts httpbin.example.com)."),
    "invalid credential": ("IST0161", [https_gateway(), secret("httpbin-credential", "istio-system", EXPIRED)],
                           [https_gateway(), secret("httpbin-credential", "istio-system")],
                           "is invalid, which can cause the traffic not to work as expected: the certificate expired"),
    "mutual without ca": ("IST0161", [https_gateway(mode="MUTUAL"), secret("httpbin-credential", "istio-system")],
                          [https_gateway(mode="MUTUAL"), secret("httpbin-credential", "istio-system"),
                           yaml.safe_dump(certs.cacert_secret("httpbin-credential", "istio-system", CA.cert_pem))],
                          "MUTUAL needs a CA"),
    "gateway port not on service": ("IST0162", [GATEWAY.replace("number: 80", "number: 8888")], [GATEWAY],
                                    "target port (port 8888) that is not defined in the Service"),
    "subset selects no pods": ("IST0173", [dr("httpbin", "foo", "httpbin", None, SUBSET_V.format("v9"))],
                               [dr("httpbin", "foo", "httpbin", None, SUBSET_V.format("v1"))],
                               "The Subset v1 defined in the DestinationRule does not select any pods"),
    "unknown dr host": ("IST0174", [dr("ghost", "foo", "nothere", "ISTIO_MUTUAL")],
                        [dr("ghost", "foo", "httpbin", "ISTIO_MUTUAL")],
                        'DestinationRule for non-existent service registry host "nothere"'),
    "strict with sidecarless caller": ("LAB0002", [WEB_WITHOUT_SIDECAR, strict("foo")],
                                       [WEB_WITHOUT_SIDECAR, strict("foo", name="httpbin", selector={"app": "httpbin"},
                                                                    port_level={8080: "PERMISSIVE"})],
                                       "legacy/web (named in its configuration)"),
    "dr conflicts with server": ("LAB0003",
                                 [strict("foo"), dr("plain", "bar", "httpbin.foo.svc.cluster.local", "DISABLE")],
                                 [dr("plain", "bar", "httpbin.foo.svc.cluster.local", "DISABLE")],
                                 "DestinationRule plain.bar (DISABLE) applies to clients (bar/curl, bar/httpbin) "
                                 "calling httpbin.foo.svc.cluster.local:8000 (foo/httpbin: STRICT, default.foo): "
                                 "the client sends plaintext; STRICT accepts only mTLS and resets the connection; "
                                 "expect 503"),
    "ignored peer authentication": ("LAB0004", [strict("istio-system", name="root", selector={"app": "httpbin"})],
                                    [strict("istio-system", name="root")], "a policy with a selector in the root "
                                                                           "namespace is ignored"),
    "selector matches nothing": ("LAB0005", [strict("foo", name="p", selector={"app": "nope"})],
                                 [strict("foo", name="p", selector={"app": "httpbin"})],
                                 "The selector app=nope matches no workload in namespace foo"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_message_triggers_and_fixed_setup_is_clean(case):
    code, broken, fixed, text = CASES[case]
    report = analyze_documents(migration(*broken))
    matching = [m for m in report.by_code(code) if text in m.text]
    assert matching, f"{code} not raised with {text!r}:\n{report}"
    if code.startswith("LAB"):
        assert matching[0].origin == "labkit" and "not an istioctl code" in matching[0].text
    clean = analyze_documents(migration(*fixed))
    assert not [m for m in clean.by_code(code) if text.split(":")[0] in m.text], str(clean)


def test_a_sound_setup_has_only_the_legacy_namespace_info():
    report = analyze_documents(migration(GATEWAY, GATEWAY_VS))
    assert [(m.code, m.name) for m in report] == [("IST0102", "legacy")]
    assert report.exit_code == 0


def _live_after_labelling(label_first: bool) -> list[dict]:
    """Pods made before (or after) `legacy` was labelled for injection, as a running mesh would hold them."""
    objects = migration()
    namespace = next(o for o in objects if o["kind"] == "Namespace" and o["metadata"]["name"] == "legacy")
    if label_first:
        namespace["metadata"]["labels"] = {"istio-injection": "enabled"}
    objects = with_pods(objects)
    namespace["metadata"]["labels"] = {"istio-injection": "enabled"}
    return objects


def test_pods_created_before_injection_was_enabled_need_a_restart():
    report = analyze_objects(_live_after_labelling(label_first=False), subnet=SUBNET)
    assert {m.name.split("-")[0] for m in report.by_code("IST0103")} == {"curl", "httpbin"}
    restart = report.by_code("LAB0001")
    assert {m.name for m in restart} == {"curl", "httpbin"} and restart[0].kind == "Deployment"
    assert "kubectl rollout restart deployment/curl -n legacy" in str(report)
    fixed = analyze_objects(_live_after_labelling(label_first=True), subnet=SUBNET)
    assert not fixed.by_code("IST0103") and not fixed.by_code("LAB0001") and "IST0102" not in fixed


def test_files_never_report_pod_state():
    objects = _live_after_labelling(label_first=False)
    assert not analyze_objects(objects, subnet=SUBNET, live=False).by_code("IST0103")


def test_strict_with_a_sidecarless_caller_seen_in_the_logs():
    objects = with_pods(migration(strict("foo")))
    seen = [{"source": "legacy/curl", "destination": "foo/httpbin", "mtls": False}]
    report = analyze_objects(objects, subnet=SUBNET, observed=seen)
    assert "legacy/curl (observed in the access logs)" in report.by_code("LAB0002")[0].text
    assert not analyze_objects(objects, subnet=SUBNET, observed=[{**seen[0], "source": "bar/curl"}]).by_code("LAB0002")


def test_schema_errors_are_ist0106_and_do_not_stop_the_analysis():
    bad = {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
           "metadata": {"name": "bad", "namespace": "foo"}, "spec": {"host": "httpbin", "tls": {}}}
    report = analyze_documents(migration() + [bad] + docs(mesh_vs("nothere")))
    assert "Schema validation error: unknown field 'tls'" in report.by_code("IST0106")[0].text
    assert "IST0101" in report and report.exit_code == 1


def test_text_output_is_istioctl_style_and_sorted_by_severity():
    report = analyze_documents(migration(mesh_vs("nothere")))
    lines = str(report).splitlines()
    assert lines[0] == 'Error [IST0101] (VirtualService foo/httpbin) Referenced host not found: "nothere"'
    assert lines[-1].startswith("Info [IST0102] (Namespace legacy)")
    assert str(analyze_documents([])) == "\u2714 No validation issues found."
    assert list(report.frame.columns) == ["level", "code", "analyzer", "origin", "resource", "message"]


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "labkit.cli", *args], capture_output=True, text=True, timeout=60)


def test_cli_analyze_files_exit_code_and_json(tmp_path):
    broken, fixed = tmp_path / "broken.yaml", tmp_path / "fixed"
    broken.write_text(mesh_vs("nothere"))
    fixed.mkdir()
    (fixed / "vs.yaml").write_text(mesh_vs("httpbin.foo.svc.cluster.local"))
    (fixed / "svc.yaml").write_text("apiVersion: v1\nkind: Service\nmetadata: {name: httpbin, namespace: foo}\n"
                                    "spec: {selector: {app: httpbin}, ports: [{name: http, port: 8000}]}\n")
    out = run_cli("analyze", "-f", str(broken))
    assert out.returncode == 1
    assert 'Error [IST0101] (VirtualService foo/httpbin) Referenced host not found' in out.stdout
    out = run_cli("analyze", "-f", str(fixed), "-o", "json")
    assert out.returncode == 0 and json.loads(out.stdout) == []
    both = run_cli("analyze", "-f", str(fixed), str(broken))
    assert both.returncode == 1 and both.stdout.count("IST0101") == 1
    missing = run_cli("analyze", "-f", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "file not found" in missing.stderr
    no_mesh = run_cli("analyze", "--state-dir", str(tmp_path / "nothing"))
    assert no_mesh.returncode == 2 and "no local mesh state" in no_mesh.stderr
    assert not (tmp_path / "nothing").exists()
