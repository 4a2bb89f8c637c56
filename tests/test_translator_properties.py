"""Properties: no set of resources the validator accepts can crash the translator, and a real Envoy
accepts every config the translator writes for them.

Hypothesis writes resources that look like a learner's (the fields the schema knows, values drawn
from the forms labs use plus odd ones), stores those the validator accepts, and runs the deployment
controller, the model and every proxy's Envoy config builder over them. Whatever it makes up, the
only exception allowed is LabkitError (something the learner can act on), the output must serialise
to the JSON files Envoy reads, and Envoy must not reject it: a rejected update leaves the proxy on
its old config while the store has moved on, and Envoy's release build words the reason as
"goo.gle/debugonly", so the validator has to catch such input first.
"""
from __future__ import annotations

import json
import os
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from labkit import certs
from labkit.samples import system_objects
from labkit.certs import MeshCA
from labkit.envoy.common import ProxyPaths, tls_certificate_secret, validation_secret
from labkit.envoy.proxy import GatewaySettings, build_proxy_config
from labkit.errors import LabkitError
from labkit.model.deployments import reconcile_pods
from labkit.model.mesh import build_model
from labkit.resources.loader import load_documents
from labkit.resources.store import Store
from labkit.runtime.envoy_proc import EnvoyProcess
from labkit.samples import sample

# Weighted towards the namespaces where the base workloads run, so policies meet pods.
NAMESPACES = ["foo", "foo", "foo", "legacy", "bar", "istio-system"]
APPS = ["httpbin", "curl", "web", "asset-management"]
LABEL_VALUES = APPS + ["v1", "v2", "ingressgateway", "istio-ingressgateway"]
IMAGES = ["docker.io/mccutchen/go-httpbin:v2.15.0", "curlimages/curl", "nginx", "tetratelabs/customers:2.0.0",
          "docker.io/istio/proxyv2:1.28.0", "istio/examples-helloworld-v1"]
# Where DestinationRule SIMPLE/MUTUAL files point; the Envoy test makes real ones there.
CERTS = "/labkit-test-certs"
ports = st.one_of(st.sampled_from([80, 443, 8000, 8080, 8443, 9080, 3000, 15021]), st.integers(1, 65535))
names = st.one_of(st.sampled_from(APPS + ["default", "x", "gw", "secure"]), st.from_regex(r"[a-z][a-z0-9-]{0,8}",
                                                                                         fullmatch=True))
odd_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
hosts = st.one_of(
    st.sampled_from(["httpbin", "httpbin.foo", "httpbin.foo.svc.cluster.local", "*.foo.svc.cluster.local", "*",
                     "asset-management.example.com", "*.example.com", "curl.bar.svc", "no-such.foo",
                     "bar/httpbin.example.com", "./httpbin.example.com", "*/x.example.com"]),
    odd_text)
labels = st.one_of(st.sampled_from([{}, {"app": "httpbin"}, {"app": "curl"}, {"istio": "ingressgateway"}]),
                   st.dictionaries(st.sampled_from(["app", "version", "istio", "run"]), st.sampled_from(LABEL_VALUES),
                                   max_size=2))
string_match = st.dictionaries(st.sampled_from(["exact", "prefix", "regex"]),
                               st.one_of(st.sampled_from(["/", "/ip", "/status/", ".*", "[", "(a|"]), odd_text),
                               min_size=1, max_size=1)
durations = st.one_of(st.sampled_from(["1s", "0.5s", "100ms", "2m", "0s"]), odd_text)
istio_strings = st.one_of(st.sampled_from(["*", "cluster.local/ns/foo/sa/curl", "foo", "GET", "/ip", "/status/*",
                                           "*/admin", "10.0.0.0/8", "127.0.0.1", "80", "8080", "::1/128",
                                           "prod-*", "*-test", "foo(", "a.b[c"]),
                          odd_text)


def meta():
    return st.fixed_dictionaries({"name": names, "namespace": st.sampled_from(NAMESPACES)},
                                 optional={"labels": labels})


def resource(api_version: str, kind: str, spec):
    return st.fixed_dictionaries({"apiVersion": st.just(api_version), "kind": st.just(kind), "metadata": meta(),
                                  "spec": spec})


def _base() -> list[dict]:
    """Workloads for the generated policies to act on: sidecars in foo, none in legacy."""
    docs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
            for name, labels in (("foo", {"istio-injection": "enabled"}), ("bar", {"istio-injection": "enabled"}),
                                 ("legacy", {}))]
    for name, namespace in (("httpbin", "foo"), ("curl", "foo"), ("httpbin", "legacy")):
        for doc in load_documents(sample(name)):
            doc["metadata"]["namespace"] = namespace
            docs.append(doc)
    return docs


