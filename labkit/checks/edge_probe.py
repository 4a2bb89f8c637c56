"""One request from this machine to the ingress gateway: real curl, and the certificate it is shown.

Every probe is the command a learner types against a cluster's ingress from a laptop,

    curl --resolve HOST:PORT:IP --cacert ca.crt [--cert client.crt --key client.key] https://HOST:PORT/path

so the Host header and the TLS SNI carry the real host name (as `--resolve` does in Istio's secure-ingress
task), and an outcome is a real HTTP status or curl's exit code (their meanings: `curl_outcomes`). The
gateway port comes from `lab.gateway_url(port)`, never from a fixed number.
"""
from __future__ import annotations

import socket
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..contract import Lab
from .. import certs as certs_lib
from ..constants import GATEWAY_DEPLOYMENT, GATEWAY_NAMESPACE
from ..errors import LabkitError
from .curl_outcomes import Outcome
from .traffic import TIMEOUT_S


def gateway_address(lab: Lab, port: int, gateway: str | None = None) -> tuple[str, int]:
    """(IP, local port) where the gateway serves Gateway port `port` (80, 443) on this machine; `gateway`
    ("NS/NAME") names a Gateway API Gateway instead of the Istio API's ingress gateway."""
    parts = urlsplit(lab.gateway_url(port, gateway=gateway) if gateway else lab.gateway_url(port))
    host = parts.hostname or "127.0.0.1"
    try:
        ip = socket.gethostbyname(host)
    except OSError:
        ip = host
    return ip, parts.port or (443 if parts.scheme == "https" else 80)


@dataclass(frozen=True)
class EdgeOutcome(Outcome):
    """A curl from this machine through the gateway; `command` is what to type to repeat it."""
    command: str = ""
    headers: str = ""

    def header(self, name: str) -> str | None:
        for line in self.headers.splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip().lower() == name.lower():
                return value.strip()
        return None


def edge_curl(lab: Lab, host: str, path: str = "/", *, port: int | None = None, cacert=None, cert=None, key=None,
              extra: tuple = (), gateway: str | None = None, timeout: float = TIMEOUT_S) -> EdgeOutcome:
    """`curl --resolve host:PORT:IP [--cacert] [--cert --key] SCHEME://host:PORT/path`, run on this machine."""
    port = port or (443 if cacert or cert else 80)
    # A Gateway API listener's scheme follows its protocol (HTTPS/TLS), whatever its port number.
    tls = urlsplit(lab.gateway_url(port, gateway=gateway)).scheme == "https" if gateway else port in (443, 8443)
    ip, local = gateway_address(lab, port, gateway)
    url = f"{'https' if tls else 'http'}://{host}:{local}{path}"
    options: list[str] = ["--resolve", f"{host}:{local}:{ip}"]
    shown: list[str] = list(options)
    for flag, value in (("--cacert", cacert), ("--cert", cert), ("--key", key)):
        if value:
            options += [flag, str(value)]
            shown += [flag, Path(value).name]
    options += list(extra)
    shown += list(extra)
    command = ["curl", "-sS", "--max-time", f"{timeout:g}", "-D", "/dev/stderr", "-w", "\n%{http_code}"]
    try:
        out = subprocess.run(command + options + [url], capture_output=True, text=True, timeout=timeout + 5,
                             stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise LabkitError("curl: command not found on this machine", hint="install curl (the labs run the real one)")
    body, _, status = out.stdout.rpartition("\n")
    lines = out.stderr.splitlines()
    errors = [line for line in lines if line.startswith("curl: (")]
    headers = "\n".join(line for line in lines if not line.startswith("curl: ("))
    error = errors[-1].removeprefix("curl: ").strip() if errors else ""
    return EdgeOutcome("this machine", url, status.strip() or "000", out.returncode, error, body,
                       command=" ".join(["curl"] + shown + [url]), headers=headers)


def presented_certificate(lab: Lab, host: str, port: int = 443):
    """The certificate the gateway port shows a client that asks for `host` (SNI), trusted or not;
    None when no TLS session starts. What `openssl s_client -servername host` prints."""
    from cryptography import x509
    ip, local = gateway_address(lab, port)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((ip, local), timeout=TIMEOUT_S) as sock:
            with context.wrap_socket(sock, server_hostname=host) as tls:
                der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError):
        return None
    return x509.load_der_x509_certificate(der) if der else None


def certificate_pem(cert) -> str:
    from cryptography.hazmat.primitives import serialization
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def certificate_summary(cert) -> str:
    info = certs_lib.inspect(certificate_pem(cert))[0]
    return f"subject {info['subject']}, issuer {info['issuer']}"


def gateway_log(lab: Lab) -> str:
    try:
        return lab.logs(GATEWAY_NAMESPACE, GATEWAY_DEPLOYMENT)
    except LabkitError:
        return ""
