"""Shared fixtures: a local mesh per test module, on free gateway ports (its subnet is claimed host-wide)."""
from __future__ import annotations

import socket

import pytest

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    import labkit
    state = tmp_path_factory.mktemp("mesh")
    lab = labkit.connect(state_dir=state, gateway_http_port=free_port(), gateway_https_port=free_port())
    yield lab
    lab.down()
