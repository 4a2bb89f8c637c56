"""Real X.509 certificates for the labs: CAs, gateway server and client certs, SPIFFE workload certs.

Everything here produces what the Istio docs' `openssl` commands and istiod produce, so the files
work unchanged with `openssl verify`, curl and Envoy (BoringSSL), and certificates the learner made
with `openssl` by hand load back in with `load_pem_files`.

A `CertBundle` holds PEM bytes only. Its `cert_pem` is the certificate followed by any intermediates
up to (not including) the root, which is what a TLS server must send; `ca_pem` is the root that
peers need to trust it.
"""
from __future__ import annotations

import base64
import contextlib
import ipaddress
import os
import re
import tempfile
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable, Union

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, SignatureAlgorithmOID

from .errors import LabkitError

try:  # not on Windows, where labkit does not run the local mesh anyway
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "CertBundle", "MeshCA", "make_ca", "make_intermediate_ca", "make_server_cert", "make_client_cert",
    "make_workload_cert", "make_expired_client_cert", "write_pem", "load_pem_files", "tls_secret",
    "cacert_secret", "inspect", "verify_chain",
]

PemLike = Union[bytes, str]

# The Istio docs sign with `openssl x509 -req ... -set_serial 0`, and cryptography warns about a zero
# serial on every load and access. The learner only followed the docs, so the notebook stays quiet.
# A narrow process-wide filter, because warnings.catch_warnings() is not thread-safe and the local
# mesh handles certificates from several threads.
warnings.filterwarnings("ignore", message="Parsed a serial number which wasn't positive",
                        category=CryptographyDeprecationWarning)

# Certificates start a little in the past so that a peer whose clock lags ours (another container,
# a VM that just resumed) does not reject a certificate issued a moment ago as "not yet valid".
# istiod backdates workload certificates for the same reason.
CLOCK_SKEW = timedelta(minutes=5)

MESH_ROOT_CN = "Root CA"
DEFAULT_TRUST_DOMAIN = "cluster.local"

