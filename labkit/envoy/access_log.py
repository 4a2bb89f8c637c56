"""Access logs on a proxy's listeners, as istiod configures them (model/access_logging.py decides which).

The builders mark every place Envoy can log (listener, HTTP connection manager, TCP proxy) with a
placeholder `access_log`; this replaces it with the proxy's configured logs, or removes it. Inbound
listeners of a sidecar are its SERVER side; its outbound listeners and every gateway listener its CLIENT
side (pilot/pkg/model/telemetry.go workloadMode).

`/dev/stdout` (the `istio-proxy` container's log, `kubectl logs ... -c istio-proxy`) is the proxy's
access.log file here; any other path is a file inside the container that no `kubectl logs` shows.
"""
from __future__ import annotations

from ..model.access_logging import CLIENT, SERVER, STDOUT, FileLog, access_logs
from ..model.mesh import MeshModel, Pod
from .common import TYPE, ProxyConfig, ProxyPaths

FILE_LOGGER = "envoy.access_loggers.file"
INBOUND_PREFIX = "virtualInbound"


def _envoy_log(log: FileLog, paths: ProxyPaths) -> dict:
    if log.json_fields is not None:
        log_format = {"json_format": log.json_fields, "json_format_options": {"sort_properties": False}}
    else:
        log_format = {"text_format_source": {"inline_string": log.text}}
    return {"name": FILE_LOGGER, "typed_config": {
        "@type": TYPE + "envoy.extensions.access_loggers.file.v3.FileAccessLog",
        "path": paths.access_log if log.path == STDOUT else "/dev/null", "log_format": log_format}}


def _replace(holder: dict, logs: list[dict]) -> None:
    if "access_log" not in holder:
        return
    if logs:
        holder["access_log"] = logs
    else:
        del holder["access_log"]


def apply_access_logging(config: ProxyConfig, model: MeshModel, pod: Pod, paths: ProxyPaths) -> ProxyConfig:
    by_mode = {mode: [_envoy_log(log, paths) for log in access_logs(model, pod, mode)] for mode in (CLIENT, SERVER)}
    for listener in config.listeners:
        inbound = not pod.is_gateway and listener.get("name", "").startswith(INBOUND_PREFIX)
        logs = by_mode[SERVER if inbound else CLIENT]
        _replace(listener, logs)
        for chain in listener.get("filter_chains") or []:
            for network_filter in chain.get("filters") or []:
                _replace(network_filter.get("typed_config") or {}, logs)
    return config
