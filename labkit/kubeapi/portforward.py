"""pods/portforward: `kubectl port-forward pod/NAME` and `svc/NAME`, as the kubelet serves it.

kubectl (pkg/cmd/portforward, client-go tools/portforward) first tries a WebSocket offering
`SPDY/3.1+portforward.k8s.io` and then runs SPDY/3.1 inside the WebSocket's binary messages; when that
upgrade fails it falls back to a plain `Upgrade: SPDY/3.1` connection. Both are served here. Over SPDY,
each forwarded connection is a pair of streams the client opens, with headers `streamtype` (`error` or
`data`), `port` and `requestid`; the server accepts each (SYN_REPLY), copies the data stream to and from
the pod's port, and writes a failure as text on the error stream (the kubelet's portforward
httpstream.go). The pod's port is where its app listens inside the pod (its own localhost): forwarded
traffic does not pass the sidecar, as on a cluster, where the kubelet dials localhost in the pod's
network namespace.
"""
from __future__ import annotations

import socket
import threading
from typing import Callable

from ..errors import LabkitError
from .spdy import GOAWAY, PING, RST_STREAM, SYN_STREAM, Frame, Framer

WEBSOCKET_PROTOCOL = "SPDY/3.1+portforward.k8s.io"
SPDY_PROTOCOL = "portforward.k8s.io"
CONNECT_TIMEOUT = 5


class PortForwardSession:
    """One kubectl port-forward connection: any number of forwarded TCP connections, one per requestid."""

    def __init__(self, send: Callable[[bytes], None], address: Callable[[int], tuple[str, int]], pod: str):
        """send: writes bytes to the client; address: the (host, port) the pod's port number is reached at."""
        self.send_bytes, self.address, self.pod = send, address, pod
        self.framer = Framer()
        self.lock = threading.Lock()
        self.streams: dict[int, dict] = {}              # stream id → its headers
        self.errors: dict[str, int] = {}                # requestid → error stream id
        self.upstreams: dict[int, socket.socket] = {}   # data stream id → connection to the pod
        self.closed = False

    def send(self, data: bytes) -> None:
        with self.lock:
            if not self.closed:
                self.send_bytes(data)

    def received(self, data: bytes) -> None:
        for frame in self.framer.feed(data):
            self._frame(frame)

    def _frame(self, frame: Frame) -> None:
        if frame.kind == SYN_STREAM:
            self._open(frame)
        elif frame.kind is None:
            upstream = self.upstreams.get(frame.stream_id)
            if upstream is not None:
                try:
                    if frame.payload:
                        upstream.sendall(frame.payload)
                    if frame.fin:
                        upstream.shutdown(socket.SHUT_WR)
                except OSError:
                    self._close_stream(frame.stream_id)
        elif frame.kind == PING:
            self.send(self.framer.ping_reply(frame))
        elif frame.kind == RST_STREAM:
            self._close_stream(frame.stream_id, reset=False)
        elif frame.kind == GOAWAY:
            self.close()

    def _open(self, frame: Frame) -> None:
        headers = frame.headers or {}
        self.streams[frame.stream_id] = headers
        self.send(self.framer.syn_reply(frame.stream_id))
        request = headers.get("requestid", "")
        if headers.get("streamtype") == "error":
            self.errors[request] = frame.stream_id
            return
        if headers.get("streamtype") != "data":
            return
        try:
            port = int(headers.get("port", ""))
            host, real = self.address(port)
            upstream = socket.create_connection((host, real), timeout=CONNECT_TIMEOUT)
            upstream.settimeout(None)
        except (OSError, ValueError, LabkitError) as exc:
            self._fail(request, frame.stream_id,
                       f"error forwarding port {headers.get('port')} to pod {self.pod}: failed to connect to "
                       f"localhost:{headers.get('port')} inside namespace of the pod: {exc}")
            return
        self.upstreams[frame.stream_id] = upstream
        threading.Thread(target=self._copy_back, args=(frame.stream_id, upstream), daemon=True,
                         name="kubeapi-port-forward").start()

    def _copy_back(self, stream_id: int, upstream: socket.socket) -> None:
        try:
            while True:
                data = upstream.recv(65536)
                if not data:
                    break
                self.send(Framer.data(stream_id, data))
        except OSError:
            pass
        try:
            self.send(Framer.data(stream_id, b"", fin=True))
        except OSError:
            pass

    def _fail(self, request: str, data_stream: int, message: str) -> None:
        error_stream = self.errors.get(request)
        if error_stream is not None:
            self.send(Framer.data(error_stream, message.encode(), fin=True))
        self.send(Framer.data(data_stream, b"", fin=True))

    def _close_stream(self, stream_id: int, reset: bool = True) -> None:
        upstream = self.upstreams.pop(stream_id, None)
        if upstream is not None:
            upstream.close()
            if reset:
                self.send(self.framer.rst(stream_id))

    def close(self) -> None:
        """The client went away (kubectl exited) or the API stops: every forwarded connection ends."""
        for stream_id in list(self.upstreams):
            upstream = self.upstreams.pop(stream_id, None)
            if upstream is not None:
                upstream.close()
        with self.lock:
            self.closed = True


