"""Security properties of the sidecar mesh, checked many times over rather than once.

A lab that claims "STRICT refuses plaintext" must hold for every attempt, from curl in a pod and
from a hand-written socket; a learner's machine must not expose the mesh beyond loopback; and the
CA key must stay in its 0600 file.
"""
from __future__ import annotations

import ipaddress
import ssl
import stat
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest

from labkit import certs
from mesh_scenarios import curl_code, deploy_migration, strict
from mesh_traffic import plain_request, pod_endpoint, raw_exchange, tls_exchange

pytestmark = pytest.mark.envoy
ATTEMPTS = 200
REFUSED = {"reset", "eof"}


@pytest.fixture(scope="module")
def mesh(lab):
    deploy_migration(lab)
    return lab


def curl_many(lab, namespace: str, url: str, count: int) -> list[str]:
    """One curl run, `count` transfers, each on a new connection (so each is a separate attempt)."""
    transfers = [arg for _ in range(count) for arg in ("-o", "/dev/null", url)]
    out = lab.exec(namespace, "curl", ["curl", "-sS", "-w", "%{http_code}\n", "--max-time", "3",
                                       "-H", "Connection: close", *transfers], timeout=60)
    return out.stdout.split()


def raw_attempts(ip: str, port: int, payloads: list[bytes], source_ip: str | None) -> list[str]:
    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(lambda p: raw_exchange(ip, port, p, source_ip=source_ip), payloads))


