"""One real Envoy process: start it from the control plane, talk to its admin API, wait for its ACK."""
from __future__ import annotations

import atexit
import hashlib
import http.client
import json
import shutil
import socket
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

from ..envoy.common import ProxyConfig, ProxyPaths
from ..envoy_binary import envoy_path
from ..errors import LabkitError
from ..xds.bootstrap import ads_bootstrap
from ..xds.control_plane import ControlPlane
from .files import write_if_changed
from .procs import ManagedProcess


_socket_dir: Path | None = None
_socket_dir_lock = threading.Lock()


def admin_socket_dir() -> Path:
    """Where this process's Envoys put their admin sockets: a private (0700) folder of our own with a short
    path (a unix socket path must fit in 108 bytes; a learner's lab folder may be deep). Envoy's admin API
    can stop the proxy or change its state, so, unlike a TCP port, other users of the host cannot reach it
    (issue 17: one learner's sockets are not reachable by another). Removed when this process exits; no
    Envoy outlives it (PR_SET_PDEATHSIG)."""
    global _socket_dir
    with _socket_dir_lock:
        if _socket_dir is None or not _socket_dir.is_dir():
            _socket_dir = Path(tempfile.mkdtemp(prefix="labkit-admin-"))   # 0700, owned by this user
            atexit.register(shutil.rmtree, _socket_dir, True)
        return _socket_dir


