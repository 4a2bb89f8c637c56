"""A minimal RFC 6455 WebSocket server side: enough for the Kubernetes channel protocols."""
from __future__ import annotations

import base64
import hashlib
import socket
import struct
import threading

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA


def accept_key(client_key: str) -> str:
    return base64.b64encode(hashlib.sha1((client_key + GUID).encode()).digest()).decode()


class WebSocket:
    """Frames over an already-upgraded connection. Server frames are unmasked; client frames masked."""

    def __init__(self, rfile, sock: socket.socket):
        self.rfile, self.sock = rfile, sock
        self.lock = threading.Lock()
        self.closed = False

    def send(self, payload: bytes, opcode: int = BINARY) -> None:
        header = bytes([0x80 | opcode])
        size = len(payload)
        if size < 126:
            header += bytes([size])
        elif size < 65536:
            header += bytes([126]) + struct.pack("!H", size)
        else:
            header += bytes([127]) + struct.pack("!Q", size)
        with self.lock:
            if not self.closed:
                self.sock.sendall(header + payload)

    def _read_exact(self, count: int) -> bytes:
        data = self.rfile.read(count)
        if data is None or len(data) < count:
            raise ConnectionError("WebSocket closed by the client")
        return data

    def receive(self) -> tuple[int, bytes]:
        """The next complete message (opcode, payload); answers pings on the way."""
        message, first_opcode = b"", None
        while True:
            head = self._read_exact(2)
            fin, opcode = head[0] & 0x80, head[0] & 0x0F
            size = head[1] & 0x7F
            if size == 126:
                size = struct.unpack("!H", self._read_exact(2))[0]
            elif size == 127:
                size = struct.unpack("!Q", self._read_exact(8))[0]
            mask = self._read_exact(4) if head[1] & 0x80 else b"\0\0\0\0"
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(self._read_exact(size)))
            if opcode == PING:
                self.send(payload, PONG)
                continue
            if opcode == PONG:
                continue
            if opcode == CLOSE:
                return CLOSE, payload
            if first_opcode is None:
                first_opcode = opcode
            message += payload
            if fin:
                return first_opcode, message

    def close(self, code: int = 1000) -> None:
        try:
            self.send(struct.pack("!H", code), CLOSE)
        except OSError:
            pass
        with self.lock:
            self.closed = True
