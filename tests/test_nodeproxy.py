"""NodePort translation without Envoy: one plain TCP listener per nodePort, to the pods' target port."""
from __future__ import annotations

from labkit.envoy.common import ProxyPaths
from labkit.envoy.nodeproxy import build_node_proxy
from labkit.model.deployments import reconcile_pods
from labkit.model.mesh import build_model
from labkit.resources.loader import load_documents
from labkit.resources.validate import validate

RESOURCES = """
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 80, nodePort: 30080}]
---
apiVersion: v1
kind: Service
metadata: {name: internal, namespace: shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx, ports: [{containerPort: 80}]}]}
"""


def test_one_tcp_listener_per_node_port_without_tls():
    objects = [validate(d) for d in load_documents(RESOURCES)]
    pods, _ = reconcile_pods(objects)
    model = build_model(objects + pods, 10)
    config = build_node_proxy(model, ProxyPaths("/state/node-proxy"), "127.0.0.1")
    assert [l["name"] for l in config.listeners] == ["nodeport_30080"]
    listener = config.listeners[0]
    assert listener["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 30080}
    assert listener["filter_chains"][0]["filters"][0]["name"] == "envoy.filters.network.tcp_proxy"
    [cluster] = config.clusters
    assert cluster["name"] == "nodeport|30080||web.shop.svc.cluster.local"
    assert "transport_socket" not in cluster and "transport_socket_matches" not in cluster
    endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
    assert endpoint == {"address": model.pods[0].ip, "port_value": 20080}  # container port 80, shifted


def test_no_node_ports_no_listeners():
    objects = [validate(d) for d in load_documents(RESOURCES.replace("type: NodePort", "type: ClusterIP")
                                                   .replace(", nodePort: 30080", ""))]
    model = build_model(objects, 10)
    assert build_node_proxy(model, ProxyPaths("/x"), "127.0.0.1").listeners == []
