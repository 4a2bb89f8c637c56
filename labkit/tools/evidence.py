"""What actually happened: every call the proxies logged, with its mTLS status and peer identities.

Only the proxies' own access logs count here, never the policy model. Each proxy reports from where
it stands, like Istio's `reporter` telemetry label:
- a sidecar's outbound line is the client side: `upstream_tls`/`upstream_peer_uri_san` (in a custom
  accessLogFormat with %UPSTREAM_TLS_VERSION% and %UPSTREAM_PEER_URI_SAN%) say whether it spoke mTLS and
  to which identity; Istio's default formats do not say, so that stays unknown;
- a sidecar's inbound line is the server side: `downstream_tls`/`downstream_peer_uri_san` name the
  caller's identity (none for plaintext); with Istio's default formats the requested server name tells
  mTLS (an Istio SNI, `outbound_.<port>_...`) from plaintext, without the identity;
- a gateway line is both: the outside world called the gateway, and the gateway called a service;
- a listener-level line (`listener` = NotSet) records a connection refused before any request:
  plaintext into STRICT (`NR`, `filter_chain_not_found`) or a failed TLS handshake. These exist only
  when the builders give inbound listeners an access log.
One request seen by both sidecars is one call: the client side reports it, the server side lends the
caller identity it saw. A sidecar-less caller shows up only in the server's log, and a call between
two pods without sidecars is invisible, as in a real mesh.
"""
from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..model.mesh import MeshModel, Pod
from .access_log_format import TextFormat, parse_line
from .common import has_proxy, workload_id
from .render import frame_html, heading

EXTERNAL = "external"
# JSON, or a TEXT line starting with Istio's "[%START_TIME%]" (Envoy's own log starts "[2026-01-01 12:00...").
_LOOKS_LIKE_ACCESS_LOG = re.compile(r"^(\{|\[\d{4}-\d\d-\d\dT)")
CLIENT, SERVER, CONNECTION = "client", "server", "connection"
MATCH_WINDOW_S = 2.0

CALL_COLUMNS = ["time", "source", "destination", "authority", "method", "path", "code", "flags", "mtls",
                "client_identity", "server_identity", "reported_by", "detail"]
EDGE_COLUMNS = ["source", "destination", "requests", "codes", "mtls", "client_identities", "server_identities",
                "status"]


@dataclass(frozen=True)
class Endpoint:
    """A pod as the logs name it (by IP), with what the graph needs to know about it."""
    node: str            # "ns/workload"
    pod: str             # "ns/pod"
    proxy: bool
    gateway: bool
    spiffe_id: str


class Directory:
    """IP → pod, from the model (local mesh) or from the backend's pod list (a cluster's real IPs)."""

    def __init__(self, model: MeshModel, addresses: dict[str, tuple[str, str]] | None = None):
        pods = {(p.namespace, p.name): p for p in model.pods}
        if addresses is None:
            addresses = {p.ip: (p.namespace, p.name) for p in model.pods}
        self.by_ip = {ip: self._endpoint(pods[key]) for ip, key in addresses.items() if key in pods}
        self.by_pod = {f"{p.namespace}/{p.name}": self._endpoint(p) for p in model.pods}
        self._by_identity: dict[str, set] = {}
        for endpoint in self.by_pod.values():
            if endpoint.proxy and endpoint.spiffe_id:
                self._by_identity.setdefault(endpoint.spiffe_id, set()).add(endpoint)

    @staticmethod
    def _endpoint(pod: Pod) -> Endpoint:
        return Endpoint(workload_id(pod), f"{pod.namespace}/{pod.name}", has_proxy(pod), pod.is_gateway,
                        pod.spiffe_id)

    def at(self, address: str | None) -> Endpoint | None:
        if not address:
            return None
        return self.by_ip.get(address.rsplit(":", 1)[0])

    def with_identity(self, spiffe_id: str | None) -> Endpoint | None:
        """The one proxied workload holding a certificate for `spiffe_id` (None when none or several do)."""
        found = {e.node: e for e in self._by_identity.get(spiffe_id or "", ())}
        return next(iter(found.values())) if len(found) == 1 else None


