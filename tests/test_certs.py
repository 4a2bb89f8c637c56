"""labkit.certs against the real tools: openssl, curl, Python's ssl (OpenSSL) and Envoy (BoringSSL)."""
from __future__ import annotations

import base64
import contextlib
import http.server
import os
import pickle
import shutil
import socket
import ssl
import stat
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from labkit import certs
from labkit.errors import LabkitError

OPENSSL = shutil.which("openssl")
CURL = shutil.which("curl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl binary not on PATH")
needs_curl = pytest.mark.skipif(CURL is None, reason="curl binary not on PATH")

SPIFFE = "spiffe://cluster.local/ns/foo/sa/httpbin"

# pytest's warning capture overrides labkit.certs' own filter for the Istio docs' `-set_serial 0`;
# test_docs_zero_serial_does_not_warn checks that filter in a fresh interpreter instead.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Parsed a serial number:cryptography.utils.CryptographyDeprecationWarning")


def openssl(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([OPENSSL, *args], capture_output=True, text=True, cwd=cwd, timeout=30)


# RSA key generation is the slow part (~40 ms a key), so the certificates are made once per module.
@pytest.fixture(scope="module")
def ca() -> certs.CertBundle:
    return certs.make_ca("example.com", org="example Inc.", days=365)


@pytest.fixture(scope="module")
def other_ca() -> certs.CertBundle:
    return certs.make_ca("other.com", org="other Inc.", days=365, key_type="ec")


@pytest.fixture(scope="module")
def server(ca) -> certs.CertBundle:
    return certs.make_server_cert(ca, "httpbin.example.com", sans=["httpbin.example.com", "127.0.0.1"])


@pytest.fixture(scope="module")
def client(ca) -> certs.CertBundle:
    return certs.make_client_cert(ca, "client.example.com")


@pytest.fixture(scope="module")
def workload(ca) -> certs.CertBundle:
    return certs.make_workload_cert(ca, spiffe_id=SPIFFE, hours=24)


@pytest.fixture(scope="module")
def pki(tmp_path_factory, ca, other_ca, server, client, workload) -> dict[str, dict[str, Path]]:
    d = tmp_path_factory.mktemp("pki")
    return {stem: certs.write_pem(b, d, stem) for stem, b in
            {"ca": ca, "other-ca": other_ca, "server": server, "client": client, "workload": workload}.items()}


# ------------------------------------------------------------------------------------------ openssl


@needs_openssl
def test_ca_is_a_real_ca(pki):
    text = openssl("x509", "-noout", "-text", "-in", str(pki["ca"]["cert"])).stdout
    assert "Issuer: O = example Inc., CN = example.com" in text
    assert "Subject: O = example Inc., CN = example.com" in text
    assert "Public-Key: (2048 bit)" in text
    assert "Signature Algorithm: sha256WithRSAEncryption" in text
    assert "X509v3 Basic Constraints: critical\n                CA:TRUE" in text
    assert "Certificate Sign" in text
    assert "X509v3 Subject Key Identifier" in text
    assert "ca" not in pki["ca"]  # a root has no separate CA file


@needs_openssl
@pytest.mark.parametrize("stem,purpose", [("server", "sslserver"), ("client", "sslclient"),
                                          ("workload", "sslserver"), ("workload", "sslclient")])
def test_openssl_verify_against_own_ca_and_not_another(pki, stem, purpose):
    leaf = str(pki[stem]["cert"])
    ok = openssl("verify", "-purpose", purpose, "-CAfile", str(pki["ca"]["cert"]), leaf)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip().endswith(": OK")
    # The <stem>-ca.crt that write_pem puts next to it is the same root.
    assert openssl("verify", "-CAfile", str(pki[stem]["ca"]), leaf).returncode == 0
    bad = openssl("verify", "-CAfile", str(pki["other-ca"]["cert"]), leaf)
    assert bad.returncode != 0
    assert "unable to get local issuer certificate" in bad.stdout + bad.stderr


@needs_openssl
def test_ekus_restrict_purpose(pki):
    # A server certificate must not work as a client certificate, and the other way round.
    assert openssl("verify", "-purpose", "sslclient", "-CAfile", str(pki["ca"]["cert"]),
                   str(pki["server"]["cert"])).returncode != 0
    assert openssl("verify", "-purpose", "sslserver", "-CAfile", str(pki["ca"]["cert"]),
                   str(pki["client"]["cert"])).returncode != 0


@needs_openssl
def test_server_cert_text(pki):
    text = openssl("x509", "-noout", "-text", "-in", str(pki["server"]["cert"])).stdout
    assert "Subject: CN = httpbin.example.com" in text
    assert "DNS:httpbin.example.com, IP Address:127.0.0.1" in text
    assert "TLS Web Server Authentication" in text and "TLS Web Client Authentication" not in text
    assert "X509v3 Authority Key Identifier" in text and "X509v3 Subject Key Identifier" in text
    assert "CA:FALSE" in text
    assert "Public-Key: (2048 bit)" in text and "sha256WithRSAEncryption" in text


@needs_openssl
def test_client_cert_text(pki):
    text = openssl("x509", "-noout", "-text", "-in", str(pki["client"]["cert"])).stdout
    assert "Subject: CN = client.example.com" in text
    assert "TLS Web Client Authentication" in text and "TLS Web Server Authentication" not in text


@needs_openssl
def test_workload_cert_is_shaped_like_istios(pki, ca):
    text = openssl("x509", "-noout", "-text", "-in", str(pki["workload"]["cert"])).stdout
    path = str(pki["workload"]["cert"])
    assert openssl("x509", "-noout", "-subject", "-in", path).stdout.strip() == "subject="
    assert f"X509v3 Subject Alternative Name: critical\n                URI:{SPIFFE}" in text
    assert "DNS:" not in text
    assert "X509v3 Key Usage: critical\n                Digital Signature\n" in text
    assert "TLS Web Server Authentication, TLS Web Client Authentication" in text
    assert "ASN1 OID: prime256v1" in text and "NIST CURVE: P-256" in text
    assert "X509v3 Authority Key Identifier" in text and "X509v3 Subject Key Identifier" in text
    [info] = certs.inspect(pki["workload"]["cert"].read_bytes())
    assert 23.9 < (info["not_after"] - info["not_before"]).total_seconds() / 3600 < 24.2


@needs_openssl
def test_key_files_are_private_and_match_their_certs(pki):
    for stem, paths in pki.items():
        assert stat.S_IMODE(paths["key"].stat().st_mode) == 0o600, stem
        assert stat.S_IMODE(paths["cert"].stat().st_mode) == 0o644, stem
        pub_from_cert = openssl("x509", "-noout", "-pubkey", "-in", str(paths["cert"])).stdout
        pub_from_key = openssl("pkey", "-pubout", "-in", str(paths["key"])).stdout
        assert pub_from_cert and pub_from_cert == pub_from_key, stem


def test_write_pem_tightens_an_existing_key_file(tmp_path, server):
    key = tmp_path / "srv.key"
    key.write_text("old")
    key.chmod(0o644)
    paths = certs.write_pem(server, tmp_path, "srv")
    assert set(paths) == {"cert", "key", "ca"}
    assert paths["ca"] == tmp_path / "srv-ca.crt"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_bytes() == server.key_pem
    assert paths["cert"].read_bytes() == server.cert_pem and paths["ca"].read_bytes() == server.ca_pem
    assert not list(tmp_path.glob(".*.tmp"))  # no temp files left behind


# ------------------------------------------------------------------------------------------ inspect


@needs_openssl
def test_inspect_matches_openssl(pki, server):
    [info] = certs.inspect(server.cert_pem)
    out = openssl("x509", "-noout", "-serial", "-fingerprint", "-sha256", "-in", str(pki["server"]["cert"])).stdout
    assert f"serial={info['serial']}" in out
    assert f"Fingerprint={info['fingerprint_sha256']}" in out
    assert info["subject"] == "CN=httpbin.example.com"
    assert info["issuer"] == "O=example Inc., CN=example.com"
    assert info["sans"] == ["DNS:httpbin.example.com", "IP:127.0.0.1"]
    assert info["spiffe_id"] is None
    assert info["is_ca"] is False and info["key_type"] == "RSA 2048"
    assert info["eku"] == ["serverAuth"]
    assert info["expired"] is False and 364.9 < info["days_left"] <= 365
    for field in ("not_before", "not_after"):
        assert info[field].tzinfo is not None
    assert info["not_before"] < datetime.now(timezone.utc) < info["not_after"]


def test_inspect_ca_workload_and_str_input(ca, other_ca, workload):
    [root] = certs.inspect(ca.cert_pem.decode())
    assert root["is_ca"] and root["self_signed"] and root["subject"] == root["issuer"]
    assert certs.inspect(other_ca.cert_pem)[0]["key_type"] == "EC P-256"
    [wl] = certs.inspect(workload.cert_pem)
    assert wl["subject"] == "" and wl["sans"] == [f"URI:{SPIFFE}"] and wl["spiffe_id"] == SPIFFE
    assert wl["key_type"] == "EC P-256" and wl["eku"] == ["serverAuth", "clientAuth"]


def test_inspect_expired_cert(ca):
    expired = certs.make_expired_client_cert(ca, "late.example.com")
    [info] = certs.inspect(expired.cert_pem)
    assert info["expired"] is True
    assert -1.01 < info["days_left"] < -0.99  # ended yesterday
    assert info["eku"] == ["clientAuth"]


def test_inspect_reads_a_chain_and_a_path(tmp_path, ca):
    inter = certs.make_intermediate_ca(ca, "Intermediate CA", org="example Inc.")
    leaf = certs.make_server_cert(inter, "deep.example.com")
    chain = certs.inspect(leaf.cert_pem)
    assert [c["subject"] for c in chain] == ["CN=deep.example.com", "O=example Inc., CN=Intermediate CA"]
    assert leaf.ca_pem == ca.cert_pem
    p = tmp_path / "chain.pem"
    p.write_bytes(leaf.cert_pem)
    for given in (p, str(p)):
        assert [c["fingerprint_sha256"] for c in certs.inspect(given)] == [c["fingerprint_sha256"] for c in chain]


def test_inspect_rejects_non_certificates(server):
    with pytest.raises(LabkitError, match="private key, not a certificate"):
        certs.inspect(server.key_pem)
    with pytest.raises(LabkitError):
        certs.inspect(b"hello")


# ------------------------------------------------------------------------------------------ verify_chain


def test_verify_chain_ok(ca, server, client, workload):
    for leaf in (server, client, workload):
        assert certs.verify_chain(leaf.cert_pem, ca.cert_pem) == (True, "")
    assert certs.verify_chain(server.cert_pem, ca.cert_pem, hostname="httpbin.example.com") == (True, "")
    assert certs.verify_chain(server.cert_pem, ca.cert_pem, hostname="127.0.0.1") == (True, "")


def test_verify_chain_different_ca(other_ca, server):
    ok, reason = certs.verify_chain(server.cert_pem, other_ca.cert_pem)
    assert not ok
    assert reason.startswith("signed by a different CA (issuer O=example Inc., CN=example.com)")
    assert "CN=other.com" in reason
    ok, reason = certs.verify_chain(other_ca.cert_pem, server.ca_pem)
    assert not ok and reason == "self-signed (O=other Inc., CN=other.com) and not in the CA file"


def test_verify_chain_regenerated_ca_with_the_same_name(server):
    again = certs.make_ca("example.com", org="example Inc.", key_type="ec")
    ok, reason = certs.verify_chain(server.cert_pem, again.cert_pem)
    assert not ok and "signed by a different CA (issuer O=example Inc., CN=example.com)" in reason
    assert "regenerated" in reason


def test_verify_chain_expired_and_not_yet_valid(ca):
    ok, reason = certs.verify_chain(certs.make_expired_client_cert(ca, "late").cert_pem, ca.cert_pem)
    assert not ok and reason.startswith("expired on ")
    future = certs.make_client_cert(ca, "early", not_before=datetime.now(timezone.utc) + timedelta(days=1),
                                    key_type="ec")
    ok, reason = certs.verify_chain(future.cert_pem, ca.cert_pem)
    assert not ok and reason.startswith("not yet valid")
    assert certs.inspect(future.cert_pem)[0]["not_yet_valid"] is True


def test_verify_chain_at_a_time_and_expired_ca(ca, server):
    later = datetime.now(timezone.utc) + timedelta(days=400)
    ok, reason = certs.verify_chain(server.cert_pem, ca.cert_pem, at=later)
    assert not ok and "expired on" in reason


def test_verify_chain_hostname(ca, server):
    ok, reason = certs.verify_chain(server.cert_pem, ca.cert_pem, hostname="evil.example.com")
    assert not ok and reason == "not valid for evil.example.com (SANs: DNS:httpbin.example.com, IP:127.0.0.1)"
    wildcard = certs.make_server_cert(ca, "*.example.com", key_type="ec")
    assert certs.verify_chain(wildcard.cert_pem, ca.cert_pem, hostname="a.example.com")[0]
    assert not certs.verify_chain(wildcard.cert_pem, ca.cert_pem, hostname="a.b.example.com")[0]
    cn_only = certs.make_server_cert(ca, "legacy.example.com", sans=[], key_type="ec")
    ok, reason = certs.verify_chain(cn_only.cert_pem, ca.cert_pem, hostname="legacy.example.com")
    assert not ok and "only CN=legacy.example.com" in reason


@needs_openssl
def test_intermediate_chain_verifies_with_openssl(tmp_path, ca):
    inter = certs.make_intermediate_ca(ca, "Intermediate CA")
    leaf = certs.make_server_cert(inter, "deep.example.com", key_type="ec")
    paths = certs.write_pem(leaf, tmp_path, "deep")
    # The leaf file carries the intermediate, so a peer needs only the root.
    r = openssl("verify", "-CAfile", str(paths["ca"]), "-untrusted", str(paths["cert"]), str(paths["cert"]))
    assert r.returncode == 0, r.stdout + r.stderr
    assert certs.verify_chain(leaf.cert_pem, ca.cert_pem) == (True, "")
    ok, reason = certs.verify_chain(leaf.cert_pem.split(b"-----END CERTIFICATE-----")[0]
                                    + b"-----END CERTIFICATE-----\n", ca.cert_pem)
    assert not ok and "issuer CN=Intermediate CA" in reason


def test_a_leaf_cannot_sign(server):
    with pytest.raises(LabkitError, match="not a CA certificate"):
        certs.make_server_cert(server, "x.example.com")
    with pytest.raises(LabkitError, match="no private key"):
        certs.make_server_cert(certs.CertBundle(cert_pem=server.ca_pem), "x.example.com")


def test_leaf_never_outlives_its_ca():
    short = certs.make_ca("short", days=2, key_type="ec")
    leaf = certs.make_server_cert(short, "x.example.com", days=3650, key_type="ec")
    assert leaf.cert.not_valid_after_utc == short.cert.not_valid_after_utc


# ------------------------------------------------------------------------------------------ secrets


def test_tls_secret(server, ca):
    s = certs.tls_secret("httpbin-credential", "istio-system", server)
    assert s["apiVersion"] == "v1" and s["kind"] == "Secret"
    assert s["metadata"] == {"name": "httpbin-credential", "namespace": "istio-system"}
    assert s["type"] == "kubernetes.io/tls"
    assert set(s["data"]) == {"tls.crt", "tls.key"}
    assert base64.b64decode(s["data"]["tls.crt"]) == server.cert_pem
    assert base64.b64decode(s["data"]["tls.key"]) == server.key_pem

    m = certs.tls_secret("httpbin-credential", "istio-system", server, ca_pem=ca.cert_pem, generic=True)
    assert m["type"] == "Opaque"
    assert set(m["data"]) == {"tls.crt", "tls.key", "ca.crt"}
    assert base64.b64decode(m["data"]["ca.crt"]) == ca.cert_pem

    with pytest.raises(LabkitError, match="private key"):
        certs.tls_secret("x", "default", certs.CertBundle(cert_pem=server.cert_pem))
    with pytest.raises(LabkitError, match="metadata.name"):
        certs.tls_secret("Bad_Name", "default", server)


def test_cacert_secret(ca):
    s = certs.cacert_secret("httpbin-credential", "istio-system", ca.cert_pem)
    assert s["metadata"] == {"name": "httpbin-credential-cacert", "namespace": "istio-system"}
    assert s["type"] == "Opaque" and list(s["data"]) == ["cacert"]
    assert base64.b64decode(s["data"]["cacert"]) == ca.cert_pem
    assert certs.cacert_secret("x-cacert", "default", ca.cert_pem.decode())["metadata"]["name"] == "x-cacert"
    with pytest.raises(LabkitError):
        certs.cacert_secret("x", "default", b"not a certificate")


# ------------------------------------------------------------------------------------------ openssl-made files


@pytest.fixture(scope="module")
def istio_docs_certs(tmp_path_factory) -> Path:
    """The commands of Istio's "Secure Gateways" task, verbatim."""
    if OPENSSL is None:
        pytest.skip("openssl binary not on PATH")
    d = tmp_path_factory.mktemp("istio-docs")
    script = textwrap.dedent("""\
        set -e
        openssl req -x509 -sha256 -nodes -days 365 -newkey rsa:2048 -subj '/O=example Inc./CN=example.com' -keyout example.com.key -out example.com.crt
        openssl req -out httpbin.example.com.csr -newkey rsa:2048 -nodes -keyout httpbin.example.com.key -subj "/CN=httpbin.example.com/O=httpbin organization"
        openssl x509 -req -sha256 -days 365 -CA example.com.crt -CAkey example.com.key -set_serial 0 -in httpbin.example.com.csr -out httpbin.example.com.crt
        openssl req -out client.example.com.csr -newkey rsa:2048 -nodes -keyout client.example.com.key -subj "/CN=client.example.com/O=client organization"
        openssl x509 -req -sha256 -days 365 -CA example.com.crt -CAkey example.com.key -set_serial 1 -in client.example.com.csr -out client.example.com.crt
        """)
    r = subprocess.run(["sh", "-c", script], cwd=d, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return d


def test_load_pem_files_from_the_istio_docs_commands(istio_docs_certs):
    d = istio_docs_certs
    b = certs.load_pem_files(d / "httpbin.example.com.crt", d / "httpbin.example.com.key", d / "example.com.crt")
    [info] = certs.inspect(b.cert_pem)
    assert info["subject"] == "CN=httpbin.example.com, O=httpbin organization"
    assert info["issuer"] == "O=example Inc., CN=example.com"
    assert info["serial"] == "00" and info["sans"] == [] and info["key_type"] == "RSA 2048"
    assert certs.verify_chain(b.cert_pem, b.ca_pem) == (True, "")
    # The learner's CA can sign labkit's certificates, and those verify with openssl.
    ca = certs.load_pem_files(d / "example.com.crt", d / "example.com.key")
    assert certs.inspect(ca.cert_pem)[0]["is_ca"]
    mine = certs.make_client_cert(ca, "labkit-client.example.com")
    paths = certs.write_pem(mine, d, "labkit-client")
    assert openssl("verify", "-CAfile", str(d / "example.com.crt"), str(paths["cert"])).returncode == 0
    s = certs.tls_secret("httpbin-credential", "istio-system", b, ca_pem=b.ca_pem, generic=True)
    assert base64.b64decode(s["data"]["ca.crt"]) == (d / "example.com.crt").read_bytes()


def test_docs_zero_serial_does_not_warn(istio_docs_certs):
    # `-set_serial 0` is the docs' doing, not the learner's: no CryptographyDeprecationWarning.
    # In a fresh interpreter, because pytest's own warning capture overrides library filters.
    code = ("import sys; from labkit import certs; "
            "b = certs.load_pem_files(sys.argv[1]); print(certs.inspect(b.cert_pem)[0]['serial'])")
    r = subprocess.run([sys.executable, "-W", "default", "-c", code,
                        str(istio_docs_certs / "httpbin.example.com.crt")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "00" and "Warning" not in r.stderr


def test_load_pem_files_catches_learner_mistakes(istio_docs_certs, tmp_path):
    d = istio_docs_certs
    with pytest.raises(LabkitError, match="does not belong to"):
        certs.load_pem_files(d / "httpbin.example.com.crt", d / "client.example.com.key")
    with pytest.raises(LabkitError, match="certificate, not a private key"):
        certs.load_pem_files(d / "httpbin.example.com.crt", d / "httpbin.example.com.crt")
    with pytest.raises(LabkitError, match="private key, not a certificate"):
        certs.load_pem_files(d / "httpbin.example.com.key")
    with pytest.raises(LabkitError, match="does not exist"):
        certs.load_pem_files(d / "nope.crt")
    enc = tmp_path / "enc.key"
    r = openssl("pkey", "-in", str(d / "httpbin.example.com.key"), "-aes256", "-passout", "pass:secret",
                "-out", str(enc))
    assert r.returncode == 0, r.stderr
    with pytest.raises(LabkitError, match="encrypted") as e:
        certs.load_pem_files(d / "httpbin.example.com.crt", enc)
    assert "-nodes" in str(e.value)


def test_load_pem_files_reads_der(istio_docs_certs, tmp_path):
    der = tmp_path / "c.der"
    r = openssl("x509", "-in", str(istio_docs_certs / "example.com.crt"), "-outform", "DER", "-out", str(der))
    assert r.returncode == 0
    b = certs.load_pem_files(der)
    assert b.cert_pem == (istio_docs_certs / "example.com.crt").read_bytes() and b.key_pem == b""


# ------------------------------------------------------------------------------------------ MeshCA


def test_mesh_ca_reload_keeps_the_same_root(tmp_path):
    d = tmp_path / "mesh-ca"
    first = certs.MeshCA.load_or_create(d)
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert stat.S_IMODE((d / "root-key.pem").stat().st_mode) == 0o600
    assert (d / "root-cert.pem").read_bytes() == first.root_pem
    [root] = certs.inspect(first.root_pem)
    assert root["subject"] == "O=cluster.local, CN=Root CA" and root["is_ca"] and root["self_signed"]
    assert root["key_type"] == "RSA 2048" and root["days_left"] > 3600

    issued_before = first.issue(SPIFFE)
    second = certs.MeshCA.load_or_create(d)
    assert second.root_pem == first.root_pem
    # A restarted process still trusts what the old one issued, and vice versa.
    assert certs.verify_chain(issued_before.cert_pem, second.root_pem) == (True, "")
    assert certs.verify_chain(second.issue(SPIFFE).cert_pem, first.root_pem) == (True, "")


def test_mesh_ca_issue(tmp_path):
    mesh = certs.MeshCA.load_or_create(tmp_path / "ca")
    sid = mesh.spiffe_id("foo", "httpbin")
    assert sid == SPIFFE
    wl = mesh.issue(sid, hours=1)
    assert wl.ca_pem == mesh.root_pem
    assert len(certs.inspect(wl.cert_pem)) == 1  # just the leaf
    [info] = certs.inspect(wl.cert_pem)
    assert info["spiffe_id"] == sid and info["subject"] == "" and info["key_type"] == "EC P-256"
    assert info["issuer"] == "O=cluster.local, CN=Root CA"
    assert 0.9 < info["days_left"] * 24 <= 1.0
    assert certs.make_workload_cert(mesh, sid).ca_pem == mesh.root_pem
    with pytest.raises(LabkitError, match="not a SPIFFE ID"):
        mesh.issue("cluster.local/ns/foo/sa/httpbin")


def test_mesh_ca_issue_is_fast():
    mesh = certs.MeshCA.create()
    mesh.issue(SPIFFE)  # warm up
    times = []
    for _ in range(200):
        t0 = time.perf_counter()
        mesh.issue(SPIFFE)
        times.append(time.perf_counter() - t0)
    median_ms = statistics.median(times) * 1000
    print(f"MeshCA.issue median {median_ms:.3f} ms, max {max(times) * 1000:.3f} ms")
    assert median_ms < 5


def test_mesh_ca_never_shows_its_key(tmp_path):
    mesh = certs.MeshCA.load_or_create(tmp_path / "ca")
    key_pem = (tmp_path / "ca" / "root-key.pem").read_bytes()
    key_b64 = key_pem.split(b"\n")[1].decode()
    for text in (repr(mesh), str(mesh), repr(certs.make_ca("x", key_type="ec")), str(mesh.issue(SPIFFE))):
        assert "PRIVATE KEY" not in text and key_b64 not in text
    assert "key=<hidden>" in repr(mesh.issue(SPIFFE))
    with pytest.raises(TypeError):
        pickle.dumps(mesh)


def test_mesh_ca_refuses_another_trust_domain(tmp_path):
    d = tmp_path / "ca"
    assert certs.MeshCA.load_or_create(d, key_type="ec").trust_domain == "cluster.local"
    assert certs.MeshCA.load_or_create(d, trust_domain="cluster.local").trust_domain == "cluster.local"
    with pytest.raises(LabkitError, match="trust domain 'cluster.local', not 'example.org'"):
        certs.MeshCA.load_or_create(d, trust_domain="example.org")


def test_mesh_ca_refuses_half_a_root(tmp_path):
    d = tmp_path / "ca"
    certs.MeshCA.load_or_create(d)
    (d / "root-cert.pem").unlink()
    with pytest.raises(LabkitError, match="root-key.pem exists but its certificate does not"):
        certs.MeshCA.load_or_create(d)


def test_mesh_ca_concurrent_first_start_makes_one_root(tmp_path):
    d = tmp_path / "ca"
    roots: list[bytes] = []
    threads = [threading.Thread(target=lambda: roots.append(certs.MeshCA.load_or_create(d).root_pem))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(roots) == 4 and len(set(roots)) == 1


# ------------------------------------------------------------------------------------------ real TLS


@contextlib.contextmanager
def https_server(bundle: certs.CertBundle, client_ca: bytes | None = None):
    """A Python (OpenSSL) HTTPS server on 127.0.0.1; yields its port."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        paths = certs.write_pem(bundle, tmp, "srv")
        ctx.load_cert_chain(paths["cert"], paths["key"])
        if client_ca:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(cadata=client_ca.decode())

        class Hello(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = b"hello over tls\n"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield srv.server_address[1]
        finally:
            srv.shutdown()
            srv.server_close()


def curl(port: int, host: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k.upper() not in ("CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR", "HTTPS_PROXY", "ALL_PROXY")}
    return subprocess.run([CURL, "-sS", "--max-time", "10", "--noproxy", "*",
                           "--resolve", f"{host}:{port}:127.0.0.1", *args, f"https://{host}:{port}/"],
                          capture_output=True, text=True, timeout=20, env=env)


@needs_curl
def test_curl_trusts_the_server_cert_only_with_the_ca(pki, server):
    with https_server(server) as port:
        ok = curl(port, "httpbin.example.com", "--cacert", str(pki["ca"]["cert"]))
        assert ok.returncode == 0, ok.stderr
        assert ok.stdout == "hello over tls\n"
        assert curl(port, "httpbin.example.com").returncode == 60  # not in the system trust store
        assert curl(port, "httpbin.example.com", "--cacert", str(pki["other-ca"]["cert"])).returncode == 60
        wrong_host = curl(port, "nope.example.com", "--cacert", str(pki["ca"]["cert"]))
        assert wrong_host.returncode == 60


@needs_curl
@needs_openssl
def test_self_signed_cert_is_its_own_ca_like_lab_08s_openssl(tmp_path):
    """certs.make_self_signed_cert makes what lab 08's `openssl req -x509 ... -addext subjectAltName` makes: subject
    = issuer, the host in the SANs; curl trusts it only when given the certificate itself as --cacert."""
    bundle = certs.make_self_signed_cert("local.test", key_type="ec")
    paths = certs.write_pem(bundle, tmp_path, "local-test")
    shown = openssl("x509", "-in", str(paths["cert"]), "-noout", "-subject", "-issuer", "-ext", "subjectAltName")
    assert "subject=CN = local.test" in shown.stdout and "issuer=CN = local.test" in shown.stdout, shown.stdout
    assert "DNS:local.test" in shown.stdout
    assert certs.verify_chain(bundle.cert_pem, bundle.cert_pem, hostname="local.test") == (True, "")
    stranger = certs.make_self_signed_cert("local.test", key_type="ec")   # same name, another key
    assert not certs.verify_chain(bundle.cert_pem, stranger.cert_pem)[0]
    with pytest.raises(LabkitError, match="not a CA certificate"):   # it vouches for itself, signs nothing
        certs.make_server_cert(bundle, "other.test")
    with https_server(bundle) as port:
        ok = curl(port, "local.test", "--cacert", str(paths["cert"]))
        assert ok.returncode == 0 and ok.stdout == "hello over tls\n", ok.stderr
        untrusted = curl(port, "local.test")
        assert untrusted.returncode == 60 and "self-signed certificate" in untrusted.stderr, untrusted.stderr
        stranger_file = certs.write_pem(stranger, tmp_path, "stranger")["cert"]
        assert curl(port, "local.test", "--cacert", str(stranger_file)).returncode == 60
        assert curl(port, "other.test", "--cacert", str(paths["cert"])).returncode == 60   # not its name


@needs_curl
def test_curl_mutual_tls_with_client_cert(pki, server, ca):
    with https_server(server, client_ca=ca.cert_pem) as port:
        cacert = ("--cacert", str(pki["ca"]["cert"]))
        ok = curl(port, "httpbin.example.com", *cacert,
                  "--cert", str(pki["client"]["cert"]), "--key", str(pki["client"]["key"]))
        assert ok.returncode == 0, ok.stderr
        assert curl(port, "httpbin.example.com", *cacert).returncode != 0  # no client certificate
        wrong = curl(port, "httpbin.example.com", *cacert,
                     "--cert", str(pki["other-ca"]["cert"]), "--key", str(pki["other-ca"]["key"]))
        assert wrong.returncode != 0


# ------------------------------------------------------------------------------------------ real Envoy


def _envoy_path() -> str | None:
    try:
        from labkit.envoy_binary import envoy_path
        return envoy_path()
    except Exception:
        return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


ENVOY_CONFIG = """
admin:
  address: {{socket_address: {{address: 127.0.0.1, port_value: 0}}}}
static_resources:
  listeners:
  - name: mtls
    address: {{socket_address: {{address: 127.0.0.1, port_value: {port}}}}}
    filter_chains:
    - transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          require_client_certificate: true
          common_tls_context:
            tls_certificates:
            - certificate_chain: {{filename: {cert}}}
              private_key: {{filename: {key}}}
            validation_context:
              trusted_ca: {{filename: {ca}}}
              match_typed_subject_alt_names:
              - san_type: URI
                matcher: {{exact: "{allowed}"}}
      filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: in
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{prefix: /}}
                direct_response: {{status: 200, body: {{inline_string: "peer ok"}}}}
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
"""


def _mtls_get(port: int, client: certs.CertBundle, tmp: Path, stem: str) -> str:
    """GET / as a sidecar would: present the workload cert, trust only the mesh root, no host name."""
    paths = certs.write_pem(client, tmp, stem)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False  # workload identity is the URI SAN, not a host name
    ctx.load_verify_locations(paths["ca"])
    ctx.load_cert_chain(paths["cert"], paths["key"])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            ctx.wrap_socket(raw) as tls:
        tls.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := tls.recv(4096):
            data += chunk
    return data.decode(errors="replace")


def _envoy_stats(admin: str, prefix: str) -> dict[str, int]:
    url = f"http://{admin}/stats?filter={prefix}"
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url, timeout=5) as r:
        lines = r.read().decode().splitlines()
    return {k: int(v) for k, _, v in (line.partition(": ") for line in lines) if v.strip().isdigit()}


@pytest.mark.envoy
def test_envoy_matches_the_workload_uri_san(tmp_path):
    envoy = _envoy_path()
    if envoy is None:
        pytest.skip("Envoy binary not available")
    mesh = certs.MeshCA.create()
    server_paths = certs.write_pem(mesh.issue(mesh.spiffe_id("foo", "httpbin")), tmp_path, "httpbin")
    port = _free_port()
    cfg = tmp_path / "envoy.yaml"
    cfg.write_text(ENVOY_CONFIG.format(port=port, cert=server_paths["cert"], key=server_paths["key"],
                                       ca=server_paths["ca"], allowed=mesh.spiffe_id("foo", "sleep")))
    admin_file = tmp_path / "admin-address"
    proc = subprocess.Popen([envoy, "-c", str(cfg), "--disable-hot-restart", "-l", "error", "--concurrency", "1",
                             "--admin-address-path", str(admin_file)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, proc.stdout.read().decode()
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            assert time.monotonic() < deadline, "Envoy did not start listening"
            time.sleep(0.05)

        allowed = _mtls_get(port, mesh.issue(mesh.spiffe_id("foo", "sleep")), tmp_path, "sleep")
        assert allowed.startswith("HTTP/1.1 200") and allowed.endswith("peer ok")

        # Same root, different service account: BoringSSL accepts the chain, the SAN matcher does not.
        with pytest.raises((ssl.SSLError, ConnectionError)):
            reply = _mtls_get(port, mesh.issue(mesh.spiffe_id("foo", "other")), tmp_path, "other")
            if not reply:  # TLS 1.3 reports the rejection as a closed connection
                raise ConnectionError("closed without a reply")
        # Right name, wrong root.
        with pytest.raises((ssl.SSLError, ConnectionError)):
            imposter = certs.MeshCA.create(key_type="ec").issue(mesh.spiffe_id("foo", "sleep"))
            reply = _mtls_get(port, certs.CertBundle(imposter.cert_pem, imposter.key_pem, mesh.root_pem),
                              tmp_path, "imposter")
            if not reply:
                raise ConnectionError("closed without a reply")

        # Envoy's own counters say why: one SAN mismatch, one chain that did not reach the root.
        stats = _envoy_stats(admin_file.read_text().strip(), "ssl.fail_verify")
        assert stats.get(f"listener.127.0.0.1_{port}.ssl.fail_verify_san") == 1, stats
        assert stats.get(f"listener.127.0.0.1_{port}.ssl.fail_verify_error") == 1, stats
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