BASE = _base()

container = st.fixed_dictionaries(
    {"name": names, "image": st.sampled_from(IMAGES)},
    optional={"ports": st.lists(st.fixed_dictionaries({"containerPort": ports}, optional={"name": names}),
                                max_size=2),
              "env": st.lists(st.fixed_dictionaries({"name": names, "value": odd_text}), max_size=2)})
deployment = st.builds(
    lambda m, lab, c, replicas, sa: {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": m,
        "spec": {"replicas": replicas, "selector": {"matchLabels": lab},
                 "template": {"metadata": {"labels": lab, **({"annotations": {"sidecar.istio.io/inject": "true"}}
                                                              if replicas == 2 else {})},
                              "spec": {"containers": c, **({"serviceAccountName": sa} if sa else {})}}}},
    meta(), st.dictionaries(st.just("app"), st.sampled_from(APPS), min_size=1), st.lists(container, min_size=1,
                                                                                         max_size=2),
    st.integers(0, 2), st.one_of(st.none(), names))
service = resource("v1", "Service", st.fixed_dictionaries(
    {"ports": st.lists(st.fixed_dictionaries({"port": ports}, optional={
        "name": st.sampled_from(["http", "http2", "tcp-db", "https", "tls-x", "grpc", "mongo"]),
        "targetPort": st.one_of(ports, names), "appProtocol": st.sampled_from(["http", "tcp", "https"])}),
        min_size=1, max_size=3)},
    optional={"selector": labels, "type": st.sampled_from(["ClusterIP", "NodePort", "LoadBalancer"])}))
mtls_mode = st.sampled_from(["UNSET", "DISABLE", "PERMISSIVE", "STRICT"])
peer_authentication = resource("security.istio.io/v1", "PeerAuthentication", st.fixed_dictionaries({}, optional={
    "selector": st.fixed_dictionaries({"matchLabels": labels}), "mtls": st.fixed_dictionaries({"mode": mtls_mode}),
    "portLevelMtls": st.dictionaries(ports, st.fixed_dictionaries({"mode": mtls_mode}), max_size=2)}))
client_tls = st.fixed_dictionaries({"mode": st.sampled_from(["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"])},
                                   optional={"subjectAltNames": st.lists(istio_strings, max_size=2), "sni": hosts,
                                             "caCertificates": st.just(f"{CERTS}/ca.pem"),
                                             "clientCertificate": st.just(f"{CERTS}/client.crt"),
                                             "privateKey": st.just(f"{CERTS}/client.key"), "credentialName": names,
                                             "insecureSkipVerify": st.booleans()})
traffic_policy = st.fixed_dictionaries({}, optional={
    "tls": client_tls,
    "portLevelSettings": st.lists(st.fixed_dictionaries({"port": st.fixed_dictionaries({"number": ports})},
                                                        optional={"tls": client_tls}), max_size=2)})
destination_rule = resource("networking.istio.io/v1", "DestinationRule", st.fixed_dictionaries(
    {"host": hosts}, optional={"trafficPolicy": traffic_policy, "exportTo": st.lists(st.sampled_from(
        [".", "*", "foo", "bar"]), max_size=2), "subsets": st.lists(st.fixed_dictionaries(
            {"name": names}, optional={"labels": labels, "trafficPolicy": traffic_policy}), max_size=2)}))
source = st.dictionaries(st.sampled_from(["principals", "notPrincipals", "namespaces", "notNamespaces", "ipBlocks",
                                          "notIpBlocks", "remoteIpBlocks", "requestPrincipals", "serviceAccounts"]),
                         st.lists(istio_strings, min_size=1, max_size=2), max_size=2)
operation = st.dictionaries(st.sampled_from(["hosts", "notHosts", "ports", "notPorts", "methods", "notMethods",
                                             "paths", "notPaths"]),
                            st.lists(istio_strings, min_size=1, max_size=2), max_size=2)
condition = st.fixed_dictionaries({"key": st.sampled_from(["source.principal", "source.namespace", "source.ip",
                                                           "remote.ip", "destination.port", "connection.sni",
                                                           "destination.ip", "request.headers[x-user]",
                                                           "request.auth.claims[iss]", "bogus"])},
                                  optional={"values": st.lists(istio_strings, max_size=2),
                                            "notValues": st.lists(istio_strings, max_size=2)})
