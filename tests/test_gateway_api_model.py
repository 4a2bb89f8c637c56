"""Gateway API without processes: validation (the CRDs' rules), kind names, Istio's automated deployment,
route attachment and status, and the analyzer's messages (each shown to fire on a wrong setup and to stay
quiet on the fixed one)."""
from __future__ import annotations

import pytest

from labkit.errors import LabkitError
from labkit.model.gateway_deploy import automated_objects, reconcile_automated
from labkit.model.gatewayapi import reference_allowed, translate
from labkit.model.mesh import build_model
from labkit.resources.loader import load_documents
from labkit.resources.schema import kind_info
from labkit.resources.validate import validate
from labkit.samples import system_objects
from labkit.tools.analyze import analyze_documents

GATEWAY = """
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: shop}
spec:
  gatewayClassName: istio
  listeners:
  - {name: http, hostname: shop.example.com, port: 80, protocol: HTTP}
"""


def one(text: str) -> dict:
    return validate(load_documents(text)[0])


@pytest.mark.parametrize("change, field, words", [
    ("gatewayClassName: istio", "spec.gatewayClassName", "Required value"),
    ("port: 80", "spec.listeners[0].port", "between 1 and 65535"),
    ("protocol: HTTP}", "spec.listeners[0].tls", "tls must not be specified for protocols"),
    ("hostname: shop.example.com", "spec.listeners[0].hostname", "should match"),
])
def test_gateway_crd_rules_refuse_what_kubectl_would(change, field, words):
    wrong = {"gatewayClassName: istio": "gatewayClassName: ''",
             "port: 80": "port: 70000",
             "protocol: HTTP}": "protocol: HTTP, tls: {mode: Terminate, certificateRefs: [{name: x}]}}",
             "hostname: shop.example.com": "hostname: 'shop.example.com:80'"}[change]
    with pytest.raises(LabkitError) as caught:
        one(GATEWAY.replace(change, wrong))
    assert caught.value.field == field and words in caught.value.message
    assert caught.value.kind == "Gateway" and caught.value.name == "web"
    one(GATEWAY)   # the right one is accepted


def test_https_listener_needs_certificates_and_route_rules_are_checked():
    https = GATEWAY.replace("protocol: HTTP}", "protocol: HTTPS, tls: {mode: Terminate}}")
    with pytest.raises(LabkitError, match="certificateRefs or options must be specified"):
        one(https)
    route = """
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: shop}
spec:
  parentRefs: [{name: web}]
  rules: [{matches: [{path: {type: PathPrefix, value: api}}], backendRefs: [{name: svc}]}]
"""
    with pytest.raises(LabkitError, match="value must be an absolute path"):
        one(route)
    with pytest.raises(LabkitError, match="Must have port for Service reference"):
        one(route.replace("value: api", "value: /api"))
    one(route.replace("value: api", "value: /api").replace("{name: svc}", "{name: svc, port: 80}"))


def test_versions_served_as_istio_installs_them():
    with pytest.raises(LabkitError, match="does not serve TCPRoute"):
        one("apiVersion: gateway.networking.k8s.io/v1\nkind: TCPRoute\nmetadata: {name: t}\n"
            "spec: {rules: [{backendRefs: [{name: s, port: 1}]}]}\n")
    for version in ("v1", "v1alpha2"):
        one(f"apiVersion: gateway.networking.k8s.io/{version}\nkind: TLSRoute\nmetadata: {{name: t}}\n"
            "spec: {rules: [{backendRefs: [{name: s, port: 1}]}]}\n")


def test_kind_names_keep_istios_gateway_and_the_gateway_apis_apart():
    assert kind_info("gw").group == "networking.istio.io"
    assert kind_info("gateway").group == "networking.istio.io"
    assert kind_info("gtw").group == "gateway.networking.k8s.io"
    assert kind_info("gateways.gateway.networking.k8s.io").key == "Gateway.gateway.networking.k8s.io"
    assert kind_info("httproute").kind == "HTTPRoute" and kind_info("refgrant").kind == "ReferenceGrant"
    assert any(o["kind"] == "GatewayClass" and o["metadata"]["name"] == "istio" for o in system_objects())


def _model(*texts: str):
    objects = [validate(d) for o in system_objects() for d in [o]]
    objects += [validate(d) for t in texts for d in load_documents(t)]
    objects += reconcile_automated(objects)[0]
    return build_model(objects, 10)


def test_automated_deployment_follows_istios_template():
    gateway = one(GATEWAY)
    sa, deployment, service = automated_objects(gateway)
    assert {o["metadata"]["name"] for o in (sa, deployment, service)} == {"web-istio"}
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels["gateway.networking.k8s.io/gateway-name"] == "web" and labels["sidecar.istio.io/inject"] == "false"
    assert service["spec"]["type"] == "LoadBalancer"
    assert [(p["name"], p["port"]) for p in service["spec"]["ports"]] == [("status-port", 15021), ("http", 80)]
    # A Gateway of another class is not Istio's: nothing is deployed for it.
    other = GATEWAY.replace("gatewayClassName: istio", "gatewayClassName: other")
    objects = system_objects() + [one(other)]
    assert reconcile_automated(objects) == ([], [])
    # Deleting the Gateway deletes what it owned.
    stored = system_objects() + [one(GATEWAY)]
    stored += reconcile_automated(stored)[0]
    remaining = [o for o in stored if o["kind"] != "Gateway" or o["apiVersion"].startswith("networking.istio.io")]
    assert sorted(k[0] for k in reconcile_automated(remaining)[1]) == ["Deployment", "Service", "ServiceAccount"]