@pytest.mark.parametrize("mode", ["STRICT", "PERMISSIVE"])
def test_plaintext_from_a_sidecarless_pod_and_raw_sockets(mesh, mode):
    mesh.apply(strict("foo", mode=mode))
    try:
        server = pod_endpoint(mesh, "legacy", "curl", "httpbin.foo:8000")  # foo's pod IP, no sidecar in between
        codes = curl_many(mesh, "legacy", "http://httpbin.foo:8000/ip", ATTEMPTS)
        # Not only well-formed HTTP: a STRICT port must not answer bytes that merely look like a request.
        payloads = [plain_request("httpbin.foo:8000")] * (ATTEMPTS // 2) + [b"\x16\x03\x01garbage\r\n\r\n",
                                                                            b"PING\r\n"] * (ATTEMPTS // 4)
        from_pod_ip = raw_attempts(server.ip, server.port, payloads, server.source_ip)
        from_host = raw_attempts(server.ip, server.port, payloads[:ATTEMPTS // 2], None)
    finally:
        mesh.delete("PeerAuthentication", "default", namespace="foo")
    assert len(codes) == ATTEMPTS
    if mode == "STRICT":
        assert set(codes) == {"000"}
        assert set(from_pod_ip) <= REFUSED and set(from_host) <= REFUSED, (set(from_pod_ip), set(from_host))
    else:
        assert set(codes) == {"200"}
        assert set(from_host) == {"HTTP/1.1 200 OK"}
        # The app answers what it is sent; the point is that the sidecar let every connection through.
        assert not set(from_pod_ip) & REFUSED, set(from_pod_ip)


def _tls_handshake(ip: str, port: int, bundle: certs.CertBundle | None, tmp_path) -> str:
    """'ok' when a TLS client (optionally with a certificate) gets through the handshake and is answered."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    context.set_alpn_protocols(["istio", "http/1.1"])
    if bundle is not None:
        paths = certs.write_pem(bundle, tmp_path, "client")
        context.load_cert_chain(paths["cert"], paths["key"])
    first = tls_exchange(ip, port, plain_request("httpbin.foo:8000"), context=context,
                         server_name="outbound_.8000_._.httpbin.foo.svc.cluster.local")
    return "ok" if first == "HTTP/1.1 200 OK" else first


def test_strict_wants_a_client_certificate_from_the_mesh_ca(mesh, tmp_path):
    mesh.apply(strict("foo"))
    try:
        server = pod_endpoint(mesh, "legacy", "curl", "httpbin.foo:8000")
        spiffe = "spiffe://cluster.local/ns/foo/sa/curl"
        foreign = certs.make_ca("not the mesh", org="cluster.local", key_type="ec")
        results = {
            "no certificate": _tls_handshake(server.ip, server.port, None, tmp_path),
            "foreign CA, same SPIFFE id": _tls_handshake(server.ip, server.port,
                                                         certs.make_workload_cert(foreign, spiffe), tmp_path),
            "mesh CA": _tls_handshake(server.ip, server.port, mesh.runtime.ca.issue(spiffe), tmp_path),
        }
    finally:
        mesh.delete("PeerAuthentication", "default", namespace="foo")
    assert results["mesh CA"] == "ok", results
    # The alert can lose the race with the close on loopback; either way no request was answered.
    assert results["no certificate"] in ("tls:TLSV13_ALERT_CERTIFICATE_REQUIRED", "tls:SSLEOFError"), results
    assert results["foreign CA, same SPIFFE id"] in ("tls:TLSV1_ALERT_UNKNOWN_CA", "tls:SSLEOFError"), results


SAN_PIN = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: httpbin-san, namespace: bar}}
spec:
  host: httpbin.foo.svc.cluster.local
  trafficPolicy:
    tls: {{mode: ISTIO_MUTUAL, subjectAltNames: ["{san}"]}}
"""


def test_destination_rule_subject_alt_names_pin_the_server_identity(mesh):
    try:
        mesh.apply(SAN_PIN.format(san="spiffe://cluster.local/ns/foo/sa/impostor"))
        wrong = curl_code(mesh, "bar", "http://httpbin.foo:8000/ip")
        mesh.apply(SAN_PIN.format(san="spiffe://cluster.local/ns/foo/sa/httpbin"))
        right = curl_code(mesh, "bar", "http://httpbin.foo:8000/ip")
    finally:
        mesh.delete("DestinationRule", "httpbin-san", namespace="bar")
    assert wrong == ("503", 0)
    assert right == ("200", 0)


NAMESPACE_RULE = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: from-namespaces, namespace: bar}}
spec:
  selector: {{matchLabels: {{app: httpbin}}}}
  rules: [{{from: [{{source: {{namespaces: ["{pattern}"]}}}}]}}]
"""


@pytest.mark.parametrize("pattern", ["foo", "fo*", "*oo"])
def test_authorization_policy_namespace_patterns_match_like_istio(mesh, pattern):
    """`namespaces` takes exact names and `*` prefix/suffix wildcards, matched on the caller's SPIFFE id."""
    mesh.apply(NAMESPACE_RULE.format(pattern=pattern))
    try:
        allowed = curl_code(mesh, "foo", "http://httpbin.bar:8000/ip")
        denied = curl_code(mesh, "bar", "http://httpbin.bar:8000/ip")
    finally:
        mesh.delete("AuthorizationPolicy", "from-namespaces", namespace="bar")
    assert (allowed, denied) == (("200", 0), ("403", 0))


# ---- what the mesh leaves on the machine ----------------------------------------------------------

def mesh_processes(lab) -> dict[int, str]:
    """pid → name of every process the mesh runs, cross-checked against the OS's view of our children."""
    known = {}
    for runtime in lab.runtime.pods.values():
        for process in [*runtime.apps.values(), *([runtime.envoy.process] if runtime.envoy else [])]:
            if process and process.alive():
                known[process.pid] = process.name
    if lab.runtime.zygote.pid is not None:   # the pre-imported Python the apps are forked from
        known[lab.runtime.zygote.pid] = "app zygote"
    state = str(lab.state_dir)
    started = {p.pid for p in psutil.Process().children(recursive=True)
               if state in " ".join(_safe(p.cmdline)) or state in _safe(p.cwd, "")}
    assert started == set(known), f"processes in the state dir the runtime does not know: {started - set(known)}"
    return known


def _safe(getter, default=()):
    try:
        return getter()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return default


def test_every_mesh_process_listens_on_loopback_only(mesh):
    mesh.apply(strict("foo"))  # TLS-only chains must bind no differently
    try:
        processes = mesh_processes(mesh)
        assert len(processes) >= 11  # 6 apps, 4 sidecars, the gateway
        exposed, listening = [], 0
        for pid, name in processes.items():
            for conn in psutil.Process(pid).net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN or conn.type == 2:  # TCP listeners and any UDP socket
                    listening += 1
                    if not ipaddress.ip_address(conn.laddr.ip).is_loopback:
                        exposed.append(f"{name} (pid {pid}) on {conn.laddr.ip}:{conn.laddr.port}")
    finally:
        mesh.delete("PeerAuthentication", "default", namespace="foo")
    assert listening >= len(processes)
    assert not exposed, exposed


def loose_private_keys(state) -> dict[str, str]:
    """Files holding a private key that anyone but the owner could read (path → mode)."""
    key_files = [p for p in state.rglob("*") if p.is_file() and b"PRIVATE KEY" in p.read_bytes()]
    assert key_files
    return {str(p.relative_to(state)): oct(stat.S_IMODE(p.stat().st_mode)) for p in key_files
            if stat.S_IMODE(p.stat().st_mode) != 0o600}


def copies_of(pem: str, state, original=None) -> list[str]:
    """Files in the state directory, other than `original`, holding any line of a PEM key's body."""
    body = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    probes = [body[0], body[len(body) // 2], body[-2]]  # one line is enough to recognise a copy
    return [str(p.relative_to(state)) for p in state.rglob("*")
            if p.is_file() and p != original and any(probe in p.read_text(errors="replace") for probe in probes)]


def test_private_keys_are_readable_by_the_owner_only(mesh):
    state = mesh.state_dir
    assert not loose_private_keys(state)
    # Workload keys live in the control plane's memory and reach each Envoy over SDS only: no file holds
    # one, and each proxy's bootstrap (its token to the control plane) is the owner's alone.
    identities = [r.envoy.mesh_secrets["default"] for r in mesh.runtime.pods.values() if r.envoy]
    assert len(identities) == 5  # 4 sidecars and the gateway
    for secret in identities:
        assert not copies_of(secret["tls_certificate"]["private_key"]["inline_string"], state)
    bootstraps = list(state.glob("pods/*/istio-proxy/envoy-rev.json"))
    assert len(bootstraps) == 5 and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in bootstraps)
    for directory in (state, state / "ca", *state.glob("pods/*"), *state.glob("pods/*/istio-proxy")):
        assert stat.S_IMODE(directory.stat().st_mode) & 0o077 == 0, directory


def test_the_ca_key_is_never_logged_or_copied(mesh):
    key_file = mesh.state_dir / "ca" / "root-key.pem"
    pem = key_file.read_text()
    assert not copies_of(pem, mesh.state_dir, key_file)
    probe = pem.splitlines()[1]
    ca = mesh.runtime.ca
    assert probe not in repr(ca) + str(ca)
    for pid in mesh_processes(mesh):
        assert probe not in " ".join(psutil.Process(pid).cmdline()) + repr(psutil.Process(pid).environ())