@dataclass
class Record:
    """One access-log line, read from the side of the proxy that wrote it."""
    time: dt.datetime
    proxy: Endpoint
    side: str
    source: str
    destination: str
    source_proxied: bool
    authority: str | None = None
    method: str | None = None
    path: str | None = None
    code: int = 0
    flags: str = "-"
    mtls: bool | None = None
    peer: str | None = None
    detail: str = ""
    raw: dict = field(default_factory=dict, repr=False)


def parse_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def as_datetime(since) -> dt.datetime | None:
    if since is None or isinstance(since, dt.datetime):
        return since if since is None or since.tzinfo else since.replace(tzinfo=dt.timezone.utc)
    return dt.datetime.fromtimestamp(float(since), dt.timezone.utc)


def _spiffe(value) -> str | None:
    return value if isinstance(value, str) and value.startswith("spiffe://") else None


def _tls_state(line: dict, version_key: str, san_key: str, sni_fallback: bool) -> tuple[bool | None, str | None]:
    """(mTLS?, peer SPIFFE id). Istio's own JSON log lacks the TLS fields: then an Istio SNI is the tell."""
    peer = _spiffe(line.get(san_key))
    if version_key in line or san_key in line:
        return bool(line.get(version_key)) and peer is not None, peer
    if sni_fallback and "requested_server_name" in line:
        return str(line["requested_server_name"] or "").startswith("outbound_."), peer
    return None, peer


def _is_server_line(line: dict, proxy: Endpoint, directory: Directory) -> bool:
    local = line.get("downstream_local_address")
    if local:
        here = directory.by_pod.get(proxy.pod)
        return directory.at(local) == here
    cluster = line.get("upstream_cluster") or ""
    if cluster.startswith("inbound|"):
        return True
    if cluster:
        return False
    return str(line.get("response_code_details") or "").startswith("rbac_access_denied")


def _service_node(cluster: str | None, authority: str | None) -> str:
    parts = (cluster or "").split("|")
    if len(parts) == 4 and parts[3]:
        name, namespace = parts[3].split(".")[:2]
        return f"service:{name}.{namespace}"
    return f"service:{authority or '?'}"


def _connection_failure(line: dict) -> str | None:
    """Why a listener-level connection line is a refusal, or None when its requests were logged anyway."""
    reason = line.get("downstream_transport_failure_reason") or ""
    if "NR" in str(line.get("response_flags") or "").split(","):
        return "connection reset: no filter chain matched (plaintext to STRICT, or TLS to DISABLE)"
    if reason and "HTTP_REQUEST" not in reason:
        return f"TLS handshake failed: {reason}"
    return None


def _connection_line(line: dict) -> bool:
    """A listener-level line: a connection that never became a request or a TCP session (the
    `%ACCESS_LOG_TYPE%` NotSet of a custom format, or, in Istio's formats, no method, no upstream
    cluster, and a reason: NR, or a downstream TLS failure)."""
    if "listener" in line or "access_log_type" in line:
        return (line.get("listener") or line.get("access_log_type")) == "NotSet"
    if line.get("method") or line.get("upstream_cluster"):
        return False
    flags = str(line.get("response_flags") or "").split(",")
    if "NR" in flags or line.get("downstream_transport_failure_reason"):
        return True
    # No request, no upstream and no response code: the inbound listener's line for a connection whose
    # requests have lines of their own (a plaintext call into PERMISSIVE logs both), not a reset request.
    return int(line.get("response_code") or 0) == 0


