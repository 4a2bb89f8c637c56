"""Whether and how a proxy writes access logs: the mesh config and the Telemetry API, as istiod decides.

Sources (istio/istio): pilot/pkg/model/telemetry_logging.go (EnvoyTextLogFormat, EnvoyJSONLogFormatIstio,
FileAccessLogFromMeshConfig, fileAccessLogFromTelemetry, telemetryAccessLog), pilot/pkg/model/telemetry.go
(AccessLogging, mergeLogs, matchWorkloadMode), pilot/pkg/networking/core/accesslog.go (the legacy fallback),
pkg/config/mesh/mesh.go (the built-in `envoy` provider: envoyFileAccessLog with path /dev/stdout).

- The mesh config is the `mesh` key of the ConfigMap `istio` in istio-system (YAML).
- No Telemetry with accessLogging for the proxy and no `defaultProviders.accessLogging`: the legacy mesh
  settings decide: `accessLogFile` empty means no access log; otherwise one file log with
  `accessLogEncoding` (TEXT, the default, or JSON) and `accessLogFormat` (empty: Istio's default).
- Telemetry: the root namespace's selector-less one (mesh), the proxy namespace's selector-less one, then
  the ones whose selector matches the proxy (workload) are merged in that order: a level's providers
  replace the ones above it, `disabled: true` turns them off, `match.mode` limits an entry to the
  client (outbound, gateways) or the server (inbound) side.
- A provider is looked up by name among `extensionProviders` (plus the built-in `envoy`). The built-in
  `envoy` provider without its own logFormat takes the encoding and format from the mesh config; any
  other `envoyFileAccessLog` provider uses its `logFormat.text` or `logFormat.labels` (JSON), else
  Istio's default TEXT format.
"""
from __future__ import annotations

import copy
import functools
import json
from dataclasses import dataclass

import yaml

from .mesh import ROOT_NAMESPACE, MeshModel, Pod

MESH_CONFIGMAP = "istio"
STDOUT = "/dev/stdout"
CLIENT, SERVER = "CLIENT", "SERVER"

ISTIO_TEXT_FORMAT = (
    '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% '
    '%RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% '
    '"%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% '
    '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" '
    '"%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW% %UPSTREAM_LOCAL_ADDRESS% '
    '%DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%\n')

ISTIO_JSON_FORMAT: dict[str, str] = {
    "start_time": "%START_TIME%", "route_name": "%ROUTE_NAME%", "method": "%REQ(:METHOD)%",
    "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%", "protocol": "%PROTOCOL%", "response_code": "%RESPONSE_CODE%",
    "response_flags": "%RESPONSE_FLAGS%", "response_code_details": "%RESPONSE_CODE_DETAILS%",
    "connection_termination_details": "%CONNECTION_TERMINATION_DETAILS%", "bytes_received": "%BYTES_RECEIVED%",
    "bytes_sent": "%BYTES_SENT%", "duration": "%DURATION%",
    "upstream_service_time": "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%", "x_forwarded_for": "%REQ(X-FORWARDED-FOR)%",
    "user_agent": "%REQ(USER-AGENT)%", "request_id": "%REQ(X-REQUEST-ID)%", "authority": "%REQ(:AUTHORITY)%",
    "upstream_host": "%UPSTREAM_HOST%", "upstream_cluster": "%UPSTREAM_CLUSTER_RAW%",
    "upstream_local_address": "%UPSTREAM_LOCAL_ADDRESS%", "downstream_local_address": "%DOWNSTREAM_LOCAL_ADDRESS%",
    "downstream_remote_address": "%DOWNSTREAM_REMOTE_ADDRESS%", "requested_server_name": "%REQUESTED_SERVER_NAME%",
    "upstream_transport_failure_reason": "%UPSTREAM_TRANSPORT_FAILURE_REASON%",
}

BUILTIN_PROVIDERS = {"envoy": {"name": "envoy", "envoyFileAccessLog": {"path": STDOUT}}}


@dataclass(frozen=True)
class FileLog:
    """One Envoy file access log: where, and either a TEXT format or JSON fields."""
    path: str
    text: str | None = None
    json_fields: dict | None = None


def mesh_config(model: MeshModel) -> dict:
    """The mesh config (the `mesh` key of ConfigMap istio-system/istio); {} when there is none or it is not
    a YAML mapping (istiod then keeps its defaults)."""
    for obj in model.of_kind("ConfigMap"):
        meta = obj["metadata"]
        if meta.get("namespace") == ROOT_NAMESPACE and meta["name"] == MESH_CONFIGMAP:
            return copy.deepcopy(_parse_mesh((obj.get("data") or {}).get("mesh") or ""))
    return {}


@functools.lru_cache(maxsize=8)
def _parse_mesh(text: str) -> dict:
    """The mesh config's YAML, parsed once per text (every proxy's translation asks for it)."""
    try:
        mesh = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return {}
    return mesh if isinstance(mesh, dict) else {}


def _text(fmt: str | None) -> str:
    if not fmt:
        return ISTIO_TEXT_FORMAT
    return fmt if fmt.endswith("\n") else fmt + "\n"


