"""pods/exec and pods/log: commands and logs of the local mesh's pods, over the protocols kubectl speaks.

Exec: kubectl (client-go remotecommand) tries WebSocket first, offering the v5/v4 channel protocols;
each binary message starts with a channel byte (0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize,
255 close in v5). The error channel carries a Status: Success, or NonZeroExitCode with the code in
details.causes[reason=ExitCode], which kubectl turns into `command terminated with exit code N`
and its own exit status N.
"""
from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import signal
import ssl
import struct
import subprocess
import termios
import threading
import time
from typing import Any, Callable

from ..errors import LabkitError
from .websocket import BINARY, CLOSE, WebSocket, accept_key

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE_CHANNEL = 0, 1, 2, 3, 4, 255
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


def _accept(handler) -> WebSocket | None:
    """Answer the WebSocket upgrade with the best channel protocol offered (None: refused)."""
    offered = [p.strip() for p in handler.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    protocol = next((p for p in PROTOCOLS if p in offered), None)
    key = handler.headers.get("Sec-WebSocket-Key")
    if protocol is None or not key:
        handler.send_status_error(400, "BadRequest", "exec needs a WebSocket upgrade with the "
                                  "v5.channel.k8s.io or v4.channel.k8s.io protocol")
        return None
    handler.send_response_only(101, "Switching Protocols")
    handler.send_header("Upgrade", "websocket")
    handler.send_header("Connection", "Upgrade")
    handler.send_header("Sec-WebSocket-Accept", accept_key(key))
    handler.send_header("Sec-WebSocket-Protocol", protocol)
    handler.end_headers()
    handler.wfile.flush()
    handler.close_connection = True
    return WebSocket(handler.rfile, handler.connection)


class ExecSession:
    """One `kubectl exec`: the command runs as a real process in the pod's environment, its output
    streams to the client as it comes, the client's stdin and terminal size flow back."""

    def __init__(self, socket: WebSocket, command: list[str], stdin: bool, tty: bool):
        self.socket, self.command, self.stdin, self.tty = socket, command, stdin, tty
        self.process: subprocess.Popen | None = None
        self.input: Any = None   # where the client's stdin goes (a pipe, or the pty's master)
        self.pumps: list[threading.Thread] = []

    def start(self, cwd, env) -> None:
        from ..runtime.procs import spawner
        if self.tty:
            master, slave = pty.openpty()
            self.process = spawner().popen(self.command, stdin=slave, stdout=slave, stderr=slave, cwd=cwd,
                                           env={**env, "TERM": env.get("TERM", "xterm")})
            os.close(slave)
            self.input = os.fdopen(master, "r+b", buffering=0)
            self._pump(self.input, STDOUT)
            return
        self.process = spawner().popen(self.command, stdin=subprocess.PIPE if self.stdin else subprocess.DEVNULL,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=env)
        self.input = self.process.stdin
        self._pump(self.process.stdout, STDOUT)
        self._pump(self.process.stderr, STDERR)

    def _pump(self, stream, channel: int) -> None:
        def copy() -> None:
            try:
                while True:
                    data = os.read(stream.fileno(), 32768)
                    if not data:
                        return
                    self.socket.send(bytes([channel]) + data, BINARY)
            except OSError:
                return   # a pty reports EIO once the command exits; a closed socket ends the copy
        thread = threading.Thread(target=copy, name=f"kubeapi-exec-{channel}", daemon=True)
        thread.start()
        self.pumps.append(thread)

    def read_client(self) -> None:
        """stdin (channel 0), terminal resizes (4) and v5's close of stdin (255, 0) from the client."""
        try:
            while True:
                opcode, payload = self.socket.receive()
                if opcode == CLOSE:
                    break
                if not payload:
                    continue
                channel, data = payload[0], payload[1:]
                if channel == STDIN and self.input is not None and data:
                    self.input.write(data)
                    if hasattr(self.input, "flush"):
                        self.input.flush()
                elif channel == RESIZE and self.tty and self.input is not None:
                    size = json.loads(data or b"{}")
                    fcntl.ioctl(self.input.fileno(), termios.TIOCSWINSZ,
                                struct.pack("HHHH", size.get("Height", 24), size.get("Width", 80), 0, 0))
                elif channel == CLOSE_CHANNEL and data[:1] == bytes([STDIN]) and not self.tty and self.input:
                    self.input.close()
        except (ConnectionError, OSError, ValueError):
            pass
        # The client went away (Ctrl-C, closed terminal): the command goes with it, as on a cluster.
        if self.process is not None and self.process.poll() is None and self.socket.closed is False:
            self.stop()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except OSError:
                pass

    def finish(self) -> dict:
        assert self.process is not None, "start() first"
        code = self.process.wait()
        for pump in self.pumps:
            pump.join(timeout=5)
        if self.tty and self.input is not None:
            self.input.close()
        return exit_status(code if code >= 0 else 128 - code, self.command)


def websocket_exec(handler, environment: Callable[[], tuple], command: list[str], stdin: bool, tty: bool,
                   sessions: set) -> None:
    """Upgrade the request on `handler` to a WebSocket and run `command` in the pod's environment."""
    socket = _accept(handler)
    if socket is None:
        return
    session = ExecSession(socket, command, stdin, tty)
    try:
        try:
            cwd, env = environment()
            session.start(cwd, env)
        except (LabkitError, FileNotFoundError, PermissionError) as exc:
            detail = "executable file not found in $PATH" if isinstance(exc, FileNotFoundError) else str(exc)
            socket.send(bytes([ERROR]) + json.dumps(start_failure(command, detail)).encode(), BINARY)
            return
        sessions.add(session)
        threading.Thread(target=session.read_client, name="kubeapi-exec-stdin", daemon=True).start()
        status = session.finish()
        socket.send(bytes([ERROR]) + json.dumps(status).encode(), BINARY)
    except OSError:
        session.stop()
    finally:
        sessions.discard(session)
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


def last_lines(text: str, count: int | None) -> str:
    """The last `count` lines (tailLines; None = all, 0 = none)."""
    if count is None:
        return text
    if count <= 0:
        return ""
    return "".join(text.splitlines(keepends=True)[-count:])


def follow_logs(handler, read: Callable[[], str], stopping: threading.Event, skip: int = 0) -> None:
    """`kubectl logs -f`: send what the log has (past its first `skip` characters, which --tail left out),
    then what it gains, until the client goes away."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/plain")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    sent = skip
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
