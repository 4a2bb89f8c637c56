"""The processes of one pod: an app per container and, when injected, an Envoy sidecar."""
from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from ..constants import PROXY_CONTAINER
from ..apps.images import app_for_image
from ..envoy.common import ProxyPaths
from ..model.addressing import real_port
from ..model.mesh import Container, Pod
from .envoy_proc import EnvoyProcess
from .procs import ManagedProcess


@dataclass
class ContainerStatus:
    name: str
    ready: bool
    restarts: int
    state: str


def _state(process: ManagedProcess | None, ready: bool) -> str:
    if ready:
        return "running"
    if process is not None and process.backing_off and process.restarts >= 2:
        return "CrashLoopBackOff"
    return "waiting"


def port_open(ip: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=timeout):
            return True
    except OSError:
        return False


class PodRuntime:
    def __init__(self, pod: Pod, directory: Path):
        self.pod = pod
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.apps: dict[str, ManagedProcess] = {}
        self.envoy: EnvoyProcess | None = None
        if pod.sidecar or pod.is_gateway:
            paths = ProxyPaths(str(directory / PROXY_CONTAINER))
            kind = "router" if pod.is_gateway else "sidecar"
            node = f"{kind}~{pod.ip}~{pod.name}.{pod.namespace}~{pod.namespace}.svc.cluster.local"
            self.envoy = EnvoyProcess(f"{pod.namespace}/{pod.name}", paths, node,
                                      f"{pod.labels.get('app', pod.deployment or pod.name)}.{pod.namespace}")
        for container in pod.app_containers:
            if pod.is_gateway:
                continue
            self.apps[container.name] = self._app_process(container)

    @property
    def paths(self) -> ProxyPaths | None:
        return self.envoy.paths if self.envoy else None

    def _app_process(self, container: Container) -> ManagedProcess:
        module, variant = app_for_image(container.image)
        binds = ",".join(f"{self.pod.app_ip}:{real_port(port)}" for _, port in container.ports)
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "PYTHONPATH", "HOME")}
        env.update(dict(container.env))
        env.update({
            "LABKIT_BIND": binds, "LABKIT_RESOLVE_FILE": str(self.directory / "resolve.json"),
            "POD_NAME": self.pod.name, "POD_NAMESPACE": self.pod.namespace, "HOSTNAME": self.pod.name,
            "SERVICE_ACCOUNT": self.pod.service_account, "LABKIT_APP_VARIANT": variant or "",
            "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1",
        })
        args = [sys.executable, "-m", f"labkit.apps.{module}"]
        return ManagedProcess(f"{self.pod.namespace}/{self.pod.name}/{container.name}", args, env=env,
                              log_path=self.directory / f"{container.name}.log", cwd=self.directory)

    def _tls_files(self) -> tuple[str, str] | None:
        """A secret volume with tls.crt/tls.key, written by the mesh runtime, makes the app serve TLS."""
        cert, key = self.directory / "secrets" / "tls.crt", self.directory / "secrets" / "tls.key"
        if cert.exists() and key.exists():
            return str(cert), str(key)
        return None

    def start_apps(self) -> None:
        tls = self._tls_files()
        for process in self.apps.values():
            if tls:
                assert process.env is not None, "app processes get an explicit environment"
                process.env["LABKIT_TLS_CERT_FILE"], process.env["LABKIT_TLS_KEY_FILE"] = tls
            process.start()

    def stop(self) -> None:
        for process in self.apps.values():
            process.stop(timeout=1.0)
        if self.envoy:
            self.envoy.stop()

    def app_ready(self, container: Container) -> bool:
        process = self.apps.get(container.name)
        if process is None or not process.alive():
            return False
        return all(port_open(self.pod.app_ip, real_port(p)) for _, p in container.ports)

    def _envoy_status(self, name: str) -> ContainerStatus:
        envoy = self.envoy
        assert envoy is not None, "only pods with a proxy report its status"
        process = envoy.process
        ready = envoy.live() and not envoy.missing_listeners()
        return ContainerStatus(name, ready, process.restarts if process else 0, _state(process, ready))

    def container_statuses(self) -> list[ContainerStatus]:
        out = []
        for container in self.pod.app_containers:
            if self.pod.is_gateway:
                out.append(self._envoy_status(container.name))
                continue
            process = self.apps[container.name]
            ready = self.app_ready(container)
            out.append(ContainerStatus(container.name, ready, process.restarts, _state(process, ready)))
        if self.pod.sidecar and self.envoy:
            out.append(self._envoy_status(PROXY_CONTAINER))
        return out

    def processes(self) -> list[ManagedProcess]:
        out = list(self.apps.values())
        if self.envoy and self.envoy.process:
            out.append(self.envoy.process)
        return out

    def dead(self) -> list[ManagedProcess]:
        """Processes that died on their own and wait for their restart."""
        return [p for p in self.processes() if p.proc is not None and p.exited()]
