"""Issue 21 item 6: hosts in Istio resources resolve as istiod's ResolveShortnameToFQDN does (model/fqdn.py).

`httpbin` in a rule in namespace foo is httpbin.foo.svc.cluster.local; `httpbin.legacy` has a dot, so istiod
takes it as written and it names no Service: a DestinationRule or VirtualService written for it applies to
nothing on a cluster, and so on the local mesh.
"""
from __future__ import annotations

import pytest

from labkit.model import fqdn
from labkit.model.destrule import client_tls, destination_rule_for
from labkit.model.gateways import vs_hosts
from labkit.model.vsbinding import mesh_virtual_services, resolve_host

from tools_fixtures import migration, model_of, with_pods


@pytest.mark.parametrize("host, namespace, expected", [
    ("httpbin", "foo", "httpbin.foo.svc.cluster.local"),          # a short name: the rule's namespace
    ("HTTPBIN", "foo", "httpbin.foo.svc.cluster.local"),
    ("httpbin.legacy", "foo", "httpbin.legacy"),                  # a dot: taken as written
    ("httpbin.legacy.svc", "foo", "httpbin.legacy.svc"),
    ("httpbin.legacy.svc.cluster.local", "foo", "httpbin.legacy.svc.cluster.local"),
    ("*", "foo", "*"),
    ("*.example.com", "foo", "*.example.com"),
    ("10.0.0.1", "foo", "10.0.0.1"),
    ("::1", "foo", "::1"),
])
def test_resolve_follows_istiod(host, namespace, expected):
    assert fqdn.resolve(host, namespace) == expected


def test_service_entry_and_sidecar_hosts_are_never_completed():
    assert fqdn.as_written("httpbin") == "httpbin" and fqdn.as_written("Api.Example.com") == "api.example.com"


def _dr(host: str, namespace: str = "foo", mode: str = "DISABLE") -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: rule, namespace: {namespace}}}
spec:
  host: {host}
  trafficPolicy: {{tls: {{mode: {mode}}}}}
"""


@pytest.mark.parametrize("host, applies", [
    ("httpbin.legacy.svc.cluster.local", True),
    ("httpbin.legacy", False),
    ("httpbin.legacy.svc", False),
])
def test_a_destination_rule_applies_only_to_the_host_istiod_resolves(host, applies):
    model = model_of(migration(_dr(host)))
    service = model.service_by_fqdn("httpbin.legacy.svc.cluster.local")
    assert (destination_rule_for(model, "foo", service) is not None) is applies
    assert client_tls(model, "foo", service, 8000).mode == ("DISABLE" if applies else "AUTO")


def test_a_short_destination_rule_host_means_the_rules_own_namespace():
    model = model_of(migration(_dr("httpbin", namespace="legacy")))
    assert destination_rule_for(model, "foo", model.service_by_fqdn("httpbin.legacy.svc.cluster.local"))
    assert not destination_rule_for(model, "foo", model.service_by_fqdn("httpbin.foo.svc.cluster.local"))


VS = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: vs, namespace: foo}}
spec:
  hosts: [{host}]
  http:
  - route:
    - destination: {{host: {host}}}
"""


@pytest.mark.parametrize("host, binds", [("httpbin.bar.svc.cluster.local", True), ("httpbin.bar", False)])
def test_virtual_service_hosts_resolve_as_istiod_does(host, binds):
    model = model_of(migration(VS.format(host=host)))
    service = model.service_by_fqdn("httpbin.bar.svc.cluster.local")
    assert bool(mesh_virtual_services(model, "foo", service)) is binds
    vs = model.of_kind("VirtualService")[0]
    assert vs_hosts(vs) == [host] and resolve_host(host, "foo") == host


class ResourcesOnly:
    """A lab that only serves resources (no processes): enough for a MeshView's configuration hints."""
    backend = "static"

    def __init__(self, objects):
        self.objects = with_pods(objects)

    def get(self, kind, name=None, namespace=None):
        return [o for o in self.objects if o["kind"] == kind]

    def mesh_access(self):
        from labkit.tools.access import ToolAccess
        return ToolAccess(self)


def test_the_dr_mode_hint_explains_a_name_dot_namespace_host():
    from labkit.checks import hints
    from labkit.checks.state import MeshView
    view = MeshView(ResourcesOnly(migration(_dr("httpbin.legacy", mode="SIMPLE"))))
    hint = hints.destination_rule(view, "foo", "legacy", "httpbin", 8000, "SIMPLE")
    assert "'httpbin.legacy'" in hint and "taken as written" in hint and "httpbin.legacy.svc.cluster.local" in hint
    assert "completes only names without a dot" in hint
