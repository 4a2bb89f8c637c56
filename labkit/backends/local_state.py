"""The local mesh's state directory: settings, who owns the running mesh, and the status it publishes."""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from ..runtime.files import write_atomic

DEFAULT_SUBNET = 10


def default_state_dir() -> Path:
    return Path(os.environ.get("LABKIT_STATE_DIR") or Path.cwd() / ".labkit")


@dataclass
class Settings:
    subnet: int = DEFAULT_SUBNET
    gateway_ip: str = "127.0.0.1"
    gateway_http_port: int = 8080
    gateway_https_port: int = 8443

    @classmethod
    def load(cls, directory: Path, **overrides) -> "Settings":
        path = directory / "settings.json"
        data = json.loads(path.read_text()) if path.exists() else {}
        env = {"subnet": os.environ.get("LABKIT_SUBNET"),
               "gateway_http_port": os.environ.get("LABKIT_GATEWAY_HTTP_PORT"),
               "gateway_https_port": os.environ.get("LABKIT_GATEWAY_HTTPS_PORT")}
        for key, value in env.items():
            if value and key not in data:
                data[key] = int(value)
        data.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
        if not 1 <= settings.subnet <= 254:
            from ..errors import LabkitError
            raise LabkitError(f"subnet {settings.subnet} must be 1..254 (pods live in 127.<subnet>.0.0/16)")
        directory.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(asdict(settings), indent=1))
        return settings


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
        write_atomic(self.path, json.dumps({"pid": pid, "created": _process_start(pid), "role": role,
                                            "since": time.time()}))

    def release(self) -> None:
        current = self.current()
        if current and current["pid"] == os.getpid():
            self.path.unlink(missing_ok=True)


def write_status(directory: Path, generation: int, pods: list[dict], warnings: list[str],
                 error: str | None = None) -> None:
    """`error`: why the owner could not act on `generation` (a proxy's NACK, say), for attached appliers."""
    write_atomic(directory / "status.json", json.dumps(
        {"observed_generation": generation, "time": time.time(), "pods": pods, "warnings": warnings,
         "error": error}))


def read_status(directory: Path) -> dict:
    try:
        return json.loads((directory / "status.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {"observed_generation": -1, "pods": [], "warnings": []}
