"""The Lab API on a real Kubernetes cluster with Istio (kind, k3d, minikube, a cloud cluster).

Every write is a server-side apply (field manager ``labkit``, ``force=true``) and every object
labkit writes carries ``app.kubernetes.io/managed-by=labkit``; objects labkit created also carry
``labkit.dev/created=true`` and, in a workshop, ``labkit.dev/owner=<prefix>``. `down()` deletes
exactly those, found by label selector, and releases labkit's fields on pre-existing objects it
only changed (e.g. a label on the ``default`` namespace). Nothing else is ever deleted.

Workshops: with ``namespace_prefix="alice"`` (or ``LABKIT_NAMESPACE_PREFIX``) the lab namespace
``foo`` is ``alice-foo`` on the cluster (see `kube_prefix`); results are shown with lab names.
Writes to ``istio-system`` (mesh-wide) or of cluster-scoped kinds are refused in a workshop
unless ``allow_mesh_wide=True`` (``LABKIT_ALLOW_MESH_WIDE=1``).
"""
from __future__ import annotations

import json
import os
import shutil
from typing import Any

from ..constants import GATEWAY_NAMESPACE
from ..errors import LabkitError
from ..model.gateway_deploy import deployment_name
from .base import AppliedObject, EnvironmentItem, LabBase
from .kube_images import image_map_from_env
from .kube_prefix import NamespaceMap
from .kube_progress import ClusterBoard
from .kube_client import GATEWAY_SERVICE, load_api_client, truthy, url_of
from ..tools.proxy_config import PROXY_CONFIG_TYPES, select_config
from .kube_cleanup import KubeCleanup



