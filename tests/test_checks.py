"""Every check passes on a right state and fails, with a hint naming the cause, on a wrong one.

Against a real local mesh (real Envoy, real curl): the checks judge behaviour, so only real traffic
can show they do. Each test leaves the migration setup (foo, bar with sidecars; legacy without) as
it found it.
"""
from __future__ import annotations

import pytest

from labkit import checks
from check_helpers import fails, hints, passes, remove_all
from mesh_scenarios import destination_rule, strict

pytestmark = pytest.mark.envoy
LEARNER_KINDS = ("PeerAuthentication", "DestinationRule", "AuthorizationPolicy", "Gateway", "VirtualService")
BASE_NAMESPACES = {"foo", "bar", "legacy"}


@pytest.fixture(scope="module")
def mesh(lab):
    lab.reset_lab("02")
    return lab


@pytest.fixture
def m(mesh):
    """The migration setup, with whatever a test added removed afterwards."""
    yield mesh
    remove_all(mesh, LEARNER_KINDS)
    for ns in mesh.get("Namespace"):
        if ns["metadata"]["name"] not in BASE_NAMESPACES:
            mesh.delete("Namespace", ns["metadata"]["name"], ignore_missing=True)


# -- environment and injection ------------------------------------------------------------------------
def test_environment(m):
    passes(checks.environment, m)


def test_environment_fails_when_the_mesh_is_gone():
    class Gone:
        backend, running, owner = "local", False, False

        def environment(self):
            return []
    assert "labkit.connect()" in hints(checks.environment, Gone())


def test_namespace_injected_and_its_hints(m):
    passes(checks.namespace_injected, m, "foo")
    passes(checks.namespace_injected, m, "legacy", enabled=False)
    assert "kubectl label namespace legacy istio-injection=enabled" in hints(checks.namespace_injected, m, "legacy")
    assert "does not exist" in hints(checks.namespace_injected, m, "nowhere")
    m.apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: typo, labels: {istio-injection: enable}}\n")
    assert "exactly 'enabled'" in hints(checks.namespace_injected, m, "typo")


def test_pods_have_sidecars_needs_a_restart_after_labelling(m):
    from labkit.samples import sample
    passes(checks.pods_have_sidecars, m, "foo")
    passes(checks.pods_have_sidecars, m, "legacy", expected=False)
    m.apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: late}\n")
    m.apply(sample("httpbin"), namespace="late")
    m.wait_ready("late")
    assert "not labelled" in hints(checks.pods_have_sidecars, m, "late")
    m.label_namespace("late", {"istio-injection": "enabled"})
    hint = hints(checks.pods_have_sidecars, m, "late")
    assert "created before the label" in hint and "rollout restart deployment/httpbin -n late" in hint
    m.restart("late", "httpbin")
    m.wait_ready("late")
    passes(checks.pods_have_sidecars, m, "late")
    assert "labelled for injection" in hints(checks.pods_have_sidecars, m, "late", expected=False)


def test_deployed_names_the_namespace_it_went_to(m):
    passes(checks.deployed, m, "foo")
    m.apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: empty}\n")
    assert "in namespace bar, foo, legacy, not empty" in hints(checks.deployed, m, "empty", apps=("httpbin",))


# -- PeerAuthentication --------------------------------------------------------------------------------
def test_strict_enforced(m):
    assert "no PeerAuthentication with mode STRICT applies to foo" in hints(checks.strict_enforced, m, "foo")
    passes(checks.permissive, m, "foo")
    m.apply(strict("foo"))
    passes(checks.strict_enforced, m, "foo")
    assert "STRICT" in hints(checks.permissive, m, "foo")


def test_strict_in_the_wrong_namespace(m):
    m.apply(strict("default"))
    assert "is in namespace default, not foo" in hints(checks.strict_enforced, m, "foo")


def test_strict_with_a_selector_that_matches_no_pod(m):
    m.apply(strict("foo", name="httpbin", selector={"app": "httpbn"}))
    hint = hints(checks.strict_enforced, m, "foo")
    assert "matches no pod in foo" in hint and "app=httpbin" in hint


def test_root_namespace_policy_with_selector_is_ignored(m):
    m.apply(strict("istio-system", name="scoped", selector={"app": "httpbin"}))
    assert "istiod ignores it" in hints(checks.strict_enforced, m, "foo")


