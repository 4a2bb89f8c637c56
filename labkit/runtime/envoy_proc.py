"""One real Envoy process: start it, talk to its admin API, confirm each config write took effect."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from ..envoy.common import ProxyConfig, ProxyPaths
from ..envoy_binary import envoy_path
from ..errors import LabkitError
from . import xds_files
from .procs import ManagedProcess


class EnvoyProcess:
    def __init__(self, name: str, paths: ProxyPaths, node_id: str, cluster: str):
        self.name, self.paths = name, paths
        self.node_id, self.cluster = node_id, cluster
        root = Path(paths.root)
        self.admin_file = root / "admin-address"
        self.log_path = root / "envoy.log"
        self.process: ManagedProcess | None = None
        self.versions: dict[str, str] = {}
        self.listeners: list[dict] = []
        self._retries = 0
        self._bound_cache: tuple[float, set] | None = None

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        bootstrap = xds_files.prepare(self.paths, self.node_id, self.cluster)
        self.admin_file.unlink(missing_ok=True)
        args = [envoy_path(), "-c", str(bootstrap), "--concurrency", "1", "--disable-hot-restart",
                "--admin-address-path", str(self.admin_file), "--file-flush-interval-msec", "200",
                "--drain-time-s", "1", "--drain-strategy", "immediate", "--log-level", "warning",
                "--component-log-level", "config:info", "--service-node", self.node_id,
                "--service-cluster", self.cluster]
        # A restarted Envoy must not be found through the old process's admin address.
        self.process = ManagedProcess(self.name, args, log_path=self.log_path,
                                      before_start=lambda: self.admin_file.unlink(missing_ok=True))
        self.process.start()

    def stop(self) -> None:
        if self.process:
            self.process.stop(timeout=1.0)

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
        request = urllib.request.Request(f"http://{address}{path}", method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.read().decode()

    def live(self) -> bool:
        try:
            return self.admin("/ready", timeout=0.5).strip() == "LIVE"
        except (LabkitError, OSError):
            return False

    def stats(self, filter_regex: str) -> dict[str, object]:
        text = self.admin(f"/stats?format=json&filter={urllib.parse.quote(filter_regex)}")
        out: dict[str, object] = {}
        for item in json.loads(text).get("stats", []):
            if "name" in item:
                out[item["name"]] = item.get("value")
        return out

    def config_dump(self, resource: str | None = None) -> dict:
        path = "/config_dump" + (f"?resource={resource}" if resource else "")
        return json.loads(self.admin(path, timeout=5))

    # -- configuration ----------------------------------------------------------------------------
    def write_secret(self, secret: dict) -> None:
        xds_files.write_secret(self.paths, secret)

    def apply(self, config: ProxyConfig) -> dict[str, str]:
        self.versions = xds_files.write_config(self.paths, config)
        self.listeners = list(config.listeners)
        self._retries = 0
        self._bound_cache = None
        return self.versions

    def missing_listeners(self) -> list[str]:
        """Listeners written but not running: Envoy drops one whose port is taken and stays LIVE."""
        if not self.listeners:
            return []
        now = time.monotonic()
        if self._bound_cache is None or now - self._bound_cache[0] > 0.5:
            try:
                self._bound_cache = (now, set(self.listeners_bound()))
            except (LabkitError, OSError, ValueError):
                return [item["name"] for item in self.listeners]
        return [item["name"] for item in self.listeners if item["name"] not in self._bound_cache[1]]

    def retry_listeners(self) -> None:
        """Send the same listeners under a new version, so Envoy tries to bind the dropped ones again."""
        self._retries += 1
        self._bound_cache = None
        self.versions["lds"] = xds_files.write_listeners(self.paths, self.listeners, retry=self._retries)

    def applied(self) -> tuple[bool, str]:
        """Whether Envoy runs the last written versions; otherwise what it said about the update."""
        if not self.live():
            return False, "not live"
        stats = self.stats(r"(version_text|update_rejected)")
        want_lds, want_cds = self.versions.get("lds"), self.versions.get("cds")
        if stats.get("listener_manager.lds.version_text") != want_lds:
            return False, self._rejection("lds", stats)
        if stats.get("cluster_manager.cds.version_text") != want_cds:
            return False, self._rejection("cds", stats)
        rds_versions = {k: v for k, v in stats.items() if ".rds." in k and k.endswith("version_text")}
        for key, version in self.versions.items():
            if key.startswith("rds:"):
                route = key[4:]
                seen = [v for k, v in rds_versions.items() if f".rds.{route}." in k]
                if seen and version not in seen:
                    return False, self._rejection("rds", stats)
        return True, ""

    def _rejection(self, kind: str, stats: dict) -> str:
        rejected = {k: v for k, v in stats.items() if "update_rejected" in k and v}
        if not rejected:
            return f"{kind} not yet applied"
        lines = [line for line in self.log_tail(50).splitlines() if "rejected" in line]
        return f"{kind} update rejected: " + (lines[-1] if lines else str(rejected))

    def wait_applied(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        reason = ""
        while time.monotonic() < deadline:
            ok, reason = self.applied()
            if ok:
                return
            if "rejected" in reason:
                break
            if self.process and self.process.proc and self.process.proc.poll() is not None:
                # Dead at start: waiting out the timeout would only hide why.
                raise self._exit_error()
            time.sleep(0.005)
        hint = f"see {self.log_path}"
        if "inotify" in self.log_tail(20):
            hint = ("Envoy ran out of inotify instances (fs.inotify.max_user_instances, 128 by default, about "
                    "5 per Envoy): stop other meshes with `labkit down`, or raise the limit")
        raise LabkitError(f"Envoy {self.name} did not take its new configuration: {reason}", hint=hint)

    def _exit_error(self) -> LabkitError:
        proc = self.process.proc if self.process else None
        code = proc.returncode if proc else None
        fatal = [line for line in self.log_tail(200).splitlines() if "[critical]" in line and "backtrace" not in line]
        why = fatal[0].split("] ", 3)[-1] if fatal else f"exit code {code}"
        hint = f"see {self.log_path}"
        if "inotify" in why:
            # Each Envoy watches its xDS and SDS files with several inotify instances; the per-user
            # limit (128 on many distributions) is shared by every mesh and editor on the machine.
            hint = ("raise the limit: sudo sysctl fs.inotify.max_user_instances=1024, or stop other meshes "
                    "(`labkit down`)")
        return LabkitError(f"Envoy {self.name} exited at start: {why}", hint=hint)

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
