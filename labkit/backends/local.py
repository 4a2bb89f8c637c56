"""The embedded backend: the mesh runs here, as real processes on loopback.

The process that brings the mesh up owns its processes (they die with it). Any other process using
the same state directory (the CLI next to a notebook, a restarted kernel) attaches: it writes to the
store and waits until the owner has acted on it.
"""
from __future__ import annotations

import atexit
import datetime as dt
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pandas as pd

from ..constants import PROXY_CONTAINER
from ..envoy.gateway_settings import GatewaySettings
from ..envoy_binary import envoy_path
from ..errors import LabkitError
from ..model.deployments import reconcile_pods
from ..model.mesh import build_model
from ..resources.loader import load_documents
from ..resources.schema import kind_info
from ..resources.store import Store, key_of
from ..runtime.mesh_runtime import MeshRuntime
from ..runtime.pods import port_open
from ..samples import system_objects
from .base import AppliedObject, EnvironmentItem, ExecResult, LabBase, MeshAccess, YamlSource
from .local_state import Ownership, Settings, default_state_dir, read_status, write_status
from .progress import progress
from .wake import Doorbell, ring

WATCH_INTERVAL = 0.1


class LocalLab(LabBase):
    backend = "local"
    # Local config writes are near-instant, but Envoy drains connections opened under the old config (1 s).
    settle_seconds = 1.5
    _instances: dict[Path, "LocalLab"] = {}

    @classmethod
    def connect(cls, state_dir: str | Path | None = None, **settings) -> "LocalLab":
        """The lab for a state directory, started (or attached to) and ready for commands."""
        directory = Path(state_dir or default_state_dir()).resolve()
        existing = cls._instances.get(directory)
        if existing is not None and existing.running:
            return existing
        lab = cls(directory, **settings)
        lab.up()
        cls._instances[directory] = lab
        return lab

    def __init__(self, state_dir: Path, **settings):
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.settings = Settings.load(self.state_dir, **settings)
        self.store = Store(self.state_dir)
        self.ownership = Ownership(self.state_dir)
        self.runtime: MeshRuntime | None = None
        self._observed = -1
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._doorbell: Doorbell | None = None
        self._reconcile_lock = threading.RLock()
        self.last_error: str | None = None

    # -- lifecycle --------------------------------------------------------------------------------
    @property
    def owner(self) -> bool:
        return self.runtime is not None

    @property
    def running(self) -> bool:
        if self.owner:
            return not self._stop.is_set()
        return self.ownership.current() is not None

    @property
    def gateway(self) -> GatewaySettings:
        s = self.settings
        return GatewaySettings(bind_ip=s.gateway_ip, host_ports=((8080, s.gateway_http_port),
                                                                 (8443, s.gateway_https_port)))

    def ensure_running(self) -> None:
        if not self.running:
            self.up()

    def environment(self) -> list[EnvironmentItem]:
        from ..envoy_binary import envoy_version
        try:
            return [EnvironmentItem("Envoy", True, envoy_version())]
        except LabkitError as exc:
            return [EnvironmentItem("Envoy", False, exc.message, exc.hint or "labkit doctor says what is missing")]

    def mesh_access(self) -> MeshAccess:
        """Straight from the state directory: the store, Envoy's admin API and the access-log files."""
        from ..tools.local_access import LocalAccess
        return LocalAccess(self)

    def up(self) -> "LocalLab":
        """Start the mesh here, or attach to the process that already runs it."""
        if self.ownership.current() is not None:
            return self  # attached
        envoy_path()  # fail before starting anything when Envoy is missing
        self._check_ports_free()
        self.store.apply([o for o in system_objects()
                          if self.store.get(o["kind"], o["metadata"]["name"], o["metadata"].get("namespace", ""))
                          is None])
        self.runtime = MeshRuntime(self.state_dir, self.gateway)
        self.ownership.claim("owner")
        self._stop.clear()
        try:
            self._reconcile()
        except BaseException:
            self._shutdown_processes()
            raise
        atexit.register(self._shutdown_processes)
        self._doorbell = Doorbell(self.state_dir)
        self._watcher = threading.Thread(target=self._watch, name="labkit-watch", daemon=True)
        self._watcher.start()
        return self

    def _check_ports_free(self) -> None:
        import socket
        for port in (self.settings.gateway_http_port, self.settings.gateway_https_port):
            with socket.socket() as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((self.settings.gateway_ip, port))
                except OSError:
                    raise LabkitError(f"gateway port {self.settings.gateway_ip}:{port} is already in use",
                                      hint="stop what uses it (`ss -ltnp`), or another mesh with `labkit down`, "
                                           "or choose ports: labkit.connect(gateway_http_port=..., "
                                           "gateway_https_port=...) / LABKIT_GATEWAY_HTTP_PORT")

    def _shutdown_processes(self) -> None:
        self._stop.set()
        watcher = self._watcher
        if watcher is not None and watcher.is_alive() and watcher is not threading.current_thread():
            ring(self.state_dir)  # wake it from its wait
            watcher.join(timeout=10)  # a reconcile in flight must not start pods after we stop them
        with self._reconcile_lock:
            if self.runtime is not None:
                self.runtime.stop()
                self.runtime = None
                self.ownership.release()
            if self._doorbell is not None:
                self._doorbell.close()
                self._doorbell = None

    def down(self, keep: bool = False) -> None:
        """Stop every process; remove the state (resources, certificates) unless keep=True."""
        if self.owner:
            self._shutdown_processes()
        else:
            owner = self.ownership.current()
            if owner is not None:
                (self.state_dir / "stop-requested").write_text(str(time.time()))
                deadline = time.monotonic() + 15
                while self.ownership.current() is not None and time.monotonic() < deadline:
                    time.sleep(0.05)
                if self.ownership.current() is not None:
                    raise LabkitError(f"the mesh owner (pid {owner['pid']}) did not stop",
                                      hint="stop the notebook kernel or `labkit up` process that runs it")
        self._instances.pop(self.state_dir.resolve(), None)
        if not keep:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    # -- the control loop -------------------------------------------------------------------------
    def _watch(self) -> None:
        last_status = 0.0
        doorbell = self._doorbell
        assert doorbell is not None, "the watcher runs only after up() opened the doorbell"
        while not self._stop.is_set():
            doorbell.wait(WATCH_INTERVAL)
            if self._stop.is_set():
                break
            try:
                if (self.state_dir / "stop-requested").exists():
                    (self.state_dir / "stop-requested").unlink(missing_ok=True)
                    self._shutdown_processes()
                    return
                if self.store.generation != self._observed:
                    self._reconcile()
                restarted = self.runtime.heal() if self.runtime else []
                if restarted or time.monotonic() - last_status > 0.5:
                    self._publish_status()
                    last_status = time.monotonic()
            except LabkitError as exc:
                self.last_error = str(exc)
                self._observed = self.store.generation  # report once, do not spin on the same error
                self._publish_status()
            except Exception as exc:  # keep the mesh serving; say what went wrong
                self.last_error = f"{type(exc).__name__}: {exc}"

    def _reconcile(self) -> None:
        with self._reconcile_lock:
            if self.runtime is None:
                return
            generation, objects = self.store.snapshot()
            create, delete = reconcile_pods(objects)
            if delete:
                self.store.delete(delete, ignore_missing=True)
            if create:
                self.store.apply(create, system=True)
            if create or delete:
                generation, objects = self.store.snapshot()
            model = build_model(objects, self.settings.subnet)
            try:
                self.runtime.sync(model)
                self.last_error = None
            finally:
                self._observed = generation
                self._publish_status()

    def _publish_status(self) -> None:
        # Under the reconcile lock, so a status computed before a reconcile never lands after its own.
        with self._reconcile_lock:
            if self.runtime is None:
                return
            warnings = [w for ws in self.runtime.warnings.values() for w in ws]
            if self.last_error:
                warnings.append(self.last_error)
            write_status(self.state_dir, self._observed, self.runtime.status(), warnings)

    def _converge(self, timeout: float = 20) -> None:
        """Act on the store now (owner) or wait until the owner has (attached)."""
        if self.owner:
            self._reconcile()
            return
        if self.ownership.current() is None:
            return  # nothing runs; the next `up` acts on the stored resources
        wanted = self.store.generation
        ring(self.state_dir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = read_status(self.state_dir)
            if status["observed_generation"] >= wanted:
                return
            time.sleep(0.005)
        raise LabkitError(f"the mesh owner did not act on the change within {timeout:.0f} s")

    # -- resources --------------------------------------------------------------------------------
    def apply(self, source, namespace: str | None = None) -> list[AppliedObject]:
        docs = load_documents(source)
        if not docs:
            raise LabkitError("no resources found in the input")
        results = self.store.apply(docs, namespace=namespace)
        self._converge()
        return [AppliedObject(o["kind"], o["metadata"]["name"], o["metadata"].get("namespace"), action)
                for o, action in results]

    def delete(self, source, name=None, namespace=None, *, ignore_missing: bool = False) -> list[AppliedObject]:
        if name is not None:
            info = kind_info(source)
            keys = [(info.kind, (namespace or "default") if info.namespaced else "", name)]
        else:
            keys = []
            for doc in load_documents(source):
                info = kind_info(doc.get("kind", ""))
                meta = doc.get("metadata") or {}
                keys.append((info.kind, (meta.get("namespace") or namespace or "default") if info.namespaced else "",
                             meta.get("name", "")))
        removed = self.store.delete(keys, ignore_missing=ignore_missing)
        self._converge()
        return [AppliedObject(o["kind"], o["metadata"]["name"], o["metadata"].get("namespace"), "deleted")
                for o in removed if o["kind"] != "Pod"]

    def get(self, kind: str, name: str | None = None, namespace: str | None = None) -> list[dict]:
        info = kind_info(kind) if kind != "Pod" else None
        objects = self.store.list(info.kind if info else "Pod", namespace)
        return [o for o in objects if name is None or o["metadata"]["name"] == name]

    def label_namespace(self, namespace: str, labels: dict) -> None:
        """`kubectl label namespace NS k=v --overwrite` (a None value removes the label)."""
        current = self.store.get("Namespace", namespace)
        if current is None:
            raise LabkitError(f'namespaces "{namespace}" not found', kind="Namespace", name=namespace)
        merged = {**(current["metadata"].get("labels") or {}), **labels}
        current["metadata"]["labels"] = {k: v for k, v in merged.items() if v is not None}
        self.apply(current)

    # -- pods -------------------------------------------------------------------------------------
    def _status_rows(self) -> list[dict]:
        if self.runtime is not None:
            return self.runtime.status()
        return read_status(self.state_dir)["pods"]

    def pods(self, namespace: str | None = None) -> pd.DataFrame:
        rows = [r for r in self._status_rows() if namespace is None or r["namespace"] == namespace]
        columns = ["namespace", "pod", "ready", "sidecar", "status", "restarts", "ip"]
        frame = pd.DataFrame(rows, columns=columns + ["deployment", "uid"])[columns]
        return frame.sort_values(["namespace", "pod"]).reset_index(drop=True)

    def wait_ready(self, namespace: str | None = None, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        with progress("Waiting for pods") as bar:
            while True:
                rows = [r for r in self._status_rows() if namespace is None or r["namespace"] == namespace]
                ready = [r for r in rows if r["status"] == "Running"]
                bar.update(len(ready), len(rows))
                if rows and len(ready) == len(rows) and self._desired_pods_exist(namespace, rows):
                    return
                if time.monotonic() > deadline:
                    waiting = ", ".join(f"{r['namespace']}/{r['pod']} ({r['ready']})" for r in rows
                                        if r["status"] != "Running") or "pods not created yet"
                    raise LabkitError(f"pods not ready after {timeout:.0f} s: {waiting}",
                                      hint="lab.logs(namespace, pod) shows why an app did not start")
                time.sleep(0.02)

    def _desired_pods_exist(self, namespace: str | None, rows: list[dict]) -> bool:
        wanted = sum(d["spec"].get("replicas", 1) for d in self.store.list("Deployment", namespace))
        return len(rows) >= wanted

    def _pod_row(self, namespace: str, target: str) -> dict:
        target = target.split("/", 1)[1] if "/" in target else target
        rows = [r for r in self._status_rows() if r["namespace"] == namespace]
        for row in rows:
            if row["pod"] == target:
                return row
        candidates = [r for r in rows if r.get("deployment") == target]
        running = [r for r in candidates if r["status"] == "Running"] or candidates
        if not running:
            names = ", ".join(sorted({r.get("deployment") or r["pod"] for r in rows})) or "none"
            raise LabkitError(f'no pod or deployment "{target}" in namespace "{namespace}"',
                              hint=f"deployments there: {names}")
        return running[0]

    def pod_dir(self, namespace: str, target: str) -> Path:
        row = self._pod_row(namespace, target)
        return self.state_dir / "pods" / f"{row['namespace']}_{row['pod']}"

    def exec(self, namespace: str, target: str, command: list[str], *, container: str | None = None,
             timeout: float = 30) -> ExecResult:
        """Run a real command as if inside the pod: curl gets the pod's DNS, kube-proxy and sidecar."""
        if isinstance(command, str):
            raise LabkitError("command must be a list, e.g. ['curl', '-s', 'http://httpbin.foo:8000/ip']")
        directory = self.pod_dir(namespace, target)
        env = dict(os.environ)
        env.update({"CURL_HOME": str(directory), "HOME": str(directory),
                    "POD_NAME": directory.name.split("_", 1)[1], "POD_NAMESPACE": namespace})
        try:
            out = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=directory,
                                 stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            raise LabkitError(f"{command[0]}: command not found on this machine",
                              hint="the local mesh runs the real tools (curl, openssl) from PATH")
        except subprocess.TimeoutExpired as exc:
            return ExecResult(124, (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else exc.stdout or "",
                              f"timed out after {timeout} s", list(command))
        return ExecResult(out.returncode, out.stdout, out.stderr, list(command))

    def restart(self, namespace: str, target: str) -> None:
        """`kubectl rollout restart deployment/NAME`: new pods (which get a sidecar if injection is on now)."""
        name = target.split("/", 1)[1] if "/" in target else target
        deployment = self.store.get("Deployment", name, namespace)
        if deployment is None:
            raise LabkitError(f'deployments.apps "{name}" not found', kind="Deployment", name=name, namespace=namespace)
        template = deployment["spec"]["template"].setdefault("metadata", {})
        template.setdefault("annotations", {})["kubectl.kubernetes.io/restartedAt"] = \
            dt.datetime.now(dt.timezone.utc).isoformat()
        self.apply(deployment)

    def logs(self, namespace: str, target: str, container: str | None = None, tail: int | None = None) -> str:
        directory = self.pod_dir(namespace, target)
        if container in (PROXY_CONTAINER, "envoy"):
            parts = [directory / PROXY_CONTAINER / "envoy.log", directory / PROXY_CONTAINER / "access.log"]
        else:
            name = container or next((p.stem for p in sorted(directory.glob("*.log"))), None)
            if name is None:
                gateway_log = directory / PROXY_CONTAINER / "envoy.log"
                parts = [gateway_log, directory / PROXY_CONTAINER / "access.log"]
            else:
                parts = [directory / f"{name}.log"]
                if not parts[0].exists():
                    raise LabkitError(f'container "{name}" not found in pod {directory.name.split("_", 1)[1]}')
        text = "".join(p.read_text(errors="replace") for p in parts if p.exists())
        if tail:
            text = "\n".join(text.splitlines()[-tail:]) + "\n"
        return text

    def rotate_certificates(self, namespace: str | None = None) -> int:
        """Issue every sidecar (in `namespace`) a fresh workload certificate, as istio-agent does before
        expiry; new handshakes use it at once. Returns how many proxies got one."""
        if self.runtime is None:
            raise LabkitError("certificates can only be rotated by the process that runs the mesh",
                              hint="call this from the notebook or `labkit up` process that owns it")
        rotated = 0
        for uid, runtime in list(self.runtime.pods.items()):
            if runtime.pod.sidecar and (namespace is None or runtime.pod.namespace == namespace):
                self.runtime.rotate_identity(uid)
                rotated += 1
        return rotated

    def _node_address(self) -> str:
        return self.settings.gateway_ip

    def gateway_url(self, port: int = 80, scheme: str | None = None) -> str:
        target = {80: 8080, 443: 8443}.get(port, port)
        scheme = scheme or ("https" if port in (443, 8443) else "http")
        return f"{scheme}://{self.settings.gateway_ip}:{self.gateway.host_port(target)}"

    def wait_port(self, ip: str, port: int, timeout: float = 5) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if port_open(ip, port):
                return True
            time.sleep(0.02)
        return False

    def reset(self, resources: YamlSource | None = None) -> None:
        """Remove every learner resource (keeping the mesh's own), then apply `resources`."""
        system = {key_of(o) for o in system_objects()}
        doomed = [key_of(o) for o in self.store.list() if key_of(o) not in system and o["kind"] != "Pod"]
        doomed = [k for k in doomed if k[0] == "Namespace"] + [k for k in doomed if k[0] != "Namespace"]
        if doomed:
            self.store.delete(doomed, ignore_missing=True)
        if resources:
            self.store.apply(load_documents(resources))
        self._converge()

    def __repr__(self) -> str:
        role = "owner" if self.owner else "attached"
        return f"<LocalLab {self.state_dir} ({role}), gateway {self.gateway_url(80)} / {self.gateway_url(443)}>"
