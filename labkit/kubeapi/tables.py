"""Server-side Table rendering: `kubectl get` prints the columns the API server sends.

Built-in kinds follow kubernetes/pkg/printers/internalversion/printers.go; Istio kinds follow the
additionalPrinterColumns of Istio's CRDs (Age as a `date` column that kubectl formats itself).
"""
from __future__ import annotations

import datetime as dt
import json

from .views import parse_time
from ..durations import human_duration
from ..model.kinds import K8S_GATEWAY, kind_key

NAME = {"name": "Name", "type": "string", "format": "name", "priority": 0,
        "description": "Name must be unique within a namespace."}


def col(name: str, kind: str = "string", priority: int = 0, description: str = "") -> dict:
    return {"name": name, "type": kind, "format": "", "priority": priority, "description": description}


AGE = col("Age", "string", description="CreationTimestamp is a timestamp representing the server time when "
          "this object was created.")
# The CRD table convertor formats `date` columns itself (apiextensions tableconvertor: HumanDuration).
CRD_AGE = {**col("Age", "date"), "description": AGE["description"]}


def age(obj: dict) -> str:
    created = parse_time(obj["metadata"].get("creationTimestamp"))
    return human_duration((dt.datetime.now(dt.timezone.utc) - created).total_seconds())


def _since(stamp: str | None) -> str:
    return human_duration((dt.datetime.now(dt.timezone.utc) - parse_time(stamp)).total_seconds()) if stamp else "<unknown>"


def _labels(selector: dict | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((selector or {}).items())) or "<none>"


def _pod_reason(pod: dict) -> str:
    if pod["metadata"].get("deletionTimestamp"):
        return "Terminating"
    for status in pod["status"].get("containerStatuses", []):
        waiting = status["state"].get("waiting")
        if waiting and waiting.get("reason") == "CrashLoopBackOff":
            return "CrashLoopBackOff"
    if pod["status"]["phase"] == "Pending":
        waiting = [s for s in pod["status"].get("containerStatuses", []) if "waiting" in s["state"]]
        return waiting[0]["state"]["waiting"]["reason"] if waiting else "Pending"
    return pod["status"]["phase"]


def _pod(pod: dict) -> tuple[list, list]:
    # As the API server's pod printer: native sidecars (init containers with restartPolicy Always) count
    # in READY beside the regular containers; restarts add up over all of them.
    sidecar_names = {c["name"] for c in pod["spec"].get("initContainers") or [] if c.get("restartPolicy") == "Always"}
    inits = pod["status"].get("initContainerStatuses", [])
    statuses = pod["status"].get("containerStatuses", []) + [s for s in inits if s["name"] in sidecar_names]
    ready = sum(s["ready"] for s in statuses)
    restarts = sum(s["restartCount"] for s in statuses + [s for s in inits if s["name"] not in sidecar_names])
    return ([col("Ready", description="The aggregate readiness state of this pod for accepting traffic."),
             col("Status", description="The aggregate status of the containers in this pod."),
             col("Restarts", description="The number of times the containers in this pod have been restarted "
                 "and when the last container in this pod has restarted."),
             AGE, col("IP", priority=1, description="IP address assigned to the pod"),
             col("Node", priority=1, description="Name of the node assigned to the pod"),
             col("Nominated Node", priority=1, description="Name of the node nominated for the pod"),
             col("Readiness Gates", priority=1, description="Readiness gates of the pod")],
            [f"{ready}/{len(statuses)}", _pod_reason(pod), str(restarts), age(pod),
             pod["status"].get("podIP", "<none>"), pod["spec"].get("nodeName", "<none>"), "<none>", "<none>"])