def from_mesh_settings(mesh: dict, path: str) -> FileLog:
    """FileAccessLogFromMeshConfig: accessLogEncoding and accessLogFormat."""
    if str(mesh.get("accessLogEncoding") or "TEXT").upper() == "JSON":
        fields = ISTIO_JSON_FORMAT
        if mesh.get("accessLogFormat"):
            try:
                parsed = json.loads(mesh["accessLogFormat"])
                fields = parsed if isinstance(parsed, dict) and parsed else fields
            except ValueError:
                pass  # istiod logs "error parsing provided json log format" and keeps its default
        return FileLog(path, json_fields=dict(fields))
    return FileLog(path, text=_text(mesh.get("accessLogFormat")))


def _provider_log(mesh: dict, provider: dict) -> FileLog | None:
    spec = provider.get("envoyFileAccessLog")
    if spec is None:
        return None   # other providers (OpenTelemetry, ALS, ...) write no file log
    path = spec.get("path") or STDOUT
    log_format = spec.get("logFormat")
    if provider.get("name") == "envoy" and not log_format:
        return from_mesh_settings(mesh, path)
    if log_format and log_format.get("labels"):
        return FileLog(path, json_fields=dict(log_format["labels"]))
    return FileLog(path, text=_text((log_format or {}).get("text")))


def _providers(mesh: dict) -> dict[str, dict]:
    found = dict(BUILTIN_PROVIDERS)
    for provider in mesh.get("extensionProviders") or []:
        if isinstance(provider, dict) and provider.get("name"):
            found[provider["name"].lower()] = provider
    return found


def _telemetries(model: MeshModel, pod: Pod) -> list[dict]:
    """The Telemetry resources that apply to the proxy, mesh first, workload last."""
    telemetries = model.of_kind("Telemetry")

    def selector(t: dict) -> dict:
        return ((t.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    mesh = [t for t in telemetries if t["metadata"]["namespace"] == ROOT_NAMESPACE and not selector(t)]
    namespace = [t for t in telemetries if t["metadata"]["namespace"] == pod.namespace and not selector(t)
                 and pod.namespace != ROOT_NAMESPACE]
    workload = [t for t in telemetries if t["metadata"]["namespace"] == pod.namespace and selector(t)
                and pod.matches(selector(t))]
    return [t for t in mesh[:1] + namespace[:1] + workload[:1] if (t.get("spec") or {}).get("accessLogging")]


def _mode_matches(entry: dict, mode: str) -> bool:
    wanted = ((entry.get("match") or {}).get("mode")) or "CLIENT_AND_SERVER"
    return wanted == "CLIENT_AND_SERVER" or wanted == mode


def _names(entry: dict) -> list[str]:
    return [p["name"].lower() for p in entry.get("providers") or [] if isinstance(p, dict) and p.get("name")]


def _merged_providers(levels: list[dict], mesh: dict, mode: str) -> dict[str, bool]:
    """mergeLogs: provider name -> enabled."""
    defaults = [n.lower() for n in ((mesh.get("defaultProviders") or {}).get("accessLogging") or [])]
    if not levels:
        return {name: True for name in defaults}
    in_scope = list(defaults)
    for telemetry in levels:
        names = [n for e in telemetry["spec"]["accessLogging"] if _mode_matches(e, mode) for n in _names(e)]
        if names:
            in_scope = names
    out: dict[str, bool] = {}
    parent = defaults
    for telemetry in levels:
        for entry in telemetry["spec"]["accessLogging"]:
            names = _names(entry) or parent
            parent = names
            for name in names:
                if name in in_scope and _mode_matches(entry, mode):
                    out[name] = not entry.get("disabled", False)
    return out


def access_logs(model: MeshModel, pod: Pod, mode: str) -> list[FileLog]:
    """The file access logs of a proxy's CLIENT side (outbound, gateways) or SERVER side (inbound)."""
    return _logs_of_levels(mesh_config(model), _telemetries(model, pod), mode)


def mesh_wide_access_logs(model: MeshModel, mode: str) -> list[FileLog]:
    """The file access logs of a proxy that no Telemetry of its own namespace or workload changes: what the
    mesh config and the root namespace's selector-less Telemetry give every workload."""
    mesh_level = [t for t in model.of_kind("Telemetry") if t["metadata"].get("namespace") == ROOT_NAMESPACE
                  and not ((t.get("spec") or {}).get("selector") or {}).get("matchLabels")]
    return _logs_of_levels(mesh_config(model), [t for t in mesh_level[:1]
                                                if (t.get("spec") or {}).get("accessLogging")], mode)


def _logs_of_levels(mesh: dict, levels: list[dict], mode: str) -> list[FileLog]:
    if not levels and not (mesh.get("defaultProviders") or {}).get("accessLogging"):
        path = mesh.get("accessLogFile") or ""
        return [from_mesh_settings(mesh, path)] if path else []
    providers = _providers(mesh)
    logs = []
    for name, enabled in sorted(_merged_providers(levels, mesh, mode).items()):
        provider = providers.get(name)
        log = _provider_log(mesh, provider) if enabled and provider else None
        if log is not None:
            logs.append(log)
    return logs


def text_formats(model: MeshModel) -> list[str]:
    """Every TEXT format the mesh may write (for reading logs back): Istio's default first."""
    mesh = mesh_config(model)
    found = [ISTIO_TEXT_FORMAT]
    candidates = [from_mesh_settings(mesh, STDOUT)] + [
        _provider_log(mesh, p) for p in _providers(mesh).values()]
    for log in candidates:
        if log is not None and log.text and log.text not in found:
            found.append(log.text)
    return found