def interpret(line: dict, proxy: Endpoint, directory: Directory) -> list[Record]:
    """The records one log line stands for (none, one, or two for a gateway)."""
    when = parse_time(line.get("start_time")) or dt.datetime.fromtimestamp(0, dt.timezone.utc)
    downstream = directory.at(line.get("downstream_remote_address"))
    connection = _connection_line(line)
    if downstream is None and not connection:
        # Behind a gateway the request's remote address is the outside client's (X-Forwarded-For), not the
        # gateway's; the mTLS peer certificate still names the proxy that made the connection.
        downstream = directory.with_identity(_spiffe(line.get("downstream_peer_uri_san")))
    source = downstream.node if downstream else EXTERNAL
    common: dict[str, Any] = {"time": when, "proxy": proxy, "authority": line.get("authority"), "method": line.get("method"),
              "path": line.get("path"), "code": int(line.get("response_code") or 0),
              "flags": line.get("response_flags") or "-", "raw": line}
    if connection:
        failure = _connection_failure(line)
        if failure is None:
            return []
        return [Record(side=CONNECTION, source=source, destination=proxy.node,
                       source_proxied=bool(downstream and downstream.proxy), mtls=False, detail=failure,
                       **common)]
    details = str(line.get("response_code_details") or "")
    records = []
    server = proxy.gateway or _is_server_line(line, proxy, directory)
    if server:
        mtls, peer = _tls_state(line, "downstream_tls", "downstream_peer_uri_san", sni_fallback=True)
        records.append(Record(side=SERVER, source=source, destination=proxy.node,
                              source_proxied=bool(downstream and downstream.proxy), mtls=mtls, peer=peer,
                              detail=details, **common))
    if not server or (proxy.gateway and (line.get("upstream_cluster") or line.get("upstream_host"))):
        upstream = directory.at(line.get("upstream_host"))
        destination = upstream.node if upstream else _service_node(line.get("upstream_cluster"), line.get("authority"))
        mtls, peer = _tls_state(line, "upstream_tls", "upstream_peer_uri_san", sni_fallback=False)
        failure = line.get("upstream_transport_failure_reason")
        records.append(Record(side=CLIENT, source=proxy.node, destination=destination, source_proxied=True,
                              mtls=mtls, peer=peer, detail=failure or details, **common))
    return records


def read_records(logs: list[tuple[str, str, str]], directory: Directory, since=None,
                 formats: list[TextFormat] | None = None) -> tuple[list[Record], int]:
    """Records from (namespace, pod, log text) of each proxy, in JSON or in one of the TEXT `formats`;
    also how many lines looked like access-log lines (JSON, or starting with "[") but could not be read."""
    cutoff = as_datetime(since)
    records, skipped = [], 0
    for namespace, pod, text in logs:
        proxy = directory.by_pod.get(f"{namespace}/{pod}")
        if proxy is None:
            continue
        for raw in text.splitlines():
            raw = raw.strip()
            line = parse_line(raw, formats or [])
            if line is None:
                skipped += bool(_LOOKS_LIKE_ACCESS_LOG.match(raw))
                continue
            for record in interpret(line, proxy, directory):
                if cutoff is None or record.time >= cutoff:
                    records.append(record)
    records.sort(key=lambda r: r.time)
    return records, skipped


def _call(record: Record, *, reported_by: str, client_identity=None, server_identity=None) -> dict:
    return {"time": record.time, "source": record.source, "destination": record.destination,
            "authority": record.authority, "method": record.method, "path": record.path, "code": record.code,
            "flags": record.flags, "mtls": record.mtls, "client_identity": client_identity,
            "server_identity": server_identity, "reported_by": reported_by, "detail": record.detail}


def _take_match(pool: dict, record: Record) -> Record | None:
    """The server's line for a client's request: the same connection when the log names the client's
    local address (exact), else the nearest in time with the same caller, callee, method and path."""
    candidates = pool.get((record.source, record.destination, record.method, record.path)) or []
    local = record.raw.get("upstream_local_address")
    same_connection = [r for r in candidates if local and r.raw.get("downstream_remote_address") == local]
    best = min(same_connection or candidates, key=lambda r: abs((r.time - record.time).total_seconds()), default=None)
    if best is None or abs((best.time - record.time).total_seconds()) > MATCH_WINDOW_S:
        return None
    candidates.remove(best)
    return best


