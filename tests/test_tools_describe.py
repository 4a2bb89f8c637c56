"""`describe` on the model: each section appears when something applies to the pod, and not otherwise."""
from __future__ import annotations

import pytest

from labkit.certs import MeshCA
from labkit.errors import LabkitError
from labkit.tools.describe import describe

from mesh_scenarios import strict
from mesh_scenarios import destination_rule as dr
from tools_fixtures import GATEWAY_VS, migration, model_of

SUBSETS = "  subsets:\n  - {name: v1, labels: {version: v1}}\n"
ALLOW_CURL = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-curl, namespace: foo}
spec:
  selector: {matchLabels: {app: httpbin}}
  rules: [{from: [{source: {principals: ["cluster.local/ns/foo/sa/curl"]}}]}]
"""
OTHER_POLICY = ALLOW_CURL.replace("allow-curl", "for-curl").replace("app: httpbin", "app: curl")


def test_plain_pod_shows_permissive_default_and_no_policies():
    text = describe(model_of(migration()), "foo", "httpbin").text()
    assert "Proxy: sidecar" in text and "Identity: spiffe://cluster.local/ns/foo/sa/httpbin" in text
    assert "Port: http 8000/HTTP targets pod port 8080" in text
    assert "Workload mTLS mode: PERMISSIVE" in text and "Applied PeerAuthentication" not in text
    assert "RBAC policies: (none" in text and "DestinationRule" not in text and "VirtualService" not in text


def test_effective_and_port_level_modes_with_the_policies_that_decided():
    model = model_of(migration(strict("foo"), strict("foo", name="httpbin", selector={"app": "httpbin"},
                                                     port_level={8080: "PERMISSIVE"})))
    found = describe(model, "foo", "httpbin")
    assert found.mtls_mode == "STRICT" and found.port_modes == {8080: "PERMISSIVE"}
    assert found.peer_authentications == ["default.foo", "httpbin.foo"]
    assert "Port Level mTLS mode:\n      8080: PERMISSIVE" in found.text()


def test_destination_rule_subsets_warn_only_when_the_pod_matches_none():
    matching = describe(model_of(migration(dr("httpbin", "foo", "httpbin", "ISTIO_MUTUAL", SUBSETS))), "foo", "httpbin")
    assert matching.destination_rules[0]["matching_subsets"] == ["v1"] and not matching.warnings
    assert "Traffic Policy TLS Mode: ISTIO_MUTUAL" in matching.text()
    other = describe(model_of(migration(dr("httpbin", "foo", "httpbin", None, SUBSETS.replace("v1}", "v9}")))),
                     "foo", "httpbin")
    assert any("POD DOES NOT MATCH ANY SUBSETS" in w for w in other.warnings)


def test_virtual_services_routing_to_it_and_gateway_exposure():
    found = describe(model_of(migration(GATEWAY_VS)), "foo", "httpbin")
    assert [vs["name"] for vs in found.virtual_services] == ["httpbin.foo"]
    assert found.virtual_services[0]["exposed_on"] == ["istio-system/mygateway"]
    assert describe(model_of(migration(GATEWAY_VS)), "bar", "httpbin").virtual_services == []


def test_authorization_policies_that_select_it_and_not_others():
    model = model_of(migration(ALLOW_CURL, OTHER_POLICY))
    assert [p["name"] for p in describe(model, "foo", "httpbin").authorization_policies] == ["allow-curl.foo"]
    assert "RBAC policies: allow-curl.foo (ALLOW)" in describe(model, "foo", "httpbin").text()


def test_ignored_root_namespace_policy_with_selector_is_called_out():
    ignored = strict("istio-system", name="root-selector", selector={"app": "httpbin"})
    found = describe(model_of(migration(ignored)), "foo", "httpbin")
    assert found.mtls_mode == "PERMISSIVE"
    assert any("root-selector.istio-system is ignored" in w for w in found.warnings)
    assert not describe(model_of(migration(strict("foo"))), "foo", "httpbin").warnings


def test_sidecarless_pod_has_no_identity_and_says_why():
    found = describe(model_of(migration(strict("istio-system"))), "legacy", "curl")
    assert found.proxy is None and found.spiffe_id is None and found.mtls_mode is None
    assert "not enforced (no sidecar" in found.text()
    assert any("no sidecar" in w for w in found.warnings)


def test_certificate_comes_from_the_lookup(tmp_path):
    ca = MeshCA.load_or_create(tmp_path / "ca")
    leaf = ca.issue("spiffe://cluster.local/ns/foo/sa/httpbin", hours=2).info()
    asked = []
    found = describe(model_of(migration()), "foo", "httpbin", certificate=lambda pod: asked.append(pod.name) or leaf)
    assert found.certificate["spiffe_id"] == "spiffe://cluster.local/ns/foo/sa/httpbin" and asked
    assert "Certificate: valid" in found.text() and "issuer O=cluster.local, CN=Root CA" in found.text()
    assert describe(model_of(migration()), "foo", "httpbin").certificate is None


def test_unknown_pod_lists_the_workloads_there():
    with pytest.raises(LabkitError, match="no pod or deployment") as error:
        describe(model_of(migration()), "foo", "nope")
    assert "curl, httpbin" in str(error.value)
