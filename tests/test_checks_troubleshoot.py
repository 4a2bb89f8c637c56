"""Labs 16 and 17's capstone against a real mesh: every fault of the broken shop fails its check with a hint that
names it, each fix makes that check pass, and the verification flow points at what is still wrong; lab 17 starts
with the first two faults fixed and the last two still there."""
from __future__ import annotations

import time

import pytest

from labkit.display import tables
from labkit import checks
from check_helpers import hints, passes

pytestmark = pytest.mark.envoy
HOST = "shop.local.test"
GATEWAY = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: shop-gateway, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [shop.local.test]
    tls: {mode: SIMPLE, credentialName: shop-credential}
"""
POLICY = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: customers, namespace: backend}
spec:
  selector: {matchLabels: {app: customers}}
  action: ALLOW
  rules: [{from: [{source: {principals: ["cluster.local/ns/shop/sa/web-frontend"]}}]}]
"""


@pytest.fixture(scope="module")
def mesh(lab, tmp_path_factory):
    lab.reset_lab("16")   # its start has lab 15's access logs that name the peers (fault 4 reads them)
    lab.ca_file = tmp_path_factory.mktemp("shop") / "shop-ca.crt"
    return lab


def fresh(lab, lab_id="16"):
    lab.reset_lab(lab_id)
    lab.ca_file.write_text(lab.get("ConfigMap", "shop-ca", namespace="shop")[0]["data"]["ca.crt"])
    return lab


def verdicts(lab, since=None) -> dict[str, str]:
    frame = checks.verification_flow(lab, "backend", "customers", since=since).data
    return dict(zip(frame.step.str.split(".").str[0], frame.verdict))


def inject_customers(lab) -> None:
    lab.label_namespace("backend", {"istio-injection": "enabled"})
    lab.restart("backend", "customers-v1")
    lab.wait_ready("backend", timeout=30)


def test_each_fault_fails_its_check_until_fixed(mesh):
    lab = fresh(mesh)
    ca = lab.ca_file
    passes(checks.via_gateway, lab, HOST, cacert=ca, expect="TLS failure")
    flow = verdicts(lab)
    assert flow["3"] == "look here" and flow["7"] == "look here"   # no sidecar; a principal naming nobody

    # Fault 1: the credentialName typo.
    assert "(did you mean 'shop-credential'?)" in hints(checks.serves_certificate, lab, HOST, cacert=ca)
    lab.apply(GATEWAY)
    passes(checks.serves_certificate, lab, HOST, cacert=ca)

    # Fault 2: backend is not in the mesh: plaintext from outside gets in, nothing enforces the policies.
    assert "namespace backend is not labelled for injection" in hints(
        checks.responds, lab, "legacy", "customers.backend:80", expect="reset")
    hint = hints(checks.mtls_between, lab, "shop", "web-frontend", "customers.backend:80")
    assert "sets tls mode DISABLE" in hint and "namespace backend is not labelled for injection" in hint
    assert "has no sidecar, so nothing enforces any policy there" in hints(
        checks.only_caller_allowed, lab, "customers.backend:80", ("shop", "web-frontend"), ("legacy", "curl"))
    inject_customers(lab)
    passes(checks.pods_have_sidecars, lab, "backend")
    passes(checks.responds, lab, "legacy", "customers.backend:80", expect="reset")

    # Fault 3: DestinationRule DISABLE towards STRICT. The page shows the frontend's error.
    assert "Request failed with status code 503" in hints(checks.via_gateway, lab, HOST, cacert=ca)
    assert "sets tls mode DISABLE" in hints(checks.mtls_between, lab, "shop", "web-frontend", "customers.backend:80")
    assert verdicts(lab)["5"] == "look here" and verdicts(lab)["6"] == "look here"
    lab.delete("DestinationRule", "customers-disable-mtls", namespace="backend")
    passes(checks.mtls_between, lab, "shop", "web-frontend", "customers.backend:80")

    # Fault 4: the principal of another namespace.
    hint = hints(checks.only_caller_allowed, lab, "customers.backend:80", ("shop", "web-frontend"), ("shop", "curl"))
    assert ("allows cluster.local/ns/default/sa/web-frontend, almost but not the caller's identity "
            "cluster.local/ns/shop/sa/web-frontend") in hint
    log = tables.access_log(lab, "backend", "customers-v1", last=2).data   # web-frontend's call, then curl's
    denied = log[log.caller == "spiffe://cluster.local/ns/shop/sa/web-frontend"]
    assert list(denied.response_code) == ["403"]
    assert denied.response_code_details.iloc[0].startswith("rbac_access_denied")
    lab.apply(POLICY)
    passes(checks.only_caller_allowed, lab, "customers.backend:80", ("shop", "web-frontend"), ("shop", "curl"))

    since = time.time()
    passes(checks.via_gateway, lab, HOST, cacert=ca, contains="Jewel Schaefer")
    lab.exec("legacy", "curl", ["curl", "-s", "http://customers.backend/"])
    time.sleep(0.5)  # the access logs are flushed every 200 ms
    assert "look here" not in verdicts(lab, since=since).values()