def _deployment(dep: dict) -> tuple[list, list]:
    status, spec = dep.get("status", {}), dep["spec"]
    containers = spec["template"]["spec"].get("containers", [])
    return ([col("Ready", description="Number of the pod with ready state"),
             col("Up-to-date", "integer", description="Total number of non-terminated pods targeted by this "
                 "deployment that have the desired template spec."),
             col("Available", "integer", description="Total number of available pods (ready for at least "
                 "minReadySeconds) targeted by this deployment."),
             AGE, col("Containers", priority=1, description="Names of each container in the template."),
             col("Images", priority=1, description="Images referenced by each container in the template."),
             col("Selector", priority=1, description="Label selector for pods.")],
            [f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}", status.get("updatedReplicas", 0),
             status.get("availableReplicas", 0), age(dep), ",".join(c["name"] for c in containers),
             ",".join(c.get("image", "") for c in containers),
             _labels((spec.get("selector") or {}).get("matchLabels"))])


def _replica_set(rs: dict) -> tuple[list, list]:
    """printReplicaSet in pkg/printers/internalversion/printers.go."""
    status, spec = rs.get("status", {}), rs["spec"]
    containers = spec["template"]["spec"].get("containers", [])
    return ([col("Desired", "integer", description="Number of desired pods. This is a pointer to distinguish "
                 "between explicit zero and unspecified."),
             col("Current", "integer", description="Replicas is the most recently observed number of replicas."),
             col("Ready", "integer", description="The number of ready replicas for this replica set."),
             AGE, col("Containers", priority=1, description="Names of each container in the template."),
             col("Images", priority=1, description="Images referenced by each container in the template."),
             col("Selector", priority=1, description="Label selector for pods.")],
            [spec.get("replicas", 1), status.get("replicas", 0), status.get("readyReplicas", 0), age(rs),
             ",".join(c["name"] for c in containers), ",".join(c.get("image", "") for c in containers),
             _labels((spec.get("selector") or {}).get("matchLabels"))])


def _ports(spec: dict) -> str:
    out = []
    for port in spec.get("ports") or []:
        node = f":{port['nodePort']}" if port.get("nodePort") else ""
        out.append(f"{port['port']}{node}/{port.get('protocol', 'TCP')}")
    return ",".join(out) or "<none>"


def _external_ip(svc: dict) -> str:
    """getServiceExternalIP in pkg/printers/internalversion/printers.go: a LoadBalancer without an address yet
    is `<pending>`; ExternalName shows the name; otherwise spec.externalIPs or `<none>`."""
    spec = svc["spec"]
    kind = spec.get("type", "ClusterIP")
    if kind == "ExternalName":
        return spec.get("externalName", "<none>")
    addresses = list(spec.get("externalIPs") or [])
    if kind == "LoadBalancer":
        ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        addresses = [i.get("ip") or i.get("hostname") for i in ingress if i.get("ip") or i.get("hostname")] + addresses
        return ",".join(addresses) or "<pending>"
    return ",".join(addresses) or "<none>"


def _service(svc: dict) -> tuple[list, list]:
    spec = svc["spec"]
    return ([col("Type", description="The type of the service."),
             col("Cluster-IP", description="The cluster IP of the service."),
             col("External-IP", description="The external IP of the service."),
             col("Port(s)", description="The ports of the service."), AGE,
             col("Selector", priority=1, description="The selector of the service.")],
            [spec.get("type", "ClusterIP"), spec.get("clusterIP", "<none>"), _external_ip(svc), _ports(spec), age(svc),
             _labels(spec.get("selector"))])


def _first_three(items: list[str]) -> str:
    if not items:
        return "<none>"
    shown = ",".join(items[:3])
    return shown + (f" + {len(items) - 3} more..." if len(items) > 3 else "")


def _node(node: dict) -> tuple[list, list]:
    """kubectl's node printer: STATUS, ROLES, AGE, VERSION; wide adds the addresses and the runtime."""
    status, labels = node.get("status") or {}, node["metadata"].get("labels") or {}
    ready: dict = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    roles = sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/"))
    info = status.get("nodeInfo") or {}
    address = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    return ([col("Status", description="The status of the node"), col("Roles", description="The roles of the node"),
             AGE, col("Version", description="Kubelet Version reported by the node."),
             col("Internal-IP", priority=1), col("External-IP", priority=1), col("OS-Image", priority=1),
             col("Kernel-Version", priority=1), col("Container-Runtime", priority=1)],
            ["Ready" if ready.get("status") == "True" else "NotReady", ",".join(roles) or "<none>", age(node),
             info.get("kubeletVersion", ""), address.get("InternalIP", "<none>"), address.get("ExternalIP", "<none>"),
             info.get("osImage", "<unknown>"), info.get("kernelVersion", "<unknown>"),
             info.get("containerRuntimeVersion", "<unknown>")])


