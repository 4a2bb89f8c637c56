"""The Lab API every backend implements; notebooks, checks and tools use only this."""
from __future__ import annotations

import abc
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Union

YamlSource = Union[str, Path, dict, Iterable[dict]]


@dataclass
class ExecResult:
    """What a command run inside a pod's container returned (real exit code and output)."""
    exit_code: int
    stdout: str
    stderr: str
    command: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def __repr__(self) -> str:
        return f"ExecResult(exit_code={self.exit_code}, stdout={self.stdout[:200]!r}, stderr={self.stderr[:200]!r})"


@dataclass
class AppliedObject:
    """One resource after apply: its coordinates and whether it was created, changed or unchanged."""
    kind: str
    name: str
    namespace: str | None
    action: str  # "created" | "configured" | "unchanged" | "deleted"

    def __str__(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind.lower()}/{ns}{self.name} {self.action}"


class Lab(abc.ABC):
    """A mesh the labs drive. `labkit.connect()` returns one."""

    backend: str = "abstract"

    @abc.abstractmethod
    def apply(self, source: YamlSource, namespace: str | None = None) -> list[AppliedObject]:
        """Create or update every resource in a YAML text, path, dict or list of dicts (`-n namespace`)."""

    @abc.abstractmethod
    def delete(self, source: YamlSource | str, name: str | None = None, namespace: str | None = None,
               *, ignore_missing: bool = False) -> list[AppliedObject]:
        """Delete by the same YAML, or by kind and name: `lab.delete("PeerAuthentication", "default", namespace="foo")`."""

    @abc.abstractmethod
    def get(self, kind: str, name: str | None = None, namespace: str | None = None) -> list[dict]:
        """Stored resources of a kind (all namespaces when namespace is None)."""

    @abc.abstractmethod
    def pods(self, namespace: str | None = None):
        """pandas DataFrame: namespace, pod, ready ("2/2"), sidecar, status, restarts, ip."""

    @abc.abstractmethod
    def wait_ready(self, namespace: str | None = None, timeout: float = 60) -> None:
        """Block until every pod (in namespace) is ready; progress bar in notebooks."""

    @abc.abstractmethod
    def exec(self, namespace: str, target: str, command: list[str], *, container: str | None = None,
             timeout: float = 30) -> ExecResult:
        """Run a command in a pod's container. `target` is a pod name or a deployment name."""

    @abc.abstractmethod
    def restart(self, namespace: str, target: str) -> None:
        """`kubectl rollout restart deployment/NAME` equivalent; `target` is `deployment/NAME` or `NAME`."""

    @abc.abstractmethod
    def logs(self, namespace: str, target: str, container: str | None = None, tail: int | None = None) -> str:
        """Logs of a pod's container; container `istio-proxy` is the sidecar's Envoy access log."""

    @abc.abstractmethod
    def gateway_url(self, port: int = 80, scheme: str | None = None) -> str:
        """URL of the ingress gateway for a Gateway server port (80 → http, 443 → https)."""

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

    @abc.abstractmethod
    def down(self, keep: bool = False) -> None:
        """Stop everything this lab started; remove its state unless keep=True."""

    # -- verification and troubleshooting (labkit.tools) ------------------------------------------
    # Every backend gets these; `_tool_access` is the one hook (how to reach resources, proxies, logs).

    def _tool_access(self):
        from ..tools.access import access_for
        return access_for(self)

    def mesh_model(self):
        """The resolved mesh (labkit.model.MeshModel) built from this lab's resources."""
        return self._tool_access().model()

    def tls_status(self, client: str | None = None, service: str | None = None, *, conflicts_only: bool = False):
        """DataFrame per client → service:port: client TLS (auto mTLS or DestinationRule), server mode
        (and the PeerAuthentication that set it), and whether they conflict. Like the old `istioctl authn tls-check`."""
        from ..tools import lab_api
        return lab_api.tls_status(self._tool_access(), client, service, conflicts_only)

    def describe(self, namespace: str, pod: str):
        """`istioctl x describe pod`: sidecar, identity and certificate, services, DestinationRules,
        VirtualServices, effective PeerAuthentication, AuthorizationPolicies. `pod` may be a deployment name."""
        from ..tools import lab_api
        return lab_api.describe(self._tool_access(), namespace, pod)

    def proxy_config(self, namespace: str, pod: str, kind: str = "clusters"):
        """`istioctl proxy-config`: the proxy's real Envoy config (listeners, clusters, routes, endpoints,
        secrets) as a table; `.items` / `view[name]` give the full JSON."""
        from ..tools import lab_api
        return lab_api.proxy_config(self._tool_access(), namespace, pod, kind)

    def certs(self, namespace: str, target: str):
        """Certificates as a DataFrame (chain, SANs, issuer, validity): of a proxy (`target` = pod or
        deployment, read from its live SDS secrets) or of a Secret (`target` = "secret/NAME")."""
        from ..tools import lab_api
        return lab_api.certs(self._tool_access(), namespace, target)

    def evidence(self, since: Any = None):
        """What the proxies logged, per call: source → destination, code, mTLS and peer identities.
        `since`: a datetime or time.time() value, to see only the calls made after it; by default the
        calls since the last `reset_lab` (earlier labs' traffic is not this lab's evidence)."""
        from ..tools import lab_api
        return lab_api.evidence(self._tool_access(), self._evidence_since(since))

    def graph(self, since: Any = None, *, idle: bool = False):
        """Kiali-like picture of the observed calls (SVG in the notebook): 🔒 on mTLS edges, red on failures."""
        from ..tools import lab_api
        return lab_api.graph(self._tool_access(), self._evidence_since(since), idle)

    def proxy_status(self, namespace: str | None = None, *, verbose: bool = False):
        """`istioctl proxy-status`: per proxy, whether it runs the config the control plane last sent
        (DataFrame; `verbose` adds a SYNCED / STALE / ERROR / NOT SENT / IGNORED column per xDS type).
        `print(labkit.tools.proxy_status.render_table(frame))` prints it as istioctl does."""
        raise NotImplementedError(f"{type(self).__name__} has no proxy-status")

    def analyze(self):
        """`istioctl analyze` on this lab's resources (plus labkit's LAB* checks); `print()` it."""
        from ..tools import lab_api
        return lab_api.analyze(self._tool_access(), since=self._evidence_since(None))

    current_lab: str | None = None  # the lab id of the last reset_lab: where checks record progress
    evidence_start: float | None = None  # time.time() of the last reset_lab: where evidence begins

    def _evidence_since(self, since: Any) -> Any:
        """`since` as given, else the last reset_lab: the gateway (and any pod that kept its name and address)
        still has earlier labs' calls in its access log, which are no evidence about this lab."""
        return since if since is not None else self.evidence_start

    def reset(self, resources: YamlSource | None = None) -> None:
        """Remove every learner resource (the mesh's own stay), then apply `resources`."""
        raise NotImplementedError(f"{type(self).__name__} cannot reset")

    def reset_lab(self, lab_id: str, timeout: float = 120) -> None:
        """Bring the mesh to the starting point of a lab ("03"), so a learner can begin at any lab."""
        from .. import progress, session
        from ..labs import lab_info, start_resources
        lab_id = lab_info(lab_id).id
        self.evidence_start = time.time()
        if not getattr(self, "running", True) and hasattr(self, "up"):
            self.up()  # the kernel that ran the mesh is gone: run it here
        self.reset(start_resources(lab_id))
        self.wait_ready(timeout=timeout)
        self.current_lab = lab_id
        session.use(self)
        progress.started(self, lab_id)
