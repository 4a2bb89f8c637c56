"""The API server's certificates (from the lab CA) and the kubeconfig that lets kubectl in.

The kubeconfig lives in the lab's state directory (context and cluster `labkit`, user `labkit-admin`
authenticated by a client certificate in the `system:masters` group, as kubeadm's admin.conf).
The user's own ~/.kube/config is never read or written.
"""
from __future__ import annotations

import base64
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..certs import CertBundle, MeshCA, make_client_cert, make_server_cert, write_pem

CONTEXT = "labkit"
USER = "labkit-admin"
KUBECONFIG_NAME = "kubeconfig"


def kubeconfig_path(state_dir: Path) -> Path:
    return Path(state_dir) / KUBECONFIG_NAME


@dataclass
class Credentials:
    server: CertBundle
    client: CertBundle
    ca_pem: bytes


def issue(ca: MeshCA) -> Credentials:
    server = make_server_cert(ca, "kube-apiserver", sans=["127.0.0.1", "localhost", "kubernetes",
                                                          "kubernetes.default.svc"], key_type="ec")
    client = make_client_cert(ca, USER, org="system:masters", sans=[], key_type="ec")
    return Credentials(server, client, ca.root_pem)


def server_context(credentials: Credentials, directory: Path) -> ssl.SSLContext:
    """TLS for the API: our certificate, and only client certificates the lab CA signed."""
    files = write_pem(credentials.server, directory, "apiserver")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files["cert"], files["key"])
    context.load_verify_locations(cadata=credentials.ca_pem.decode())
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def write_user_kubeconfig(path: Path, state_dir: Path, user: str, group: str | None = None) -> Path:
    """A kubeconfig for another user of a running mesh's API (a workshop learner): a client certificate from
    the lab CA with CN `user` and O `group`, which the API's RBAC (kubeapi/authz.py) then judges.
    As on a cluster (a CSR signed by the cluster CA), nothing but the bindings decides what it may do."""
    admin = yaml.safe_load(kubeconfig_path(state_dir).read_text())
    ca = MeshCA.load_or_create(Path(state_dir) / "ca")
    cert = make_client_cert(ca, user, org=group, sans=[], key_type="ec")
    url = admin["clusters"][0]["cluster"]["server"]
    return write_kubeconfig(Path(path), url, Credentials(cert, cert, ca.root_pem), user=user)


def write_kubeconfig(path: Path, url: str, credentials: Credentials, user: str = USER) -> Path:
    config = {
        "apiVersion": "v1", "kind": "Config", "preferences": {}, "current-context": CONTEXT,
        "clusters": [{"name": CONTEXT, "cluster": {"server": url,
                                                   "certificate-authority-data": _b64(credentials.ca_pem)}}],
        "users": [{"name": user, "user": {"client-certificate-data": _b64(credentials.client.cert_pem),
                                          "client-key-data": _b64(credentials.client.key_pem)}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": user, "namespace": "default"}}],
    }
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds a private key
    with os.fdopen(fd, "w") as handle:
        yaml.safe_dump(config, handle, sort_keys=False)
    os.replace(tmp, path)
    return path
