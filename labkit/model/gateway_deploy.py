"""Istio's automated deployment for a Gateway API Gateway of class `istio`, as pure functions over stored objects.

istiod's deployment controller (pilot/pkg/config/kube/gatewaycommon/deploymentcontroller.go, template
manifests/charts/istio-control/istio-discovery/files/kube-gateway.yaml) renders, in the Gateway's namespace:
- a ServiceAccount, a Deployment and a Service, all named `<gateway name>-istio`, owned by the Gateway
  (ownerReferences), labelled `gateway.networking.k8s.io/gateway-name: <name>` and
  `gateway.networking.k8s.io/gateway-class-name: istio` (the Deployment and its pods also
  `gateway.istio.io/managed: istio.io-gateway-controller`);
- pods running only `istio-proxy` (the proxyv2 image, `sidecar.istio.io/inject: "false"`);
- a Service of type LoadBalancer selecting `gateway.networking.k8s.io/gateway-name`, with `status-port`
  15021 first and one port per distinct listener port, named after the listener (extractServicePorts).
Deleting the Gateway deletes them (garbage collection through the owner references).
"""
from __future__ import annotations

import re

from .deployments import PROXY_IMAGE
from .kinds import GATEWAY_API_GROUP, K8S_GATEWAY, kind_key

GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"
GATEWAY_CLASS_LABEL = "gateway.networking.k8s.io/gateway-class-name"
MANAGED_LABEL = "gateway.istio.io/managed"
MANAGED_VALUE = "istio.io-gateway-controller"
ISTIO_CLASS = "istio"
ISTIO_CONTROLLER = "istio.io/gateway-controller"
STATUS_PORT = 15021
GENERATED_KINDS = ("ServiceAccount", "Deployment", "Service")


def deployment_name(gateway_name: str) -> str:
    """`<name>-istio`: the Deployment, Service and ServiceAccount of an automated gateway."""
    return f"{gateway_name}-istio"


def is_istio_gateway(gateway: dict, objects_or_classes) -> bool:
    """Whether Istio's controller handles this Gateway: its class exists and names Istio's controller."""
    wanted = (gateway.get("spec") or {}).get("gatewayClassName")
    return any(kind_key(o) == "GatewayClass" and o["metadata"]["name"] == wanted
               and (o.get("spec") or {}).get("controllerName") == ISTIO_CONTROLLER for o in objects_or_classes)


def _sanitize_port_name(name: str) -> str:
    # sanitizeListenerNameForPort: a Service port name is a DNS label of at most 15 characters.
    cleaned = re.sub(r"[^a-z0-9-]", "-", name.lower()).strip("-")
    return cleaned[:15].rstrip("-")


def service_ports(gateway: dict) -> list[dict]:
    """extractServicePorts: status-port, then each listener port once, named after its first listener."""
    ports = [{"name": "status-port", "port": STATUS_PORT, "protocol": "TCP", "appProtocol": "tcp"}]
    used = {"status-port"}
    seen: set[int] = set()
    for index, listener in enumerate((gateway.get("spec") or {}).get("listeners") or []):
        number = listener.get("port")
        if number in seen:
            continue
        seen.add(number)
        name = _sanitize_port_name(listener.get("name") or "") or f"{str(listener.get('protocol')).lower()}-{index}"
        if name in used:
            name = f"{name[:9]}-{number}"
        used.add(name)
        ports.append({"name": name, "port": number, "protocol": "TCP",
                      "appProtocol": str(listener.get("protocol") or "").lower()})
    return ports


def _owner(gateway: dict) -> list[dict]:
    return [{"apiVersion": f"{GATEWAY_API_GROUP}/v1", "kind": "Gateway", "name": gateway["metadata"]["name"],
             "uid": gateway["metadata"].get("uid", "")}]


