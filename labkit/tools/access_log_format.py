"""Reading Envoy access-log lines back into fields, whatever encoding the mesh config chose.

JSON lines are parsed as written (Istio's default JSON field names, or the user's own). TEXT lines are
matched against the format that wrote them (Istio's default EnvoyTextLogFormat, or a custom
`accessLogFormat`): each %COMMAND% becomes a field named as Istio's JSON format names it (so the tools
read `response_code`, `upstream_cluster`, ... from either encoding), and Envoy's "-" for "no value"
becomes None.
"""
from __future__ import annotations

import json
import re

from ..model.access_logging import ISTIO_JSON_FORMAT

# %COMMAND% -> the key Istio's JSON format uses for it (telemetry_logging.go EnvoyJSONLogFormatIstio, kept
# once in model/access_logging.py), plus the commands users add for more detail.
FIELD_NAMES = {command.strip("%"): field for field, command in ISTIO_JSON_FORMAT.items()}
FIELD_NAMES.update({
    "UPSTREAM_CLUSTER": "upstream_cluster", "UPSTREAM_TLS_VERSION": "upstream_tls",
    "UPSTREAM_PEER_URI_SAN": "upstream_peer_uri_san", "DOWNSTREAM_TLS_VERSION": "downstream_tls",
    "DOWNSTREAM_PEER_URI_SAN": "downstream_peer_uri_san",
    "DOWNSTREAM_TRANSPORT_FAILURE_REASON": "downstream_transport_failure_reason",
    "ACCESS_LOG_TYPE": "access_log_type",
})
_COMMAND = re.compile(r"%([A-Z_]+(?:\([^)%]*\))?(?::\d+)?)%")


def field_name(command: str) -> str:
    command = re.sub(r":\d+$", "", command)   # %REQ(X):10% truncates; the field is the same
    return FIELD_NAMES.get(command, command.lower())


class TextFormat:
    """One TEXT access-log format, compiled into a regular expression over its lines."""

    def __init__(self, fmt: str):
        self.format = fmt.rstrip("\n")
        parts, names, pos = [], [], 0
        for match in _COMMAND.finditer(self.format):
            literal = self.format[pos:match.start()]
            parts.append(re.escape(literal))
            after = self.format[match.end():match.end() + 1]
            if literal.endswith('"') and after == '"':
                value = r'[^"]*'
            elif literal.endswith("[") and after == "]":
                value = r"[^\]]*"
            else:
                value = r"\S*"
            names.append(field_name(match.group(1)))
            parts.append(f"(?P<f{len(names) - 1}>{value})")
            pos = match.end()
        parts.append(re.escape(self.format[pos:]))
        self.names = names
        self.regex = re.compile("^" + "".join(parts) + "$")

    def parse(self, line: str) -> dict | None:
        match = self.regex.match(line)
        if match is None:
            return None
        out: dict = {}
        for index, name in enumerate(self.names):
            value = match.group(f"f{index}")
            if name not in out or out[name] is None:
                out[name] = None if value in ("-", "") else value
        return out


def parse_line(line: str, formats: list[TextFormat]) -> dict | None:
    """The fields of one access-log line, or None for a line that is no access-log line (Envoy's own log)."""
    line = line.strip()
    if line.startswith("{"):
        try:
            parsed = json.loads(line)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None
    for fmt in formats:
        fields = fmt.parse(line)
        if fields is not None:
            return fields
    return None


def compile_formats(formats: list[str]) -> list[TextFormat]:
    return [TextFormat(f) for f in formats]