def test_mesh_wide_mode(m):
    m.apply(strict("foo", mode="PERMISSIVE"))
    assert "covers its own namespace only" in hints(checks.mesh_wide_mode, m, "PERMISSIVE")
    m.apply(strict("istio-system", mode="PERMISSIVE"))
    passes(checks.mesh_wide_mode, m, "PERMISSIVE")
    fails(checks.mesh_wide_mode, m, "STRICT")


def test_port_exception_is_keyed_by_the_container_port(m):
    m.apply(strict("istio-system"))
    m.apply(strict("bar", name="httpbin", selector={"app": "httpbin"}, port_level={8000: "PERMISSIVE"}))
    assert "must be the container port 8080" in hints(checks.port_exception, m, "bar")
    m.apply(strict("bar", name="httpbin", selector={"app": "httpbin"}, port_level={8080: "PERMISSIVE"}))
    passes(checks.port_exception, m, "bar")


def test_traffic_matrix(m):
    passes(checks.traffic_matrix_matches, m)
    m.apply(strict("foo"))
    result = fails(checks.traffic_matrix_matches, m)
    assert [item.label for item in result.failures] == ["curl.legacy → httpbin.foo"]
    assert "policies: default.foo" in result.failures[0].hint
    passes(checks.traffic_matrix_matches, m, {("legacy", "foo"): "reset"})
    assert checks.traffic_matrix_matches.title(m, {("legacy", "foo"): "reset"}) == \
        "traffic matrix: legacy → foo reset; the rest 200"


def test_mtls_hop(m):
    passes(checks.mtls_hop, m, "foo", "bar")
    passes(checks.mtls_hop, m, "legacy", "bar", mtls=False)
    assert "has no sidecar, so it sends plaintext" in hints(checks.mtls_hop, m, "legacy", "bar")
    assert "has no sidecar to terminate mTLS" in hints(checks.mtls_hop, m, "foo", "legacy")
    fails(checks.mtls_hop, m, "foo", "bar", mtls=False)
    # Lab 02's PeerAuthentication DISABLE: auto mTLS reads the server's mode and sends plaintext (istio
    # pilot/pkg/networking/core/cluster_tls.go: no TLS when the service's mTLS mode is DISABLE).
    m.apply(strict("bar", mode="DISABLE"))
    passes(checks.mtls_hop, m, "foo", "bar", mtls=False)
    passes(checks.responds, m, "foo", "httpbin.bar", path="/ip")


# -- DestinationRule -------------------------------------------------------------------------------------

def dr(namespace: str, host: str, mode: str, name: str = "httpbin") -> str:
    return destination_rule(name, namespace, host, mode)


def test_dr_mode_disable(m):
    assert "no DestinationRule" in hints(checks.dr_mode, m, "foo", "httpbin.bar", "DISABLE")
    m.apply(dr("foo", "httpbin", "DISABLE"))  # a short host resolves in the rule's namespace: httpbin.foo
    assert "means httpbin.foo.svc.cluster.local" in hints(checks.dr_mode, m, "foo", "httpbin.bar", "DISABLE")
    m.apply(dr("bar", "httpbin.bar.svc.cluster.local", "DISABLE"))
    passes(checks.dr_mode, m, "foo", "httpbin.bar", "DISABLE")
    m.apply(strict("bar"))
    passes(checks.dr_mode, m, "foo", "httpbin.bar", "DISABLE")  # the STRICT server refuses it: 503
    passes(checks.responds, m, "foo", "httpbin.bar", expect=503, path="/ip")
    assert "sets tls mode DISABLE" in hints(checks.responds, m, "foo", "httpbin.bar", path="/ip")


def pinned_dr(*sans: str) -> str:
    listed = ", ".join(f'"{s}"' for s in sans)
    return (destination_rule("httpbin", "bar", "httpbin.bar.svc.cluster.local")
            + f"  trafficPolicy:\n    tls: {{mode: ISTIO_MUTUAL, subjectAltNames: [{listed}]}}\n")


