"""The local mesh's root CA (istiod's istio-ca), kept on disk so a restarted process reuses it."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from ..errors import LabkitError

try:  # not on Windows, where labkit does not run the local mesh anyway
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

from .bundle import CertBundle
from .common import (DEFAULT_TRUST_DOMAIN, MESH_ROOT_CN, atomic_write, check_key_matches, fmt_time,
                      cert_is_ca, is_expired, encode_key, load_certs, load_key, name_str, encode_cert)
from .issue import Issuer, IssuingCA, make_ca


class MeshCA(IssuingCA):
    """The local mesh's self-signed root, standing in for istiod's "istio-ca".

    The root key lives only in this object and in `root-key.pem` (mode 0600, directory 0700); it is
    never part of repr/str. `issue()` signs ECDSA P-256 workload certificates in well under a
    millisecond of crypto, so sidecars can get fresh certificates on every start.
    """

    ROOT_CERT = "root-cert.pem"
    ROOT_KEY = "root-key.pem"

    def __init__(self, cert_pem: bytes, key_pem: bytes, directory: Path | None = None):
        cert = load_certs(cert_pem, what="the mesh root certificate")[0]
        key = load_key(key_pem, skip_rsa_check=True)
        check_key_matches(cert, key)
        if not cert_is_ca(cert):
            raise LabkitError("the mesh root certificate is not a CA (basicConstraints CA:TRUE missing)")
        self._root_pem = encode_cert(cert)
        self._issuer = Issuer(cert, key, b"", self._root_pem)
        self.directory = Path(directory) if directory is not None else None
        org = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        self.trust_domain = str(org[0].value) if org else DEFAULT_TRUST_DOMAIN

    @property
    def issuer(self) -> Issuer:
        return self._issuer

    @classmethod
    def create(cls, trust_domain: str = DEFAULT_TRUST_DOMAIN, *, days: int = 3650,
               key_type: str = "rsa") -> "MeshCA":
        """A new root held only in memory. Istio's self-signed root is RSA 2048, valid ten years."""
        bundle = make_ca(MESH_ROOT_CN, org=trust_domain, days=days, key_type=key_type)
        return cls(bundle.cert_pem, bundle.key_pem)

    @classmethod
    def load_or_create(cls, directory: Path | str, *, trust_domain: str | None = None,
                       days: int = 3650, key_type: str = "rsa") -> "MeshCA":
        """The root stored in `directory`, creating it on first use so a restarted process trusts
        the certificates the previous one issued.

        trust_domain None means "whatever the stored root has" (cluster.local for a new one).
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        # The directory holds a CA key; nobody else needs to list it.
        os.chmod(directory, 0o700)
        cert_path, key_path = directory / cls.ROOT_CERT, directory / cls.ROOT_KEY
        # Two processes (the mesh and a notebook kernel) may start together; without the lock each
        # would write its own root and trust only half of the mesh.
        with _dir_lock(directory):
            have_cert, have_key = cert_path.exists(), key_path.exists()
            if have_cert and have_key:
                ca = cls(cert_path.read_bytes(), key_path.read_bytes(), directory)
                if is_expired(ca._issuer.cert):
                    raise LabkitError(f"the mesh root CA in {directory} expired on "
                                      f"{fmt_time(ca._issuer.cert.not_valid_after_utc)}",
                                      hint=f"delete {directory} and restart the mesh to make a new root")
                if trust_domain is not None and trust_domain != ca.trust_domain:
                    raise LabkitError(f"the mesh root in {directory} is for trust domain {ca.trust_domain!r}, "
                                      f"not {trust_domain!r}",
                                      hint=f"delete {directory} to make a new root for {trust_domain!r}")
                if key_path.stat().st_mode & 0o077:
                    os.chmod(key_path, 0o600)
                return ca
            if have_cert or have_key:
                present = cert_path if have_cert else key_path
                raise LabkitError(f"{present} exists but its {'key' if have_cert else 'certificate'} does not",
                                  hint=f"restore the missing file, or delete {directory} to make a new root "
                                       "(certificates issued by the old root will stop being trusted)")
            ca = cls.create(trust_domain or DEFAULT_TRUST_DOMAIN, days=days, key_type=key_type)
            # Key first: a crash in between leaves "key without cert", which is reported above,
            # never a certificate whose key is lost.
            atomic_write(key_path, encode_key(ca._issuer.key), 0o600, durable=True)
            atomic_write(cert_path, ca.root_pem, 0o644, durable=True)
            ca.directory = directory
            return ca

    @property
    def root_pem(self) -> bytes:
        return self._root_pem

    @property
    def root_cert(self) -> x509.Certificate:
        return self._issuer.cert

    def spiffe_id(self, namespace: str, service_account: str = "default") -> str:
        """Istio's identity for a service account: spiffe://<trust domain>/ns/<ns>/sa/<sa>."""
        return f"spiffe://{self.trust_domain}/ns/{namespace}/sa/{service_account}"

    def issue(self, spiffe_id: str, hours: float = 24) -> CertBundle:
        """A workload certificate and key for `spiffe_id`; `ca_pem` is the root."""
        return self._issuer.issue_workload(spiffe_id, hours)

    def __repr__(self) -> str:
        cert = self._issuer.cert
        where = f", directory={str(self.directory)!r}" if self.directory else ""
        return (f"MeshCA(subject={name_str(cert.subject)!r}, trust_domain={self.trust_domain!r}, "
                f"not_after={fmt_time(cert.not_valid_after_utc)!r}{where})")

    __str__ = __repr__

    def __reduce__(self):
        # Pickling would copy the key somewhere we do not control (multiprocessing, caches).
        raise TypeError("MeshCA holds a private key and cannot be pickled; pass its directory instead")


@contextlib.contextmanager
def _dir_lock(directory: Path):
    if fcntl is None:  # pragma: no cover
        yield
        return
    fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


