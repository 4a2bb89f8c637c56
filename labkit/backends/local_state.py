"""The local mesh's state directory: settings, who owns the running mesh, and the status it publishes."""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from ..runtime.files import write_if_changed

DEFAULT_SUBNET = 10


def default_state_dir() -> Path:
    return Path(os.environ.get("LABKIT_STATE_DIR") or Path.cwd() / ".labkit")


@dataclass
class Settings:
    """Where a mesh lives. `explicit` names the settings a user asked for (labkit.connect(...) or the
    LABKIT_* environment): those are claimed as given or fail; the others are preferences, and the owner
    saves what it actually claimed (settings.json) for the processes that attach to it."""
    subnet: int = DEFAULT_SUBNET
    gateway_ip: str = "127.0.0.1"
    gateway_http_port: int = 8080
    gateway_https_port: int = 8443
    # The injector's pod shape: Istio 1.28+ on a kubelet >= 1.33 (ENABLE_NATIVE_SIDECARS=auto) injects
    # istio-proxy as a native sidecar; False (LABKIT_NATIVE_SIDECARS=false) gives the classic shape.
    native_sidecars: bool = True
    explicit: frozenset = field(default=frozenset(), compare=False)

    SAVED = ("subnet", "gateway_ip", "gateway_http_port", "gateway_https_port", "native_sidecars")

    @classmethod
    def load(cls, directory: Path, **overrides) -> "Settings":
        data = cls._saved_data(directory)
        env = {"subnet": os.environ.get("LABKIT_SUBNET"),
               "gateway_http_port": os.environ.get("LABKIT_GATEWAY_HTTP_PORT"),
               "gateway_https_port": os.environ.get("LABKIT_GATEWAY_HTTPS_PORT")}
        requested: dict = {key: int(value) for key, value in env.items() if value}
        native = os.environ.get("LABKIT_NATIVE_SIDECARS")
        if native:
            requested["native_sidecars"] = native.strip().lower() not in ("false", "0", "no", "off")
        requested.update({k: v for k, v in overrides.items() if v is not None})
        data.update(requested)
        settings = cls(**{k: v for k, v in data.items() if k in cls.SAVED}, explicit=frozenset(requested))
        if not 1 <= settings.subnet <= 254:
            from ..errors import LabkitError
            raise LabkitError(f"subnet {settings.subnet} must be 1..254 (pods live in 127.<subnet>.0.0/16)")
        return settings

    @classmethod
    def saved(cls, directory: Path) -> "Settings":
        """What the running owner claimed (an attached process uses the owner's addresses, whatever it asked)."""
        data = cls._saved_data(directory)
        return cls(**{k: v for k, v in data.items() if k in cls.SAVED})

    @staticmethod
    def _saved_data(directory: Path) -> dict:
        path = directory / "settings.json"
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_if_changed(directory / "settings.json", json.dumps({k: getattr(self, k) for k in self.SAVED}, indent=1),
                     mode=0o600)


def _process_start(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


class Ownership:
    """Which process runs the mesh's processes; others attach to it through the store."""

    def __init__(self, directory: Path):
        self.path = directory / "owner.json"

    def current(self) -> dict | None:
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        started = _process_start(data.get("pid", -1))
        if started is None or abs(started - data.get("created", 0)) > 1:
            return None
        return data

    def claim(self, role: str) -> None:
        pid = os.getpid()
        write_if_changed(self.path, json.dumps({"pid": pid, "created": _process_start(pid), "role": role,
                                            "since": time.time()}))

    def release(self) -> None:
        current = self.current()
        if current and current["pid"] == os.getpid():
            self.path.unlink(missing_ok=True)


def write_status(directory: Path, generation: int, pods: list[dict], warnings: list[str],
                 error: str | None = None) -> None:
    """`error`: why the owner could not act on `generation` (a proxy's NACK, say), for attached appliers."""
    write_if_changed(directory / "status.json", json.dumps(
        {"observed_generation": generation, "time": time.time(), "pods": pods, "warnings": warnings,
         "error": error}))


def read_status(directory: Path) -> dict:
    try:
        return json.loads((directory / "status.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {"observed_generation": -1, "pods": [], "warnings": []}


LAST_POD_INDEX_FILE = "last-reserved-pod-index"   # like host-local IPAM's last_reserved_ip file


def read_last_pod_index(directory: Path) -> int:
    try:
        return int((directory / LAST_POD_INDEX_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return 1


def write_last_pod_index(directory: Path, index: int) -> None:
    write_if_changed(directory / LAST_POD_INDEX_FILE, str(index), mode=0o600)