def test_lab17_starts_with_the_first_two_tickets_closed_and_the_last_two_open(mesh):
    """Lab 17 begins where lab 16 ends: its start applies lab 16's two fixes, and nothing else."""
    lab = fresh(mesh, "17")
    ca = lab.ca_file
    passes(checks.serves_certificate, lab, HOST, cacert=ca)                              # ticket 1's fix
    passes(checks.pods_have_sidecars, lab, "backend")                                     # ticket 2's fix
    passes(checks.responds, lab, "legacy", "customers.backend:80", expect="reset")
    assert "Request failed with status code 503" in hints(checks.via_gateway, lab, HOST, cacert=ca,
                                                           contains="Jewel Schaefer")     # ticket 3's symptom
    assert "sets tls mode DISABLE" in hints(checks.mtls_between, lab, "shop", "web-frontend", "customers.backend:80")
    assert verdicts(lab)["3"] == "ok" and verdicts(lab)["5"] == "look here"
    lab.delete("DestinationRule", "customers-disable-mtls", namespace="backend")
    passes(checks.mtls_between, lab, "shop", "web-frontend", "customers.backend:80")
    hint = hints(checks.only_caller_allowed, lab, "customers.backend:80", ("shop", "web-frontend"), ("shop", "curl"))
    assert "cluster.local/ns/default/sa/web-frontend" in hint                             # ticket 4's fault
    log = tables.access_log(lab, "backend", "customers-v1", last=2).data                  # the JSON access logs
    assert "spiffe://cluster.local/ns/shop/sa/web-frontend" in set(log.caller)


def test_a_policy_that_allows_every_caller_is_named(mesh):
    lab = fresh(mesh)
    inject_customers(lab)
    lab.delete("DestinationRule", "customers-disable-mtls", namespace="backend")
    lab.apply(POLICY.replace('{from: [{source: {principals: ["cluster.local/ns/shop/sa/web-frontend"]}}]}',
                             "{to: [{operation: {methods: [GET]}}]}"))
    assert "a rule without `from`" in hints(checks.only_caller_allowed, lab, "customers.backend:80",
                                            ("shop", "web-frontend"), ("shop", "curl"))


def test_gateway_calls_are_counted_once_in_the_evidence(mesh):
    """Behind a gateway a sidecar logs the outside client's address, not the gateway's: the call must still be
    matched to the gateway's own report (by the peer certificate), not appear a second time from 'external'."""
    lab = fresh(mesh)
    lab.apply(GATEWAY)
    since = time.time()
    passes(checks.serves_certificate, lab, HOST, cacert=lab.ca_file)
    time.sleep(0.5)
    edges = lab.evidence(since=since).edges
    pairs = set(zip(edges.source, edges.destination))
    assert ("istio-system/istio-ingressgateway", "shop/web-frontend") in pairs
    assert ("external", "shop/web-frontend") not in pairs


def test_a_gateway_applied_without_its_namespace_is_named_and_does_not_pass(mesh):
    """Issue 21 item 7: the fixed Gateway written without `namespace:` lands in `default` (kubectl's default),
    beside the broken one. Hints name the Gateway they mean; the check notices the conflicting leftover."""
    lab = fresh(mesh)
    ca = lab.ca_file
    hint = hints(checks.serves_certificate, lab, HOST, cacert=ca)
    assert "Gateway istio-system/shop-gateway" in hint and "(did you mean 'shop-credential'?)" in hint
    lab.apply(GATEWAY.replace(", namespace: istio-system", ""))            # lands in default
    assert lab.get("Gateway", "shop-gateway", namespace="default")
    hint = hints(checks.serves_certificate, lab, HOST, cacert=ca)
    assert "Gateway istio-system/shop-gateway" in hint and "Gateway default/shop-gateway" in hint, hint
    lab.delete("Gateway", "shop-gateway", namespace="default")
    lab.apply(GATEWAY)
    passes(checks.serves_certificate, lab, HOST, cacert=ca)


def test_reset_lab_starts_the_evidence_afresh(mesh):
    """Issue 21 item 1: the gateway outlives every reset, and a recreated pod may get its old name and address,
    so the access logs still hold earlier labs' calls; after reset_lab they are no evidence of this lab."""
    lab = fresh(mesh)
    lab.apply(GATEWAY)
    passes(checks.serves_certificate, lab, HOST, cacert=lab.ca_file)      # gateway → web-frontend, logged
    time.sleep(0.5)                                                        # access logs flush every 200 ms
    before = lab.evidence().calls
    assert (before.source == "istio-system/istio-ingressgateway").any(), before
    started = time.time()

    lab = fresh(mesh)                                                      # the lab starts again
    assert lab.evidence().calls.empty, lab.evidence().calls
    assert lab.evidence_start >= started
    assert not lab.graph().edges                                           # the graph and the verification
    assert "istio-ingressgateway" not in lab.analyze().__str__()           # flow read the same evidence
    history = lab.evidence(since=0).calls                                  # asked for, the history is there
    assert (history.source == "istio-system/istio-ingressgateway").any()