_SPIFFE_RE = re.compile(r"^spiffe://([a-z0-9._-]+)(/[A-Za-z0-9._~%!$&'()*+,;=:@/-]+)$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_CURVES = {"p-256": ec.SECP256R1, "p-384": ec.SECP384R1, "p-521": ec.SECP521R1}
_CURVE_ALIASES = {"prime256v1": "p-256", "secp256r1": "p-256", "secp384r1": "p-384", "secp521r1": "p-521",
                  "p256": "p-256", "p384": "p-384", "p521": "p-521"}
_EKU_NAMES = {ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth", ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
              ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
              ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
              ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning"}
# openssl's names, so inspect() reads like `openssl x509 -text`.
_SIG_NAMES = {SignatureAlgorithmOID.RSA_WITH_SHA1: "sha1WithRSAEncryption",
              SignatureAlgorithmOID.RSA_WITH_SHA256: "sha256WithRSAEncryption",
              SignatureAlgorithmOID.RSA_WITH_SHA384: "sha384WithRSAEncryption",
              SignatureAlgorithmOID.RSA_WITH_SHA512: "sha512WithRSAEncryption",
              SignatureAlgorithmOID.RSASSA_PSS: "rsassaPss",
              SignatureAlgorithmOID.ECDSA_WITH_SHA256: "ecdsa-with-SHA256",
              SignatureAlgorithmOID.ECDSA_WITH_SHA384: "ecdsa-with-SHA384",
              SignatureAlgorithmOID.ECDSA_WITH_SHA512: "ecdsa-with-SHA512",
              SignatureAlgorithmOID.ED25519: "ED25519"}
# The short names `openssl x509 -subject` prints for the usual attributes.
_ATTR_NAMES = {NameOID.COMMON_NAME: "CN", NameOID.ORGANIZATION_NAME: "O",
               NameOID.ORGANIZATIONAL_UNIT_NAME: "OU", NameOID.COUNTRY_NAME: "C",
               NameOID.STATE_OR_PROVINCE_NAME: "ST", NameOID.LOCALITY_NAME: "L",
               NameOID.EMAIL_ADDRESS: "emailAddress", NameOID.SERIAL_NUMBER: "serialNumber",
               NameOID.DOMAIN_COMPONENT: "DC"}

_ENCRYPTED_KEY_HINT = ("labkit, like Envoy, needs an unencrypted key: create it with `-nodes` (or `-noenc`), "
                       "or decrypt it with `openssl pkey -in KEY -out KEY.plain`")


# --------------------------------------------------------------------------------------------
# The bundle


@dataclass(frozen=True)
class CertBundle:
    """PEM bytes of a certificate (plus intermediates), its private key and the root that trusts it.

    `key_pem` is b"" for a bundle loaded without a key. It never appears in repr/str, so a bundle
    (including a CA's) can be printed in a notebook or logged safely.
    """
    cert_pem: bytes
    key_pem: bytes = field(default=b"", repr=False)
    ca_pem: bytes | None = None

    def __post_init__(self) -> None:
        # Accept str for convenience in notebooks, but store bytes so equality and hashing are stable.
        for name in ("cert_pem", "key_pem", "ca_pem"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, value.encode())

    @property
    def cert(self) -> x509.Certificate:
        """The first (leaf) certificate."""
        return _load_certs(self.cert_pem, what="cert_pem")[0]

    @property
    def chain(self) -> list[x509.Certificate]:
        return _load_certs(self.cert_pem, what="cert_pem")

    @property
    def has_key(self) -> bool:
        return bool(self.key_pem)

    def info(self) -> dict:
        """`inspect()` of the leaf certificate."""
        return inspect(self.cert_pem)[0]

    def __repr__(self) -> str:
        try:
            cert = self.cert
            subject = _name_str(cert.subject) or "(empty)"
            sans = _san_strings(cert)
            detail = f"subject={subject!r}"
            if sans:
                detail += f", sans={sans!r}"
            detail += f", issuer={_name_str(cert.issuer)!r}, not_after={_fmt_time(cert.not_valid_after_utc)!r}"
        except LabkitError:
            detail = f"cert_pem=<{len(self.cert_pem)} bytes, unparseable>"
        key = "<hidden>" if self.key_pem else "<none>"
        ca = "yes" if self.ca_pem else "no"
        return f"CertBundle({detail}, key={key}, ca_pem={ca})"

    __str__ = __repr__


# --------------------------------------------------------------------------------------------
# Making certificates


def make_ca(cn: str, org: str | None = None, days: int = 365, key_type: str = "rsa") -> CertBundle:
    """A self-signed root CA, like `openssl req -x509 -newkey rsa:2048 -subj '/O=ORG/CN=CN'`.

    key_type: "rsa" (2048 bits), "rsa:4096", "ec" (P-256) or "ec:P-384".
    """
    key = _new_key(key_type)
    subject = _name(cn, org)
    now = _now()
    return _issue(None, subject=subject, public_key=key.public_key(), key=key,
                  not_before=now - CLOCK_SKEW, not_after=now + timedelta(days=days), ca=True)


def make_intermediate_ca(parent: CertBundle | "MeshCA", cn: str, org: str | None = None, days: int = 365,
                         key_type: str = "rsa") -> CertBundle:
    """An intermediate CA signed by `parent` (Istio's "plug in CA certificates" setup).

    `cert_pem` is the intermediate followed by the parent's intermediates, `ca_pem` the root.
    """
    issuer = _Issuer.of(parent)
    key = _new_key(key_type)
    now = _now()
    return _issue(issuer, subject=_name(cn, org), public_key=key.public_key(), key=key,
                  not_before=now - CLOCK_SKEW, not_after=now + timedelta(days=days), ca=True, path_length=0)


def make_server_cert(ca: CertBundle | "MeshCA", cn: str, sans: Iterable[str] | None = None, days: int = 365,
                     *, org: str | None = None, key_type: str = "rsa",
                     not_before: datetime | None = None) -> CertBundle:
    """A TLS server certificate (serverAuth) for `cn`, signed by `ca`.

    sans: host names ("httpbin.example.com", "*.example.com") and IP addresses, or prefixed entries
    ("DNS:...", "IP:...", "URI:..."). None means just `cn`. An empty list means no SAN at all, like
    the Istio docs' openssl commands: curl then falls back to the CN, but Envoy and browsers do not.
    """
    return _leaf(ca, cn, org, [cn] if sans is None else list(sans), days, key_type, not_before,
                 [ExtendedKeyUsageOID.SERVER_AUTH])


def make_client_cert(ca: CertBundle | "MeshCA", cn: str, days: int = 365, *, sans: Iterable[str] | None = None,
                     org: str | None = None, key_type: str = "rsa",
                     not_before: datetime | None = None) -> CertBundle:
    """A TLS client certificate (clientAuth) for `cn`, signed by `ca`, for mutual TLS at a gateway.

    sans defaults to `cn` as a DNS name so that Envoy's subject-alt-name matching has something to
    match; pass [] for a CN-only certificate like the Istio docs make.
    """
    return _leaf(ca, cn, org, [cn] if sans is None else list(sans), days, key_type, not_before,
                 [ExtendedKeyUsageOID.CLIENT_AUTH])


def make_expired_client_cert(ca: CertBundle | "MeshCA", cn: str, *, key_type: str = "rsa") -> CertBundle:
    """A client certificate whose validity ended yesterday, for negative tests."""
    now = _now()
    return _leaf(ca, cn, None, [cn], 1, key_type, now - timedelta(days=2), [ExtendedKeyUsageOID.CLIENT_AUTH],
                 backdate=False)


def make_workload_cert(ca: CertBundle | "MeshCA", spiffe_id: str, hours: float = 24) -> CertBundle:
    """A mesh workload certificate shaped like istiod's.

    The identity is only the URI SAN (what Envoy's `match_subject_alt_names` and Istio's
    AuthorizationPolicy `principals` see); the subject is empty, so the SAN is marked critical as
    RFC 5280 requires. Both EKUs, because a sidecar is server and client in the same handshakes.
    ECDSA P-256, because a mesh issues many of these and EC keys are generated in microseconds.
    """
    issuer = _Issuer.of(ca)
    return issuer.issue_workload(spiffe_id, hours)


def _leaf(ca, cn: str, org: str | None, sans: list[str], days: float, key_type: str,
          not_before: datetime | None, ekus: list, backdate: bool = True) -> CertBundle:
    if not cn:
        raise LabkitError("a certificate needs a common name (cn)")
    issuer = _Issuer.of(ca)
    key = _new_key(key_type)
    issued = _aware(not_before) if not_before is not None else _now()
    # An explicit not_before is taken literally: the caller wants exactly that window.
    start = issued - CLOCK_SKEW if backdate and not_before is None else issued
    return _issue(issuer, subject=_name(cn, org), public_key=key.public_key(), key=key, not_before=start,
                  not_after=issued + timedelta(days=days), sans=_parse_sans(sans), ekus=ekus)


class _Issuer:
    """A CA's parsed certificate and key, ready to sign; parsed once per call (or once per MeshCA)."""

    __slots__ = ("cert", "key", "chain_pem", "root_pem", "aki")

    def __init__(self, cert: x509.Certificate, key, chain_pem: bytes, root_pem: bytes):
        self.cert, self.key, self.chain_pem, self.root_pem = cert, key, chain_pem, root_pem
        try:
            ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            self.aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
        except x509.ExtensionNotFound:  # a v1 CA made with plain openssl has no SKI
            self.aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(cert.public_key())

    def __repr__(self) -> str:
        return f"<issuer {_name_str(self.cert.subject)}>"

    @classmethod
    def of(cls, ca) -> "_Issuer":
        if isinstance(ca, MeshCA):
            return ca._issuer
        if not isinstance(ca, CertBundle):
            raise LabkitError(f"expected a CA CertBundle (from certs.make_ca) or a MeshCA, got {type(ca).__name__}")
        certs = _load_certs(ca.cert_pem, what="the CA's cert_pem")
        cert = certs[0]
        if not _is_ca(cert):
            raise LabkitError(f"{_name_str(cert.subject) or 'the certificate'} is not a CA certificate "
                              "(basicConstraints CA:TRUE is missing), so it cannot sign other certificates",
                              hint="pass the bundle returned by certs.make_ca(...)")
        if not ca.key_pem:
            raise LabkitError("the CA bundle has no private key, so it cannot sign",
                              hint="load it with certs.load_pem_files(cert_path, key_path)")
        # Validating an RSA key costs ~25 ms per parse; this key signs only, and the match check
        # below plus verification of what it signs catch a corrupt key anyway.
        key = _load_key(ca.key_pem, skip_rsa_check=True)
        _check_key_matches(cert, key)
        root = ca.ca_pem if ca.ca_pem else _pem(cert)
        # Intermediates travel with the leaf; a root never does (the peer has it already).
        chain = ca.cert_pem if ca.ca_pem else b""
        return cls(cert, key, chain, root)

    def issue_workload(self, spiffe_id: str, hours: float) -> CertBundle:
        _check_spiffe_id(spiffe_id)
        if hours <= 0:
            raise LabkitError(f"hours must be positive, got {hours}")
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        return _issue(self, subject=x509.Name([]), public_key=key.public_key(), key=key,
                      not_before=now - CLOCK_SKEW, not_after=now + timedelta(hours=hours),
                      sans=[x509.UniformResourceIdentifier(spiffe_id)],
                      ekus=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])


def _issue(issuer: _Issuer | None, *, subject: x509.Name, public_key, key, not_before: datetime,
           not_after: datetime, ca: bool = False, path_length: int | None = None,
           sans: list[x509.GeneralName] | None = None, ekus: list | None = None) -> CertBundle:
    """Build, sign and PEM-encode one certificate for `key`. issuer None means self-signed."""
    if issuer is not None:
        # A certificate outliving its issuer would be rejected by every verifier once the issuer
        # expires; clamp so `days_left` tells the truth.
        not_after = min(not_after, issuer.cert.not_valid_after_utc)
    if not_after <= not_before:
        raise LabkitError(f"the validity window is empty (not_before {_fmt_time(not_before)}, "
                          f"not_after {_fmt_time(not_after)})")
    ski = x509.SubjectKeyIdentifier.from_public_key(public_key)
    builder = (x509.CertificateBuilder()
               .subject_name(subject)
               .issuer_name(subject if issuer is None else issuer.cert.subject)
               .public_key(public_key)
               .serial_number(x509.random_serial_number())
               .not_valid_before(not_before)
               .not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), critical=True)
               .add_extension(ski, critical=False)
               .add_extension(
                   x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski) if issuer is None
                   else issuer.aki, critical=False))
    is_rsa = isinstance(public_key, rsa.RSAPublicKey)
    builder = builder.add_extension(x509.KeyUsage(
        digital_signature=not ca,
        # RSA key transport (TLS 1.2 RSA key exchange) needs keyEncipherment; for EC keys it means nothing.
        key_encipherment=is_rsa and not ca,
        content_commitment=False, data_encipherment=False, key_agreement=False,
        key_cert_sign=ca, crl_sign=ca, encipher_only=False, decipher_only=False), critical=True)
    if ekus:
        builder = builder.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
    if sans:
        # RFC 5280: with an empty subject the SAN carries the whole identity and must be critical.
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=len(subject) == 0)
    signer = key if issuer is None else issuer.key
    # Ed25519/Ed448 CAs (a learner's `openssl genpkey -algorithm ed25519`) hash internally.
    cert = builder.sign(signer, None if isinstance(signer, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey))
                        else hashes.SHA256())
    cert_pem = _pem(cert) + (issuer.chain_pem if issuer is not None else b"")
    return CertBundle(cert_pem=cert_pem, key_pem=_key_pem(key), ca_pem=None if issuer is None else issuer.root_pem)


