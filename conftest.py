"""Test-session settings shared by the Python tests and the notebooks nbval runs.

The notebooks' kernels inherit this environment, so a test run never touches a learner's own mesh
(state in .labkit/, gateway on 8080/8443): it gets a private state directory and free gateway ports. The
loopback subnet is claimed host-wide by each mesh (labkit/runtime/claims.py), so tests leave it unset.
"""
from __future__ import annotations

import os
import socket
import tempfile


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pytest_configure(config):
    if os.environ.get("LABKIT_TEST_ENV_SET"):
        return
    os.environ["LABKIT_TEST_ENV_SET"] = "1"
    os.environ.setdefault("LABKIT_STATE_DIR", tempfile.mkdtemp(prefix="labkit-test-state-"))
    os.environ.setdefault("LABKIT_GATEWAY_HTTP_PORT", str(_free_port()))
    os.environ.setdefault("LABKIT_GATEWAY_HTTPS_PORT", str(_free_port()))
    os.environ.setdefault("LABKIT_NONINTERACTIVE", "1")
