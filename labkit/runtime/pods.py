"""The processes of one pod: an app per container and, when injected, an Envoy sidecar."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..constants import PROXY_CONTAINER
from ..apps.images import app_for_image, image_files
from ..apps.listen_ports import FIXED, listen_ports
from ..envoy.common import ProxyPaths
from ..model.addressing import real_port
from ..model.mesh import Container, MeshModel, Pod
from ..model.volumes import ContainerView, container_view
from .envoy_proc import EnvoyProcess
from .procs import Launcher, ManagedProcess


_BASE_ENV = ("PATH", "LANG", "LC_ALL", "PYTHONPATH", "HOME", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE")
_POD_ENV = ("POD_NAME", "POD_NAMESPACE", "HOSTNAME", "SERVICE_ACCOUNT")
READY_CACHE_SECONDS = 3.0   # how long a ready app is not probed again (its process unchanged)


def _write(root: Path, path: str, data: bytes, mode: int) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    target.chmod(mode & 0o777)


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
    def __init__(self, pod: Pod, directory: Path, control_plane=None, launcher: Launcher | None = None):
        """`launcher`: what starts the app processes (the mesh's app zygote), else each is spawned."""
        self.pod = pod
        self.launcher = launcher
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.apps: dict[str, ManagedProcess] = {}
        # Why a container has not started (a missing Secret/ConfigMap), as the kubelet would say.
        self.waiting: dict[str, ContainerView] = {}
        self._root_digests: dict[str, str] = {}
        self._listen_keys: dict[str, tuple] = {}   # container → the inputs its `listen` ports came from
        self._ready_until: dict[str, tuple[tuple, float]] = {}   # container → ((pid, ports), until when)
        self.listen: dict[str, tuple[int, ...]] = {}   # container -> ports its program listens on
        self.envoy: EnvoyProcess | None = None
        if pod.sidecar or pod.is_gateway:
            paths = ProxyPaths(str(directory / PROXY_CONTAINER))
            kind = "router" if pod.is_gateway else "sidecar"
            node = f"{kind}~{pod.ip}~{pod.name}.{pod.namespace}~{pod.namespace}.svc.cluster.local"
            self.envoy = EnvoyProcess(f"{pod.namespace}/{pod.name}", paths, node,
                                      f"{pod.labels.get('app', pod.deployment or pod.name)}.{pod.namespace}",
                                      control_plane=control_plane)
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
        env.update({
            "LABKIT_BIND": binds, "LABKIT_RESOLVE_FILE": str(self.directory / "resolve.json"),
            "POD_NAME": self.pod.name, "POD_NAMESPACE": self.pod.namespace, "HOSTNAME": self.pod.name,
            "SERVICE_ACCOUNT": self.pod.service_account, "LABKIT_APP_VARIANT": variant or "",
            "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1",
        })
        args = [sys.executable, "-m", f"labkit.apps.{module}"]
        return ManagedProcess(f"{self.pod.namespace}/{self.pod.name}/{container.name}", args, env=env,
                              log_path=self.directory / f"{container.name}.log", cwd=self.directory,
                              launcher=self.launcher)

    def root_of(self, container: str) -> Path:
        """The container's filesystem: the image's files the app reads, then the YAML's volume mounts."""
        return self.directory / "rootfs" / container

    def prepare(self, model: MeshModel) -> None:
        """Resolve each app container's mounts, env and command line as the kubelet does.

        Nothing else reaches the app: an app serves TLS only when its own configuration (flags, env,
        config file) says so and names files that the YAML mounted (no TLS by itself)."""
        if self.pod.is_gateway:
            return
        for container in self.pod.app_containers:
            view = container_view(model, self.pod, container)
            process = self.apps[container.name]
            if view.problems:
                if process.proc is None:   # a running container keeps what it had (the kubelet does not stop it)
                    if self.waiting.get(container.name, ContainerView()).problems != view.problems:
                        self._note_waiting(container.name, view)
                    self.waiting[container.name] = view
                continue
            self.waiting.pop(container.name, None)
            self._write_root(container, view)
            env = {k: v for k, v in (process.env or {}).items() if k in _BASE_ENV or k.startswith("LABKIT_")
                   or k in _POD_ENV}
            env.update(view.env)
            env["LABKIT_ROOT"] = str(self.root_of(container.name))
            env["LABKIT_COMMAND"] = json.dumps(view.command)
            env["LABKIT_ARGS"] = json.dumps(view.args)
            env["LABKIT_POD_IP"] = self.pod.app_ip
            module, variant = app_for_image(container.image)
            # What the program will listen on follows from its files (the root's digest), command line and
            # env only: parsed again only when one of them changed, not at every sync (an nginx.conf parse
            # per pod per change was half of a one-policy change's cost at 50 pods).
            key = (self._root_digests.get(container.name), container.image, repr(view.command), repr(view.args),
                   tuple(sorted(view.env.items())), tuple(container.ports))
            if self._listen_keys.get(container.name) != key:
                ports = listen_ports(module, variant, view.command, view.args, view.env,
                                     str(self.root_of(container.name)))
                self.listen[container.name] = ports if ports is not None else tuple(p for _, p in container.ports)
                self._listen_keys[container.name] = key
            if FIXED.get(module):   # the image's program binds its own ports, whatever containerPort says
                env["LABKIT_BIND"] = ",".join(f"{self.pod.app_ip}:{real_port(p)}" for p in FIXED[module])
            process.env = env

    def _note_waiting(self, name: str, view: ContainerView) -> None:
        """Why the container waits, where `lab.logs` finds it (on a cluster: the pod's events,
        `kubectl describe pod`: FailedMount / Failed with CreateContainerConfigError)."""
        reason = "FailedMount" if view.reason == "ContainerCreating" else "Failed"
        with open(self.directory / f"{name}.log", "a") as log:
            log.writelines(f"Warning  {reason}  {problem}\n" for problem in view.problems)

    def _write_root(self, container: Container, view: ContainerView) -> None:
        root = self.root_of(container.name)
        # Rewrite only on change: an app may be reading its files right now (Kubernetes, too, updates
        # mounted Secrets/ConfigMaps in place, eventually).
        digest = hashlib.sha256(repr((container.image, view.directories,
                                      [(f.path, f.data, f.mode) for f in view.files])).encode()).hexdigest()
        if self._root_digests.get(container.name) == digest and root.is_dir():
            return
        self._root_digests[container.name] = digest
        fresh = root.with_name(root.name + ".new")
        shutil.rmtree(fresh, ignore_errors=True)
        fresh.mkdir(parents=True, mode=0o700)
        module, _ = app_for_image(container.image)
        for path, data in image_files(module).items():
            _write(fresh, path, data, 0o644)
        for directory in view.directories:   # a mount hides what the image had there
            target = fresh / directory.lstrip("/")
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            target.mkdir(parents=True, exist_ok=True)
        for mounted in view.files:
            _write(fresh, mounted.path, mounted.data, mounted.mode)
        shutil.rmtree(root, ignore_errors=True)
        fresh.rename(root)

    def apps_to_start(self) -> bool:
        """Whether a container can start and is not running (a new pod, or a Secret/ConfigMap it waited for)."""
        return any(name not in self.waiting and process.proc is None for name, process in self.apps.items())

    def start_apps(self) -> None:
        for name, process in self.apps.items():
            if name not in self.waiting and process.proc is None:
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
        # What a kubelet's TCP check of the program's own ports would see (a containerPort the program does
        # not listen on does not keep a pod from Running on Kubernetes either; calls to it fail).
        ports = self.listen.get(container.name, tuple(p for _, p in container.ports))
        # A ready answer is kept for a moment, like a kubelet's readiness probe (periodSeconds, 10 s by default)
        # is not run at every status read: every change publishes every pod's status, and a connect per pod
        # per change was a tenth of a one-policy change at 50 pods. A new process or new ports probe again.
        key = (process.pid, ports)
        cached = self._ready_until.get(container.name)
        if cached is not None and cached[0] == key and time.monotonic() < cached[1]:
            return True
        ready = all(port_open(self.pod.app_ip, real_port(p)) for p in ports)
        if ready:
            self._ready_until[container.name] = (key, time.monotonic() + READY_CACHE_SECONDS)
        else:
            self._ready_until.pop(container.name, None)
        return ready

    def _envoy_status(self, name: str) -> ContainerStatus:
        envoy = self.envoy
        assert envoy is not None, "only pods with a proxy report its status"
        process = envoy.process
        ready = envoy.ready()
        return ContainerStatus(name, ready, process.restarts if process else 0, _state(process, ready))

    def container_statuses(self) -> list[ContainerStatus]:
        out = []
        for container in self.pod.app_containers:
            if self.pod.is_gateway:
                out.append(self._envoy_status(container.name))
                continue
            if container.name in self.waiting:
                out.append(ContainerStatus(container.name, False, 0, self.waiting[container.name].reason))
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
