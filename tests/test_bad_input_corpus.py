"""The bad-input corpus (tests/data/bad/) applied to a live mesh, the way a learner would apply it.

Each rejected file must name what is wrong (kind/name/field where there is one) and leave the mesh
exactly as it was: nothing stored, no proxy reconfigured, traffic as before. Resources that are
valid in Kubernetes although they point at nothing are accepted and the mesh keeps serving.
test_resources.py has the unit cases; this is the end-to-end version.
"""
from __future__ import annotations

import re
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from labkit.errors import LabkitError
from mesh_scenarios import curl_code, deploy_migration, strict
from mesh_traffic import gateway_endpoint, plain_request, raw_exchange, tls_exchange

pytestmark = pytest.mark.envoy
CORPUS = Path(__file__).parent / "data" / "bad"
OK, RESET = ("200", 0), ("000", 56)

# file → (message pattern, {attribute: value} the LabkitError must carry)
REJECTED = {
    "malformed.yaml": (r"invalid YAML in .*malformed\.yaml at line \d+, column \d+", {}),
    "tabs.yaml": (r"invalid YAML in .*tabs\.yaml at line 5", {}),
    "unknown_kind.yaml": (r"unknown kind 'PeerAuthenticationPolicy'", {"kind": "PeerAuthenticationPolicy"}),
    "wrong_api_version.yaml": (r"apiVersion 'networking.istio.io/v1alpha3' does not serve PeerAuthentication",
                               {"kind": "PeerAuthentication", "name": "default", "field": "apiVersion"}),
    "unknown_field.yaml": (r"unknown field 'mod'", {"kind": "PeerAuthentication", "name": "default",
                                                     "namespace": "foo", "field": "spec.mtls.mod"}),
    "wrong_type.yaml": (r"expected an integer", {"kind": "DestinationRule", "name": "httpbin",
                                                 "field": "spec.trafficPolicy.portLevelSettings[0].port.number"}),
    "wrong_enum.yaml": (r"'ISTIO_MUTUAL_PLEASE' is not valid", {"field": "spec.trafficPolicy.tls.mode"}),
    "duplicate_names.yaml": (r"appears twice", {"kind": "AuthorizationPolicy", "name": "deny-all"}),
    "partly_bad.yaml": (r"expected a list", {"kind": "AuthorizationPolicy", "name": "allow-some",
                                             "field": "spec.rules[0].to[0].operation.methods"}),
    "missing_namespace.yaml": (r'namespaces "nowhere" not found', {"kind": "PeerAuthentication"}),
    "bad_name.yaml": (r"invalid name 'Allow_All'", {"field": "metadata.name"}),
    "not_a_mapping.yaml": (r"document 1 .* is a list, not a mapping", {}),
    "authz_bad_values.yaml": (r"invalid IP address or CIDR range: '192.168.1.300/24'",
                              {"kind": "AuthorizationPolicy", "field": "spec.rules[0].from[0].source.ipBlocks[1]"}),
    "vs_bad_regex.yaml": (r"invalid regex '/status/\[0-9\+'", {"kind": "VirtualService",
                                                                 "field": "spec.http[0].match[0].uri.regex"}),
    "dr_duplicate_subsets.yaml": (r"duplicate subset name 'v1'", {"kind": "DestinationRule",
                                                                  "field": "spec.subsets[1].name"}),
    "se_static_without_endpoints.yaml": (r"endpoints must be provided if service entry discovery mode is static",
                                         {"kind": "ServiceEntry", "name": "payments", "field": "spec.endpoints"}),
    "alias_bomb.yaml": (r"expands to more than \d+ values", {}),
    "binary_garbage.bin": (r"binary_garbage\.bin is not UTF-8 text|contains NUL bytes", {}),
    "five_megabytes.yaml": (r"five_megabytes\.yaml is \d+ KB; resource files over 2 MB are refused", {}),
}
ACCEPTED = ["selector_matches_nothing.yaml", "gateway_missing_secret.yaml", "vs_missing_host.yaml"]


@pytest.fixture(scope="module")
def mesh(lab):
    deploy_migration(lab)
    lab.apply(strict("foo"))
    return lab


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """The checked-in files plus a 5 MB one, made here rather than stored in the repository."""
    folder = tmp_path_factory.mktemp("bad")
    for path in CORPUS.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    item = "  key-{0:06d}: " + "x" * 80 + "\n"
    body = "".join(item.format(i) for i in range(5 * 2**20 // len(item.format(0)) + 1))
    (folder / "five_megabytes.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: huge, namespace: foo}\ndata:\n" + body)
    return folder


def snapshot(lab) -> tuple:
    """What must not move when an apply is refused: the store and every proxy's config versions."""
    versions = {uid: dict(r.envoy.versions) for uid, r in lab.runtime.pods.items() if r.envoy}
    return lab.store.generation, versions


def still_serving(lab) -> None:
    assert curl_code(lab, "legacy", "http://httpbin.foo:8000/ip") == RESET  # STRICT still in force
    assert curl_code(lab, "bar", "http://httpbin.foo:8000/ip") == OK


def test_corpus_is_complete(corpus):
    assert sorted(p.name for p in corpus.iterdir()) == sorted([*REJECTED, *ACCEPTED])


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_rejected_with_a_clear_error_and_nothing_changes(mesh, corpus, name):
    pattern, where = REJECTED[name]
    before = snapshot(mesh)
    with pytest.raises(LabkitError, match=pattern) as info:
        mesh.apply(corpus / name)
    for attribute, value in where.items():
        assert getattr(info.value, attribute) == value, (attribute, str(info.value))
    assert snapshot(mesh) == before
    still_serving(mesh)


def test_accepted_although_they_point_at_nothing(mesh, corpus):
    for name in ACCEPTED:
        assert mesh.apply(corpus / name), name
    try:
        mesh.wait_ready(timeout=10)
        assert not mesh.last_error
        still_serving(mesh)  # the DISABLE/DENY policies select no workload, so nothing changed
        http, https = (gateway_endpoint(mesh, port, "").port for port in (80, 443))
        # The route to a missing service exists and fails like istiod's (no cluster → 503)...
        assert raw_exchange("127.0.0.1", http, plain_request("nowhere.example.com", "/")) == \
            "HTTP/1.1 503 Service Unavailable"
        # ...and the HTTPS server without its secret refuses handshakes instead of serving without one.
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        refused = tls_exchange("127.0.0.1", https, plain_request("secure.example.com", "/"),
                               server_name="secure.example.com", context=context)
        assert refused in ("reset", "eof") or refused.startswith("tls:"), refused
    finally:
        for name in ACCEPTED:
            mesh.delete(corpus / name)
    still_serving(mesh)


@pytest.mark.parametrize("name", ["binary_garbage.bin", "unknown_field.yaml", "alias_bomb.yaml"])
def test_cli_reports_the_error_without_a_traceback(mesh, corpus, name):
    """`labkit apply -f` beside the running notebook mesh (it attaches): one error line, exit 2."""
    env_state = ["--state-dir", str(mesh.state_dir)]
    out = subprocess.run([sys.executable, "-m", "labkit.cli", "apply", *env_state, "-f", str(corpus / name)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out
    assert out.stderr.startswith("error: ") and "Traceback" not in out.stderr
    assert re.search(REJECTED[name][0], out.stderr.splitlines()[0]), out.stderr
