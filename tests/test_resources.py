"""Bad input gets a clear error naming kind, name and field, and nothing is stored."""
from __future__ import annotations

import pytest

from labkit.errors import LabkitError
from labkit.resources.loader import load_documents
from labkit.resources.store import Store
from labkit.resources.validate import validate

PA = """
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: foo}
spec: {mtls: {mode: STRICT}}
"""


def error_of(doc_text: str) -> LabkitError:
    with pytest.raises(LabkitError) as info:
        for doc in load_documents(doc_text):
            validate(doc)
    return info.value


def test_invalid_yaml_says_line():
    err = error_of("kind: Namespace\nmetadata: [name: x\n")
    assert "invalid YAML" in str(err) and "line" in str(err)


def test_unknown_kind_lists_supported():
    err = error_of("apiVersion: v1\nkind: Frobnicator\nmetadata: {name: x}\n")
    assert err.kind == "Frobnicator" and "supported kinds" in str(err)


def test_kind_case_typo_suggests_the_right_one():
    err = error_of("apiVersion: security.istio.io/v1\nkind: peerauthentication\nmetadata: {name: x}\n")
    assert "did you mean PeerAuthentication" in str(err)


def test_wrong_api_version():
    err = error_of(PA.replace("security.istio.io/v1", "networking.istio.io/v1"))
    assert err.field == "apiVersion" and "security.istio.io/v1beta1" in str(err)


@pytest.mark.parametrize("version", ["v1alpha3", "v1beta1", "v1"])
def test_all_istio_networking_versions_accepted(version):
    validate({"apiVersion": f"networking.istio.io/{version}", "kind": "DestinationRule",
              "metadata": {"name": "x"}, "spec": {"host": "httpbin"}})


def test_unknown_field_names_its_path():
    err = error_of(PA.replace("mtls: {mode: STRICT}", "mtls: {mode: STRICT, strict: true}"))
    assert (err.kind, err.name, err.namespace, err.field) == ("PeerAuthentication", "default", "foo", "spec.mtls.strict")


def test_wrong_enum_value():
    err = error_of(PA.replace("STRICT", "STRICTER"))
    assert err.field == "spec.mtls.mode" and "PERMISSIVE" in str(err)


def test_wrong_type():
    err = error_of("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: two}\n")
    assert err.field == "spec.replicas" and "integer" in str(err)


def test_port_level_mtls_requires_selector():
    err = error_of(PA.replace("spec: {mtls: {mode: STRICT}}", "spec: {portLevelMtls: {8080: {mode: DISABLE}}}"))
    assert "portLevelMtls requires selector" in str(err)


def test_secret_bad_base64_and_string_data():
    err = error_of("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {key: '***'}\n")
    assert err.field == "data.key"
    ok = validate({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"a": "b"}})
    assert ok["data"] == {"a": "Yg=="} and "stringData" not in ok


def test_deployment_selector_must_match_template():
    err = error_of("""
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: b}}
    spec: {containers: [{name: c, image: nginx}]}
""")
    assert err.field == "spec.template.metadata.labels"


def test_binary_and_non_mapping_documents():
    with pytest.raises(LabkitError, match="NUL"):
        load_documents("kind: x\x00\n")
    with pytest.raises(LabkitError, match="not a mapping"):
        load_documents("- just\n- a list\n")


def test_store_is_all_or_nothing_and_checks_namespaces(tmp_path):
    store = Store(tmp_path)
    bad = load_documents(PA + "---\n" + PA.replace("default", "other").replace("STRICT", "NOPE"))
    with pytest.raises(LabkitError):
        store.apply(bad)
    assert store.list() == []
    with pytest.raises(LabkitError, match='namespaces "foo" not found'):
        store.apply(load_documents(PA))
    store.apply(load_documents("apiVersion: v1\nkind: Namespace\nmetadata: {name: foo}\n---\n" + PA))
    results = store.apply(load_documents(PA))
    assert [action for _, action in results] == ["unchanged"]
    with pytest.raises(LabkitError, match="twice"):
        store.apply(load_documents(PA + "---\n" + PA))


def test_deleting_a_namespace_deletes_its_contents(tmp_path):
    store = Store(tmp_path)
    store.apply(load_documents("apiVersion: v1\nkind: Namespace\nmetadata: {name: foo}\n---\n" + PA))
    removed = store.delete([("Namespace", "", "foo")])
    assert {o["kind"] for o in removed} == {"Namespace", "PeerAuthentication"}
    assert store.list() == []


# ---- Istio's webhook rules for Gateway (pkg/config/validation/validation.go) ------------------------

