"""Making certificates: CAs, intermediates, server, client and SPIFFE workload certificates."""
from __future__ import annotations

from datetime import datetime, timedelta
import abc
from typing import Any, Iterable, cast

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from ..errors import LabkitError

from .bundle import CertBundle
from .common import (CLOCK_SKEW, aware, check_key_matches, check_spiffe_id, fmt_time, cert_is_ca,
                      encode_key, load_certs, load_key, x509_name, name_str, new_key, utc_now, parse_sans, encode_cert)


def make_ca(cn: str, org: str | None = None, days: int = 365, key_type: str = "rsa") -> CertBundle:
    """A self-signed root CA, like `openssl req -x509 -newkey rsa:2048 -subj '/O=ORG/CN=CN'`.

    key_type: "rsa" (2048 bits), "rsa:4096", "ec" (P-256) or "ec:P-384".
    """
    key = new_key(key_type)
    subject = x509_name(cn, org)
    now = utc_now()
    return _issue(None, subject=subject, public_key=key.public_key(), key=key,
                  not_before=now - CLOCK_SKEW, not_after=now + timedelta(days=days), ca=True)


def make_intermediate_ca(parent: CertBundle | "IssuingCA", cn: str, org: str | None = None, days: int = 365,
                         key_type: str = "rsa") -> CertBundle:
    """An intermediate CA signed by `parent` (Istio's "plug in CA certificates" setup).

    `cert_pem` is the intermediate followed by the parent's intermediates, `ca_pem` the root.
    """
    issuer = Issuer.of(parent)
    key = new_key(key_type)
    now = utc_now()
    return _issue(issuer, subject=x509_name(cn, org), public_key=key.public_key(), key=key,
                  not_before=now - CLOCK_SKEW, not_after=now + timedelta(days=days), ca=True, path_length=0)


def make_server_cert(ca: CertBundle | "IssuingCA", cn: str, sans: Iterable[str] | None = None, days: int = 365,
                     *, org: str | None = None, key_type: str = "rsa",
                     not_before: datetime | None = None) -> CertBundle:
    """A TLS server certificate (serverAuth) for `cn`, signed by `ca`.

    sans: host names ("httpbin.example.com", "*.example.com") and IP addresses, or prefixed entries
    ("DNS:...", "IP:...", "URI:..."). None means just `cn`. An empty list means no SAN at all, like
    the Istio docs' openssl commands: curl then falls back to the CN, but Envoy and browsers do not.
    """
    return _leaf(ca, cn, org, [cn] if sans is None else list(sans), days, key_type, not_before,
                 [ExtendedKeyUsageOID.SERVER_AUTH])


def make_self_signed_cert(cn: str, sans: Iterable[str] | None = None, days: int = 365, *,
                          key_type: str = "rsa") -> CertBundle:
    """A server certificate that signs itself, like `openssl req -x509 -nodes -newkey rsa:2048 -subj /CN=CN
    -addext "subjectAltName = DNS:CN"` (lab 08): a client trusts it by taking the certificate itself as its
    CA (`curl --cacert cert.pem`). sans defaults to `cn`, as for make_server_cert.

    Unlike openssl's default (CA:TRUE and no key usage) it says CA:FALSE with a server's key usage: a client
    trusts a self-signed leaf directly, and no one should sign with it.
    """
    key = new_key(key_type)
    subject = x509_name(cn, None)
    now = utc_now()
    return _issue(None, subject=subject, public_key=key.public_key(), key=key, not_before=now - CLOCK_SKEW,
                  not_after=now + timedelta(days=days), sans=parse_sans([cn] if sans is None else list(sans)),
                  ekus=[ExtendedKeyUsageOID.SERVER_AUTH])


def make_client_cert(ca: CertBundle | "IssuingCA", cn: str, days: int = 365, *, sans: Iterable[str] | None = None,
                     org: str | None = None, key_type: str = "rsa",
                     not_before: datetime | None = None) -> CertBundle:
    """A TLS client certificate (clientAuth) for `cn`, signed by `ca`, for mutual TLS at a gateway.

    sans defaults to `cn` as a DNS name so that Envoy's subject-alt-name matching has something to
    match; pass [] for a CN-only certificate like the Istio docs make.
    """
    return _leaf(ca, cn, org, [cn] if sans is None else list(sans), days, key_type, not_before,
                 [ExtendedKeyUsageOID.CLIENT_AUTH])


def make_expired_client_cert(ca: CertBundle | "IssuingCA", cn: str, *, key_type: str = "rsa") -> CertBundle:
    """A client certificate whose validity ended yesterday, for negative tests."""
    now = utc_now()
    return _leaf(ca, cn, None, [cn], 1, key_type, now - timedelta(days=2), [ExtendedKeyUsageOID.CLIENT_AUTH],
                 backdate=False)


