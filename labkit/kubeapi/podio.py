"""pods/exec and pods/log: commands and logs of the local mesh's pods, over the protocols kubectl speaks.

Exec: kubectl (client-go remotecommand) tries WebSocket first, offering the v5/v4 channel protocols;
each binary message starts with a channel byte (0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize,
255 close in v5). The error channel carries a Status: Success, or NonZeroExitCode with the code in
details.causes[reason=ExitCode], which kubectl turns into `command terminated with exit code N`
and its own exit status N.
"""
from __future__ import annotations

import json
import select
import ssl
import threading
import time
from typing import Callable

from ..errors import LabkitError
from .websocket import BINARY, CLOSE, WebSocket, accept_key

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE_CHANNEL = 0, 1, 2, 3, 4, 255
EXEC_TIMEOUT = 600
FOLLOW_POLL = 0.2


def exit_status(code: int, command: list[str]) -> dict:
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: error executing command {command}, "
                       f"exit code {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def start_failure(command: list[str], detail: str) -> dict:
    # What the container runtime reports when the executable is missing (kubectl prints it, exit 1).
    return {"metadata": {}, "status": "Failure", "reason": "InternalError",
            "message": f"Internal error occurred: error executing command in container: failed to exec in "
                       f'container: failed to start exec: OCI runtime exec failed: exec failed: unable to start '
                       f'container process: exec: "{command[0] if command else ""}": {detail}: unknown'}


def websocket_exec(handler, run: Callable[[], tuple[int, str, str]], command: list[str]) -> None:
    """Upgrade the request on `handler` to a WebSocket and run `run()`, streaming its result."""
    offered = [p.strip() for p in handler.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    protocol = next((p for p in PROTOCOLS if p in offered), None)
    key = handler.headers.get("Sec-WebSocket-Key")
    if protocol is None or not key:
        handler.send_status_error(400, "BadRequest", "exec needs a WebSocket upgrade with the "
                                  "v5.channel.k8s.io or v4.channel.k8s.io protocol")
        return
    handler.send_response_only(101, "Switching Protocols")
    handler.send_header("Upgrade", "websocket")
    handler.send_header("Connection", "Upgrade")
    handler.send_header("Sec-WebSocket-Accept", accept_key(key))
    handler.send_header("Sec-WebSocket-Protocol", protocol)
    handler.end_headers()
    handler.wfile.flush()
    handler.close_connection = True
    socket = WebSocket(handler.rfile, handler.connection)

    def drain() -> None:
        # Read (and drop) what the client sends: stdin-close, resize, pings (answered in receive()).
        try:
            while True:
                opcode, _ = socket.receive()
                if opcode == CLOSE:
                    return
        except (ConnectionError, OSError, ValueError):
            return

    threading.Thread(target=drain, name="kubeapi-exec-drain", daemon=True).start()
    try:
        try:
            code, out, err = run()
            status = exit_status(code, command)
        except LabkitError as exc:
            out, err = "", ""
            status = start_failure(command, "executable file not found in $PATH"
                                   if "not found" in exc.message else exc.message)
        for channel, text in ((STDOUT, out), (STDERR, err)):
            data = text.encode()
            for start in range(0, len(data), 32768):
                socket.send(bytes([channel]) + data[start:start + 32768], BINARY)
        socket.send(bytes([ERROR]) + json.dumps(status).encode(), BINARY)
    except OSError:
        pass
    finally:
        socket.close()


def client_gone(sock) -> bool:
    """True once the peer closed its side (a readable socket with nothing to read)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        previous = sock.gettimeout()
        sock.settimeout(0.01)
        try:
            return sock.recv(1) == b""   # a TLS socket cannot peek; a client sends nothing while it follows
        finally:
            sock.settimeout(previous)
    except (TimeoutError, ssl.SSLWantReadError):
        return False
    except (OSError, ValueError):
        return True


def follow_logs(handler, read: Callable[[], str], stopping: threading.Event) -> None:
    """`kubectl logs -f`: send what the log has, then what it gains, until the client goes away."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/plain")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    sent = 0
    try:
        while not stopping.is_set():
            try:
                text = read()
            except LabkitError:
                break   # the pod is gone, as a deleted pod's log stream ends
            if len(text) < sent:
                sent = 0  # the log was started afresh (the container restarted)
            if len(text) > sent:
                handler.write_chunk(text[sent:].encode())
                sent = len(text)
            if client_gone(handler.connection):
                return
            time.sleep(FOLLOW_POLL)
        handler.write_chunk(b"")
    except OSError:
        return