ROUTE = """
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: shop, namespace: %s}
spec:
  parentRefs: [{name: web, namespace: shop}]
  hostnames: [%s]
  rules: [{backendRefs: [{name: cart, namespace: shop, port: 8000}]}]
"""
NAMESPACES = "\n---\n".join(f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {n}}}" for n in ("shop", "web"))
CART = "apiVersion: v1\nkind: Service\nmetadata: {name: cart, namespace: shop}\nspec: {ports: [{name: http, port: 8000}]}"
GRANT = """
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: web-routes, namespace: shop}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: web}]
  to: [{group: "", kind: Service}]
"""


def test_route_attachment_by_hostname_and_namespace():
    good = translate(_model(NAMESPACES, CART, GATEWAY, ROUTE % ("shop", "shop.example.com")))
    assert good.routes[0].parents[0].denied is None and good.gateways[0].listeners[0].attached == 1
    assert [vs["spec"]["hosts"] for vs in good.virtual_services] == [["shop.example.com"]]
    wrong_host = translate(_model(NAMESPACES, CART, GATEWAY, ROUTE % ("shop", "other.example.com")))
    denied = wrong_host.routes[0].parents[0].denied
    assert denied.reason == "NoMatchingListenerHostname"
    assert denied.message == 'no hostnames matched parent hostname "shop.example.com"'
    assert wrong_host.gateways[0].listeners[0].attached == 0 and wrong_host.virtual_services == []
    # allowedRoutes defaults to Same: a route from another namespace is not allowed.
    foreign = translate(_model(NAMESPACES, CART, GATEWAY, ROUTE % ("web", "shop.example.com")))
    assert foreign.routes[0].parents[0].denied.reason == "NotAllowedByListeners"
    # A listener without a hostname: any route hostname matches, the namespace still decides (istiod's words).
    any_host = GATEWAY.replace("hostname: shop.example.com, ", "")
    denied = translate(_model(NAMESPACES, CART, any_host, ROUTE % ("web", "x.example.org"))).routes[0].parents[0].denied
    assert denied.message == 'hostnames matched parent hostname "", but namespace "web" is not allowed by the parent'


def test_cross_namespace_backend_needs_a_reference_grant():
    allow_all = GATEWAY.replace("protocol: HTTP}", "protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}")
    without = _model(NAMESPACES, CART, allow_all, ROUTE % ("web", "shop.example.com"))
    error = translate(without).routes[0].parents[0].route_error
    assert error.reason == "RefNotPermitted"
    assert error.message == ('backendRef cart/shop not accessible to a HTTPRoute in namespace "web" '
                             "(missing a ReferenceGrant?)")
    assert not reference_allowed(without, "HTTPRoute", "web", "Service", "", "shop", "cart")
    granted = _model(NAMESPACES, CART, allow_all, ROUTE % ("web", "shop.example.com"), GRANT)
    assert translate(granted).routes[0].parents[0].route_error is None


def _codes(*texts: str) -> list[str]:
    return [m.code for m in analyze_documents([d for t in texts for d in load_documents(t)])
            if m.code in ("LAB0006", "LAB0007", "LAB0008")]


def test_analyzer_reports_what_the_status_would_say():
    https = GATEWAY.replace("protocol: HTTP}", "protocol: HTTPS, tls: {certificateRefs: [{name: shop-cert}]}}")
    report = analyze_documents([d for t in (NAMESPACES, CART, https, ROUTE % ("shop", "other.example.com"))
                                for d in load_documents(t)])
    texts = {m.code: str(m) for m in report}
    assert "invalid certificate reference /Secret/shop-cert., secret shop/shop-cert not found" in texts["LAB0006"]
    assert "no hostnames matched parent hostname" in texts["LAB0007"] and "labkit check" in texts["LAB0007"]
    allow_all = GATEWAY.replace("protocol: HTTP}", "protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}")
    assert _codes(NAMESPACES, CART, allow_all, ROUTE % ("web", "shop.example.com")) == ["LAB0008"]
    # Fixed: the certificate exists, the hostname matches, the grant is there.
    secret = ("apiVersion: v1\nkind: Secret\nmetadata: {name: shop-cert, namespace: shop}\ntype: kubernetes.io/tls\n"
              "data: {tls.crt: '', tls.key: ''}\n")
    assert _codes(NAMESPACES, CART, allow_all, ROUTE % ("web", "shop.example.com"), GRANT) == []
    assert "LAB0006" in _codes(NAMESPACES, CART, https, secret)   # a Secret without a key pair still fails