GATEWAY = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
"""


@pytest.mark.parametrize("servers, message, field", [
    ("  servers: []\n", "gateway must have at least one server", "spec.servers"),
    ("", "gateway must have at least one server", "spec.servers"),
    ("  servers:\n  - port: {number: 80, protocol: HTTP}\n    hosts: ['*']\n", "port name must be set",
     "spec.servers[0].port.name"),
    ("  servers:\n  - port: {number: 80, name: web, protocol: HTTP}\n    hosts: ['*']\n"
     "  - port: {number: 81, name: web, protocol: HTTP}\n    hosts: ['*']\n",
     "port names in servers must be unique: duplicate name web", "spec.servers[1].port.name"),
    ("  servers:\n  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: ['*']\n",
     "server must have TLS settings for HTTPS/TLS protocols", "spec.servers[0].tls"),
    ("  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: ['*']\n"
     "    tls: {mode: SIMPLE, credentialName: x}\n",
     "server cannot have TLS settings for plain text HTTP ports", "spec.servers[0].tls"),
    ("  servers:\n  - port: {number: 31400, name: tcp, protocol: TCP}\n    hosts: ['*']\n"
     "    tls: {mode: SIMPLE, credentialName: x}\n",
     "server cannot have TLS settings for non HTTPS/TLS ports", "spec.servers[0].tls"),
    ("  servers:\n  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: ['*']\n"
     "    tls: {mode: ISTIO_MUTUAL, credentialName: x}\n",
     "ISTIO_MUTUAL TLS cannot have associated credentialName", "spec.servers[0].tls.credentialName"),
    ("  servers:\n  - port: {number: 80, name: http, protocol: HTTP, targetPort: 8080}\n    hosts: ['*']\n",
     "targetPort has no impact on Gateways", "spec.servers[0].port.targetPort"),
])
def test_gateway_rules_of_istios_webhook(servers, message, field):
    err = error_of(GATEWAY + servers)
    assert message in str(err) and err.field == field and err.kind == "Gateway"


def test_gateway_https_redirect_on_plain_http_is_allowed():
    doc = load_documents(GATEWAY + "  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n"
                                   "    hosts: ['*']\n    tls: {httpsRedirect: true}\n")[0]
    assert validate(doc)["spec"]["servers"][0]["tls"] == {"httpsRedirect": True}


DR = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: dr, namespace: foo}
spec:
  host: httpbin.foo.svc.cluster.local
  trafficPolicy:
    tls: %s
"""


@pytest.mark.parametrize("tls, message", [
    ("{mode: MUTUAL}", "client certificate required for mutual tls"),
    ("{mode: MUTUAL, clientCertificate: /c.pem}", "private key required for mutual tls"),
    ("{mode: SIMPLE, credentialName: x, caCertificates: /ca.pem}",
     "cannot specify client certificates or CA certificate or CA CRL If credentialName is set"),
    ("{mode: SIMPLE, insecureSkipVerify: true, credentialName: x}",
     "cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify is set true"),
])
def test_destination_rule_tls_rules_of_istios_webhook(tls, message):
    err = error_of(DR % tls)
    assert message in str(err) and err.kind == "DestinationRule"


def test_destination_rule_mutual_with_credential_name_needs_no_files():
    doc = load_documents(DR % "{mode: MUTUAL, credentialName: client-credential}")[0]
    assert validate(doc)["spec"]["trafficPolicy"]["tls"]["credentialName"] == "client-credential"


VS_WITH = """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: r, namespace: foo}}
spec:
  hosts: [httpbin]
  http:
  - match: [{{method: {match}}}]
    fault: {{delay: {{fixedDelay: {delay}, percentage: {{value: 100}}}}}}
    route: [{{destination: {{host: httpbin}}}}]
"""


@pytest.mark.parametrize("match, delay, field, message", [
    ('{regex: ""}', "1s", "spec.http[0].match[0].method.regex", "regex string match should not be empty"),
    ('{prefix: ""}', "1s", "spec.http[0].match[0].method.prefix", "prefix string match should not be empty"),
    ("{exact: GET}", "0s", "spec.http[0].fault.delay.fixedDelay", "duration must be greater than 1ms"),
    ("{exact: GET}", "0.5ms", "spec.http[0].fault.delay.fixedDelay", "duration must be greater than 1ms"),
    ("{exact: GET}", "1.0005s", "spec.http[0].fault.delay.fixedDelay", "only durations to ms precision"),
])
def test_istio_webhook_refuses_empty_string_matches_and_sub_millisecond_delays(match, delay, field, message):
    """What Envoy would reject (an empty RE2 pattern or prefix, a zero delay) istiod's webhook refuses first."""
    with pytest.raises(LabkitError, match=message) as caught:
        validate(load_documents(VS_WITH.format(match=match, delay=delay))[0])
    assert caught.value.field == field


def test_a_one_millisecond_delay_and_an_exact_match_are_accepted():
    validate(load_documents(VS_WITH.format(match="{exact: GET}", delay="1ms"))[0])