authorization_policy = resource("security.istio.io/v1", "AuthorizationPolicy", st.fixed_dictionaries({}, optional={
    "selector": st.fixed_dictionaries({"matchLabels": labels}),
    "action": st.sampled_from(["ALLOW", "DENY", "AUDIT"]),
    "rules": st.lists(st.fixed_dictionaries({}, optional={
        "from": st.lists(st.fixed_dictionaries({"source": source}), max_size=2),
        "to": st.lists(st.fixed_dictionaries({"operation": operation}), max_size=2),
        "when": st.lists(condition, max_size=2)}), max_size=3)}))
destination = st.fixed_dictionaries({"host": hosts}, optional={
    "port": st.fixed_dictionaries({"number": ports}), "subset": names})
http_rule = st.fixed_dictionaries({"route": st.lists(st.fixed_dictionaries({"destination": destination}, optional={
    "weight": st.integers(0, 100)}), min_size=1, max_size=2)}, optional={
    "match": st.lists(st.fixed_dictionaries({}, optional={
        "uri": string_match, "headers": st.dictionaries(st.sampled_from(["x-user", "host"]), string_match,
                                                        max_size=1),
        "method": string_match, "port": ports, "gateways": st.lists(names, max_size=1),
        "ignoreUriCase": st.booleans()}), max_size=2),
    "timeout": durations, "retries": st.fixed_dictionaries({"attempts": st.integers(0, 5)},
                                                           optional={"perTryTimeout": durations}),
    "fault": st.fixed_dictionaries({}, optional={
        "abort": st.fixed_dictionaries({"httpStatus": st.integers(100, 599)}, optional={
            "percentage": st.fixed_dictionaries({"value": st.floats(0, 100)})}),
        "delay": st.fixed_dictionaries({"fixedDelay": durations})}),
    "rewrite": st.fixed_dictionaries({}, optional={"uri": st.sampled_from(["/", "/x"]), "authority": hosts})})
other_rule = st.one_of(
    st.fixed_dictionaries({"redirect": st.fixed_dictionaries({}, optional={
        "uri": st.just("/new"), "authority": hosts, "redirectCode": st.sampled_from([301, 302, 308, 999])})}),
    st.fixed_dictionaries({"directResponse": st.fixed_dictionaries({"status": st.integers(100, 599)}, optional={
        "body": st.fixed_dictionaries({"string": odd_text})})}))
virtual_service = resource("networking.istio.io/v1", "VirtualService", st.fixed_dictionaries(
    {"hosts": st.lists(hosts, min_size=1, max_size=2)},
    optional={"gateways": st.lists(st.sampled_from(["mesh", "gw", "istio-system/gw", "foo/secure", "nope"]),
                                   max_size=2),
              "http": st.lists(st.one_of(http_rule, other_rule), max_size=2),
              "tcp": st.lists(st.fixed_dictionaries({"route": st.lists(st.fixed_dictionaries(
                  {"destination": destination}), min_size=1, max_size=1)}), max_size=1),
              "tls": st.lists(st.fixed_dictionaries({"match": st.lists(st.fixed_dictionaries(
                  {"sniHosts": st.lists(hosts, min_size=1, max_size=1)}), min_size=1, max_size=1),
                  "route": st.lists(st.fixed_dictionaries({"destination": destination}), min_size=1,
                                    max_size=1)}), max_size=1)}))
server_tls = st.fixed_dictionaries({"mode": st.sampled_from(["SIMPLE", "MUTUAL", "PASSTHROUGH", "ISTIO_MUTUAL",
                                                             "AUTO_PASSTHROUGH", "OPTIONAL_MUTUAL"])},
                                   optional={"credentialName": names, "httpsRedirect": st.booleans(),
                                             "subjectAltNames": st.lists(istio_strings, max_size=1),
                                             "minProtocolVersion": st.sampled_from(["TLSV1_2", "TLSV1_3"])})
gateway = resource("networking.istio.io/v1", "Gateway", st.fixed_dictionaries(
    {"servers": st.lists(st.fixed_dictionaries(
        {"port": st.fixed_dictionaries({"number": ports, "protocol": st.sampled_from(
            ["HTTP", "HTTPS", "HTTP2", "TCP", "TLS", "GRPC"])}, optional={"name": names, "targetPort": ports}),
         "hosts": st.lists(hosts, min_size=1, max_size=2)}, optional={"tls": server_tls}), min_size=1, max_size=3)},
    optional={"selector": st.sampled_from([{"istio": "ingressgateway"}, {"app": "nothing"}, {}])}))
