"""Keeping the running processes equal to the resolved model: start, configure, restart, stop."""
from __future__ import annotations

import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from ..certs import MeshCA
from ..envoy.common import tls_certificate_secret, validation_secret
from ..envoy.common import ProxyPaths
from ..envoy.nodeproxy import build_node_proxy
from ..envoy.proxy import GatewaySettings, build_proxy_config
from ..errors import LabkitError
from ..model.mesh import MeshModel
from . import xds_files
from .network import address_map, write_pod_network
from .envoy_proc import EnvoyProcess
from .pods import PodRuntime

GATEWAY_SERVICE = ("istio-system", "istio-ingressgateway")
CERT_HOURS = 24
LISTENER_RETRY_SECONDS = 2.0


def _pod_phase(containers) -> str:
    if all(c.ready for c in containers):
        return "Running"
    return "CrashLoopBackOff" if any(c.state == "CrashLoopBackOff" for c in containers) else "Pending"


class MeshRuntime:
    def __init__(self, state_dir: Path, gateway: GatewaySettings):
        self.state_dir = Path(state_dir)
        self.pods_dir = self.state_dir / "pods"
        self.gateway = gateway
        self.ca = MeshCA.load_or_create(self.state_dir / "ca")
        self.pods: dict[str, PodRuntime] = {}   # pod uid → runtime
        self.warnings: dict[str, list[str]] = {}
        self.lock = threading.RLock()
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="labkit-sync")
        self._next_listener_retry = 0.0
        self.node_proxy: EnvoyProcess | None = None

    # -- reconcile --------------------------------------------------------------------------------
    def sync(self, model: MeshModel) -> None:
        with self.lock:
            wanted = {p.uid: p for p in model.pods}
            for uid in [u for u in self.pods if u not in wanted]:
                gone = self.pods.pop(uid)
                gone.stop()
                shutil.rmtree(gone.directory, ignore_errors=True)
            fresh = []
            for uid, pod in wanted.items():
                if uid not in self.pods:
                    self.pods[uid] = PodRuntime(pod, self.pods_dir / f"{pod.namespace}_{pod.name}")
                    fresh.append(self.pods[uid])
                else:
                    self.pods[uid].pod = pod
            gateway_ports = self._gateway_addresses(model)
            configured = []
            for runtime in self.pods.values():
                pod = runtime.pod
                write_pod_network(runtime.directory, address_map(model, pod, gateway_ports), pod.ip)
                self._mount_secrets(model, runtime)
                if runtime.envoy:
                    if runtime in fresh:
                        self._issue_identity(runtime)
                    config = build_proxy_config(model, pod, runtime.envoy.paths, self.gateway)
                    before = dict(runtime.envoy.versions)
                    if runtime.envoy.apply(config) != before or runtime in fresh:
                        configured.append(runtime)
                    self._log_new_warnings(runtime, config.warnings)
                    self.warnings[pod.uid] = config.warnings
            for runtime in fresh:
                if runtime.envoy:
                    runtime.envoy.start()
                runtime.start_apps()
            waiting = [r.envoy for r in configured] + self._sync_node_proxy(model)
            errors = [f for f in self._pool.map(self._wait_envoy, waiting) if f]
            if errors:
                raise LabkitError("; ".join(errors))

    def _log_new_warnings(self, runtime: PodRuntime, warnings: list[str]) -> None:
        """What istiod would log about this proxy (a missing credential, say) shows in its istio-proxy log,
        once each time it appears, so `kubectl logs`-style troubleshooting finds it."""
        seen = self.warnings.get(runtime.pod.uid, [])
        fresh = [w for w in warnings if w not in seen]
        if fresh:
            stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            envoy = runtime.envoy
            assert envoy is not None, "warnings are about a proxy's configuration"
            envoy.log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(envoy.log_path, "a") as log:
                log.writelines(f"{stamp}\twarning\t{w}\n" for w in fresh)

    def _sync_node_proxy(self, model: MeshModel) -> list[EnvoyProcess]:
        """Start, reconfigure or keep the NodePort proxy; returns it when it has a new config to take."""
        paths = ProxyPaths(str(self.state_dir / "node-proxy"))
        config = build_node_proxy(model, paths, self.gateway.bind_ip)
        if self.node_proxy is None:
            if not config.listeners:
                return []
            self.node_proxy = EnvoyProcess("kube-proxy (NodePorts)", paths, "kube-proxy~127.0.0.1~node", "kube-proxy")
        before = dict(self.node_proxy.versions)
        if self.node_proxy.apply(config) == before and self.node_proxy.process is not None:
            return []
        if self.node_proxy.process is None:
            self.node_proxy.start()
        return [self.node_proxy]

    def _wait_envoy(self, envoy: EnvoyProcess) -> str | None:
        try:
            envoy.wait_applied(timeout=10)
        except LabkitError as exc:
            return str(exc)
        return None

    def _issue_identity(self, runtime: PodRuntime) -> None:
        bundle = self.ca.issue(runtime.pod.spiffe_id, hours=CERT_HOURS)
        envoy = runtime.envoy
        assert envoy is not None, "only pods with a proxy get a workload identity"
        envoy.write_secret(tls_certificate_secret(
            "default", bundle.cert_pem.decode(), bundle.key_pem.decode()))
        envoy.write_secret(validation_secret("ROOTCA", self.ca.root_pem.decode()))

    def rotate_identity(self, uid: str) -> None:
        with self.lock:
            runtime = self.pods[uid]
            if runtime.envoy:
                self._issue_identity(runtime)

    def _mount_secrets(self, model: MeshModel, runtime: PodRuntime) -> None:
        for volume in runtime.pod.volumes:
            name = (volume.get("secret") or {}).get("secretName")
            data = model.secret(runtime.pod.namespace, name) if name else None
            if data:
                target = runtime.directory / "secrets"
                target.mkdir(exist_ok=True, mode=0o700)
                for key, value in data.items():
                    xds_files.write_atomic(target / key, value.decode(errors="replace"), mode=0o600)

    def _gateway_addresses(self, model: MeshModel) -> dict[tuple[str, str, int], str]:
        """In-mesh callers of the ingress gateway Service reach its loopback listeners."""
        out = {}
        for service in model.services:
            if (service.namespace, service.name) == GATEWAY_SERVICE:
                for sp in service.ports:
                    out[(service.namespace, service.name, sp.port)] = \
                        f"{self.gateway.bind_ip}:{self.gateway.host_port(sp.target_port)}"
        return out

    # -- health -----------------------------------------------------------------------------------
    def heal(self) -> list[str]:
        """Restart processes that died on their own (with backoff, like the kubelet) and re-send
        listeners Envoy dropped (a port that was taken may be free now); returns what it restarted."""
        restarted = []
        with self.lock:
            for runtime in self.pods.values():
                for process in runtime.dead():
                    code = process.last_exit
                    if process.restart_when_due():
                        restarted.append(f"{process.name} (exit {code})")
                envoy = runtime.envoy
                if time.monotonic() >= self._next_listener_retry and envoy and envoy.alive() and envoy.live():
                    if envoy.missing_listeners():
                        envoy.retry_listeners()
            node = self.node_proxy
            if node and node.process and node.process.proc is not None and node.process.exited():
                code = node.process.last_exit
                if node.process.restart_when_due():
                    restarted.append(f"{node.process.name} (exit {code})")
            if time.monotonic() >= self._next_listener_retry:
                self._next_listener_retry = time.monotonic() + LISTENER_RETRY_SECONDS
        return restarted

    def status(self) -> list[dict]:
        rows = []
        with self.lock:
            for runtime in self.pods.values():
                pod = runtime.pod
                containers = runtime.container_statuses()
                ready = sum(c.ready for c in containers)
                rows.append({
                    "namespace": pod.namespace, "pod": pod.name, "ready": f"{ready}/{len(containers)}",
                    "sidecar": pod.sidecar, "status": _pod_phase(containers),
                    "restarts": sum(c.restarts for c in containers), "ip": pod.ip,
                    "deployment": pod.deployment, "uid": pod.uid,
                })
        return rows

    def stop(self) -> None:
        with self.lock:
            for runtime in list(self.pods.values()):
                runtime.stop()
            self.pods.clear()
            if self.node_proxy is not None:
                self.node_proxy.stop()
                self.node_proxy = None

    def runtime_for(self, namespace: str, name: str) -> PodRuntime | None:
        with self.lock:
            return next((r for r in self.pods.values() if r.pod.namespace == namespace and r.pod.name == name), None)
