"""Writing file-based xDS so a running Envoy picks it up: whole files, atomically renamed.

Envoy only reloads on a rename into the watched directory; an in-place write is ignored
(envoy-facts.md). SDS before CDS/RDS before LDS, so nothing references a file that is not there yet.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml

from .. import atomic
from ..envoy.common import ProxyConfig, ProxyPaths


class _PlainDumper(yaml.SafeDumper):
    """No &anchors/*aliases: builders share dicts (e.g. the default retry policy); files stay readable."""

    def ignore_aliases(self, data) -> bool:
        return True


def dump_yaml(data, sort_keys: bool = False) -> str:
    return yaml.dump(data, Dumper=_PlainDumper, sort_keys=sort_keys, width=120)


def write_atomic(path: Path, text: str, mode: int = 0o644) -> bool:
    """Write only when content changed; returns whether it did."""
    if path.exists() and path.read_text() == text:
        return False
    # A private file's directory is private too (the first workload key is written before Envoy's
    # own directories are prepared).
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700 if not mode & 0o077 else 0o777)
    atomic.write_atomic(path, text, mode)
    return True


def write_listeners(paths: ProxyPaths, listeners: list[dict], retry: int = 0) -> str:
    """LDS alone; `retry` > 0 gives the same listeners a new version (Envoy re-adds dropped ones)."""
    version, text = discovery_response(listeners, suffix=f"-retry{retry}" if retry else "")
    write_atomic(Path(paths.xds) / "lds.json", text)
    return version


def discovery_response(resources: list[dict], suffix: str = "") -> tuple[str, str]:
    """(version, file text). JSON, not YAML: the files are machine-written and PyYAML's emitter made
    policy changes take hundreds of milliseconds to write."""
    text = json.dumps(resources, sort_keys=True)
    version = hashlib.sha256(text.encode()).hexdigest()[:16] + suffix
    return version, f'{{"version_info": "{version}", "resources": {text}}}'



def write_secret(paths: ProxyPaths, secret: dict) -> bool:
    _, text = discovery_response([secret])
    return write_atomic(Path(paths.sds_file(secret["name"])), text, mode=0o600)


def remove_secret(paths: ProxyPaths, name: str) -> None:
    Path(paths.sds_file(name)).unlink(missing_ok=True)


def write_config(paths: ProxyPaths, config: ProxyConfig) -> dict[str, str]:
    """Write RDS, CDS then LDS; returns {"lds": version, "cds": version, "rds:<name>": version}."""
    versions: dict[str, str] = {}
    xds = Path(paths.xds)
    for name, secrets in config.sds.items():
        # An empty file (no resources) stands for a missing credential: the listener still starts and
        # only the handshakes that need it fail, as with a missing credentialName in Istio.
        _, text = discovery_response(secrets)
        write_atomic(Path(paths.sds_file(name)), text, mode=0o600)
    for route in config.routes:
        version, text = discovery_response([route])
        write_atomic(Path(paths.rds_file(route["name"])), text)
        versions[f"rds:{route['name']}"] = version
    version, text = discovery_response(config.clusters)
    write_atomic(xds / "cds.json", text)
    versions["cds"] = version
    versions["lds"] = write_listeners(paths, config.listeners)
    return versions


def bootstrap(node_id: str, cluster: str, paths: ProxyPaths) -> dict:
    def source(name: str) -> dict:
        return {"resource_api_version": "V3", "path_config_source": {
            "path": f"{paths.xds}/{name}.json", "watched_directory": {"path": paths.xds}}}
    return {
        "node": {"id": node_id, "cluster": cluster},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "dynamic_resources": {"lds_config": source("lds"), "cds_config": source("cds")},
    }


def prepare(paths: ProxyPaths, node_id: str, cluster: str) -> Path:
    """Create the directories and an empty LDS/CDS so Envoy starts; returns the bootstrap path."""
    for directory in (paths.root, paths.xds, paths.sds):
        Path(directory).mkdir(parents=True, exist_ok=True, mode=0o700)
    for name in ("lds", "cds"):
        target = Path(paths.xds) / f"{name}.json"
        if not target.exists():
            write_atomic(target, '{"version_info": "empty", "resources": []}')
    path = Path(paths.root) / "bootstrap.yaml"
    write_atomic(path, dump_yaml(bootstrap(node_id, cluster, paths)))
    return path