secret = st.builds(lambda m, kind, data: {"apiVersion": "v1", "kind": "Secret", "metadata": m, "type": kind,
                                          "stringData": data},
                   meta(), st.sampled_from(["kubernetes.io/tls", "Opaque"]),
                   st.dictionaries(st.sampled_from(["tls.crt", "tls.key", "ca.crt", "cacert", "cert", "key"]),
                                   st.sampled_from(["-----BEGIN CERTIFICATE-----\nnot base64\n", "", "garbage"]),
                                   max_size=3))
any_resource = st.one_of(deployment, service, peer_authentication, destination_rule, authorization_policy,
                         virtual_service, gateway, secret)


def stored_objects(docs: list[dict]) -> list[dict]:
    """What the store holds after applying `docs` one by one (the rejected ones skipped) and the
    deployment controller made the pods."""
    with tempfile.TemporaryDirectory() as state:
        store = Store(state)
        store.apply(system_objects(), system=True)
        for doc in docs:
            try:
                store.apply([doc])
            except LabkitError:
                pass  # the validator's job, tested elsewhere; what it lets through must translate
        _, objects = store.snapshot()
        create, delete = reconcile_pods(objects)
        store.apply(create, system=True)
        store.delete(delete, ignore_missing=True)
        return store.snapshot()[1]


def translate(docs: list[dict], paths: ProxyPaths | None = None):
    """Each proxy's config (pod, ProxyConfig), as the runtime would build it."""
    model = build_model(stored_objects(docs), 10)
    for pod in model.pods:
        if pod.sidecar or pod.is_gateway:
            yield pod, build_proxy_config(model, pod, paths or ProxyPaths(f"/state/{pod.name}"), GatewaySettings())


@settings(max_examples=int(os.environ.get("LABKIT_HYPOTHESIS_EXAMPLES", "100")), deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(resources=st.lists(any_resource, min_size=1, max_size=8))
def test_translator_raises_only_labkit_errors(resources):
    try:
        for _, config in translate([*BASE, *resources]):
            json.dumps([config.listeners, config.clusters, config.routes, config.sds, config.warnings])
    except LabkitError:
        pass


# ---- and a real Envoy accepts what it writes ------------------------------------------------------

@pytest.fixture(scope="module")
def envoy(tmp_path_factory):
    """One Envoy that loads config after config; listeners moved to 127.0.0.1:0 so nothing can clash."""
    root = tmp_path_factory.mktemp("envoy")
    proxy = EnvoyProcess("translator-check", ProxyPaths(str(root / "proxy")), "sidecar~127.0.0.1~check.foo~foo",
                         "check.foo")
    ca = MeshCA.create(key_type="ec")
    identity = ca.issue("spiffe://cluster.local/ns/foo/sa/check")
    proxy.write_secret(tls_certificate_secret("default", identity.cert_pem.decode(),
                                                        identity.key_pem.decode()))
    proxy.write_secret(validation_secret("ROOTCA", ca.root_pem.decode()))
    proxy.start()
    certs_dir = root / "certs"
    files = certs.write_pem(certs.make_client_cert(certs.make_ca("dr CA", key_type="ec"), "client", key_type="ec"),
                            certs_dir, "client")
    files["ca"].rename(certs_dir / "ca.pem")
    yield proxy, str(certs_dir)
    proxy.stop()


@pytest.mark.envoy
@settings(max_examples=int(os.environ.get("LABKIT_HYPOTHESIS_ENVOY_EXAMPLES", "25")), deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(resources=st.lists(any_resource, min_size=1, max_size=8))
def test_envoy_accepts_every_config_the_translator_writes(envoy, resources):
    """A config Envoy rejects would leave the proxy on its old config while the store has moved on."""
    proxy, certs_dir = envoy
    docs = json.loads(json.dumps([*BASE, *resources]).replace(CERTS, certs_dir))
    try:
        configs = list(translate(docs, proxy.paths))
    except LabkitError:
        return
    # One sidecar (inbound and outbound) and the gateway cover every builder.
    for pod, config in configs:
        if pod.is_gateway or pod.labels.get("app") == "httpbin":
            for listener in config.listeners:
                listener["address"] = {"socket_address": {"address": "127.0.0.1", "port_value": 0}}
            proxy.apply(config)
            proxy.wait_applied(timeout=10)