def _data_count(obj: dict) -> int:
    return len(obj.get("data") or {}) + len(obj.get("binaryData") or {})


SIMPLE = {
    "Namespace": lambda o: ([col("Status", description="The status of the namespace"), AGE],
                            [o.get("status", {}).get("phase", "Active"), age(o)]),
    "Secret": lambda o: ([col("Type", description="The type of the secret"),
                          col("Data", "integer", description="The number of entries in the secret"), AGE],
                         [o.get("type") or "Opaque", _data_count(o), age(o)]),
    "ConfigMap": lambda o: ([col("Data", "integer", description="The number of entries in the configmap"), AGE],
                            [_data_count(o), age(o)]),
    "ServiceAccount": lambda o: ([col("Secrets", "integer", description="The number of secrets"), AGE],
                                 [len(o.get("secrets") or []), age(o)]),
    "Endpoints": lambda o: ([col("Endpoints"), AGE],
                            [",".join(f"{a['ip']}:{p['port']}" for s in o.get("subsets") or []
                                      for a in s.get("addresses") or [] for p in s.get("ports") or [])
                             or "<none>", age(o)]),
    # printEndpointSlice: ports and addresses, at most three shown then "+ N more...".
    "EndpointSlice": lambda o: ([col("AddressType", description="Type of address carried by this EndpointSlice"),
                                 col("Ports", description="Ports in the EndpointSlice"),
                                 col("Endpoints", description="Endpoints in the EndpointSlice"), AGE],
                                [o.get("addressType", "IPv4"),
                                 ",".join(str(p["port"]) for p in o.get("ports") or []) or "<unset>",
                                 _first_three([a for e in o.get("endpoints") or [] for a in e.get("addresses", [])]),
                                 age(o)]),
    "Pod": _pod, "Deployment": _deployment, "Service": _service, "ReplicaSet": _replica_set, "Node": _node,
    "MutatingWebhookConfiguration": lambda o: ([col("Webhooks", "integer", description="Webhooks is a list of "
                                                    "webhooks and the affected resources and operations."), AGE],
                                               [len(o.get("webhooks") or []), age(o)]),
}

# Istio's CRDs: (column, JSONPath-like field path, description) before Age.
CRD_COLUMNS: dict[str, list[tuple[str, str, str]]] = {
    "PeerAuthentication": [("Mode", "spec.mtls.mode", "Defines the mTLS mode used for peer authentication.")],
    "AuthorizationPolicy": [("Action", "spec.action", "The operation to take.")],
    "DestinationRule": [("Host", "spec.host", "The name of a service from the service registry")],
    "VirtualService": [("Gateways", "spec.gateways", "The names of gateways and sidecars that should apply "
                        "these routes"),
                       ("Hosts", "spec.hosts", "The destination hosts to which traffic is being sent")],
    "ServiceEntry": [("Hosts", "spec.hosts", "The hosts associated with the ServiceEntry"),
                     ("Location", "spec.location", "Whether the service is external to the mesh or part of the "
                      "mesh (MESH_EXTERNAL or MESH_INTERNAL)"),
                     ("Resolution", "spec.resolution", "Service resolution mode for the hosts (NONE, STATIC, or "
                      "DNS)")],
    # The Gateway API CRDs' additionalPrinterColumns (gateway-api config/crd/standard, v1.4).
    "GatewayClass": [("Controller", "spec.controllerName", ""),
                     ("Accepted", "status.conditions[Accepted].status", ""),
                     ("Age", "metadata.creationTimestamp", ""),
                     ("Description", "spec.description", "")],
    K8S_GATEWAY: [("Class", "spec.gatewayClassName", ""), ("Address", "status.addresses[*].value", ""),
                  ("Programmed", "status.conditions[Programmed].status", "")],
    "HTTPRoute": [("Hostnames", "spec.hostnames", "")],
}
# Kinds whose CRD places Age among its columns rather than last.
AGE_IN_COLUMNS = {"GatewayClass"}