def test_server_identity_pinned_secure_naming(m):
    """Secure naming: the client accepts only the listed server identities; a wrong one fails the handshake."""
    assert "ISTIO_MUTUAL" in hints(checks.server_identity_pinned, m, "foo", "httpbin.bar")   # auto mTLS: nothing pinned
    m.apply(pinned_dr("spiffe://cluster.local/ns/bar/sa/somebody-else"))
    failed = fails(checks.server_identity_pinned, m, "foo", "httpbin.bar")
    assert [i.label for i in failed.failures] == ["the server's certificate carries one of them",
                                                   "the request is answered over mTLS"], failed.report()
    assert "serviceAccountName" in failed.failures[0].hint
    passes(checks.responds, m, "foo", "httpbin.bar", expect=503, path="/ip")   # the client refuses the server
    m.apply(pinned_dr("cluster.local/ns/bar/sa/httpbin"))                        # without the scheme, as Istio allows
    passes(checks.server_identity_pinned, m, "foo", "httpbin.bar")


def test_dr_istio_mutual_towards_a_pod_without_sidecar(m):
    passes(checks.responds, m, "foo", "httpbin.legacy", path="/ip")
    m.apply(dr("legacy", "httpbin.legacy.svc.cluster.local", "ISTIO_MUTUAL"))
    assert "has no sidecar to answer mTLS" in hints(checks.responds, m, "foo", "httpbin.legacy", path="/ip")
    passes(checks.responds, m, "foo", "httpbin.legacy", expect=503, path="/ip")


def test_dr_simple_hints_at_a_secret_name_mismatch(m, tmp_path):
    from labkit import certs
    ca = certs.make_ca("test CA")
    server = certs.make_server_cert(ca, "secure.legacy.svc.cluster.local")
    # The sidecar's CA from a Secret in the client's namespace (credentialName with a workloadSelector), as
    # on a cluster: a file on this machine is nothing a sidecar could read.
    m.apply(certs.cacert_secret("secure-ca", "foo", ca.cert_pem))
    m.apply(certs.tls_secret("secure-cert", "legacy", server))  # the deployment asks for "secure-tls"
    m.apply(f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: secure, namespace: legacy}}
spec:
  selector: {{matchLabels: {{app: secure}}}}
  template:
    metadata: {{labels: {{app: secure}}}}
    spec:
      containers:
      - name: httpbin
        image: docker.io/mccutchen/go-httpbin:v2.15.0
        args: [-https-cert-file, /etc/tls/tls.crt, -https-key-file, /etc/tls/tls.key]
        ports: [{{containerPort: 8080}}]
        volumeMounts: [{{name: tls, mountPath: /etc/tls}}]
      volumes:
      - {{name: tls, secret: {{secretName: secure-tls}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: secure, namespace: legacy}}
spec:
  selector: {{app: secure}}
  ports: [{{name: http, port: 8443, targetPort: 8080}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: secure, namespace: foo}}
spec:
  host: secure.legacy.svc.cluster.local
  workloadSelector: {{matchLabels: {{app: curl}}}}
  trafficPolicy: {{tls: {{mode: SIMPLE, credentialName: secure-ca}}}}
""")
    try:
        # The pod waits in ContainerCreating for its Secret, as the kubelet keeps it.
        assert "mounts secret 'secure-tls'" in hints(checks.dr_mode, m, "foo", "secure.legacy:8443", "SIMPLE")
        m.apply(certs.tls_secret("secure-tls", "legacy", server))
        m.wait_ready("legacy")   # the kubelet starts the container once the Secret exists
        passes(checks.dr_mode, m, "foo", "secure.legacy:8443", "SIMPLE")
        # `secure.legacy` (what curl accepts) has a dot: istiod takes it as written, so the rule applies to
        # nothing and the sidecar sends plaintext to the TLS server (issue 21, lab 07's SIMPLE exercise).
        m.apply(destination_rule_for_host("secure", "foo", "secure.legacy"))
        hint = hints(checks.dr_mode, m, "foo", "secure.legacy:8443", "SIMPLE")
        assert "'secure.legacy'" in hint and "taken as written" in hint and "secure.legacy.svc.cluster.local" in hint
    finally:
        m.delete("Deployment", "secure", namespace="legacy")
        m.delete("Service", "secure", namespace="legacy")
        m.delete("Secret", "secure-cert", namespace="legacy")
        m.delete("Secret", "secure-tls", namespace="legacy", ignore_missing=True)
        m.delete("Secret", "secure-ca-cacert", namespace="foo", ignore_missing=True)
        m.delete("DestinationRule", "secure", namespace="foo", ignore_missing=True)


def destination_rule_for_host(name: str, namespace: str, host: str) -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  host: {host}
  workloadSelector: {{matchLabels: {{app: curl}}}}
  trafficPolicy: {{tls: {{mode: SIMPLE, credentialName: secure-ca}}}}
"""


def test_responds_with_body(m):
    passes(checks.responds, m, "legacy", "httpbin.foo", path="/headers", contains="curl/")
    result = fails(checks.responds, m, "legacy", "httpbin.foo", path="/headers", contains="no such text")
    assert [i.label for i in result.failures] == ["the response shows 'no such text'"]


def test_missing_client_is_a_failed_item_not_an_exception(m):
    m.apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: noclient}\n")
    assert 'lab.apply(samples.sample("curl"), namespace="noclient")' in hints(checks.responds, m, "noclient",
                                                                               "httpbin.foo")


