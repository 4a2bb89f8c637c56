"""Shared pieces of labkit.certs: the bundle type, constants and small X.509 helpers."""
from __future__ import annotations

import ipaddress
import os
import re
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Protocol, Union, runtime_checkable

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, SignatureAlgorithmOID

from ..atomic import write_atomic
from ..constants import TRUST_DOMAIN
from ..errors import LabkitError



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
DEFAULT_TRUST_DOMAIN = TRUST_DOMAIN

SPIFFE_RE = re.compile(r"^spiffe://([a-z0-9._-]+)(/[A-Za-z0-9._~%!$&'()*+,;=:@/-]+)$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
CURVES: dict[str, Callable[[], ec.EllipticCurve]] = {"p-256": ec.SECP256R1, "p-384": ec.SECP384R1, "p-521": ec.SECP521R1}
CURVE_ALIASES = {"prime256v1": "p-256", "secp256r1": "p-256", "secp384r1": "p-384", "secp521r1": "p-521",
                  "p256": "p-256", "p384": "p-384", "p521": "p-521"}
EKU_NAMES = {ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth", ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
              ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
              ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
              ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning"}
# openssl's names, so inspect() reads like `openssl x509 -text`.
SIG_NAMES = {SignatureAlgorithmOID.RSA_WITH_SHA1: "sha1WithRSAEncryption",
              SignatureAlgorithmOID.RSA_WITH_SHA256: "sha256WithRSAEncryption",
              SignatureAlgorithmOID.RSA_WITH_SHA384: "sha384WithRSAEncryption",
              SignatureAlgorithmOID.RSA_WITH_SHA512: "sha512WithRSAEncryption",
              SignatureAlgorithmOID.RSASSA_PSS: "rsassaPss",
              SignatureAlgorithmOID.ECDSA_WITH_SHA256: "ecdsa-with-SHA256",
              SignatureAlgorithmOID.ECDSA_WITH_SHA384: "ecdsa-with-SHA384",
              SignatureAlgorithmOID.ECDSA_WITH_SHA512: "ecdsa-with-SHA512",
              SignatureAlgorithmOID.ED25519: "ED25519"}
# The short names `openssl x509 -subject` prints for the usual attributes.
ATTR_NAMES = {NameOID.COMMON_NAME: "CN", NameOID.ORGANIZATION_NAME: "O",
               NameOID.ORGANIZATIONAL_UNIT_NAME: "OU", NameOID.COUNTRY_NAME: "C",
               NameOID.STATE_OR_PROVINCE_NAME: "ST", NameOID.LOCALITY_NAME: "L",
               NameOID.EMAIL_ADDRESS: "emailAddress", NameOID.SERIAL_NUMBER: "serialNumber",
               NameOID.DOMAIN_COMPONENT: "DC"}

ENCRYPTED_KEY_HINT = ("labkit, like Envoy, needs an unencrypted key: create it with `-nodes` (or `-noenc`), "
                       "or decrypt it with `openssl pkey -in KEY -out KEY.plain`")




# --------------------------------------------------------------------------------------------
# Helpers


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def fmt_time(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


@runtime_checkable
class HasCertPem(Protocol):
    """Anything carrying a PEM certificate chain (a CertBundle): accepted wherever PEM is."""
    cert_pem: bytes


def as_bytes(pem: PemLike) -> bytes:
    if isinstance(pem, HasCertPem):
        return pem.cert_pem
    return pem.encode() if isinstance(pem, str) else bytes(pem)


def source_bytes(pem) -> bytes:
    if isinstance(pem, os.PathLike):
        return read_file(Path(pem))
    if isinstance(pem, str) and "-----BEGIN" not in pem and "\n" not in pem and os.path.isfile(pem):
        return read_file(Path(pem))
    return as_bytes(pem)


def encode_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def encode_key(key) -> bytes:
    # PKCS#8 ("BEGIN PRIVATE KEY") is what openssl 3 writes and what Envoy, curl and Python all read.
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def load_certs(data: bytes, *, what: str) -> list[x509.Certificate]:
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


def load_key(data: bytes, *, what: str = "the private key", skip_rsa_check: bool = False):
    loader = serialization.load_pem_private_key if b"-----BEGIN" in data else serialization.load_der_private_key
    try:
        return loader(data, password=None, unsafe_skip_rsa_key_validation=skip_rsa_check)
    except TypeError:  # "Password was not given but private key is encrypted"
        raise LabkitError(f"{what} is encrypted with a passphrase", hint=ENCRYPTED_KEY_HINT) from None
    except ValueError as e:
        if b"BEGIN CERTIFICATE" in data:
            raise LabkitError(f"{what} is a certificate, not a private key",
                              hint="the .key file is the key, the .crt file the certificate") from None
        if b"ENCRYPTED" in data:
            raise LabkitError(f"{what} is encrypted with a passphrase", hint=ENCRYPTED_KEY_HINT) from None
        raise LabkitError(f"{what} is not a readable private key ({e})") from None
    except Exception as e:  # unsupported algorithms surface as UnsupportedAlgorithm
        raise LabkitError(f"{what} is not a usable private key ({e})") from None


def check_key_matches(cert: x509.Certificate, key, *, cert_what: str = "the certificate",
                       key_what: str = "the private key") -> None:
    if cert.public_key() != key.public_key():
        raise LabkitError(f"{key_what} does not belong to {cert_what}",
                          hint="compare `openssl x509 -noout -pubkey -in CERT` with `openssl pkey -pubout -in KEY`")


def new_key(key_type: str):
    spec = key_type.strip().lower().replace("ecdsa", "ec")
    algo, _, param = spec.partition(":")
    if algo == "rsa":
        bits = int(param) if param.isdigit() else (2048 if not param else 0)
        # Below 2048 bits OpenSSL 3 at the usual security level, and Envoy, refuse the key.
        if not 2048 <= bits <= 8192:
            raise LabkitError(f"unsupported key_type {key_type!r}: RSA needs 2048 to 8192 bits, e.g. 'rsa:2048'")
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if algo == "ec":
        curve = CURVE_ALIASES.get(param, param) or "p-256"
        if curve not in CURVES:
            raise LabkitError(f"unsupported key_type {key_type!r}: use 'ec' (P-256), 'ec:P-384' or 'ec:P-521'")
        return ec.generate_private_key(CURVES[curve]())
    raise LabkitError(f"unsupported key_type {key_type!r}: use 'rsa', 'rsa:4096', 'ec' or 'ec:P-384'")


def x509_name(cn: str, org: str | None) -> x509.Name:
    # O before CN, the order of `-subj '/O=example Inc./CN=example.com'` in the Istio docs.
    attrs = []
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def name_str(name: x509.Name) -> str:
    # Certificate order (like `openssl x509 -subject`), not RFC 4514's reversed order, so what the
    # learner sees matches the -subj they typed.
    return ", ".join("+".join(f"{ATTR_NAMES.get(a.oid) or a.rfc4514_attribute_name}={a.value!s}" for a in rdn)
                     for rdn in name.rdns)


def serial_hex(serial: int) -> str:
    # openssl prints serials upper case in whole bytes: `-set_serial 0` shows as "00".
    text = f"{serial:X}"
    return text.zfill(len(text) + len(text) % 2)


def san_strings(cert: x509.Certificate) -> list[str]:
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


def parse_sans(entries: list[str]) -> list[x509.GeneralName]:
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


def check_spiffe_id(spiffe_id: str) -> None:
    if not isinstance(spiffe_id, str) or not SPIFFE_RE.match(spiffe_id):
        raise LabkitError(f"{spiffe_id!r} is not a SPIFFE ID",
                          hint="Istio's form is spiffe://cluster.local/ns/<namespace>/sa/<service account>")


def cert_is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def has_ca_false(cert: x509.Certificate) -> bool:
    try:
        return not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False  # a v1 root without extensions is still a trust anchor for OpenSSL


def is_expired(cert: x509.Certificate) -> bool:
    return utc_now() > cert.not_valid_after_utc


def signed_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(parent)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def key_type_name(public_key) -> str:
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


def sig_alg(cert: x509.Certificate) -> str:
    oid = cert.signature_algorithm_oid
    return SIG_NAMES.get(oid, oid.dotted_string)


def atomic_write(path: Path, data: bytes, mode: int, *, durable: bool = False) -> None:
    # durable: only the root must survive a crash; workload certs are reissued on start.
    write_atomic(path, data, mode, durable=durable)


def read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise LabkitError(f"{path} does not exist") from None
    except IsADirectoryError:
        raise LabkitError(f"{path} is a directory, not a PEM file") from None