# --------------------------------------------------------------------------------------------
# The local mesh's root CA


class MeshCA:
    """The local mesh's self-signed root, standing in for istiod's "istio-ca".

    The root key lives only in this object and in `root-key.pem` (mode 0600, directory 0700); it is
    never part of repr/str. `issue()` signs ECDSA P-256 workload certificates in well under a
    millisecond of crypto, so sidecars can get fresh certificates on every start.
    """

    ROOT_CERT = "root-cert.pem"
    ROOT_KEY = "root-key.pem"

    def __init__(self, cert_pem: bytes, key_pem: bytes, directory: Path | None = None):
        cert = _load_certs(cert_pem, what="the mesh root certificate")[0]
        key = _load_key(key_pem, skip_rsa_check=True)
        _check_key_matches(cert, key)
        if not _is_ca(cert):
            raise LabkitError("the mesh root certificate is not a CA (basicConstraints CA:TRUE missing)")
        self._root_pem = _pem(cert)
        self._issuer = _Issuer(cert, key, b"", self._root_pem)
        self.directory = Path(directory) if directory is not None else None
        org = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        self.trust_domain = str(org[0].value) if org else DEFAULT_TRUST_DOMAIN

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
                if _is_expired(ca._issuer.cert):
                    raise LabkitError(f"the mesh root CA in {directory} expired on "
                                      f"{_fmt_time(ca._issuer.cert.not_valid_after_utc)}",
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
            _atomic_write(key_path, _key_pem(ca._issuer.key), 0o600, durable=True)
            _atomic_write(cert_path, ca.root_pem, 0o644, durable=True)
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
        return (f"MeshCA(subject={_name_str(cert.subject)!r}, trust_domain={self.trust_domain!r}, "
                f"not_after={_fmt_time(cert.not_valid_after_utc)!r}{where})")

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


# --------------------------------------------------------------------------------------------
# Files and Kubernetes Secrets


def write_pem(bundle: CertBundle, directory: Path | str, stem: str) -> dict[str, Path]:
    """Write <stem>.crt, <stem>.key (mode 0600) and, when the bundle has a root, <stem>-ca.crt.

    Returns {"cert": path, "key": path, "ca": path} for the files written. Each file is replaced
    atomically, so an Envoy watching the directory never reads half a certificate.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {"cert": directory / f"{stem}.crt"}
    _atomic_write(paths["cert"], bundle.cert_pem, 0o644)
    if bundle.key_pem:
        paths["key"] = directory / f"{stem}.key"
        _atomic_write(paths["key"], bundle.key_pem, 0o600)
    if bundle.ca_pem:
        paths["ca"] = directory / f"{stem}-ca.crt"
        _atomic_write(paths["ca"], bundle.ca_pem, 0o644)
    return paths


def _atomic_write(path: Path, data: bytes, mode: int, *, durable: bool = False) -> None:
    # mkstemp creates the file 0600, so a key is never readable by others, not even for a moment.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:  # only the root must survive a crash; workload certs are reissued on start
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def load_pem_files(cert_path: Path | str, key_path: Path | str | None = None,
                   ca_path: Path | str | None = None) -> CertBundle:
    """A bundle from files the learner made with openssl (PEM or DER).

    The key must be unencrypted and must belong to the certificate; both are checked here so the
    mistake shows up now rather than as an Envoy listener that never comes up.
    """
    cert_path = Path(cert_path)
    certs = _load_certs(_read(cert_path), what=str(cert_path))
    cert_pem = b"".join(_pem(c) for c in certs)
    key_pem = b""
    if key_path is not None:
        key_path = Path(key_path)
        key = _load_key(_read(key_path), what=str(key_path))
        _check_key_matches(certs[0], key, cert_what=str(cert_path), key_what=str(key_path))
        key_pem = _key_pem(key)
    ca_pem = None
    if ca_path is not None:
        ca_path = Path(ca_path)
        ca_pem = b"".join(_pem(c) for c in _load_certs(_read(ca_path), what=str(ca_path)))
    return CertBundle(cert_pem=cert_pem, key_pem=key_pem, ca_pem=ca_pem)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise LabkitError(f"{path} does not exist") from None
    except IsADirectoryError:
        raise LabkitError(f"{path} is a directory, not a PEM file") from None


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
    _load_certs(bundle.cert_pem, what="the bundle's cert_pem")  # refuse to ship what Istio cannot parse
    data = {"tls.crt": _b64(bundle.cert_pem), "tls.key": _b64(bundle.key_pem)}
    if ca_pem:
        _load_certs(_as_bytes(ca_pem), what="ca_pem")
        data["ca.crt"] = _b64(_as_bytes(ca_pem))
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
    _load_certs(_as_bytes(ca_pem), what="ca_pem")  # refuse to ship something Istio cannot parse
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": secret_name, "namespace": namespace},
        "type": "Opaque",
        "data": {"cacert": _b64(_as_bytes(ca_pem))},
    }


def _check_secret_name(name: str, namespace: str) -> None:
    if len(name) > 253 or not _DNS1123_SUBDOMAIN.match(name):
        raise LabkitError("a Secret name must be lowercase letters, digits, '-' and '.', starting and ending "
                          "with a letter or digit", kind="Secret", name=name, namespace=namespace,
                          field="metadata.name")
    if not namespace or len(namespace) > 63 or "." in namespace or not _DNS1123_SUBDOMAIN.match(namespace):
        raise LabkitError("a namespace must be lowercase letters, digits and '-'", kind="Secret", name=name,
                          namespace=namespace, field="metadata.namespace")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# --------------------------------------------------------------------------------------------
# Looking at certificates


def inspect(pem: PemLike | os.PathLike, *, now: datetime | None = None) -> list[dict]:
    """Every certificate in a PEM chain, leaf first, as plain dicts (what `openssl x509 -text`
    would tell you, in the same notation: serial and SHA-256 fingerprint match openssl's output).

    Accepts PEM bytes/str, or a path (a Path, or a str that names an existing file).
    """
    now = _aware(now) if now is not None else _now()
    out = []
    for cert in _load_certs(_source_bytes(pem), what="the PEM text"):
        not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
        sans = _san_strings(cert)
        spiffe = next((s[4:] for s in sans if s.startswith("URI:spiffe://")), None)
        try:
            eku = [_EKU_NAMES.get(o, o.dotted_string)
                   for o in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value]
        except x509.ExtensionNotFound:
            eku = []
        out.append({
            "subject": _name_str(cert.subject),
            "issuer": _name_str(cert.issuer),
            "serial": _serial_hex(cert.serial_number),
            "not_before": not_before,
            "not_after": not_after,
            "sans": sans,
            "spiffe_id": spiffe,
            "is_ca": _is_ca(cert),
            "key_type": _key_type(cert.public_key()),
            "eku": eku,
            "self_signed": cert.issuer == cert.subject and _signed_by(cert, cert),
            "signature_algorithm": _sig_alg(cert),
            "fingerprint_sha256": cert.fingerprint(hashes.SHA256()).hex(":").upper(),
            "expired": now > not_after,
            "not_yet_valid": now < not_before,
            "days_left": (not_after - now).total_seconds() / 86400,
        })
    return out


def verify_chain(leaf_pem: PemLike, ca_pem: PemLike, *, hostname: str | None = None,
                 at: datetime | None = None) -> tuple[bool, str]:
    """Whether `leaf_pem` (optionally followed by intermediates) chains up to a certificate in
    `ca_pem` and every certificate on the way is within its validity window.

    Returns (True, "") or (False, reason) with the reason in words, e.g.
    "signed by a different CA (issuer CN=example.com), not by CN=other.com". With `hostname`, also
    checks the leaf's DNS/IP SANs the way Envoy does (no fallback to the CN).
    """
    when = _aware(at) if at is not None else _now()
    given = _load_certs(_as_bytes(leaf_pem), what="leaf_pem")
    anchors = _load_certs(_as_bytes(ca_pem), what="ca_pem")
    leaf, pool = given[0], given[1:]

    path = [leaf]
    anchor = None
    while anchor is None:
        current = path[-1]
        anchor = next((a for a in anchors if _signed_by(current, a)), None)
        if anchor is not None:
            break
        step = next((c for c in pool if c not in path and _signed_by(current, c)), None)
        if step is None or len(path) > 8:
            return False, _unsigned_reason(current, leaf, anchors)
        path.append(step)

    for cert in path[1:]:
        if not _is_ca(cert):
            return False, (f"the intermediate {_name_str(cert.subject)} is not a CA (basicConstraints CA:TRUE "
                           "missing), so it cannot sign certificates")
    if anchor != leaf and _has_ca_false(anchor):
        return False, (f"the CA file's certificate {_name_str(anchor.subject)} is not a CA (basicConstraints "
                       "CA:FALSE); pass the CA's certificate, not a leaf")

    for cert in path + ([anchor] if anchor not in path else []):
        whose = "" if cert is leaf else f"the {'CA' if cert is anchor else 'intermediate'} certificate " \
                                       f"{_name_str(cert.subject)} "
        if when > cert.not_valid_after_utc:
            return False, f"{whose}expired on {_fmt_time(cert.not_valid_after_utc)}".strip()
        if when < cert.not_valid_before_utc:
            what = f"{whose}not yet valid" if whose else "not yet valid"
            return False, f"{what} (valid from {_fmt_time(cert.not_valid_before_utc)})"

    if hostname is not None:
        reason = _hostname_mismatch(leaf, hostname)
        if reason:
            return False, reason
    return True, ""


def _unsigned_reason(cert: x509.Certificate, leaf: x509.Certificate, anchors: list[x509.Certificate]) -> str:
    whose = "" if cert is leaf else f"the intermediate {_name_str(cert.subject)} is "
    issuer = _name_str(cert.issuer) or "(empty)"
    if cert.issuer == cert.subject and _signed_by(cert, cert):
        return f"{whose}self-signed ({issuer}) and not in the CA file"
    same_name = [a for a in anchors if a.subject == cert.issuer]
    if same_name:
        # The classic lab mistake: the CA was regenerated after the certificate was issued.
        return (f"{whose}signed by a different CA (issuer {issuer}): the CA file has a certificate with that "
                "name but a different key, so the CA was probably regenerated after this certificate was made")
    held = "; ".join(_name_str(a.subject) or "(empty subject)" for a in anchors)
    return f"{whose}signed by a different CA (issuer {issuer}), not by {held}"


def _hostname_mismatch(cert: x509.Certificate, hostname: str) -> str:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = None
    try:
        ip = ipaddress.ip_address(hostname)
    except ValueError:
        ip = None
    if san is not None:
        if ip is not None and ip in san.get_values_for_type(x509.IPAddress):
            return ""
        if ip is None and any(_dns_match(p, hostname) for p in san.get_values_for_type(x509.DNSName)):
            return ""
    names = _san_strings(cert)
    cn = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if not names and cn and _dns_match(cn[0], hostname):
        return (f"not valid for {hostname}: it has no subject alternative names, only CN={cn[0]} "
                "(curl accepts that, Envoy and browsers do not)")
    return f"not valid for {hostname} (SANs: {', '.join(names) if names else 'none'})"


def _dns_match(pattern: str, host: str) -> bool:
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern.startswith("*."):
        # A wildcard stands for exactly one label, as in RFC 6125 and every TLS stack labkit meets.
        head, _, rest = host.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == host


# --------------------------------------------------------------------------------------------
# Helpers


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def _fmt_time(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _as_bytes(pem: PemLike) -> bytes:
    if isinstance(pem, CertBundle):
        return pem.cert_pem
    return pem.encode() if isinstance(pem, str) else bytes(pem)


def _source_bytes(pem) -> bytes:
    if isinstance(pem, os.PathLike):
        return _read(Path(pem))
    if isinstance(pem, str) and "-----BEGIN" not in pem and "\n" not in pem and os.path.isfile(pem):
        return _read(Path(pem))
    return _as_bytes(pem)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key) -> bytes:
    # PKCS#8 ("BEGIN PRIVATE KEY") is what openssl 3 writes and what Envoy, curl and Python all read.
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _load_certs(data: bytes, *, what: str) -> list[x509.Certificate]:
    if b"-----BEGIN" in data:
        if b"PRIVATE KEY-----" in data and b"BEGIN CERTIFICATE" not in data:
            raise LabkitError(f"{what} holds a private key, not a certificate",
                              hint="the .crt file is the certificate, the .key file the key")
        try:
            return x509.load_pem_x509_certificates(data)
        except ValueError as e:
            raise LabkitError(f"{what} holds no readable PEM certificate ({e})") from None
    try:
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise LabkitError(f"{what} is neither a PEM nor a DER certificate",
                          hint="a PEM certificate starts with -----BEGIN CERTIFICATE-----") from None


def _load_key(data: bytes, *, what: str = "the private key", skip_rsa_check: bool = False):
    loader = serialization.load_pem_private_key if b"-----BEGIN" in data else serialization.load_der_private_key
    try:
        return loader(data, password=None, unsafe_skip_rsa_key_validation=skip_rsa_check)
    except TypeError:  # "Password was not given but private key is encrypted"
        raise LabkitError(f"{what} is encrypted with a passphrase", hint=_ENCRYPTED_KEY_HINT) from None
    except ValueError as e:
        if b"BEGIN CERTIFICATE" in data:
            raise LabkitError(f"{what} is a certificate, not a private key",
                              hint="the .key file is the key, the .crt file the certificate") from None
        if b"ENCRYPTED" in data:
            raise LabkitError(f"{what} is encrypted with a passphrase", hint=_ENCRYPTED_KEY_HINT) from None
        raise LabkitError(f"{what} is not a readable private key ({e})") from None
    except Exception as e:  # unsupported algorithms surface as UnsupportedAlgorithm
        raise LabkitError(f"{what} is not a usable private key ({e})") from None


def _check_key_matches(cert: x509.Certificate, key, *, cert_what: str = "the certificate",
                       key_what: str = "the private key") -> None:
    if cert.public_key() != key.public_key():
        raise LabkitError(f"{key_what} does not belong to {cert_what}",
                          hint="compare `openssl x509 -noout -pubkey -in CERT` with `openssl pkey -pubout -in KEY`")


def _new_key(key_type: str):
    spec = key_type.strip().lower().replace("ecdsa", "ec")
    algo, _, param = spec.partition(":")
    if algo == "rsa":
        bits = int(param) if param.isdigit() else (2048 if not param else 0)
        # Below 2048 bits OpenSSL 3 at the usual security level, and Envoy, refuse the key.
        if not 2048 <= bits <= 8192:
            raise LabkitError(f"unsupported key_type {key_type!r}: RSA needs 2048 to 8192 bits, e.g. 'rsa:2048'")
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if algo == "ec":
        curve = _CURVE_ALIASES.get(param, param) or "p-256"
        if curve not in _CURVES:
            raise LabkitError(f"unsupported key_type {key_type!r}: use 'ec' (P-256), 'ec:P-384' or 'ec:P-521'")
        return ec.generate_private_key(_CURVES[curve]())
    raise LabkitError(f"unsupported key_type {key_type!r}: use 'rsa', 'rsa:4096', 'ec' or 'ec:P-384'")


def _name(cn: str, org: str | None) -> x509.Name:
    # O before CN, the order of `-subj '/O=example Inc./CN=example.com'` in the Istio docs.
    attrs = []
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _name_str(name: x509.Name) -> str:
    # Certificate order (like `openssl x509 -subject`), not RFC 4514's reversed order, so what the
    # learner sees matches the -subj they typed.
    return ", ".join("+".join(f"{_ATTR_NAMES.get(a.oid) or a.rfc4514_attribute_name}={a.value}" for a in rdn)
                     for rdn in name.rdns)


def _serial_hex(serial: int) -> str:
    # openssl prints serials upper case in whole bytes: `-set_serial 0` shows as "00".
    text = f"{serial:X}"
    return text.zfill(len(text) + len(text) % 2)


def _san_strings(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    out = []
    for gn in san:
        if isinstance(gn, x509.DNSName):
            out.append(f"DNS:{gn.value}")
        elif isinstance(gn, x509.UniformResourceIdentifier):
            out.append(f"URI:{gn.value}")
        elif isinstance(gn, x509.IPAddress):
            out.append(f"IP:{gn.value}")
        elif isinstance(gn, x509.RFC822Name):
            out.append(f"email:{gn.value}")
        else:
            out.append(f"{type(gn).__name__}:{gn.value}")
    return out


def _parse_sans(entries: list[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for raw in entries:
        entry = raw.strip()
        prefix, sep, rest = entry.partition(":")
        kind = prefix.upper() if sep else ""
        if kind == "DNS":
            out.append(x509.DNSName(rest))
        elif kind in ("IP", "IP ADDRESS"):
            out.append(x509.IPAddress(ipaddress.ip_address(rest)))
        elif kind == "URI":
            out.append(x509.UniformResourceIdentifier(rest))
        elif kind == "EMAIL":
            out.append(x509.RFC822Name(rest))
        elif entry.startswith("spiffe://"):
            out.append(x509.UniformResourceIdentifier(entry))
        else:
            try:
                out.append(x509.IPAddress(ipaddress.ip_address(entry)))
            except ValueError:
                if not entry or " " in entry:
                    raise LabkitError(f"{raw!r} is not a host name, IP address or DNS:/IP:/URI: entry",
                                      field="sans") from None
                out.append(x509.DNSName(entry))
    return out


def _check_spiffe_id(spiffe_id: str) -> None:
    if not isinstance(spiffe_id, str) or not _SPIFFE_RE.match(spiffe_id):
        raise LabkitError(f"{spiffe_id!r} is not a SPIFFE ID",
                          hint="Istio's form is spiffe://cluster.local/ns/<namespace>/sa/<service account>")


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _has_ca_false(cert: x509.Certificate) -> bool:
    try:
        return not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False  # a v1 root without extensions is still a trust anchor for OpenSSL


def _is_expired(cert: x509.Certificate) -> bool:
    return _now() > cert.not_valid_after_utc


def _signed_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(parent)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def _key_type(public_key) -> str:
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"RSA {public_key.key_size}"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        names = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
        return f"EC {names.get(public_key.curve.name, public_key.curve.name)}"
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(public_key, ed448.Ed448PublicKey):
        return "Ed448"
    return type(public_key).__name__


def _sig_alg(cert: x509.Certificate) -> str:
    oid = cert.signature_algorithm_oid
    return _SIG_NAMES.get(oid, oid.dotted_string)
