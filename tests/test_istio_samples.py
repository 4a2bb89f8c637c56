"""Istio's current sample YAML applies verbatim and runs (issue 13): tests/data/istio-samples/README.md."""
from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.envoy

SAMPLES = Path(__file__).parent / "data" / "istio-samples"


def read(name: str) -> str:
    return (SAMPLES / name).read_text()


@pytest.fixture(scope="module")
def mesh(lab):
    lab.apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: samples, labels: {istio-injection: enabled}}\n")
    for name in ("bookinfo-bookinfo.yaml", "bookinfo-bookinfo-versions.yaml", "httpbin-httpbin.yaml",
                 "curl-curl.yaml", "sleep-sleep.yaml", "helloworld-helloworld.yaml", "tcp-echo-tcp-echo.yaml",
                 "bookinfo-destination-rule-all.yaml"):
        lab.apply(read(name), namespace="samples")
    lab.wait_ready("samples", timeout=90)
    return lab


def _code(mesh, client: str, url: str) -> str:
    out = mesh.exec("samples", client, ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url])
    return out.stdout


def test_every_sample_pod_runs_with_its_sidecar(mesh):
    pods = mesh.pods()
    rows = pods[pods.namespace == "samples"]
    names = {p.rsplit("-", 2)[0] for p in rows.pod}
    assert {"productpage-v1", "details-v1", "ratings-v1", "reviews-v1", "reviews-v2", "reviews-v3", "httpbin",
            "curl", "sleep", "helloworld-v1", "helloworld-v2", "tcp-echo"} <= names
    assert set(rows.status) == {"Running"} and rows.sidecar.all()


def test_sample_traffic(mesh):
    assert _code(mesh, "curl", "http://productpage:9080/productpage") == "200"
    assert _code(mesh, "sleep", "http://httpbin:8000/get") == "200"
    hello = mesh.exec("samples", "curl", ["curl", "-s", "http://helloworld:5000/hello"]).stdout
    assert hello.startswith("Hello version: v")


def test_tcp_echo_answers_with_its_prefix(mesh):
    """tcp-echo's args ("9000,9001,9002", "hello") decide its ports and prefix."""
    import socket
    pod_ip = mesh.pods().query("namespace == 'samples' and pod.str.startswith('tcp-echo')",
                               engine="python").iloc[0].ip
    for port in (9000, 9001):
        with socket.create_connection((pod_ip, port), timeout=5) as sock:
            sock.sendall(b"world\n")
            answer = sock.recv(100)
        # Behind a STRICT-less sidecar, plaintext reaches the app through the permissive chain.
        assert answer == b"hello world\n"
