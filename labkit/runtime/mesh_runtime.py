"""Keeping the running processes equal to the resolved model: start, configure, restart, stop."""
from __future__ import annotations

import json
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from ..certs import MeshCA
from ..envoy.common import tls_certificate_secret, validation_secret
from ..envoy.common import ProxyPaths
from ..envoy.nodeproxy import build_node_proxy, node_ports
from ..envoy.proxy import GatewaySettings, build_proxy_config
from ..errors import LabkitError
from ..model.mesh import MeshModel
from ..model.push_scope import keep_client_view, pods_to_recompute, same_topology
from ..resources.nodeports import NODE_PORT_RANGE
from ..xds.client import ENDPOINT_FILE
from ..xds.control_plane import ControlPlane
from .claims import HostClaims
from .files import write_if_changed
from .network import address_map, write_pod_network
from .envoy_proc import EnvoyProcess
from .pods import PodRuntime
from .zygote import AppZygote

GATEWAY_SERVICE = ("istio-system", "istio-ingressgateway")
CERT_HOURS = 24
NODE_HOST_PORTS_FILE = "node-ports.json"


def read_node_host_ports(state_dir: Path) -> dict[int, int]:
    """nodePort → the host port the mesh's NodePort proxy listens on (written by the mesh owner)."""
    try:
        return {int(k): v for k, v in json.loads((Path(state_dir) / NODE_HOST_PORTS_FILE).read_text()).items()}
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
LISTENER_RETRY_SECONDS = 2.0


def istiod_log_path(state_dir: Path) -> Path:
    return Path(state_dir) / "istiod" / "discovery.log"


def _pod_phase(containers) -> str:
    """kubectl's STATUS column: Running, or the reason a container waits (CrashLoopBackOff,
    ContainerCreating while a volume's Secret/ConfigMap is missing, CreateContainerConfigError)."""
    if all(c.ready for c in containers):
        return "Running"
    for reason in ("CrashLoopBackOff", "CreateContainerConfigError", "ContainerCreating"):
        if any(c.state == reason for c in containers):
            return reason
    return "Pending"