def _field(obj: dict, path: str):
    """A field by a dotted path; `conditions[Type]` picks a condition by type, `[*]` every item of a list
    (JSONPath `[?(@.type=="Type")]` and `[*]` as the CRD columns use them)."""
    if path == "metadata.creationTimestamp":
        return age(obj)
    value: object = obj
    for part in path.split("."):
        if part.endswith("[*]"):
            items = value.get(part[:-3]) if isinstance(value, dict) else None
            return ",".join(str(i.get(path.rsplit(".", 1)[1], "")) for i in items or []) or None
        if part.endswith("]") and "[" in part:
            name, _, wanted = part[:-1].partition("[")
            items = value.get(name) if isinstance(value, dict) else None
            value = next((i for i in items or [] if i.get("type") == wanted), None)
            continue
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return value


def _event(o: dict) -> tuple[list, list]:
    """The API server's event printer (pkg/printers/internalversion printEvent): Name comes last and wide."""
    involved = o.get("involvedObject") or {}
    source = o.get("source") or {}
    columns = [col("Last Seen"), col("Type"), col("Reason"), col("Object"), col("Subobject", priority=1),
               col("Source", priority=1), col("Message"), col("First Seen", priority=1), col("Count", priority=1),
               {**NAME, "priority": 1}]
    cells = [_since(o.get("lastTimestamp")), o.get("type", ""), o.get("reason", ""),
             f"{involved.get('kind', '').lower()}/{involved.get('name', '')}", involved.get("fieldPath", ""),
             ", ".join(v for v in (source.get("component"), source.get("host")) if v), o.get("message", ""),
             _since(o.get("firstTimestamp")), str(o.get("count", 1)), o["metadata"]["name"]]
    return columns, cells


def columns_and_cells(obj: dict) -> tuple[list, list]:
    kind = kind_key(obj)
    if kind == "Event":
        return _event(obj)
    if kind in SIMPLE:
        columns, cells = SIMPLE[kind](obj)
        return [NAME, *columns], [obj["metadata"]["name"], *cells]
    extra = CRD_COLUMNS.get(kind, [])
    last = [] if kind in AGE_IN_COLUMNS else [CRD_AGE]
    columns = [NAME] + [CRD_AGE if name == "Age" else col(name, description=d) for name, _, d in extra] + last
    cells = [obj["metadata"]["name"]] + [_field(obj, path) for _, path, _ in extra] \
        + ([] if last == [] else [age(obj)])
    return columns, cells


def table(kind: str, objects: list[dict], resource_version: str, include: str | None) -> dict:
    """`kind` is the store's key for the kind (model/kinds.py)."""
    """A meta.k8s.io/v1 Table; `include` is the request's includeObject (None, Object, PartialObjectMetadata)."""
    if objects:
        columns = columns_and_cells(objects[0])[0]
    else:
        columns = columns_and_cells(_empty(kind))[0]
    rows = []
    for obj in objects:
        row: dict = {"cells": columns_and_cells(obj)[1]}
        if include == "Object":
            row["object"] = obj
        elif include != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": obj["metadata"]}
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": resource_version},
            "columnDefinitions": columns, "rows": rows}


def _empty(kind: str) -> dict:
    """A blank object of `kind`, only to learn its column headers."""
    real_kind, _, group = kind.partition(".")
    blank = {"kind": real_kind, "apiVersion": f"{group}/v1" if group else "v1", "metadata": {"name": ""},
             "spec": {"template": {"spec": {}}},
             "status": {"phase": "Pending", "conditions": []}}
    return blank