def test_workshop_prefixing_maps_every_namespace_a_gateway_names():
    from labkit.backends.kube_prefix import NamespaceMap
    names = NamespaceMap("alice")
    gateway = one(GATEWAY.replace("protocol: HTTP}", "protocol: HTTPS, tls: {certificateRefs: [{name: c, namespace: "
                                  "certs}]}, allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: "
                                  "{kubernetes.io/metadata.name: shop}}}}}"))
    mapped = names.map_object(gateway)
    listener = mapped["spec"]["listeners"][0]
    assert listener["tls"]["certificateRefs"][0]["namespace"] == "alice-certs"
    assert listener["allowedRoutes"]["namespaces"]["selector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "alice-shop"}
    assert names.unmap_object(mapped)["spec"] == gateway["spec"]


def test_kube_backend_finds_a_gateway_api_gateway_by_its_automated_service(monkeypatch):
    """On a cluster, `gateway="NS/NAME"` reads the Service `NAME-istio`'s load balancer address (istio.io's
    Gateway API tabs: INGRESS_HOST from `kubectl get gtw`/the Service), else says how to port-forward it."""
    from kube_mock import KubeMock
    from labkit.backends.kube import KubeLab
    monkeypatch.setenv("KUBECONFIG", "/nonexistent/labkit-test-kubeconfig")
    with KubeMock() as api:
        lab = KubeLab(api_client=api.api_client(), poll_interval=0.02)
        try:
            service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web-istio", "namespace": "shop"},
                       "spec": {"type": "LoadBalancer", "ports": [{"name": "https", "port": 443}]},
                       "status": {"loadBalancer": {"ingress": [{"ip": "172.18.255.201"}]}}}
            api.add(service)
            assert lab.gateway_url(443, gateway="shop/web") == "https://172.18.255.201:443"
            assert api.find_requests("GET")[-1].route == "/api/v1/namespaces/shop/services/web-istio"
            with pytest.raises(LabkitError, match="automated Service does not exist"):
                lab.gateway_url(443, gateway="shop/other")
            api.add({**service, "spec": {"type": "ClusterIP", "ports": [{"name": "https", "port": 443}]}, "status": {}})
            with pytest.raises(LabkitError) as err:
                lab.gateway_url(443, gateway="shop/web")
            assert "kubectl -n shop port-forward svc/web-istio 10443:443" in err.value.hint
        finally:
            lab.close()


def test_the_local_load_balancer_address_of_an_automated_gateway(monkeypatch):
    """The local API shows the automated Service's EXTERNAL-IP (the address in the Gateway's status), and
    KubeLab shifts privileged ports only when the load balancer says it must (LABKIT_LB_LOW_PORT_OFFSET)."""
    from labkit.backends.kube import load_balancer_port
    from labkit.kubeapi.views import service_view
    from labkit.model.gateway_deploy import load_balancer_ips
    gateway = one(GATEWAY)
    gateway["status"] = {"addresses": [{"type": "IPAddress", "value": "127.10.7.1"}]}
    service = automated_objects(gateway)[2]
    assert load_balancer_ips(service, [gateway, service]) == ["127.10.7.1"]
    assert service_view(service, ["127.10.7.1"])["status"]["loadBalancer"]["ingress"][0]["ip"] == "127.10.7.1"
    other = {**service, "metadata": {**service["metadata"], "ownerReferences": []}}
    assert load_balancer_ips(other, [gateway, other]) == []
    monkeypatch.delenv("LABKIT_LB_LOW_PORT_OFFSET", raising=False)
    assert load_balancer_port(443) == 443
    monkeypatch.setenv("LABKIT_LB_LOW_PORT_OFFSET", "20000")
    assert (load_balancer_port(443), load_balancer_port(8443)) == (20443, 8443)


def test_a_gateway_api_change_reaches_only_gateway_proxies():
    """Push scoping: a route change, or the status istiod writes back, is recomputed for gateway proxies only."""
    from labkit.model.deployments import reconcile_pods
    from labkit.model.push_scope import pods_to_recompute
    app = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: cart, namespace: shop}
spec:
  selector: {matchLabels: {app: cart}}
  template:
    metadata: {labels: {app: cart}}
    spec: {containers: [{name: cart, image: docker.io/mccutchen/go-httpbin:v2.15.0}]}
"""
    objects = [validate(o) for o in system_objects()] + [
        validate(d) for t in (NAMESPACES.replace("name: shop}", "name: shop, labels: {istio-injection: enabled}}"),
                              CART, app, GATEWAY, ROUTE % ("shop", "shop.example.com")) for d in load_documents(t)]
    objects += reconcile_automated(objects)[0]
    pods = reconcile_pods(objects)[0]
    for index, pod in enumerate(pods):
        pod["metadata"]["uid"] = f"pod-{index}"   # the store gives each pod its uid
    objects += pods
    before = build_model(objects, 10)
    changed = [dict(o, status={"parents": []}) if o["kind"] == "HTTPRoute" else o for o in objects]
    after = build_model(changed, 10)
    scope = pods_to_recompute(before, after)
    assert scope == {p.uid for p in after.pods if p.is_gateway}
    assert any(p.sidecar for p in after.pods) and not any(p.uid in scope for p in after.pods if p.sidecar)
