"""YAML scenarios for the verification tools' pure tests: resources → pods (the real deployment controller
and injector) → model, with no processes. The migration setup is the one tests/mesh_scenarios.py runs live."""
from __future__ import annotations

from labkit.model.deployments import reconcile_pods
from labkit.model.mesh import build_model
from labkit.resources.loader import load_documents
from labkit.resources.validate import validate
from labkit.samples import sample

from mesh_scenarios import NAMESPACES

SUBNET = 10


def docs(*yamls: str, namespace: str = "default") -> list[dict]:
    return [validate(d, namespace) for text in yamls for d in load_documents(text)]


def migration(*extra: str) -> list[dict]:
    """foo and bar injected, legacy not; httpbin and curl in each (istio.io mTLS migration task)."""
    out = docs(NAMESPACES)
    for namespace in ("foo", "bar", "legacy"):
        out += docs(sample("httpbin"), sample("curl"), namespace=namespace)
    return out + docs(*extra)


def with_pods(objects: list[dict]) -> list[dict]:
    pods, _ = reconcile_pods(objects)
    return objects + pods


def model_of(objects: list[dict]):
    return build_model(with_pods(objects), SUBNET)



GATEWAY = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: mygateway, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["httpbin.example.com"]
"""

GATEWAY_VS = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: httpbin, namespace: foo}
spec:
  hosts: ["httpbin.example.com"]
  gateways: ["istio-system/mygateway"]
  http:
  - route:
    - destination: {host: httpbin.foo.svc.cluster.local, port: {number: 8000}}
"""