class KubeLab(KubeCleanup, LabBase):
    """Labs on a real cluster with Istio. `KubeLab(context=None, namespace_prefix=None, kubeconfig=None,
    api_client=None)`; usually obtained as ``labkit.connect("kube")`` or with ``LABKIT_BACKEND=kube``."""

    backend = "kube"
    settle_seconds = 20.0  # istiod pushes to every proxy of a real cluster take seconds

    def __init__(self, context: str | None = None, namespace_prefix: str | None = None,
                 kubeconfig: str | None = None, api_client=None, *, allow_mesh_wide: bool | None = None,
                 image_map: dict[str, str] | None = None, gateway_service: str | None = None,
                 poll_interval: float = 1.0):
        from kubernetes import client

        self.context = context or os.environ.get("LABKIT_KUBE_CONTEXT") or None
        # `~` expanded once here: istioctl gets `--kubeconfig` as an argument, and no shell expands it there.
        self.kubeconfig = os.path.expanduser(str(kubeconfig)) if kubeconfig else None
        self._own_client = api_client is None
        self.api_client = api_client if api_client is not None else load_api_client(self.context, kubeconfig)
        prefix = namespace_prefix if namespace_prefix is not None else os.environ.get("LABKIT_NAMESPACE_PREFIX")
        self.nsmap = NamespaceMap(prefix)
        self.allow_mesh_wide = (truthy(os.environ.get("LABKIT_ALLOW_MESH_WIDE"))
                                if allow_mesh_wide is None else bool(allow_mesh_wide))
        self.image_map = image_map_from_env() if image_map is None else dict(image_map)
        self.gateway_service = gateway_service or os.environ.get("LABKIT_GATEWAY_SERVICE") or GATEWAY_SERVICE
        self.poll_interval = poll_interval
        self.core = client.CoreV1Api(self.api_client)
        self._dyn = None
        self._cache_file: str | None = None
        self._all_resources: list | None = None
        self._touched_namespaces: set[str] = set()   # cluster names
        self._touched_kinds: dict[tuple[str, str], None] = {}
        self._lab_namespaces: set[str] = set()       # lab (unprefixed) names seen
        self._owned_namespaces: set[str] | None = None  # the learner's lab namespaces found on the cluster
        self._ensured_namespaces: set[str] = set()
        self.cleaned: list[AppliedObject] = []

    @classmethod
    def connect(cls, **options) -> "KubeLab":
        return cls(**options)

    # ---------------------------------------------------------------- the contract's lifecycle
    @property
    def running(self) -> bool:
        return True  # a cluster outlives this process; an unreachable one fails the first call with a hint

    def ensure_running(self) -> None:
        return None

    def environment(self) -> list[EnvironmentItem]:
        return []  # what a cluster needs is checked by doctor()

    def __repr__(self) -> str:
        host = getattr(getattr(self.api_client, "configuration", None), "host", "?")
        pre = f", namespace_prefix={self.nsmap.prefix!r}" if self.nsmap.enabled else ""
        return f"KubeLab({host}{pre})"

    def class_board(self):
        """A workshop learner (namespace prefix) publishes progress to the shared cluster (kube_progress)."""
        return ClusterBoard(self.core, self.nsmap) if self.nsmap.enabled else None

    # ---------------------------------------------------------------- gateway
    def gateway_url(self, port: int = 80, scheme: str | None = None, gateway: str | None = None) -> str:
        """URL of the ingress gateway for a Gateway server port (80 → http, 443 → https).

        ``LABKIT_GATEWAY_URL`` (port 80) / ``LABKIT_SECURE_GATEWAY_URL`` (port 443) /
        ``LABKIT_GATEWAY_URL_<port>`` win; else the istio-ingressgateway Service: its LoadBalancer
        address, else its NodePort on a node's address. `gateway="NS/NAME"` asks the same of a Gateway API
        Gateway's automated Service `NAME-istio` (Istio's gateway-api tasks read INGRESS_HOST from it).
        """
        port = int(port)
        scheme = scheme or ("https" if port in (443, 8443) else "http")
        env = os.environ.get(f"LABKIT_GATEWAY_URL_{port}") or os.environ.get(gateway_url_variable(port, scheme))
        if env and gateway is None:
            return with_explicit_port(env.rstrip("/"))
        if gateway is not None:
            gateway_ns, _, gateway_name = gateway.rpartition("/")
            svc_ns, svc_name = self.nsmap.ns(gateway_ns or "default"), deployment_name(gateway_name)
        else:
            svc_ns, _, svc_name = self.gateway_service.rpartition("/")
            svc_ns = svc_ns or GATEWAY_NAMESPACE
        resource = self._resource("v1", "Service")
        with self._errors("get", kind="Service", name=svc_name, namespace=svc_ns):
            svc = self._fetch(resource, svc_name, svc_ns)
        if svc is None and gateway is not None:
            raise LabkitError("the Gateway's automated Service does not exist", kind="Service", name=svc_name,
                              namespace=svc_ns, hint=f"is the Gateway {gateway} applied with gatewayClassName: istio? "
                              f"kubectl get gtw -n {svc_ns}")
        if svc is None:
            raise LabkitError("the Istio ingress gateway service does not exist", kind="Service", name=svc_name,
                              namespace=svc_ns, hint="install Istio with the demo profile "
                              "(istioctl install --set profile=demo -y) or set LABKIT_GATEWAY_URL")
        spec = svc.get("spec") or {}
        ports = spec.get("ports") or []
        match = next((p for p in ports if int(p.get("port") or 0) == port), None)
        if match is None:
            have = ", ".join(str(p.get("port")) for p in ports)
            raise LabkitError(f"the ingress gateway service has no port {port} (it has {have})", kind="Service",
                              name=svc_name, namespace=svc_ns, hint="use a Gateway server port the service exposes")
        # A load balancer (cloud-provider-kind, MetalLB, minikube tunnel, a cloud's) listens on the Service
        # port itself: Istio's docs take INGRESS_PORT from `.spec.ports[].port` then. The port is always
        # written out, so `urlsplit(url).port` (what the labs' `curl --resolve host:PORT:IP` uses) is never None.
        for ingress in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
            host = ingress.get("ip") or ingress.get("hostname")
            if host:
                return url_of(scheme, host, load_balancer_port(port))
        node_port = match.get("nodePort")
        if node_port and spec.get("type") in ("NodePort", "LoadBalancer"):
            address = self._node_address()
            if address:
                return url_of(scheme, address, int(node_port))
        raise LabkitError(f"cannot tell how to reach the ingress gateway (service type {spec.get('type')}, "
                          "no load balancer address, no node port)", kind="Service", name=svc_name,
                          namespace=svc_ns,
                          hint=port_forward_hint(svc_ns, svc_name, port, scheme) if gateway is None else
                          f"port-forward it: kubectl -n {svc_ns} port-forward svc/{svc_name} {10000 + port % 10000}:{port}"
                          f" and use {scheme}://127.0.0.1:{10000 + port % 10000}")

    def _node_address(self) -> str | None:
        nodes = self._list(self._resource("v1", "Node"))
        for wanted in ("ExternalIP", "InternalIP"):
            for node in nodes:
                for addr in (node.get("status") or {}).get("addresses") or []:
                    if addr.get("type") == wanted and addr.get("address"):
                        return addr["address"]
        return None

    # ---------------------------------------------------------------- istioctl views
    def proxy_status(self, namespace: str | None = None, *, verbose: bool = False):
        from .kube_proxy_status import istioctl_proxy_status
        ns = self.nsmap.ns(namespace) if namespace else None
        return istioctl_proxy_status(ns, verbose, self.context, self.kubeconfig)

    def proxy_config_json(self, namespace: str, pod: str, kind: str = "cluster", *,
                     use_istioctl: bool = False) -> Any:
        """Envoy's config of a pod's sidecar as parsed JSON, as `istioctl proxy-config <kind> <pod>.<ns> -o json`.

        Reads ``pilot-agent request GET config_dump`` inside the istio-proxy container (what istioctl itself
        asks the proxy for), so the answer does not depend on whether istioctl is installed here.
        ``use_istioctl=True`` runs istioctl instead and returns its own JSON (falling back to the dump).
        `kind`: cluster, listener, route, endpoint, secret, bootstrap or all.
        """
        kind = kind.lower()
        if kind not in PROXY_CONFIG_TYPES and kind not in ("all", "config_dump"):
            raise LabkitError(f"unknown proxy-config kind {kind!r}",
                              hint="use cluster, listener, route, endpoint, secret, bootstrap or all")
        ns = self.nsmap.ns(namespace)
        pod_obj = self._pick_pod(ns, pod)
        pod_name = pod_obj["metadata"]["name"]
        istioctl = shutil.which("istioctl") if use_istioctl else None
        if istioctl:
            import sh

            args = ["proxy-config", "all" if kind == "config_dump" else kind, f"{pod_name}.{ns}", "-o", "json"]
            if self.context:
                args += ["--context", self.context]
            if self.kubeconfig:
                args += ["--kubeconfig", str(self.kubeconfig)]
            try:
                out = sh.Command(istioctl)(*args, _timeout=120)
                return json.loads(str(out))
            except Exception as exc:  # noqa: BLE001 - fall back to the in-pod dump
                istioctl_error = exc
        else:
            istioctl_error = None
        # The same in-pod dump the tools read (one access path), with endpoints when they are asked for.
        dump = self.mesh_access().config_dump(
            namespace, pod_name, include_eds=kind in ("endpoint", "endpoints"),
            why=f" (istioctl also failed: {istioctl_error})" if istioctl_error else "")
        return select_config(dump, kind)


