"""The API server lives and dies with the mesh owner; nobody without the lab's client certificate gets in."""
from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import threading

import pytest
import yaml
from kubectl_support import kubectl

pytestmark = pytest.mark.envoy


def test_api_stops_with_its_owner_and_refuses_strangers(lab):
    try:
        config = yaml.safe_load(lab.kubeconfig.read_text())
        assert (lab.kubeconfig.stat().st_mode & 0o077) == 0
        assert config["current-context"] == "labkit" and config["clusters"][0]["name"] == "labkit"
        server = config["clusters"][0]["cluster"]["server"]
        host, port = server.removeprefix("https://").split(":")
        assert host == "127.0.0.1"
        assert kubectl(lab, "get", "ns", "-o", "name").stdout.split()[:1] == ["namespace/default"]
        # TLS without a client certificate: the handshake or the first request fails.
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            with socket.create_connection((host, int(port)), timeout=5) as raw:
                with context.wrap_socket(raw) as tls:
                    tls.sendall(b"GET /api HTTP/1.1\r\nHost: x\r\n\r\n")
                    if not tls.recv(100):
                        raise ConnectionError("closed")
        threads_before = {t.name for t in threading.enumerate()}
        assert "labkit-kubeapi" in threads_before
    finally:
        lab.down()
    assert not lab.kubeconfig.exists()
    assert "labkit-kubeapi" not in {t.name for t in threading.enumerate()}
    with socket.socket() as probe:
        assert probe.connect_ex((host, int(port))) != 0
    assert json.dumps(config)  # the config was a plain document
    assert subprocess.run([sys.executable, "-m", "labkit.cli", "kubeconfig", "--state-dir", str(lab.state_dir)],
                          capture_output=True, text=True).returncode == 2