class MeshRuntime:
    def __init__(self, state_dir: Path, gateway: GatewaySettings, control_plane_ip: str = "127.0.0.1",
                 claims: HostClaims | None = None):
        self.state_dir = Path(state_dir)
        self.pods_dir = self.state_dir / "pods"
        self.gateway = gateway
        self.claims = claims  # host-wide port claims for the NodePort proxy (None: ports used as numbered)
        self.node_host_ports: dict[int, int] = {}
        self.ca = MeshCA.load_or_create(self.state_dir / "ca")
        self.pods: dict[str, PodRuntime] = {}   # pod uid → runtime
        self.warnings: dict[str, list[str]] = {}
        self.agent_messages: dict[str, set[str]] = {}   # pod uid → istio-agent messages already logged
        self.lock = threading.RLock()
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="labkit-sync")
        self._next_listener_retry = 0.0
        self.node_proxy: EnvoyProcess | None = None
        self.last_sync: dict = {}
        self._rows: dict[str, dict] = {}   # pod uid → its last status row
        # uids of the pods the last sync started, stopped or configured (None: any pod may have changed)
        self.touched: set[str] | None = None
        self._last_model: MeshModel | None = None   # what every proxy's current config was built from
        # istiod's part: every Envoy of this mesh takes its config over one ADS stream from here.
        self.control_plane = ControlPlane(control_plane_ip).start()
        # The apps are forked from one pre-imported Python (started at the first app): a hundred
        # interpreters starting and importing were most of a 100-pod start's CPU.
        self.zygote = AppZygote(self.state_dir / "zygote" / "zygote.log")
        host, port = self.control_plane.address
        # Where proxy-status (this process or an attached one) finds the control plane, like istioctl
        # finds istiod; private, since the token lets its holder read every proxy's sync status.
        write_if_changed(self.state_dir / ENDPOINT_FILE, json.dumps(
            {"address": f"{host}:{port}", "debug_token": self.control_plane.debug_token}), mode=0o600)

    # -- reconcile --------------------------------------------------------------------------------
    def sync(self, model: MeshModel) -> None:
        with self.lock:
            started = time.perf_counter()
            self.touched = None
            wanted = {p.uid: p for p in model.pods}
            for uid in [u for u in self.pods if u not in wanted]:
                gone = self.pods.pop(uid)
                gone.stop()
                shutil.rmtree(gone.directory, ignore_errors=True)
            fresh = []
            for uid, pod in wanted.items():
                if uid not in self.pods:
                    self.pods[uid] = PodRuntime(pod, self.pods_dir / f"{pod.namespace}_{pod.name}",
                                                control_plane=self.control_plane, launcher=self.zygote)
                    fresh.append(self.pods[uid])
                else:
                    self.pods[uid].pod = pod
            if any(r.apps for r in fresh):
                self.zygote.warm_up()   # imports its apps while this thread translates
            # New pods' Envoys start now and wait for their config over ADS, as istio-proxy waits for
            # istiod (the bootstrap's initial_fetch_timeout 0s): the start of a hundred Envoy processes (~60 ms
            # of CPU each before any config) runs on the other core while this thread translates, instead of
            # after it. Their apps start as soon as their pod is prepared, likewise.
            envoys_started = [self._pool.submit(r.envoy.start) for r in fresh if r.envoy]
            apps_started = []
            gateway_ports = self._gateway_addresses(model)
            # Only the proxies the change can concern are recomputed (None: all of them); each one's
            # config is pushed only when it changed.
            scope = pods_to_recompute(self._last_model, model)
            if scope is not None and self._last_model is not None:
                keep_client_view(self._last_model, model)
            topology_changed = not same_topology(self._last_model, model)
            configured = []
            try:
                for runtime in self.pods.values():
                    pod = runtime.pod
                    if topology_changed:
                        write_pod_network(runtime.directory, address_map(model, pod, gateway_ports), pod.ip)
                    # A ConfigMap or Secret change reaches the containers that mount it (rewritten only when the
                    # files differ). A change of scoped policies only (scope not None) changes no pod, ConfigMap
                    # or Secret, so no container's view: skipped (at 50 pods it was a sixth of such a change).
                    if scope is None or fresh:
                        runtime.prepare(model)
                    # fresh pods', and containers whose Secret or ConfigMap just appeared (checked here: a
                    # pool task per pod at every change was overhead for the one-policy change)
                    if runtime.apps_to_start():
                        apps_started.append(self._pool.submit(runtime.start_apps))
                    if scope is not None and pod.uid not in scope and not (runtime.envoy and runtime.envoy.rejected()):
                        continue  # unaffected, and not waiting to replace a config its Envoy rejected
                    if runtime.envoy:
                        if runtime in fresh:
                            self._issue_identity(runtime)
                        config = build_proxy_config(model, pod, runtime.envoy.paths, self.gateway)
                        before = dict(runtime.envoy.versions)
                        if runtime.envoy.apply(config) != before or runtime in fresh:
                            configured.append(runtime)
                        self._log_new_warnings(runtime, config.warnings, config)
                        self.warnings[pod.uid] = config.warnings
                        self._log_agent_messages(runtime, config.proxy_log)
            except BaseException:
                # Nothing half-started stays behind: the new pods' processes stop, and the next sync
                # starts them afresh.
                for future in envoys_started + apps_started:
                    future.exception()
                for runtime in fresh:
                    runtime.stop()
                    self.pods.pop(runtime.pod.uid, None)
                raise
            self._last_model = model
            # A scoped change reconfigured some proxies and started or stopped nothing: only those pods'
            # status can differ from the last look.
            self.touched = None if scope is None or fresh else {r.pod.uid for r in configured} | set(scope)
            computed = time.perf_counter()
            # Side by side (the spawner forks several at once): a hundred pods' Envoys and apps in a row
            # waited for each other on a busy machine.
            for future in envoys_started + apps_started:
                future.result()
            waiting = [r.envoy for r in configured] + self._sync_node_proxy(model)
            launched = time.perf_counter()
            errors = [f for f in self._pool.map(self._wait_envoy, waiting) if f]
            # Where the last sync's time went (bench/ reads it): translate+encode, start processes, ACKs.
            self.last_sync = {"compute_s": computed - started, "start_s": launched - computed,
                              "ack_wait_s": time.perf_counter() - launched, "proxies_pushed": len(waiting)}
            if len(errors) == 1:
                raise errors[0]
            if errors:
                raise LabkitError("; ".join(e.message for e in errors),
                                  hint=next((e.hint for e in errors if e.hint), None))

    @property
    def istiod_log(self) -> Path:
        """istiod's log (`kubectl logs -n istio-system deploy/istiod`): what the control plane says about
        the configuration it pushes, such as a credential it cannot serve."""
        return istiod_log_path(self.state_dir)

    def _log_new_warnings(self, runtime: PodRuntime, warnings: list[str], config) -> None:
        """Each new warning once in istiod's log, in istiod's format (`<time>\twarn\tads\t<message>`, the
        `ads` scope of pilot/pkg/xds). A proxy waiting for a secret istiod does not send shows what Envoy
        itself logs: the SDS initial fetch timing out (after 15 s on a cluster; here at once)."""
        seen = self.warnings.get(runtime.pod.uid, [])
        fresh = [w for w in warnings if w not in seen]
        if not fresh:
            return
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self.istiod_log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.istiod_log, "a") as log:
            log.writelines(f"{stamp}\twarn\tads\t{w}\n" for w in fresh)
        envoy = runtime.envoy
        assert envoy is not None, "warnings are about a proxy's configuration"
        if any(not secrets for secrets in config.sds.values()):
            envoy.log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(envoy.log_path, "a") as log:
                log.write(f"{stamp}\twarning\tenvoy config external/envoy/source/extensions/config_subscription/"
                          f"grpc/grpc_subscription_impl.cc:138\tgRPC config: initial fetch timed out for "
                          f"type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret\tthread=15\n")

    def _log_agent_messages(self, runtime: PodRuntime, messages: list[str]) -> None:
        """What istio-agent says about this proxy's file certificates, once each, in the istio-proxy log in
        the agent's format (`<time>\terror\tcache\t<message>`)."""
        seen = self.agent_messages.setdefault(runtime.pod.uid, set())
        fresh = [m for m in messages if m not in seen]
        envoy = runtime.envoy
        if not fresh or envoy is None:
            return
        seen.update(fresh)
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        envoy.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(envoy.log_path, "a") as log:
            log.writelines(f"{stamp}\terror\tcache\t{m}\n" for m in fresh)

    def _sync_node_proxy(self, model: MeshModel) -> list[EnvoyProcess]:
        """Start, reconfigure or keep the NodePort proxy; returns it when it has a new config to take."""
        paths = ProxyPaths(str(self.state_dir / "node-proxy"))
        config = build_node_proxy(model, paths, self.gateway.bind_ip, self._claim_node_host_ports(model))
        if self.node_proxy is None:
            if not config.listeners:
                return []
            self.node_proxy = EnvoyProcess("kube-proxy (NodePorts)", paths, "kube-proxy~127.0.0.1~node", "kube-proxy",
                                           control_plane=self.control_plane)
        before = dict(self.node_proxy.versions)
        if self.node_proxy.apply(config) == before and self.node_proxy.process is not None:
            return []
        if self.node_proxy.process is None:
            self.node_proxy.start()
        return [self.node_proxy]

    def _claim_node_host_ports(self, model: MeshModel) -> dict[int, int]:
        """A host port for every nodePort, claimed host-wide: the same number when free, like a kind port
        mapping, else another free one in the NodePort range (two meshes may both allocate nodePort 30000)."""
        wanted = {sp.node_port for _, sp in node_ports(model)}
        changed = False
        for gone in [p for p in self.node_host_ports if p not in wanted]:
            if self.claims is not None:
                self.claims.release_port(self.node_host_ports[gone])
            del self.node_host_ports[gone]
            changed = True
        for node_port in sorted(wanted - set(self.node_host_ports)):
            self.node_host_ports[node_port] = node_port if self.claims is None else self.claims.claim_port(
                self.gateway.bind_ip, node_port, explicit=False, what="NodePort", candidates=NODE_PORT_RANGE)
            changed = True
        if changed:
            write_if_changed(self.state_dir / NODE_HOST_PORTS_FILE,
                                   json.dumps({str(k): v for k, v in sorted(self.node_host_ports.items())}))
        return dict(self.node_host_ports)

    def _wait_envoy(self, envoy: EnvoyProcess) -> LabkitError | None:
        try:
            envoy.wait_applied(timeout=10)
        except LabkitError as exc:
            return exc
        return None

    def _issue_identity(self, runtime: PodRuntime) -> None:
        bundle = self.ca.issue(runtime.pod.spiffe_id, hours=CERT_HOURS)
        envoy = runtime.envoy
        assert envoy is not None, "only pods with a proxy get a workload identity"
        envoy.write_secret(tls_certificate_secret(
            "default", bundle.cert_pem.decode(), bundle.key_pem.decode()))
        envoy.write_secret(validation_secret("ROOTCA", self.ca.root_pem.decode()))

    def rotate_identity(self, uid: str) -> None:
        """A fresh workload certificate, pushed over SDS; returns once the proxy ACKed it."""
        with self.lock:
            runtime = self.pods[uid]
            if runtime.envoy:
                self._issue_identity(runtime)
                if runtime.envoy.alive():
                    runtime.envoy.wait_applied(timeout=10)

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
                # The cached bound-listener check first: asking every Envoy's admin API whether it is LIVE
                # every round held this lock for a hundred HTTP calls at 100 pods, and a change waited.
                if time.monotonic() >= self._next_listener_retry and envoy and envoy.alive() \
                        and envoy.missing_listeners() and envoy.live():
                    envoy.retry_listeners()
            node = self.node_proxy
            if node and node.process and node.process.proc is not None and node.process.exited():
                code = node.process.last_exit
                if node.process.restart_when_due():
                    restarted.append(f"{node.process.name} (exit {code})")
            if time.monotonic() >= self._next_listener_retry:
                self._next_listener_retry = time.monotonic() + LISTENER_RETRY_SECONDS
        return restarted

    def status(self, only: set[str] | None = None) -> list[dict]:
        """Every pod's row; `only`: the uids whose containers are looked at again (the others keep the row
        of the last look, the owner's watcher looks at all of them twice a second)."""
        rows = []
        with self.lock:
            for uid in [u for u in self._rows if u not in self.pods]:
                del self._rows[uid]
            for runtime in self.pods.values():
                pod = runtime.pod
                kept = self._rows.get(pod.uid)
                if only is not None and pod.uid not in only and kept is not None and kept["pod"] == pod.name:
                    rows.append(kept)
                    continue
                containers = runtime.container_statuses()
                ready = sum(c.ready for c in containers)
                rows.append({
                    "namespace": pod.namespace, "pod": pod.name, "ready": f"{ready}/{len(containers)}",
                    "sidecar": pod.sidecar, "status": _pod_phase(containers),
                    "restarts": sum(c.restarts for c in containers), "ip": pod.ip,
                    "deployment": pod.deployment, "uid": pod.uid,
                    # per container, for the Kubernetes API's containerStatuses (labkit/kubeapi)
                    "containers": [{"name": c.name, "ready": c.ready, "restarts": c.restarts, "state": c.state,
                                    # why it waits, as the kubelet's event says (a missing Secret, say)
                                    "message": next(iter(runtime.waiting[c.name].problems), "")
                                    if c.name in runtime.waiting else ""}
                                   for c in containers],
                })
                self._rows[pod.uid] = rows[-1]
        return rows

    def stop(self) -> None:
        with self.lock:
            for runtime in list(self.pods.values()):
                runtime.stop()
            self.pods.clear()
            if self.node_proxy is not None:
                self.node_proxy.stop()
                self.node_proxy = None
            self.zygote.stop()
            self.control_plane.stop()
            (self.state_dir / ENDPOINT_FILE).unlink(missing_ok=True)
            if self.claims is not None:
                for host_port in self.node_host_ports.values():
                    self.claims.release_port(host_port)
            self.node_host_ports.clear()

    def runtime_for(self, namespace: str, name: str) -> PodRuntime | None:
        with self.lock:
            return next((r for r in self.pods.values() if r.pod.namespace == namespace and r.pod.name == name), None)
