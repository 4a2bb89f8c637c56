"""A doorbell between processes sharing a state directory: a datagram socket the owner sleeps on.

Without it the owner notices an attached process's change only at its next poll; with it, at once.
Everything degrades to plain polling when the socket cannot be made (a path longer than AF_UNIX allows).
"""
from __future__ import annotations

import select
import socket
from pathlib import Path

NAME = "wake.sock"


class Doorbell:
    def __init__(self, directory: Path):
        self.path = Path(directory) / NAME
        self.sock: socket.socket | None = None
        try:
            self.path.unlink(missing_ok=True)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(str(self.path))
            sock.setblocking(False)
            self.sock = sock
        except OSError:
            self.sock = None

    def wait(self, timeout: float) -> None:
        """Sleep until rung or `timeout` passes; several rings count as one."""
        if self.sock is None:
            select.select([], [], [], timeout)
            return
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if ready:
            try:
                while self.sock.recv(64):
                    pass
            except OSError:
                pass

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
            self.path.unlink(missing_ok=True)


def ring(directory: Path) -> None:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"!", str(Path(directory) / NAME))
    except OSError:
        pass  # no owner listening: it polls, or nobody runs the mesh
