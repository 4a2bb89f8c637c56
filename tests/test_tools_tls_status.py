"""The TLS status table on the model: each conflict Istio produces, and its absence when the config is sound."""
from __future__ import annotations

import pytest

from labkit.samples import system_objects
from labkit.tools.tls_status import CHECK, CONFLICT, OK, tls_status

from mesh_scenarios import strict
from mesh_scenarios import destination_rule as dr
from tools_fixtures import GATEWAY, GATEWAY_VS, docs, migration, model_of


def row(table, client: str, host: str) -> dict:
    rows = table[(table.client == client) & (table.host == host)]
    assert len(rows) == 1, rows
    return rows.iloc[0].to_dict()


FOO = "httpbin.foo.svc.cluster.local:8000"
BAR = "httpbin.bar.svc.cluster.local:8000"
LEGACY = "httpbin.legacy.svc.cluster.local:8000"


def test_no_policy_every_pair_ok_and_mtls_only_between_sidecars():
    table = tls_status(model_of(migration()))
    assert set(table.status) == {OK}
    assert row(table, "foo/curl", BAR)["mtls"] and row(table, "foo/curl", BAR)["client_rule"] == "auto mTLS"
    assert row(table, "foo/curl", BAR)["server_mode"] == "PERMISSIVE"
    assert not row(table, "foo/curl", LEGACY)["mtls"]       # auto mTLS: plaintext to a sidecar-less endpoint
    assert not row(table, "legacy/curl", FOO)["mtls"]       # no sidecar on the client
    assert row(table, "legacy/curl", FOO)["client_rule"] == "no sidecar"


def test_strict_namespace_conflicts_only_with_sidecarless_clients():
    table = tls_status(model_of(migration(strict("foo"))))
    legacy = row(table, "legacy/curl", FOO)
    assert legacy["status"] == CONFLICT and legacy["expected"] == "connection reset (curl 56)"
    assert legacy["server_mode"] == "STRICT" and legacy["server_policy"] == "default.foo"
    assert row(table, "bar/curl", FOO)["status"] == OK
    assert row(table, "legacy/curl", BAR)["status"] == OK
    conflicts = tls_status(model_of(migration(strict("foo"))), conflicts_only=True)
    assert set(conflicts.client.str.startswith("legacy/")) == {True}


def test_destination_rule_disable_towards_strict_is_a_503_for_that_namespace_only():
    table = tls_status(model_of(migration(strict("foo"), dr("httpbin-plain", "bar", "httpbin.foo.svc.cluster.local",
                                                            "DISABLE"))))
    bar = row(table, "bar/curl", FOO)
    assert bar["status"] == CONFLICT and bar["expected"] == "503"
    assert bar["client_rule"] == "DestinationRule httpbin-plain.bar (DISABLE)" and bar["client_tls"] == "plaintext"
    assert row(table, "foo/curl", FOO)["status"] == OK   # the DR lives in bar; foo's clients use auto mTLS


def test_istio_mutual_to_a_sidecarless_pod_is_a_503():
    table = tls_status(model_of(migration(
        dr("legacy-mtls", "foo", "httpbin.legacy.svc.cluster.local", "ISTIO_MUTUAL"))))
    assert row(table, "foo/curl", LEGACY)["status"] == CONFLICT
    assert row(table, "foo/curl", LEGACY)["expected"] == "503"
    # A client looks for DestinationRules in its own namespace, the service's, then the root one: not in foo.
    assert row(table, "bar/curl", LEGACY)["status"] == OK


def test_workload_disable_lets_auto_mtls_fall_back_but_not_an_explicit_istio_mutual():
    disable = strict("foo", name="plain", selector={"app": "httpbin"}, mode="DISABLE")
    auto = tls_status(model_of(migration(disable)))
    assert row(auto, "bar/curl", FOO)["status"] == OK and not row(auto, "bar/curl", FOO)["mtls"]
    forced = tls_status(model_of(migration(
        disable, dr("force", "bar", "httpbin.foo.svc.cluster.local", "ISTIO_MUTUAL"))))
    assert row(forced, "bar/curl", FOO)["status"] == CONFLICT


def test_port_level_exception_is_named_in_the_server_policy():
    table = tls_status(model_of(migration(strict("bar", name="httpbin", selector={"app": "httpbin"},
                                                 port_level={8080: "PERMISSIVE"}))))
    legacy = row(table, "legacy/curl", BAR)
    assert legacy["status"] == OK and legacy["server_mode"] == "PERMISSIVE"
    assert legacy["server_policy"] == "httpbin.bar (portLevelMtls 8080)"


def test_tls_origination_to_a_permissive_sidecar_depends_on_the_port_protocol():
    simple = dr("simple", "foo", "httpbin.bar.svc.cluster.local", "SIMPLE")
    # A port declared HTTP: the server's sidecar has no chain for non-mesh TLS and closes the connection.
    http = row(tls_status(model_of(migration(simple))), "foo/curl", BAR)
    assert http["status"] == CONFLICT and http["expected"] == "503"
    # The same port unnamed: Istio sniffs it, and the app's own TLS passes through to the app.
    objects = migration(simple)
    for obj in objects:
        meta = obj["metadata"]
        if obj["kind"] == "Service" and (meta["name"], meta.get("namespace")) == ("httpbin", "bar"):
            for port in obj["spec"]["ports"]:
                port.pop("name", None)
    assert row(tls_status(model_of(objects)), "foo/curl", BAR)["status"] == CHECK


def test_filters_by_client_and_service():
    table = tls_status(model_of(migration()), client="foo/curl", service="httpbin.bar:8000")
    assert list(table.host) == [BAR] and list(table.client) == ["foo/curl"]
    assert set(tls_status(model_of(migration()), client="legacy").client) == {"legacy/curl", "legacy/httpbin"}


def test_gateway_is_a_client_only_of_services_a_gateway_route_reaches():
    base = migration() + [o for o in system_objects() if o["kind"] in ("Deployment", "Service")]
    gateway = "istio-system/istio-ingressgateway"
    assert gateway not in set(tls_status(model_of(base)).client)
    routed = tls_status(model_of(base + docs(GATEWAY, GATEWAY_VS)))
    assert set(routed[routed.client == gateway].host) == {FOO}
    assert row(routed, gateway, FOO)["mtls"]


def test_a_service_without_endpoints_is_flagged():
    table = tls_status(model_of(migration("apiVersion: v1\nkind: Service\nmetadata: {name: ghost, namespace: foo}\n"
                                          "spec: {selector: {app: ghost}, ports: [{name: http, port: 80}]}\n")),
                       service="ghost.foo")
    assert set(table.server) == {"(no endpoints)"} and set(table.status) == {CHECK}


@pytest.mark.parametrize("client,server,expected", [
    ("ISTIO_MUTUAL", "DISABLE", CONFLICT), ("plaintext", "STRICT", CONFLICT), ("plaintext", "DISABLE", OK),
    ("ISTIO_MUTUAL", "STRICT", OK), ("MUTUAL", "STRICT", CONFLICT), ("SIMPLE", "DISABLE", CONFLICT),
])
def test_verdict_matrix(client, server, expected):
    from labkit.tools.tls_status import ClientSide, ServerSide, verdict
    assert verdict(ClientSide(True, client, "x"), ServerSide(True, server, "p")).status == expected
