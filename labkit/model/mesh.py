"""The resolved mesh: plain data built from the stored resources, no processes, no Envoy."""
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, Optional

from ..constants import PROXY_CONTAINER, TRUST_DOMAIN
from ..constants import ROOT_NAMESPACE as ROOT_NAMESPACE  # re-exported: the model's callers read it here
from . import addressing
from .owners import owner_deployment
from .protocol import AUTO, istio_protocol, listener_protocol
from .kinds import kind_key

SIDECAR_CONTAINER = PROXY_CONTAINER
GATEWAY_IMAGE_REPO = "istio/proxyv2"

@dataclass(frozen=True)
class Container:
    name: str
    image: str
    ports: tuple[tuple[str, int], ...]       # (port name, container port)
    env: tuple[tuple[str, str], ...] = ()
    command: tuple[str, ...] = ()
    # The container as written (volumeMounts, env valueFrom, command, args): model.volumes resolves it.
    spec: Optional[dict] = field(default=None, compare=False, hash=False)


@dataclass(frozen=True)
class Pod:
    namespace: str
    name: str
    labels: dict
    annotations: dict
    service_account: str
    containers: tuple[Container, ...]
    index: int
    subnet: int
    deployment: str | None
    uid: str = ""
    volumes: tuple = ()
    native_sidecar: bool = False   # istio-proxy is an init container with restartPolicy Always

    @property
    def sidecar_shape(self) -> str:
        """How the injector put istio-proxy in: "native" (initContainers) or "classic" (containers)."""
        return "native" if self.native_sidecar else "classic" if self.sidecar else ""

    @property
    def is_gateway(self) -> bool:
        """A standalone proxy pod (the ingress gateway): proxyv2 image, not put there by the injector."""
        return "sidecar.istio.io/status" not in self.annotations and any(
            GATEWAY_IMAGE_REPO in c.image for c in self.containers)

    @property
    def sidecar(self) -> bool:
        return not self.is_gateway and any(c.name == SIDECAR_CONTAINER for c in self.containers)

    @property
    def app_containers(self) -> tuple[Container, ...]:
        return tuple(c for c in self.containers if self.is_gateway or c.name != SIDECAR_CONTAINER)

    @property
    def spiffe_id(self) -> str:
        return f"spiffe://{TRUST_DOMAIN}/ns/{self.namespace}/sa/{self.service_account}"

    @property
    def principal(self) -> str:
        return f"{TRUST_DOMAIN}/ns/{self.namespace}/sa/{self.service_account}"

    @property
    def ip(self) -> str:
        return addressing.pod_ip(self.subnet, self.index)

    @property
    def app_ip(self) -> str:
        """Where the app binds: behind the sidecar, or the pod IP itself without one."""
        return addressing.app_ip(self.subnet, self.index) if self.sidecar else self.ip

    @property
    def outbound_ip(self) -> str:
        return addressing.outbound_ip(self.subnet, self.index)

    @property
    def container_ports(self) -> list[int]:
        ports: list[int] = []
        for container in self.app_containers:
            ports.extend(p for _, p in container.ports if p not in ports)
        return ports

    def matches(self, selector: dict | None) -> bool:
        """Every key=value of the selector is among the pod's labels (a set test on the items, in C: every
        proxy's translation asks it for every service and pod)."""
        return not selector or selector.items() <= self.labels.items()


@dataclass(frozen=True)
class ServicePort:
    name: str
    port: int
    target_port: int
    protocol: str          # HTTP, TCP, AUTO (sniffed) or UDP: how proxies handle it (model/protocol.py)
    node_port: int | None = None
    istio_protocol: str = ""   # Istio's name for it (HTTP, HTTPS, UnsupportedProtocol, ...), as istioctl shows


@dataclass(frozen=True)
class Service:
    namespace: str
    name: str
    selector: dict
    ports: tuple[ServicePort, ...]
    type: str = "ClusterIP"
    cluster_ip: str = ""    # the virtual IP the API server gave it ("" for none, headless or ExternalName)

    @property
    def fqdn(self) -> str:
        return addressing.fqdn(self.name, self.namespace)

    def port(self, number: int) -> ServicePort | None:
        return next((p for p in self.ports if p.port == number), None)