class ForwardedConnection:
    """One served port-forward connection, as the API lists it: `stop()` (the API stopping) shuts it."""

    def __init__(self, connection, session: PortForwardSession):
        self.connection, self.session = connection, session

    def stop(self) -> None:
        self.session.close()
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def serve(handler, address: Callable[[int], tuple[str, int]], pod: str, sessions: set) -> bool:
    """Answer a port-forward upgrade on `handler` (the API's request handler) and forward until the client
    leaves. False when the request offered neither protocol (the caller answers 400)."""
    from .websocket import BINARY, CLOSE, WebSocket, accept_key
    upgrade = handler.headers.get("Upgrade", "").lower()
    offered = [p.strip() for p in handler.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    if upgrade == "websocket" and WEBSOCKET_PROTOCOL in offered and handler.headers.get("Sec-WebSocket-Key"):
        handler.send_response_only(101, "Switching Protocols")
        handler.send_header("Upgrade", "websocket")
        handler.send_header("Connection", "Upgrade")
        handler.send_header("Sec-WebSocket-Accept", accept_key(handler.headers["Sec-WebSocket-Key"]))
        handler.send_header("Sec-WebSocket-Protocol", WEBSOCKET_PROTOCOL)
        handler.end_headers()
        handler.wfile.flush()
        handler.close_connection = True
        ws = WebSocket(handler.rfile, handler.connection)
        session = PortForwardSession(lambda data: ws.send(data, BINARY), address, pod)

        def next_bytes() -> bytes | None:
            # Go's SPDY framer writes a frame field by field: one WebSocket message each, some empty.
            opcode, payload = ws.receive()
            return None if opcode == CLOSE else payload
    elif upgrade.startswith("spdy/3.1") and SPDY_PROTOCOL in handler.headers.get("X-Stream-Protocol-Version", ""):
        handler.send_response_only(101, "Switching Protocols")
        handler.send_header("Connection", "Upgrade")
        handler.send_header("Upgrade", "SPDY/3.1")
        handler.send_header("X-Stream-Protocol-Version", SPDY_PROTOCOL)
        handler.end_headers()
        handler.wfile.flush()
        handler.close_connection = True
        session = PortForwardSession(handler.connection.sendall, address, pod)

        def next_bytes() -> bytes | None:
            return handler.rfile.read1(65536) or None
    else:
        return False
    stopper = ForwardedConnection(handler.connection, session)
    sessions.add(stopper)
    try:
        while True:
            data = next_bytes()
            if data is None:
                break
            session.received(data)
    except (ConnectionError, OSError, ValueError):
        pass
    finally:
        sessions.discard(stopper)
        session.close()
    return True
