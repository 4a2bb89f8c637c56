"""The Lab contract: what every backend (the local mesh, a Kubernetes cluster) provides.

Notebooks, checks, tools, widgets and the CLI type their `lab` parameter as `Lab` and use only what is
declared here, so they work the same on both backends. This module imports nothing from labkit, so any
layer may depend on it. `labkit/backends/base.py` holds the parts both backends share (`LabBase`).
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Protocol, Union

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


@dataclass(frozen=True)
class EnvironmentItem:
    """One line of `labkit doctor` (or of the environment check): what was checked, and how to fix it."""
    check: str
    ok: bool
    detail: str = ""
    fix: str = ""


class MeshAccess(Protocol):
    """How checks and tools read a live mesh: its resources, the resolved model, proxies' config and logs.
    `Lab.mesh_access()` returns the backend's way (labkit/tools/access.py)."""

    @property
    def subnet(self) -> int: ...

    def objects(self) -> list[dict]: ...

    def model(self, objects: list[dict] | None = None) -> Any: ...

    def addresses(self) -> dict[str, tuple[str, str]] | None: ...

    def proxies(self, model: Any) -> list[tuple[str, str]]: ...

    def config_dump(self, namespace: str, pod: str, *, include_eds: bool = False, why: str = "") -> dict: ...

    def access_log(self, namespace: str, pod: str) -> str: ...

    def access_logs(self, proxies: list[tuple[str, str]]) -> list[tuple[str, str, str]]: ...


class Lab(abc.ABC):
    """A mesh the labs drive. `labkit.connect()` returns one."""

    backend: str = "abstract"
    # How long a change may take to reach every proxy (checks wait this long before concluding).
    settle_seconds: float = 2.0
    current_lab: str | None = None  # the lab id of the last reset_lab: where checks record progress

    # -- lifecycle ------------------------------------------------------------------------------------
    @property
    @abc.abstractmethod
    def running(self) -> bool:
        """Whether the mesh is there to send traffic through."""

    @property
    def owner(self) -> bool | None:
        """True when this process runs the mesh, False when it is attached to another; None: not applicable."""
        return None

    def class_board(self) -> Any:
        """Where this learner's progress is published for the instructor besides the class folder (on a
        shared cluster: a ConfigMap in the learner's own namespace); None: nowhere else. It has
        `update(change)`, `change` editing the learner's record in place (labkit/classroom.py)."""
        return None

    @abc.abstractmethod
    def ensure_running(self) -> None:
        """Bring the mesh back when the process that ran it is gone (a cluster is always there)."""

    @abc.abstractmethod
    def down(self, keep: bool = False) -> None:
        """Stop everything this lab started; remove its state unless keep=True."""

    @abc.abstractmethod
    def reset(self, resources: YamlSource | None = None) -> None:
        """Remove every learner resource (the mesh's own stay), then apply `resources`."""

    @abc.abstractmethod
    def reset_lab(self, lab_id: str, timeout: float = 120) -> None:
        """Bring the mesh to the starting point of a lab ("03"), so a learner can begin at any lab."""

    @abc.abstractmethod
    def environment(self) -> list[EnvironmentItem]:
        """What this backend needs beyond the mesh itself (the Envoy binary; the cluster's Istio)."""

    # -- resources --------------------------------------------------------------------------------------
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
    def label_namespace(self, namespace: str, labels: dict) -> None:
        """`kubectl label namespace NS k=v --overwrite` (a None value removes the label)."""

    # -- pods ---------------------------------------------------------------------------------------------
    @abc.abstractmethod
    def pods(self, namespace: str | None = None) -> Any:
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

    # -- reaching the mesh from this machine ------------------------------------------------------------
    @abc.abstractmethod
    def gateway_url(self, port: int = 80, scheme: str | None = None, gateway: str | None = None) -> str:
        """URL of the ingress gateway for a Gateway server port (80 → http, 443 → https). `gateway="NS/NAME"`
        names a Kubernetes Gateway API Gateway instead: the address of its automated deployment's Service
        `NAME-istio` for that listener port."""

    @abc.abstractmethod
    def node_url(self, namespace: str, service: str, port: int | None = None, scheme: str = "http") -> str:
        """Where a NodePort Service answers from outside the mesh (`<node address>:<nodePort>`)."""

    # -- verification and troubleshooting (labkit.tools) -----------------------------------------------
    @abc.abstractmethod
    def mesh_access(self) -> MeshAccess:
        """The one way checks and tools read this mesh (resources, model, proxy config, access logs)."""

    @abc.abstractmethod
    def mesh_model(self) -> Any:
        """The resolved mesh (labkit.model.MeshModel) built from this lab's resources."""

    @abc.abstractmethod
    def tls_status(self, client: str | None = None, service: str | None = None, *,
                   conflicts_only: bool = False) -> Any:
        """The configured TLS per client → service:port (DestinationRule or auto mTLS vs the server's mode)."""

    @abc.abstractmethod
    def describe(self, namespace: str, pod: str) -> Any:
        """`istioctl x describe pod`."""

    @abc.abstractmethod
    def proxy_config(self, namespace: str, pod: str, kind: str = "clusters") -> Any:
        """`istioctl proxy-config`: the proxy's real Envoy config."""

    @abc.abstractmethod
    def certs(self, namespace: str, target: str) -> Any:
        """Certificates of a proxy or of a Secret (`target` = "secret/NAME")."""

    @abc.abstractmethod
    def evidence(self, since: Any = None) -> Any:
        """What the proxies logged, per call (the observed side)."""

    @abc.abstractmethod
    def graph(self, since: Any = None, *, idle: bool = False, live: bool = False, every: float = 2.0,
              duration: float = 300.0, window: float = 60.0) -> Any:
        """Kiali-like picture of the observed calls; `live=True` redraws it while traffic flows."""

    @abc.abstractmethod
    def proxy_status(self, namespace: str | None = None, *, verbose: bool = False) -> Any:
        """`istioctl proxy-status`: per proxy, whether it runs the config the control plane last sent
        (DataFrame; `verbose` adds a SYNCED / STALE / ERROR / NOT SENT / IGNORED column per xDS type).
        `print(labkit.tools.proxy_status.render_table(frame))` prints it as istioctl does."""

    @abc.abstractmethod
    def analyze(self) -> Any:
        """`istioctl analyze` on this lab's resources."""