@dataclass
class MeshModel:
    subnet: int
    namespaces: dict[str, dict]                  # name -> labels
    pods: list[Pod]
    services: list[Service]
    policies: dict[str, list[dict]] = field(default_factory=dict)  # kind -> objects
    secrets: dict[tuple[str, str], dict] = field(default_factory=dict)  # (ns, name) -> decoded data (bytes)
    _endpoints: dict = field(default_factory=dict, repr=False, compare=False)
    # Results computed once per model and shared (the model does not change after it is built; a change
    # builds a new one): the translators' per-client outbound clusters, the Gateway API conversion, by key.
    memo: dict = field(default_factory=dict, repr=False, compare=False)
    # Results that depend only on what clients see of services (endpoints, DestinationRules, the mTLS an
    # endpoint takes): the translators' per-client outbound clusters. A change that leaves all of that alone
    # hands them on to the next model (push_scope.keep_client_view).
    client_view: dict = field(default_factory=dict, repr=False, compare=False)
    _by_namespace: dict = field(default_factory=dict, repr=False, compare=False)
    # The stored objects each part was built from (kept alive, so compared by identity): build_model(...,
    # previous=) reuses the parts whose objects the store left alone.
    sources: dict = field(default_factory=dict, repr=False, compare=False)

    def of_kind(self, kind: str) -> list[dict]:
        return self.policies.get(kind, [])

    def pods_in(self, namespace: str) -> list[Pod]:
        """The pods of one namespace (indexed once: push scoping and endpoints ask it for every change)."""
        if not self._by_namespace and self.pods:
            index: dict[str, list[Pod]] = {}
            for pod in self.pods:
                index.setdefault(pod.namespace, []).append(pod)
            self._by_namespace.update(index)   # whole, so a second thread asking meanwhile never sees half
        return self._by_namespace.get(namespace, [])

    def endpoints(self, service: Service) -> list[Pod]:
        if not service.selector:
            return []
        # Every proxy's translation asks this for every service: remember it (the model is not changed
        # after it is built).
        key = (service.namespace, service.name, tuple(sorted(service.selector.items())))
        cached = self._endpoints.get(key)
        if cached is None:
            cached = self._endpoints[key] = [p for p in self.pods_in(service.namespace)
                                             if p.matches(service.selector)]
        return list(cached)

    def service_by_host(self, host: str, from_namespace: str) -> Service | None:
        """Resolve a host as DNS in a pod of `from_namespace` would (short, name.ns, FQDN)."""
        host = host.rstrip(".").lower()
        for service in self.services:
            if host in addressing.service_hostnames(service.name, service.namespace, from_namespace):
                return service
        return None

    def service_by_fqdn(self, name: str) -> Service | None:
        return next((s for s in self.services if s.fqdn == name), None)

    def services_of(self, pod: Pod) -> list[Service]:
        return [s for s in self.services if s.namespace == pod.namespace and s.selector and pod.matches(s.selector)]

    def pod(self, namespace: str, name: str) -> Pod | None:
        return next((p for p in self.pods if p.namespace == namespace and p.name == name), None)

    def inbound_protocol(self, pod: Pod, port: int) -> str:
        """How the pod's sidecar treats container port `port`: the protocol of the Service port targeting it;
        a port no Service names is sniffed, as Istio's inbound passthrough chains are."""
        for service in self.services_of(pod):
            for sp in service.ports:
                if sp.target_port == port:
                    return sp.protocol
        return AUTO

    def secret(self, namespace: str, name: str) -> dict | None:
        return self.secrets.get((namespace, name))


def _int_port(value: Any, container_ports: dict[str, int], default: int) -> int:
    if value is None:
        return default
    if isinstance(value, int):
        return value
    if str(value).isdigit():
        return int(value)
    return container_ports.get(value, default)


