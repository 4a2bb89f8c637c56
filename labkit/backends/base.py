"""What both backends share on top of the Lab contract (labkit/contract.py): NodePort URLs, the
verification tools (through `mesh_access`, the one extension point), and `reset_lab`."""
from __future__ import annotations

import time
from typing import Any

from ..contract import AppliedObject, EnvironmentItem, ExecResult, Lab, MeshAccess, YamlSource

__all__ = ["AppliedObject", "EnvironmentItem", "ExecResult", "Lab", "LabBase", "MeshAccess", "YamlSource"]


class LabBase(Lab):
    """The parts of a Lab that are the same on every backend."""

    def node_url(self, namespace: str, service: str, port: int | None = None, scheme: str = "http") -> str:
        """Where a NodePort Service answers from outside the mesh (`<node address>:<nodePort>`)."""
        from ..errors import LabkitError
        found = self.get("Service", service, namespace)
        if not found:
            raise LabkitError(f'services "{service}" not found', kind="Service", name=service, namespace=namespace)
        ports = [p for p in (found[0].get("spec") or {}).get("ports") or []
                 if p.get("nodePort") and (port is None or p.get("port") == port)]
        if not ports:
            raise LabkitError("the Service has no nodePort" + (f" for port {port}" if port else ""), kind="Service",
                              name=service, namespace=namespace, hint="set `type: NodePort` on the Service")
        address = self._node_address()
        if not address:
            raise LabkitError("no node address to reach NodePorts on", hint="check the cluster's nodes")
        return f"{scheme}://{address}:{self._node_host_port(ports[0]['nodePort'])}"

    def _node_address(self) -> str | None:
        """The address NodePorts listen on (a node's IP; loopback on the local mesh)."""
        return None

    def _node_host_port(self, node_port: int) -> int:
        """Where a nodePort answers on the node address (the same number, unless a port mapping moves it)."""
        return node_port

    # -- verification and troubleshooting (labkit.tools) ------------------------------------------
    # Every backend gets these; `mesh_access` is the one hook (how to reach resources, proxies, logs).

    def mesh_access(self) -> MeshAccess:
        """Reads through the public Lab API (get, pods, exec, logs): works on any backend."""
        from ..tools.access import ToolAccess
        return ToolAccess(self)

    def mesh_model(self):
        """The resolved mesh (labkit.model.MeshModel) built from this lab's resources."""
        return self.mesh_access().model()

    def tls_status(self, client: str | None = None, service: str | None = None, *, conflicts_only: bool = False):
        """DataFrame per client → service:port: client TLS (auto mTLS or DestinationRule), server mode
        (and the PeerAuthentication that set it), and whether they conflict. Like the old `istioctl authn tls-check`."""
        from ..tools import lab_api
        return lab_api.tls_status(self.mesh_access(), client, service, conflicts_only)

    def describe(self, namespace: str, pod: str):
        """`istioctl x describe pod`: sidecar, identity and certificate, services, DestinationRules,
        VirtualServices, effective PeerAuthentication, AuthorizationPolicies. `pod` may be a deployment name."""
        from ..tools import lab_api
        return lab_api.describe(self.mesh_access(), namespace, pod)

    def proxy_config(self, namespace: str, pod: str, kind: str = "clusters"):
        """`istioctl proxy-config`: the proxy's real Envoy config (listeners, clusters, routes, endpoints,
        secrets) as a table; `.items` / `view[name]` give the full JSON."""
        from ..tools import lab_api
        return lab_api.proxy_config(self.mesh_access(), namespace, pod, kind)

    def certs(self, namespace: str, target: str):
        """Certificates as a DataFrame (chain, SANs, issuer, validity): of a proxy (`target` = pod or
        deployment, read from its live SDS secrets) or of a Secret (`target` = "secret/NAME")."""
        from ..tools import lab_api
        return lab_api.certs(self.mesh_access(), namespace, target)

    def evidence(self, since: Any = None):
        """What the proxies logged, per call: source → destination, code, mTLS and peer identities.
        `since`: a datetime or time.time() value, to see only the calls made after it; by default the
        calls since the last `reset_lab` (earlier labs' traffic is not this lab's evidence)."""
        from ..tools import lab_api
        return lab_api.evidence(self.mesh_access(), self._evidence_since(since))

    def graph(self, since: Any = None, *, idle: bool = False, live: bool = False, every: float = 2.0,
              duration: float = 300.0, window: float = 60.0):
        """Kiali-like picture of the observed calls (SVG in the notebook): 🔒 on mTLS edges, red on failures.
        `live=True`: the last `window` seconds in requests per second, redrawn every `every` seconds for
        `duration` seconds while traffic flows (`.stop()` ends it sooner)."""
        from ..tools import lab_api

        def draw():
            return lab_api.graph(self.mesh_access(), self._evidence_since(since), idle, window if live else None)
        if live:
            from ..tools.graph_live import LiveGraph
            return LiveGraph(draw, every, duration)
        return draw()

    def analyze(self):
        """`istioctl analyze` on this lab's resources (plus labkit's LAB* checks); `print()` it."""
        from ..tools import lab_api
        return lab_api.analyze(self.mesh_access(), since=self._evidence_since(None))

    evidence_start: float | None = None  # time.time() of the last reset_lab: where evidence begins

    def _evidence_since(self, since: Any) -> Any:
        """`since` as given, else the last reset_lab: the gateway (and any pod that kept its name and address)
        still has earlier labs' calls in its access log, which are no evidence about this lab."""
        return since if since is not None else self.evidence_start

    def reset_lab(self, lab_id: str, timeout: float | None = None) -> None:
        """Bring the mesh to the starting point of a lab ("03"), so a learner can begin at any lab."""
        from .. import current, progress
        from ..labs import lab_info, start_resources
        lab_id = lab_info(lab_id).id
        self.evidence_start = time.time()
        self.ensure_running()  # e.g. the kernel that ran the local mesh is gone: run it here
        self.reset(start_resources(lab_id))
        # No timeout given: the backend's own default (a cluster's first image pulls take minutes).
        self.wait_ready(timeout=timeout) if timeout is not None else self.wait_ready()
        self.current_lab = lab_id
        current.use(self)
        progress.started(self, lab_id)