def test_a_principal_typo_is_named(m):
    m.apply("""
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: httpbin, namespace: bar}
spec:
  selector: {matchLabels: {app: httpbin}}
  action: ALLOW
  rules: [{from: [{source: {principals: ["cluster.local/ns/foo/sa/crul"]}}]}]
""")
    hint = hints(checks.responds, m, "foo", "httpbin.bar", path="/ip")
    assert "RBAC: access denied" in hint and "did you mean 'cluster.local/ns/foo/sa/curl'" in hint
    passes(checks.responds, m, "foo", "httpbin.bar", expect=403, path="/ip")


# -- gateway ---------------------------------------------------------------------------------------------
GATEWAY = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: foo}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
"""
ROUTE = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: httpbin, namespace: foo}
spec:
  hosts: ["httpbin.example.com"]
  gateways: [gw]
  http: [{route: [{destination: {host: httpbin.foo.svc.cluster.local, port: {number: 8000}}}]}]
"""


def test_via_gateway_names_the_missing_gateway_then_the_missing_route(m):
    assert "no Gateway resource" in hints(checks.via_gateway, m, "httpbin.example.com", "/get")
    m.apply(GATEWAY)
    assert "no VirtualService lists host" in hints(checks.via_gateway, m, "httpbin.example.com", "/get")
    m.apply(ROUTE)
    passes(checks.via_gateway, m, "httpbin.example.com", "/get", contains="httpbin.example.com")


# -- progress --------------------------------------------------------------------------------------------
def test_lab_complete_reads_the_recorded_steps(m):
    from labkit import progress
    from labkit.labs import lab_info
    steps = lab_info("02").steps
    for title in steps[:-1]:
        progress.record(m, "02", title, True)
    assert [i.label for i in fails(checks.lab_complete, m, "02").failures] == [steps[-1]]
    progress.record(m, "02", steps[-1], True)
    passes(checks.lab_complete, m, "02")


def test_doctor_check_passes_here_and_fails_without_curl(lab, monkeypatch):
    assert checks.doctor(lab).passed
    monkeypatch.setattr("labkit.doctor.shutil.which", lambda name: None)
    result = checks.doctor(lab)
    assert not result.passed
    failed = {item.label: item.hint for item in result.items if not item.ok}
    assert "curl" in failed and "apt-get install curl" in failed["curl"]


def test_node_port_serves_fails_under_strict_with_the_port_level_hint(m):
    m.apply("""
apiVersion: v1
kind: Service
metadata: {name: httpbin-np, namespace: bar}
spec:
  type: NodePort
  selector: {app: httpbin}
  ports: [{name: http, port: 8000, targetPort: 8080}]
""")
    try:
        passes(checks.node_port_serves, m, "bar", "httpbin-np")
        m.apply(strict("bar"))
        assert "portLevelMtls PERMISSIVE for the CONTAINER port" in hints(checks.node_port_serves, m, "bar",
                                                                         "httpbin-np")
        m.apply(strict("bar", name="httpbin", selector={"app": "httpbin"}, port_level={8080: "PERMISSIVE"}))
        passes(checks.node_port_serves, m, "bar", "httpbin-np")
    finally:
        m.delete("PeerAuthentication", "httpbin", namespace="bar", ignore_missing=True)
        m.delete("PeerAuthentication", "default", namespace="bar", ignore_missing=True)
        m.delete("Service", "httpbin-np", namespace="bar")
