"""Reading certificates back: subjects, SANs, validity, and whether a chain verifies."""
from __future__ import annotations

import ipaddress
import os
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID


from .common import (PemLike, EKU_NAMES, as_bytes, aware, fmt_time, has_ca_false, cert_is_ca, key_type_name,
                      load_certs, name_str, utc_now, san_strings, serial_hex, sig_alg, signed_by, source_bytes)


def inspect(pem: PemLike | os.PathLike, *, now: datetime | None = None) -> list[dict]:
    """Every certificate in a PEM chain, leaf first, as plain dicts (what `openssl x509 -text`
    would tell you, in the same notation: serial and SHA-256 fingerprint match openssl's output).

    Accepts PEM bytes/str, or a path (a Path, or a str that names an existing file).
    """
    now = aware(now) if now is not None else utc_now()
    out = []
    for cert in load_certs(source_bytes(pem), what="the PEM text"):
        not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
        sans = san_strings(cert)
        spiffe = next((s[4:] for s in sans if s.startswith("URI:spiffe://")), None)
        try:
            eku = [EKU_NAMES.get(o, o.dotted_string)
                   for o in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value]
        except x509.ExtensionNotFound:
            eku = []
        out.append({
            "subject": name_str(cert.subject),
            "issuer": name_str(cert.issuer),
            "serial": serial_hex(cert.serial_number),
            "not_before": not_before,
            "not_after": not_after,
            "sans": sans,
            "spiffe_id": spiffe,
            "is_ca": cert_is_ca(cert),
            "key_type": key_type_name(cert.public_key()),
            "eku": eku,
            "self_signed": cert.issuer == cert.subject and signed_by(cert, cert),
            "signature_algorithm": sig_alg(cert),
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
    when = aware(at) if at is not None else utc_now()
    given = load_certs(as_bytes(leaf_pem), what="leaf_pem")
    anchors = load_certs(as_bytes(ca_pem), what="ca_pem")
    leaf, pool = given[0], given[1:]

    path = [leaf]
    anchor = None
    while anchor is None:
        current = path[-1]
        anchor = next((a for a in anchors if signed_by(current, a)), None)
        if anchor is not None:
            break
        step = next((c for c in pool if c not in path and signed_by(current, c)), None)
        if step is None or len(path) > 8:
            return False, _unsigned_reason(current, leaf, anchors)
        path.append(step)

    for cert in path[1:]:
        if not cert_is_ca(cert):
            return False, (f"the intermediate {name_str(cert.subject)} is not a CA (basicConstraints CA:TRUE "
                           "missing), so it cannot sign certificates")
    if anchor != leaf and has_ca_false(anchor):
        return False, (f"the CA file's certificate {name_str(anchor.subject)} is not a CA (basicConstraints "
                       "CA:FALSE); pass the CA's certificate, not a leaf")

    for cert in path + ([anchor] if anchor not in path else []):
        whose = "" if cert is leaf else f"the {'CA' if cert is anchor else 'intermediate'} certificate " \
                                       f"{name_str(cert.subject)} "
        if when > cert.not_valid_after_utc:
            return False, f"{whose}expired on {fmt_time(cert.not_valid_after_utc)}".strip()
        if when < cert.not_valid_before_utc:
            what = f"{whose}not yet valid" if whose else "not yet valid"
            return False, f"{what} (valid from {fmt_time(cert.not_valid_before_utc)})"

    if hostname is not None:
        reason = _hostname_mismatch(leaf, hostname)
        if reason:
            return False, reason
    return True, ""


def _unsigned_reason(cert: x509.Certificate, leaf: x509.Certificate, anchors: list[x509.Certificate]) -> str:
    whose = "" if cert is leaf else f"the intermediate {name_str(cert.subject)} is "
    issuer = name_str(cert.issuer) or "(empty)"
    if cert.issuer == cert.subject and signed_by(cert, cert):
        return f"{whose}self-signed ({issuer}) and not in the CA file"
    same_name = [a for a in anchors if a.subject == cert.issuer]
    if same_name:
        # The classic lab mistake: the CA was regenerated after the certificate was issued.
        return (f"{whose}signed by a different CA (issuer {issuer}): the CA file has a certificate with that "
                "name but a different key, so the CA was probably regenerated after this certificate was made")
    held = "; ".join(name_str(a.subject) or "(empty subject)" for a in anchors)
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
    names = san_strings(cert)
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


