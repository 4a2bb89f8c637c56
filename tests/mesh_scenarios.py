"""The mutual TLS migration setup (istio.io tasks/security/authentication) used by several tests."""
from __future__ import annotations

import json

from labkit.samples import sample

NAMESPACES = """
apiVersion: v1
kind: Namespace
metadata: {name: foo, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: bar, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: legacy}
"""
CLIENTS = ("foo", "bar", "legacy")
SERVERS = ("foo", "bar", "legacy")


def deploy_migration(lab, client_sample: str = "curl") -> None:
    lab.apply(NAMESPACES)
    for namespace in ("foo", "bar", "legacy"):
        lab.apply(sample("httpbin"), namespace=namespace)
        lab.apply(sample(client_sample), namespace=namespace)
    lab.wait_ready(timeout=60)


def curl_code(lab, client_ns: str, url: str, client: str = "curl") -> tuple[str, int]:
    result = lab.exec(client_ns, client, ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
                                          url])
    return result.stdout.strip(), result.exit_code


def matrix(lab, servers=SERVERS, client: str = "curl") -> dict[tuple[str, str], tuple[str, int]]:
    return {(c, s): curl_code(lab, c, f"http://httpbin.{s}:8000/ip", client) for c in CLIENTS for s in servers}


def strict(namespace: str, name: str = "default", selector: dict | None = None, port_level: dict | None = None,
           mode: str = "STRICT") -> str:
    lines = ["apiVersion: security.istio.io/v1", "kind: PeerAuthentication",
             f"metadata: {{name: {name}, namespace: {namespace}}}", "spec:"]
    if selector:
        lines.append(f"  selector: {{matchLabels: {selector}}}")
    lines.append(f"  mtls: {{mode: {mode}}}")
    if port_level:
        lines.append("  portLevelMtls:")
        for port, port_mode in port_level.items():
            lines.append(f"    {port}: {{mode: {port_mode}}}")
    return "\n".join(lines) + "\n"


# httpbin.foo behind the ingress gateway over plain HTTP (for traffic through gateway and sidecars).
HTTPBIN_GATEWAY_HOST = "load.example.com"
HTTPBIN_GATEWAY = f"""
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: httpbin, namespace: istio-system}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 80, name: http, protocol: HTTP}}
    hosts: [{HTTPBIN_GATEWAY_HOST}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: httpbin-gateway, namespace: foo}}
spec:
  hosts: [{HTTPBIN_GATEWAY_HOST}]
  gateways: [istio-system/httpbin]
  http:
  - route: [{{destination: {{host: httpbin.foo.svc.cluster.local, port: {{number: 8000}}}}}}]
"""

# Lab 12 (seed 000): asset-management behind the ingress gateway, STRICT, DR ISTIO_MUTUAL, and an
# AuthorizationPolicy that lets only the gateway's identity in.
GATEWAY_PRINCIPAL = "cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"
ASSET_HOST = "asset-management.example.com"
_ASSET_MANAGEMENT = """
apiVersion: v1
kind: Namespace
metadata: {{name: assets, labels: {{istio-injection: enabled}}}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: asset-management, namespace: assets}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: asset-management, namespace: assets}}
spec:
  selector: {{matchLabels: {{app.kubernetes.io/name: asset-management}}}}
  template:
    metadata: {{labels: {{app.kubernetes.io/name: asset-management}}}}
    spec:
      serviceAccountName: asset-management
      containers: [{{name: app, image: kennethreitz/httpbin, ports: [{{containerPort: 80}}]}}]
---
apiVersion: v1
kind: Service
metadata: {{name: asset-management, namespace: assets}}
spec:
  selector: {{app.kubernetes.io/name: asset-management}}
  ports: [{{name: http, port: 80, targetPort: 80}}]
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {{name: default, namespace: assets}}
spec: {{mtls: {{mode: STRICT}}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: asset-management, namespace: assets}}
spec:
  host: asset-management
  trafficPolicy: {{tls: {{mode: ISTIO_MUTUAL}}}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: asset-management-policy, namespace: assets}}
spec:
  selector: {{matchLabels: {{app.kubernetes.io/name: asset-management}}}}
  rules:
  - from: [{{source: {{principals: ["{principal}"]}}}}]
    to: [{{operation: {{methods: [GET, POST, PUT, DELETE, PATCH], paths: ["/*"]}}}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: asset-management-gateway, namespace: istio-system}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - {server}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: asset-management-vs, namespace: assets}}
spec:
  hosts: [{host}]
  gateways: [istio-system/asset-management-gateway]
  http:
  - route: [{{destination: {{host: asset-management, port: {{number: 80}}}}}}]
"""


def asset_management(host: str = ASSET_HOST, server_tls: dict | None = None) -> str:
    """Lab 12's YAML; the Gateway serves plain HTTP on 80, or HTTPS on 443 with `server_tls`."""
    if server_tls is None:
        server = f"{{port: {{number: 80, name: http, protocol: HTTP}}, hosts: [{host}]}}"
    else:
        tls = json.dumps(server_tls)  # JSON is YAML flow style
        server = f"{{port: {{number: 443, name: https, protocol: HTTPS}}, hosts: [{host}], tls: {tls}}}"
    return _ASSET_MANAGEMENT.format(principal=GATEWAY_PRINCIPAL, server=server, host=host)


def destination_rule(name: str, namespace: str, host: str, mode: str | None = None, subsets: str = "",
                     extra: str = "") -> str:
    """A DestinationRule, with a top-level `tls.mode` when `mode` is given."""
    tls = f"\n  trafficPolicy: {{tls: {{mode: {mode}}}}}" if mode else ""
    return (f"apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
            f"metadata: {{name: {name}, namespace: {namespace}}}\nspec:\n  host: {host}{tls}\n{subsets}{extra}")
