"""The Lab API every backend implements; notebooks, checks and tools use only this."""
from __future__ import annotations

import abc
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

    @abc.abstractmethod
    def down(self, keep: bool = False) -> None:
        """Stop everything this lab started; remove its state unless keep=True."""