def make_workload_cert(ca: CertBundle | "IssuingCA", spiffe_id: str, hours: float = 24) -> CertBundle:
    """A mesh workload certificate shaped like istiod's.

    The identity is only the URI SAN (what Envoy's `match_subject_alt_names` and Istio's
    AuthorizationPolicy `principals` see); the subject is empty, so the SAN is marked critical as
    RFC 5280 requires. Both EKUs, because a sidecar is server and client in the same handshakes.
    ECDSA P-256, because a mesh issues many of these and EC keys are generated in microseconds.
    """
    issuer = Issuer.of(ca)
    return issuer.issue_workload(spiffe_id, hours)


def _leaf(ca, cn: str, org: str | None, sans: list[str], days: float, key_type: str,
          not_before: datetime | None, ekus: list, backdate: bool = True) -> CertBundle:
    if not cn:
        raise LabkitError("a certificate needs a common name (cn)")
    issuer = Issuer.of(ca)
    key = new_key(key_type)
    issued = aware(not_before) if not_before is not None else utc_now()
    # An explicit not_before is taken literally: the caller wants exactly that window.
    start = issued - CLOCK_SKEW if backdate and not_before is None else issued
    return _issue(issuer, subject=x509_name(cn, org), public_key=key.public_key(), key=key, not_before=start,
                  not_after=issued + timedelta(days=days), sans=parse_sans(sans), ekus=ekus)


class IssuingCA(abc.ABC):
    """A CA that keeps its parsed certificate and key (MeshCA): the make_* functions sign with it directly."""

    @property
    @abc.abstractmethod
    def issuer(self) -> "Issuer":
        """The parsed certificate and key this CA signs with."""


class Issuer:
    """A CA's parsed certificate and key, ready to sign; parsed once per call (or once per MeshCA)."""

    __slots__ = ("cert", "key", "chain_pem", "root_pem", "aki")

    def __init__(self, cert: x509.Certificate, key, chain_pem: bytes, root_pem: bytes):
        self.cert, self.key, self.chain_pem, self.root_pem = cert, key, chain_pem, root_pem
        try:
            ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            self.aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
        except x509.ExtensionNotFound:  # a v1 CA made with plain openssl has no SKI
            public_key = cast(Any, cert.public_key())  # a CA's key signs: RSA, EC or EdDSA, never DSA/X25519
            self.aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key)

    def __repr__(self) -> str:
        return f"<issuer {name_str(self.cert.subject)}>"

    @classmethod
    def of(cls, ca) -> "Issuer":
        if isinstance(ca, IssuingCA):
            return ca.issuer
        if not isinstance(ca, CertBundle):
            raise LabkitError(f"expected a CA CertBundle (from certs.make_ca) or a MeshCA, got {type(ca).__name__}")
        certs = load_certs(ca.cert_pem, what="the CA's cert_pem")
        cert = certs[0]
        if not cert_is_ca(cert):
            raise LabkitError(f"{name_str(cert.subject) or 'the certificate'} is not a CA certificate "
                              "(basicConstraints CA:TRUE is missing), so it cannot sign other certificates",
                              hint="pass the bundle returned by certs.make_ca(...)")
        if not ca.key_pem:
            raise LabkitError("the CA bundle has no private key, so it cannot sign",
                              hint="load it with certs.load_pem_files(cert_path, key_path)")
        # Validating an RSA key costs ~25 ms per parse; this key signs only, and the match check
        # below plus verification of what it signs catch a corrupt key anyway.
        key = load_key(ca.key_pem, skip_rsa_check=True)
        check_key_matches(cert, key)
        root = ca.ca_pem if ca.ca_pem else encode_cert(cert)
        # Intermediates travel with the leaf; a root never does (the peer has it already).
        chain = ca.cert_pem if ca.ca_pem else b""
        return cls(cert, key, chain, root)

    def issue_workload(self, spiffe_id: str, hours: float) -> CertBundle:
        check_spiffe_id(spiffe_id)
        if hours <= 0:
            raise LabkitError(f"hours must be positive, got {hours}")
        key = ec.generate_private_key(ec.SECP256R1())
        now = utc_now()
        return _issue(self, subject=x509.Name([]), public_key=key.public_key(), key=key,
                      not_before=now - CLOCK_SKEW, not_after=now + timedelta(hours=hours),
                      sans=[x509.UniformResourceIdentifier(spiffe_id)],
                      ekus=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])


def _issue(issuer: Issuer | None, *, subject: x509.Name, public_key, key, not_before: datetime,
           not_after: datetime, ca: bool = False, path_length: int | None = None,
           sans: list[x509.GeneralName] | None = None, ekus: list | None = None) -> CertBundle:
    """Build, sign and PEM-encode one certificate for `key`. issuer None means self-signed."""
    if issuer is not None:
        # A certificate outliving its issuer would be rejected by every verifier once the issuer
        # expires; clamp so `days_left` tells the truth.
        not_after = min(not_after, issuer.cert.not_valid_after_utc)
    if not_after <= not_before:
        raise LabkitError(f"the validity window is empty (not_before {fmt_time(not_before)}, "
                          f"not_after {fmt_time(not_after)})")
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
    cert_pem = encode_cert(cert) + (issuer.chain_pem if issuer is not None else b"")
    return CertBundle(cert_pem=cert_pem, key_pem=encode_key(key), ca_pem=None if issuer is None else issuer.root_pem)