def load_balancer_port(port: int) -> int:
    """The port a load balancer answers on for a Service port: the same one, except behind a load balancer that
    cannot bind privileged ports (the local mesh's Kubernetes API, `make test-kube`), which says so with
    LABKIT_LB_LOW_PORT_OFFSET (ports below 1024 answer on port + offset)."""
    offset = os.environ.get("LABKIT_LB_LOW_PORT_OFFSET")
    return port + int(offset) if offset and offset.isdigit() and port < 1024 else port


def gateway_url_variable(port: int, scheme: str) -> str:
    """The environment variable `gateway_url(port)` reads first."""
    if port == 80 and scheme == "http":
        return "LABKIT_GATEWAY_URL"
    if port == 443 and scheme == "https":
        return "LABKIT_SECURE_GATEWAY_URL"
    return f"LABKIT_GATEWAY_URL_{port}"


def port_forward_hint(namespace: str, service: str, port: int, scheme: str) -> str:
    """How to reach a gateway port without a load balancer or node port: a local port-forward."""
    local = 8080 if port == 80 else (8443 if port == 443 else 10000 + port % 10000)
    return (f"port-forward it: kubectl -n {namespace} port-forward svc/{service} {local}:{port} "
            f"and set {gateway_url_variable(port, scheme)}={scheme}://127.0.0.1:{local}")


def with_explicit_port(url: str) -> str:
    """`url` with its scheme's default port written out (`https://gw.example` → `https://gw.example:443`)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.port is not None or not parts.hostname or parts.scheme not in ("http", "https"):
        return url
    netloc = f"{parts.netloc}:{80 if parts.scheme == 'http' else 443}"
    return urlunsplit(parts._replace(netloc=netloc))

