"""CertBundle: PEM bytes of a certificate chain, its key and its root (what every issuing function returns)."""
from __future__ import annotations

from dataclasses import dataclass, field

from cryptography import x509

from ..errors import LabkitError
from .common import fmt_time, load_certs, name_str, san_strings
from .inspect import inspect


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
        return load_certs(self.cert_pem, what="cert_pem")[0]

    @property
    def chain(self) -> list[x509.Certificate]:
        return load_certs(self.cert_pem, what="cert_pem")

    @property
    def has_key(self) -> bool:
        return bool(self.key_pem)

    def info(self) -> dict:
        """`inspect()` of the leaf certificate."""
        return inspect(self.cert_pem)[0]

    def __repr__(self) -> str:
        try:
            cert = self.cert
            subject = name_str(cert.subject) or "(empty)"
            sans = san_strings(cert)
            detail = f"subject={subject!r}"
            if sans:
                detail += f", sans={sans!r}"
            detail += f", issuer={name_str(cert.issuer)!r}, not_after={fmt_time(cert.not_valid_after_utc)!r}"
        except LabkitError:
            detail = f"cert_pem=<{len(self.cert_pem)} bytes, unparseable>"
        key = "<hidden>" if self.key_pem else "<none>"
        ca = "yes" if self.ca_pem else "no"
        return f"CertBundle({detail}, key={key}, ca_pem={ca})"

    __str__ = __repr__
