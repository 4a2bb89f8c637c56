"""Traffic against a running local mesh from Python: where a pod's calls really go, raw sockets,
and a concurrent keep-alive HTTP client. Shared by the reliability/security tests and bench/.

A pod's view of the network is its resolve.json (DNS + kube-proxy + sidecar capture): a sidecar'd
client reaches a service at its own outbound listener (127.S.P.3), a pod without a sidecar reaches
an endpoint pod directly. Connections leave from the pod IP, as curl's `interface` does.
"""
from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Endpoint:
    ip: str
    port: int
    host: str                       # Host header (and SNI when tls is set)
    source_ip: str | None = None
    tls: ssl.SSLContext | None = None


def pod_endpoint(lab, namespace: str, client: str, hostport: str) -> Endpoint:
    """Where `client` in `namespace` connects for `hostport` ("httpbin.foo:8000")."""
    directory = lab.pod_dir(namespace, client)
    target = json.loads((directory / "resolve.json").read_text())["hosts"][hostport]
    ip, port = target.rsplit(":", 1)
    source = lab._pod_row(namespace, client)["ip"]
    return Endpoint(ip, int(port), hostport, source)


def gateway_endpoint(lab, port: int, host: str, tls: ssl.SSLContext | None = None) -> Endpoint:
    """The ingress gateway's loopback listener for Gateway port 80 or 443, as `curl --resolve` uses it."""
    return Endpoint(lab.settings.gateway_ip, int(lab.gateway_url(port).rsplit(":", 1)[1]), host, tls=tls)


def classify(exc: BaseException) -> str:
    """One word for how a request failed; refusals by a STRICT sidecar show up as reset or eof."""
    if isinstance(exc, ConnectionResetError):
        return "reset"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(exc, ssl.SSLError):
        return f"tls:{exc.reason or type(exc).__name__}"
    if isinstance(exc, (http.client.RemoteDisconnected, http.client.BadStatusLine, http.client.IncompleteRead,
                        BrokenPipeError)):
        return "eof"
    return type(exc).__name__


def raw_exchange(ip: str, port: int, payload: bytes, *, source_ip: str | None = None, timeout: float = 3.0) -> str:
    """Send bytes on a fresh TCP connection; the first line the server answers, or how it refused."""
    try:
        with socket.create_connection((ip, port), timeout=timeout,
                                      source_address=(source_ip, 0) if source_ip else None) as sock:
            sock.sendall(payload)
            data = b""
            while b"\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError as exc:
        return classify(exc)
    return data.split(b"\r\n", 1)[0].decode(errors="replace") if data else "eof"


def tls_exchange(ip: str, port: int, payload: bytes, *, server_name: str, context: ssl.SSLContext,
                 timeout: float = 3.0) -> str:
    """raw_exchange over TLS: the first line answered, or how the handshake or connection failed."""
    try:
        with socket.create_connection((ip, port), timeout=timeout) as raw, \
                context.wrap_socket(raw, server_hostname=server_name) as tls:
            tls.sendall(payload)
            data = tls.recv(4096)
    except OSError as exc:
        return classify(exc)
    return data.split(b"\r\n", 1)[0].decode(errors="replace") if data else "eof"


def plain_request(host: str, path: str = "/ip") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()


@dataclass
class Sample:
    start: float
    end: float
    result: int | str               # HTTP status, or classify() of the failure


@dataclass
class LoadResult:
    samples: list[Sample] = field(default_factory=list)
    wall: float = 0.0

    @property
    def counts(self) -> Counter:
        return Counter(s.result for s in self.samples)

    @property
    def rps(self) -> float:
        return len(self.samples) / self.wall if self.wall else 0.0

    def latency_ms(self, pct: float) -> float:
        ordered = sorted((s.end - s.start) * 1000 for s in self.samples if isinstance(s.result, int))
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]

    @property
    def slowest(self) -> float:
        return max((s.end - s.start for s in self.samples), default=0.0)


class _Worker:
    """One client thread's connection: kept alive across requests unless `fresh` asks otherwise."""

    def __init__(self, endpoint: Endpoint, timeout: float, fresh: bool):
        self.endpoint, self.timeout, self.fresh = endpoint, timeout, fresh
        self.conn: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        e = self.endpoint
        source = (e.source_ip, 0) if e.source_ip else None
        if e.tls is not None:
            return _ResolvedHTTPS(e.ip, e.port, server_name=e.host.rsplit(":", 1)[0], timeout=self.timeout,
                                  source_address=source, context=e.tls)
        return http.client.HTTPConnection(e.ip, e.port, timeout=self.timeout, source_address=source)

    def request(self, method: str, path: str, headers: dict | None = None) -> int | str:
        if self.conn is None:
            self.conn = self._connect()
        hdrs = {"Host": self.endpoint.host, **(headers or {})}
        if self.fresh:
            hdrs["Connection"] = "close"
        try:
            self.conn.request(method, path, headers=hdrs)
            response = self.conn.getresponse()
            response.read()
            status = response.status
        except Exception as exc:  # noqa: BLE001  (every failure is a result to count)
            self.close()
            return classify(exc)
        if self.fresh or response.will_close:
            self.close()
        return status

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class _ResolvedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a loopback address with the real host name as SNI, as `curl --resolve` does."""

    def __init__(self, *args, server_name: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.server_name = server_name

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout, self.source_address)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.server_name)


def run_load(endpoint: Endpoint, path: str = "/ip", *, total: int, concurrency: int, timeout: float = 5.0,
             fresh_connections: bool = False, method: str = "GET", stop: threading.Event | None = None) -> LoadResult:
    """`total` requests from `concurrency` threads (keep-alive unless fresh_connections)."""
    result = LoadResult()
    lock = threading.Lock()
    issued = iter(range(total))

    def worker() -> None:
        client = _Worker(endpoint, timeout, fresh_connections)
        try:
            while stop is None or not stop.is_set():
                with lock:
                    if next(issued, None) is None:
                        return
                start = time.monotonic()
                outcome = client.request(method, path)
                sample = Sample(start, time.monotonic(), outcome)
                with lock:
                    result.samples.append(sample)
        finally:
            client.close()

    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in [pool.submit(worker) for _ in range(concurrency)]:
            future.result()
    result.wall = time.monotonic() - began
    return result
