"""PEM files and Kubernetes Secrets: writing, loading what openssl made, and TLS secrets."""
from __future__ import annotations

import base64
from pathlib import Path


from ..errors import LabkitError
from .bundle import CertBundle
from .common import (PemLike, DNS1123_SUBDOMAIN, as_bytes, atomic_write, check_key_matches,
                      encode_key, load_certs, load_key, encode_cert, read_file)


def write_pem(bundle: CertBundle, directory: Path | str, stem: str) -> dict[str, Path]:
    """Write <stem>.crt, <stem>.key (mode 0600) and, when the bundle has a root, <stem>-ca.crt.

    Returns {"cert": path, "key": path, "ca": path} for the files written. Each file is replaced
    atomically, so an Envoy watching the directory never reads half a certificate.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {"cert": directory / f"{stem}.crt"}
    atomic_write(paths["cert"], bundle.cert_pem, 0o644)
    if bundle.key_pem:
        paths["key"] = directory / f"{stem}.key"
        atomic_write(paths["key"], bundle.key_pem, 0o600)
    if bundle.ca_pem:
        paths["ca"] = directory / f"{stem}-ca.crt"
        atomic_write(paths["ca"], bundle.ca_pem, 0o644)
    return paths


def load_pem_files(cert_path: Path | str, key_path: Path | str | None = None,
                   ca_path: Path | str | None = None) -> CertBundle:
    """A bundle from files the learner made with openssl (PEM or DER).

    The key must be unencrypted and must belong to the certificate; both are checked here so the
    mistake shows up now rather than as an Envoy listener that never comes up.
    """
    cert_path = Path(cert_path)
    certs = load_certs(read_file(cert_path), what=str(cert_path))
    cert_pem = b"".join(encode_cert(c) for c in certs)
    key_pem = b""
    if key_path is not None:
        key_path = Path(key_path)
        key = load_key(read_file(key_path), what=str(key_path))
        check_key_matches(certs[0], key, cert_what=str(cert_path), key_what=str(key_path))
        key_pem = encode_key(key)
    ca_pem = None
    if ca_path is not None:
        ca_path = Path(ca_path)
        ca_pem = b"".join(encode_cert(c) for c in load_certs(read_file(ca_path), what=str(ca_path)))
    return CertBundle(cert_pem=cert_pem, key_pem=key_pem, ca_pem=ca_pem)


def tls_secret(name: str, namespace: str, bundle: CertBundle, ca_pem: PemLike | None = None,
               generic: bool = False) -> dict:
    """The Secret a Gateway's `credentialName` points at.

    `kubectl create secret tls NAME --cert --key` gives type kubernetes.io/tls; `generic=True` is
    `kubectl create secret generic NAME --from-file=tls.key=... --from-file=tls.crt=...
    --from-file=ca.crt=...`, which the Istio MUTUAL ingress task uses. ca.crt is included only when
    `ca_pem` is given, because its presence is what lets the gateway verify client certificates.
    """
    _check_secret_name(name, namespace)
    if not bundle.key_pem:
        raise LabkitError("a TLS secret needs the private key, and this bundle has none",
                          kind="Secret", name=name, namespace=namespace,
                          hint="load it with certs.load_pem_files(cert_path, key_path)")
    load_certs(bundle.cert_pem, what="the bundle's cert_pem")  # refuse to ship what Istio cannot parse
    data = {"tls.crt": _b64(bundle.cert_pem), "tls.key": _b64(bundle.key_pem)}
    if ca_pem:
        load_certs(as_bytes(ca_pem), what="ca_pem")
        data["ca.crt"] = _b64(as_bytes(ca_pem))
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "Opaque" if generic else "kubernetes.io/tls",
        "data": data,
    }


def cacert_secret(name: str, namespace: str, ca_pem: PemLike) -> dict:
    """Istio's separate CA secret for MUTUAL TLS: Opaque `<name>-cacert` with key `cacert`.

    `name` is the credentialName; a name already ending in `-cacert` is used as is.
    """
    secret_name = name if name.endswith("-cacert") else f"{name}-cacert"
    _check_secret_name(secret_name, namespace)
    load_certs(as_bytes(ca_pem), what="ca_pem")  # refuse to ship something Istio cannot parse
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": secret_name, "namespace": namespace},
        "type": "Opaque",
        "data": {"cacert": _b64(as_bytes(ca_pem))},
    }


def _check_secret_name(name: str, namespace: str) -> None:
    if len(name) > 253 or not DNS1123_SUBDOMAIN.match(name):
        raise LabkitError("a Secret name must be lowercase letters, digits, '-' and '.', starting and ending "
                          "with a letter or digit", kind="Secret", name=name, namespace=namespace,
                          field="metadata.name")
    if not namespace or len(namespace) > 63 or "." in namespace or not DNS1123_SUBDOMAIN.match(namespace):
        raise LabkitError("a namespace must be lowercase letters, digits and '-'", kind="Secret", name=name,
                          namespace=namespace, field="metadata.namespace")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