def automated_objects(gateway: dict) -> list[dict]:
    """The ServiceAccount, Deployment and Service istiod renders for one Gateway."""
    meta = gateway["metadata"]
    name, namespace = deployment_name(meta["name"]), meta["namespace"]
    labels = {GATEWAY_NAME_LABEL: meta["name"], GATEWAY_CLASS_LABEL: ISTIO_CLASS}
    managed = {**labels, MANAGED_LABEL: MANAGED_VALUE}
    owner = _owner(gateway)
    pod_labels = {"sidecar.istio.io/inject": "false", "service.istio.io/canonical-name": name,
                  "service.istio.io/canonical-revision": "latest", **managed}
    container = {"name": "istio-proxy", "image": PROXY_IMAGE,
                 "args": ["proxy", "router", "--domain", "$(POD_NAMESPACE).svc.cluster.local",
                          "--proxyLogLevel", "warning", "--proxyComponentLogLevel", "misc:error",
                          "--log_output_level", "default:info"],
                 "ports": [{"containerPort": 15020, "name": "metrics", "protocol": "TCP"},
                           {"containerPort": STATUS_PORT, "name": "status-port", "protocol": "TCP"},
                           {"containerPort": 15090, "name": "http-envoy-prom", "protocol": "TCP"}]}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": name, "namespace": namespace, "labels": labels, "ownerReferences": owner}},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": name, "namespace": namespace, "labels": managed, "ownerReferences": owner},
         "spec": {"replicas": 1, "selector": {"matchLabels": {GATEWAY_NAME_LABEL: meta["name"]}},
                  "template": {"metadata": {"labels": pod_labels,
                                            "annotations": {"istio.io/rev": "default",
                                                            "prometheus.io/path": "/stats/prometheus",
                                                            "prometheus.io/port": "15020",
                                                            "prometheus.io/scrape": "true"}},
                               "spec": {"serviceAccountName": name, "containers": [container]}}}},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": name, "namespace": namespace, "labels": labels, "ownerReferences": owner},
         "spec": {"type": "LoadBalancer", "selector": {GATEWAY_NAME_LABEL: meta["name"]},
                  "ports": service_ports(gateway)}},
    ]


def _owned_by_gateway(obj: dict) -> str | None:
    """The name of the Gateway API Gateway owning a generated object, if it is one."""
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("kind") == "Gateway" and str(ref.get("apiVersion", "")).startswith(GATEWAY_API_GROUP + "/"):
            return ref.get("name")
    return None


def _spec_part(obj: dict) -> dict:
    meta = obj["metadata"]
    return {"spec": obj.get("spec"), "labels": meta.get("labels"), "owners": [
        {k: v for k, v in ref.items() if k != "uid"} for ref in meta.get("ownerReferences") or []]}


def reconcile_automated(objects: list[dict]) -> tuple[list[dict], list[tuple[str, str, str]]]:
    """What istiod's deployment controller would write: objects to create or update, and keys to delete
    (objects a deleted Gateway, or one no longer of class `istio`, owned)."""
    gateways = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects
                if kind_key(o) == K8S_GATEWAY and is_istio_gateway(o, objects)}
    stored = {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in objects
              if o["kind"] in GENERATED_KINDS}
    apply: list[dict] = []
    for gateway in gateways.values():
        for wanted in automated_objects(gateway):
            key = (wanted["kind"], wanted["metadata"]["namespace"], wanted["metadata"]["name"])
            current = stored.get(key)
            if current is None or _spec_part(current) != _spec_part(wanted):
                apply.append(wanted)
    delete = [key for key, obj in stored.items()
              if (owner := _owned_by_gateway(obj)) is not None and (key[1], owner) not in gateways]
    return apply, delete


def load_balancer_ips(service: dict, objects: list[dict]) -> list[str]:
    """The load balancer address of an automated gateway's Service: on the local mesh its pod's IP, which the
    owning Gateway's status.addresses carries (istiod copies the Service's address there on a cluster)."""
    owner = _owned_by_gateway(service)
    if owner is None or service.get("kind") != "Service":
        return []
    namespace = service["metadata"].get("namespace")
    gateway = next((o for o in objects if kind_key(o) == K8S_GATEWAY and o["metadata"]["name"] == owner
                    and o["metadata"].get("namespace") == namespace), None)
    return [a["value"] for a in ((gateway or {}).get("status") or {}).get("addresses") or [] if a.get("value")]


def automated_gateway_of(pod_labels: dict) -> str | None:
    """The Gateway an automated gateway pod serves (its `gateway.networking.k8s.io/gateway-name` label)."""
    return pod_labels.get(GATEWAY_NAME_LABEL) if pod_labels.get(MANAGED_LABEL) == MANAGED_VALUE else None
