"""The edge of lab 12 under attack: a MUTUAL gateway in front of a STRICT workload that only the
gateway's identity may call (seed 000's asset-management).

Every refusal is tried many times on fresh connections, because a check that holds once may not
hold always; test_gateway.py shows the learner-facing curl messages once each.
"""
from __future__ import annotations

import ssl
from concurrent.futures import ThreadPoolExecutor

import pytest

from labkit import certs
from labkit.samples import sample
from mesh_scenarios import asset_management
from mesh_traffic import gateway_endpoint, plain_request, pod_endpoint, run_load, tls_exchange
from test_security_sidecar import copies_of, loose_private_keys

pytestmark = pytest.mark.envoy
ATTEMPTS = 25
HOST = "assets.example.com"
EDGE = asset_management(HOST, {"mode": "MUTUAL", "credentialName": "assets-credential",
                              "subjectAltNames": ["client.example.com"]})
PINNED_DR = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: asset-management, namespace: assets}}
spec:
  host: asset-management
  trafficPolicy:
    tls: {{mode: ISTIO_MUTUAL, subjectAltNames: ["{san}"]}}
"""


@pytest.fixture(scope="module")
def pki():
    ca, foreign = certs.make_ca("assets client CA", key_type="ec"), certs.make_ca("someone else's CA", key_type="ec")
    server = certs.make_server_cert(certs.make_ca("assets server CA", key_type="ec"), HOST, key_type="ec")
    return {
        "ca": ca, "server": server,
        "valid": certs.make_client_cert(ca, "client.example.com", key_type="ec"),
        "foreign CA": certs.make_client_cert(foreign, "client.example.com", key_type="ec"),
        "expired": certs.make_expired_client_cert(ca, "client.example.com", key_type="ec"),
        "wrong SAN": certs.make_client_cert(ca, "intruder.example.com", key_type="ec"),
    }


@pytest.fixture(scope="module")
def mesh(lab, pki):
    lab.apply(certs.tls_secret("assets-credential", "istio-system", pki["server"], ca_pem=pki["ca"].cert_pem,
                               generic=True))
    lab.apply(EDGE)
    lab.apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: legacy}")
    lab.apply(sample("curl"), namespace="assets")   # a sidecar'd neighbour: mTLS, but not the gateway
    lab.apply(sample("curl"), namespace="legacy")   # no sidecar: plaintext
    lab.wait_ready(timeout=60)
    return lab


@pytest.fixture
def attempts(mesh, pki, tmp_path):
    """ATTEMPTS fresh TLS connections to the gateway, as `curl --resolve` makes them, with a client
    certificate (or None); the set of outcomes (status line, or how the connection failed)."""
    port = gateway_endpoint(mesh, 443, HOST).port

    def run(client: certs.CertBundle | None) -> set[str]:
        context = ssl.create_default_context(cadata=pki["server"].ca_pem.decode())
        if client is not None:
            paths = certs.write_pem(client, tmp_path, "client")
            context.load_cert_chain(paths["cert"], paths["key"])
        request = plain_request(HOST, "/headers")
        with ThreadPoolExecutor(max_workers=8) as pool:
            return set(pool.map(lambda _: tls_exchange("127.0.0.1", port, request, server_name=HOST,
                                                       context=context), range(ATTEMPTS)))
    return run


REFUSALS = {"no certificate": "tls:TLSV13_ALERT_CERTIFICATE_REQUIRED", "foreign CA": "tls:TLSV1_ALERT_UNKNOWN_CA",
            "expired": "tls:SSLV3_ALERT_CERTIFICATE_EXPIRED", "wrong SAN": "tls:SSLV3_ALERT_CERTIFICATE_UNKNOWN"}


def test_only_a_valid_client_certificate_gets_through(pki, attempts):
    results = {case: attempts(pki.get(case)) for case in
               ("valid", "no certificate", "foreign CA", "expired", "wrong SAN")}
    assert results["valid"] == {"HTTP/1.1 200 OK"}, results
    for case, alert in REFUSALS.items():
        # On loopback the alert races the close: some attempts only see the connection end.
        assert alert in results[case] and results[case] <= {alert, "tls:SSLEOFError", "reset", "eof"}, \
            (case, results[case])


def test_destination_rule_pinning_the_wrong_identity_stops_the_gateway(mesh, pki, attempts):
    try:
        mesh.apply(PINNED_DR.format(san="spiffe://cluster.local/ns/assets/sa/impostor"))
        wrong = attempts(pki["valid"])
        mesh.apply(PINNED_DR.format(san="spiffe://cluster.local/ns/assets/sa/asset-management"))
        right = attempts(pki["valid"])
    finally:
        mesh.apply(EDGE)  # back to the lab's DestinationRule
    assert wrong == {"HTTP/1.1 503 Service Unavailable"}
    assert right == {"HTTP/1.1 200 OK"}


def test_only_the_gateway_identity_reaches_the_workload(mesh):
    neighbour = run_load(pod_endpoint(mesh, "assets", "curl", "asset-management.assets:80"), "/get",
                         total=ATTEMPTS, concurrency=5)
    plaintext = run_load(pod_endpoint(mesh, "legacy", "curl", "asset-management.assets:80"), "/get",
                         total=ATTEMPTS, concurrency=5, fresh_connections=True)
    assert set(neighbour.counts) == {403}
    assert set(plaintext.counts) <= {"reset", "eof"}


def test_gateway_credentials_stay_private(mesh, pki):
    state = mesh.state_dir
    assert not loose_private_keys(state)
    # The credential's key reaches the gateway over SDS only: no file holds it in PEM (the store keeps it
    # base64), while the gateway does hold it.
    assert not copies_of(pki["server"].key_pem.decode(), state)
    gateway = next(r.envoy for r in mesh.runtime.pods.values() if r.pod.is_gateway)
    assert any(pki["server"].key_pem.decode() == s["tls_certificate"]["private_key"]["inline_string"]
               for secrets in gateway.config.sds.values() for s in secrets if "tls_certificate" in s)