def _running_containers(spec: dict) -> list[dict]:
    """Regular containers plus native sidecars (init containers with `restartPolicy: Always`, which keep
    running beside them); plain init containers such as istio-init have finished before the app starts."""
    native = [c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    return native + list(spec.get("containers") or [])


def _pod_from_object(obj: dict, subnet: int, deployments: list[dict] | None = None) -> Pod:
    meta, spec = obj["metadata"], obj.get("spec") or {}
    containers = tuple(
        Container(name=c["name"], image=c.get("image", ""),
                  ports=tuple((p.get("name", ""), p["containerPort"]) for p in c.get("ports") or []),
                  env=tuple((e["name"], str(e.get("value", ""))) for e in c.get("env") or [] if "name" in e),
                  command=tuple(c.get("command") or []) + tuple(c.get("args") or []), spec=c)
        for c in _running_containers(spec))
    return Pod(namespace=meta["namespace"], name=meta["name"], labels=dict(meta.get("labels") or {}),
               annotations=dict(meta.get("annotations") or {}),
               service_account=spec.get("serviceAccountName") or spec.get("serviceAccount") or "default",
               containers=containers, index=int((obj.get("status") or {}).get("index", 0)), subnet=subnet,
               deployment=owner_deployment(meta, deployments), uid=meta.get("uid", ""),
               volumes=tuple(spec.get("volumes") or []),
               native_sidecar=any(c.get("name") == SIDECAR_CONTAINER and c.get("restartPolicy") == "Always"
                                  for c in spec.get("initContainers") or []))


# Kubernetes (1.21+) labels every namespace with its own name (NamespaceDefaultLabelName); selectors such as
# a Gateway listener's allowedRoutes.namespaces.selector rely on it.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def namespace_labels(model: "MeshModel", name: str) -> dict:
    """A namespace's labels as the API server stores them: the ones written plus kubernetes.io/metadata.name."""
    return {**(model.namespaces.get(name) or {}), NAMESPACE_NAME_LABEL: name}


def workload_selector(policy: dict) -> dict:
    """A policy's `selector.matchLabels` (PeerAuthentication, AuthorizationPolicy, ...); {} means every
    workload in its namespace (or the whole mesh, in the root namespace)."""
    return ((policy.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}


def secret_data(secret: dict) -> dict[str, bytes]:
    """A Secret's values, decoded: `data` is base64, `stringData` plain (the API server merges it into data)."""
    out = {k: str(v).encode() for k, v in (secret.get("stringData") or {}).items()}
    for k, v in (secret.get("data") or {}).items():
        try:
            out[k] = base64.b64decode(v)
        except (ValueError, TypeError):
            out[k] = b""
    return out


def _same_objects(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b))


def build_model(objects: list[dict], subnet: int, previous: MeshModel | None = None) -> MeshModel:
    """The model of the stored objects. `previous`: a model built from an earlier snapshot of the same store;
    its pods and services are reused when the very objects they came from are still there (the store keeps
    the objects a write left alone), so a policy change does not rebuild every pod and service."""
    namespaces: dict[str, dict] = {name: {} for name in ("default", "istio-system", "kube-system")}
    pods: list[Pod] = []
    raw_pods: list[dict] = []
    raw_services: list[dict] = []
    policies: dict[str, list[dict]] = {}
    secrets: dict[tuple[str, str], dict] = {}
    raw_secrets: list[dict] = []
    for obj in objects:
        kind, meta = kind_key(obj), obj["metadata"]  # Gateway API's Gateway: "Gateway.gateway.networking.k8s.io"
        if kind == "Namespace":
            namespaces[meta["name"]] = dict(meta.get("labels") or {})
        elif kind == "Pod":
            raw_pods.append(obj)
        elif kind == "Service":
            raw_services.append(obj)
        elif kind == "Secret":
            raw_secrets.append(obj)
        else:
            policies.setdefault(kind, []).append(obj)
    sources: dict[str, tuple] = {"pods": (tuple(raw_pods), tuple(policies.get("Deployment", ()))),
                                 "services": tuple(raw_services), "secrets": tuple(raw_secrets)}
    old = previous.sources if previous is not None and previous.subnet == subnet else {}
    reuse_pods = "pods" in old and all(_same_objects(a, b) for a, b in zip(old["pods"], sources["pods"]))
    if reuse_pods:
        assert previous is not None
        pods = list(previous.pods)
    else:
        pods.extend(_pod_from_object(obj, subnet, policies.get("Deployment")) for obj in raw_pods)
    if "secrets" in old and _same_objects(old["secrets"], sources["secrets"]):
        assert previous is not None
        secrets = dict(previous.secrets)
    else:
        secrets = {(o["metadata"]["namespace"], o["metadata"]["name"]): secret_data(o) for o in raw_secrets}
    for kind in policies:
        policies[kind].sort(key=lambda o: (o["metadata"].get("creationTimestamp", ""), o["metadata"]["name"],
                                           o["metadata"].get("namespace", "")))
    if reuse_pods and _same_objects(old["services"], sources["services"]):
        assert previous is not None
        model = MeshModel(subnet=subnet, namespaces=namespaces, pods=pods, services=list(previous.services),
                          policies=policies, secrets=secrets, sources=sources)
        model._endpoints.update(previous._endpoints)   # the same pods and services: the same endpoints
        return model
    services = []
    for obj in raw_services:
        meta, spec = obj["metadata"], obj.get("spec") or {}
        selector = dict(spec.get("selector") or {})
        selected = [p for p in pods if p.namespace == meta["namespace"] and selector and p.matches(selector)]
        named_ports = {name: port for p in selected for c in p.app_containers for name, port in c.ports if name}
        ports = []
        for p in spec.get("ports") or []:
            instance = istio_protocol(p.get("name"), p.get("appProtocol"), p["port"], p.get("protocol"))
            ports.append(ServicePort(name=p.get("name", ""), port=p["port"],
                                     target_port=_int_port(p.get("targetPort"), named_ports, p["port"]),
                                     protocol=listener_protocol(instance), node_port=p.get("nodePort"),
                                     istio_protocol=instance))
        cluster_ip = spec.get("clusterIP") if spec.get("clusterIP") != "None" else ""
        services.append(Service(namespace=meta["namespace"], name=meta["name"], selector=selector, ports=tuple(ports),
                                type=spec.get("type", "ClusterIP"), cluster_ip=cluster_ip or ""))
    return MeshModel(subnet=subnet, namespaces=namespaces, pods=pods, services=services, policies=policies,
                     secrets=secrets, sources=sources)