class _UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a unix socket, for Envoy's admin API (`pilot-agent request` does the same in a pod)."""

    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class EnvoyProcess:
    """`control_plane` serves its config; without one the object is only a handle on a running proxy's
    admin API (attached processes, tools)."""

    def __init__(self, name: str, paths: ProxyPaths, node_id: str, cluster: str,
                 control_plane: ControlPlane | None = None):
        self.name, self.paths = name, paths
        self.node_id, self.cluster = node_id, cluster
        self.control_plane = control_plane
        root = Path(paths.root)
        self.admin_file = root / "admin-address"
        self.log_path = root / "envoy.log"
        self.process: ManagedProcess | None = None
        self.versions: dict[str, str] = {}
        self.listeners: list[dict] = []
        self.config: ProxyConfig | None = None
        self.mesh_secrets: dict[str, dict] = {}   # the workload identity (default, ROOTCA), kept across configs
        self._retries = 0
        self._bound_cache: tuple[float, int | None, set] | None = None   # (when, Envoy pid, bound names)

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        if self.control_plane is None:
            raise LabkitError(f"Envoy {self.name} has no control plane to start from")
        root = Path(self.paths.root)
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        token = self.control_plane.register(self.node_id)
        host, port = self.control_plane.address
        # JSON, named as istio-proxy names its own (/etc/istio/proxy/envoy-rev.json); PyYAML's pure-Python
        # dumper took ~10 % of a 50-pod start.
        bootstrap = root / "envoy-rev.json"
        # Private: it holds the token that proves this proxy's node id to the control plane.
        # The admin API listens on a private unix socket (mode 0600 in a 0700 folder), never on a TCP port.
        admin_socket = admin_socket_dir() / (hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16] + ".sock")
        write_if_changed(bootstrap, json.dumps(ads_bootstrap(self.node_id, self.cluster, host, port, token,
                                                             admin_socket=str(admin_socket))), mode=0o600)
        self.admin_file.unlink(missing_ok=True)
        args = [envoy_path(), "-c", str(bootstrap), "--concurrency", "1", "--disable-hot-restart",
                "--admin-address-path", str(self.admin_file), "--file-flush-interval-msec", "200",
                "--drain-time-s", "1", "--drain-strategy", "immediate", "--log-level", "warning",
                "--component-log-level", "config:info", "--service-node", self.node_id,
                "--service-cluster", self.cluster]
        # A restarted Envoy must not be found through the old process's admin address; it reconnects
        # to the control plane and is sent the current config.
        self.process = ManagedProcess(self.name, args, log_path=self.log_path,
                                      before_start=lambda: self.admin_file.unlink(missing_ok=True))
        self.process.start()

    def stop(self) -> None:
        if self.process:
            self.process.stop(timeout=1.0)
        if self.control_plane is not None:
            self.control_plane.forget(self.node_id)

    def alive(self) -> bool:
        return bool(self.process and self.process.alive())

    # -- admin API --------------------------------------------------------------------------------
    @property
    def admin_address(self) -> str | None:
        try:
            text = self.admin_file.read_text().strip()
        except FileNotFoundError:
            return None
        return text or None

    def admin(self, path: str, timeout: float = 2.0, method: str = "GET") -> str:
        address = self.admin_address
        if not address:
            raise LabkitError(f"Envoy {self.name} has no admin address yet (not started?)")
        connection = _UnixHTTPConnection(address, timeout)
        try:
            connection.request(method, path)
            return connection.getresponse().read().decode()
        except http.client.HTTPException as exc:
            raise OSError(f"Envoy {self.name}'s admin API: {exc}") from exc
        finally:
            connection.close()

    def live(self) -> bool:
        try:
            return self.admin("/ready", timeout=0.5).strip() == "LIVE"
        except (LabkitError, OSError):
            return False

    def rejected(self) -> bool:
        """Whether Envoy NACKed the config it was last sent."""
        return self.control_plane is not None and self.control_plane.rejected(self.node_id)

    def ready(self) -> bool:
        """istio-proxy's readiness: running, connected with its listeners and clusters accepted (a later
        NACK does not make it unready, as in Istio), and every listener bound. Only the last needs the
        admin API, and it is cached."""
        if self.control_plane is None or not self.alive():
            return False
        return self.control_plane.has_config(self.node_id) and not self.missing_listeners()

    def stats(self, filter_regex: str) -> dict[str, object]:
        text = self.admin(f"/stats?format=json&filter={urllib.parse.quote(filter_regex)}")
        out: dict[str, object] = {}
        for item in json.loads(text).get("stats", []):
            if "name" in item:
                out[item["name"]] = item.get("value")
        return out

    def config_dump(self, resource: str | None = None, *, include_eds: bool = False) -> dict:
        """`include_eds`: with the endpoints of EDS clusters (Envoy leaves them out by default)."""
        query = [f"resource={resource}"] if resource else []
        query += ["include_eds"] if include_eds else []
        path = "/config_dump" + ("?" + "&".join(query) if query else "")
        return json.loads(self.admin(path, timeout=5))

    # -- configuration ----------------------------------------------------------------------------
    def write_secret(self, secret: dict) -> None:
        """The workload identity (rotation too): pushed over SDS to a running proxy."""
        self.mesh_secrets[secret["name"]] = secret
        if self.control_plane is not None and self.config is not None:
            self.versions = self.control_plane.set_secrets(self.node_id, self._secrets())

    def apply(self, config: ProxyConfig) -> dict[str, str]:
        self.config = config
        self.listeners = list(config.listeners)
        self._retries = 0
        self._bound_cache = None
        return self._push()

    def _push(self) -> dict[str, str]:
        if self.control_plane is None or self.config is None:
            return self.versions
        config = self.config
        self.control_plane.register(self.node_id)
        self.versions = self.control_plane.set_config(
            self.node_id, config.listeners, config.clusters, config.routes, self._secrets(),
            listener_suffix=f"-retry{self._retries}" if self._retries else "", endpoints=config.endpoints)
        return self.versions

    def _secrets(self) -> list[dict]:
        # A missing credential ([]) is not sent at all, as istiod does (see envoy.common.sds_secret).
        credentials = [s for secrets in self.config.sds.values() for s in secrets] if self.config else []
        return [*self.mesh_secrets.values(), *credentials]

    def missing_listeners(self) -> list[str]:
        """Listeners sent but not running: Envoy drops one whose port is taken and stays LIVE."""
        if not self.listeners:
            return []
        now = time.monotonic()
        pid = self.process.pid if self.process else None
        cache = self._bound_cache
        # All bound stays true until the next config, retry or restart (each clears the cache or changes
        # the pid): a status round over every proxy then needs no admin call. A gap is re-checked soon.
        if cache is None or cache[1] != pid or (now - cache[0] > 0.5 and not self.listener_names <= cache[2]):
            try:
                cache = self._bound_cache = (now, pid, set(self.listeners_bound()))
            except (LabkitError, OSError, ValueError):
                return [item["name"] for item in self.listeners]
        return [item["name"] for item in self.listeners if item["name"] not in cache[2]]

    @property
    def listener_names(self) -> set[str]:
        return {item["name"] for item in self.listeners}

    def retry_listeners(self) -> None:
        """Send the same listeners under a new version, so Envoy tries to bind the dropped ones again."""
        self._retries += 1
        self._bound_cache = None
        self._push()

    def wait_applied(self, timeout: float = 5.0) -> None:
        """Until Envoy has ACKed its config over ADS; a NACK raises with Envoy's error detail."""
        if self.control_plane is None:
            raise LabkitError(f"Envoy {self.name} has no control plane")

        def running() -> bool:
            return not (self.process and self.process.proc and self.process.proc.poll() is not None)
        try:
            self.control_plane.wait_synced(self.node_id, timeout, alive=running)
        except LabkitError as exc:
            if not running():
                # Dead at start: waiting out the timeout would only hide why.
                raise self._exit_error() from None
            exc.hint = exc.hint or f"see {self.log_path}"
            raise
        if self.config is not None and any(not secrets for secrets in self.config.sds.values()):
            self._wait_warmed(deadline=time.monotonic() + 3.0)

    def _wait_warmed(self, deadline: float) -> None:
        """A listener that needs a missing credential warms until its initial fetch times out (a new one
        is not bound yet, an updated one still serves its previous version); wait for that, so the change
        is in force when apply returns (or give up quietly: a dropped listener is the healer's business)."""
        while time.monotonic() < deadline:
            try:
                dump = self.config_dump("dynamic_listeners")
                warming = [c for c in dump.get("configs", []) if c.get("warming_state")]
            except (LabkitError, OSError, ValueError):
                warming = [None]
            if not warming:
                self._bound_cache = None
                return
            time.sleep(0.05)

    def _exit_error(self) -> LabkitError:
        proc = self.process.proc if self.process else None
        code = proc.returncode if proc else None
        fatal = [line for line in self.log_tail(200).splitlines() if "[critical]" in line and "backtrace" not in line]
        why = fatal[0].split("] ", 3)[-1] if fatal else f"exit code {code}"
        return LabkitError(f"Envoy {self.name} exited at start: {why}", hint=f"see {self.log_path}")

    def log_tail(self, lines: int = 100) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def listeners_bound(self) -> dict[str, bool]:
        """listener name → whether it is bound (a port in use drops a listener while Envoy stays LIVE)."""
        text = self.admin("/listeners?format=json")
        bound = {item["name"]: True for item in json.loads(text).get("listener_statuses", [])}
        return bound