def calls_from(records: list[Record]) -> list[dict]:
    """One row per request: the client's report where there is one, else the server's."""
    pool: dict = {}
    for record in records:
        if record.side == SERVER and record.source_proxied:
            pool.setdefault((record.source, record.destination, record.method, record.path), []).append(record)
    calls = []
    for record in records:
        if record.side == CLIENT:
            seen = _take_match(pool, record)
            call = _call(record, reported_by="client" + ("+server" if seen else ""),
                         client_identity=seen.peer if seen else None, server_identity=record.peer)
            if call["mtls"] is None and seen is not None:
                # Istio's default formats say nothing of the client side's TLS; the server's line does.
                call["mtls"] = seen.mtls
            calls.append(call)
        elif not record.source_proxied:
            calls.append(_call(record, reported_by="server" if record.side == SERVER else "server (connection)",
                               client_identity=record.peer,
                               server_identity=record.proxy.spiffe_id if record.mtls else None))
    leftovers = [r for group in pool.values() for r in group]
    for record in leftovers:  # a proxied caller whose own log had no line (e.g. it bypassed its sidecar)
        calls.append(_call(record, reported_by="server", client_identity=record.peer,
                           server_identity=record.proxy.spiffe_id if record.mtls else None))
    calls.sort(key=lambda c: c["time"])
    return calls


def edge_status(codes: list[int]) -> str:
    if any(code == 0 or code >= 500 for code in codes):
        return "error"
    if any(code >= 400 for code in codes):
        return "denied"
    return "ok"


def _mtls_summary(values: list) -> object:
    if all(v is True for v in values):
        return True
    if all(v is False for v in values):
        return False
    return "mixed" if any(v is True for v in values) else None


def edges_from(calls: list[dict]) -> list[dict]:
    grouped: dict[tuple[str, str], list[dict]] = {}
    for call in calls:
        grouped.setdefault((call["source"], call["destination"]), []).append(call)
    edges = []
    for (source, destination), group in sorted(grouped.items()):
        codes = [c["code"] for c in group]
        counted = Counter("reset" if code == 0 else str(code) for code in codes)
        edges.append({"source": source, "destination": destination, "requests": len(group),
                      "codes": ", ".join(f"{k}×{v}" for k, v in sorted(counted.items())),
                      "mtls": _mtls_summary([c["mtls"] for c in group]),
                      "client_identities": sorted({c["client_identity"] for c in group if c["client_identity"]}),
                      "server_identities": sorted({c["server_identity"] for c in group if c["server_identity"]}),
                      "status": edge_status(codes)})
    return edges


class Evidence:
    """`.calls` (one row per request), `.edges` (per caller → callee), `.records` (every log line read)."""

    def __init__(self, records: list[Record], skipped_lines: int = 0, proxies: int = 0, endpoints=()):
        self.records = records
        self.skipped_lines = skipped_lines
        self.proxies = proxies
        # node → Endpoint, for drawing; a workload whose pods differ (mid-rollout) shows its proxied side
        self.endpoints: dict[str, Endpoint] = {}
        for endpoint in sorted(endpoints, key=lambda e: e.proxy):
            self.endpoints[endpoint.node] = endpoint
        calls = calls_from(records)
        self.call_rows = calls   # as built, for code: a DataFrame turns a missing identity into NaN
        self.calls = pd.DataFrame(calls, columns=CALL_COLUMNS)
        self.edges = pd.DataFrame(edges_from(calls), columns=EDGE_COLUMNS)

    @property
    def hops(self) -> pd.DataFrame:
        return pd.DataFrame([{"time": r.time, "proxy": r.proxy.pod, "side": r.side, "source": r.source,
                              "destination": r.destination, "code": r.code, "flags": r.flags, "mtls": r.mtls,
                              "peer": r.peer, "detail": r.detail} for r in self.records])

    def edge(self, source: str, destination: str) -> dict | None:
        rows = self.edges[(self.edges.source == source) & (self.edges.destination == destination)]
        return rows.iloc[0].to_dict() if len(rows) else None

    def _note(self) -> str:
        if self.skipped_lines:
            return (f"{self.skipped_lines} access-log lines were in a format not configured in the mesh config "
                    "and were skipped")
        return ""

    def __repr__(self) -> str:
        text = f"Evidence from {self.proxies} proxies: {len(self.calls)} calls\n{self.edges.to_string(index=False)}"
        return text + (f"\n{self._note()}" if self._note() else "")

    def _repr_html_(self) -> str:
        note = f"<p><i>{self._note()}</i></p>" if self._note() else ""
        return (heading(f"Observed calls between workloads ({len(self.calls)} requests, {self.proxies} proxies)")
                + frame_html(self.edges, "no calls logged") + note + "<details><summary>every call</summary>"
                + frame_html(self.calls) + "</details>")
