"""Certificates as a table: a proxy's live SDS secrets (admin config_dump) or a Kubernetes Secret.

The proxy side reads what Envoy actually holds (`istioctl proxy-config secret` shows the same dump on
a cluster), not the files labkit wrote, so a rotation or a missing secret shows as it really is.
Each chain is verified against its CA: the mesh root (`ROOTCA`) for `default`, `<name>-cacert` or
the secret's own `ca.crt` for gateway credentials.
"""
from __future__ import annotations

import base64

import pandas as pd

from ..certs import inspect, verify_chain
from ..errors import LabkitError
from ..model.gateways import CA_KEYS, CERT_KEYS, ca_pem, ca_secret, credential_cert_pem
from .common import dump_section

COLUMNS = ["source", "role", "subject", "issuer", "sans", "spiffe_id", "serial", "not_before", "not_after",
           "days_left", "status", "chain"]
SECRETS_DUMP = "SecretsConfigDump"


def _data_source(source: dict | None) -> str | None:
    """PEM text of an Envoy DataSource (inline_string, inline_bytes in base64, or a readable file)."""
    if not source:
        return None
    if "inline_string" in source:
        return source["inline_string"]
    if "inline_bytes" in source:
        return base64.b64decode(source["inline_bytes"]).decode(errors="replace")
    if "filename" in source:
        try:
            with open(source["filename"], encoding="utf-8", errors="replace") as handle:
                return handle.read()
        except OSError:
            return None
    return None


def dump_secrets(dump: dict) -> dict[str, dict]:
    """name → {"cert": PEM or None, "ca": PEM or None, "state": active|warming} from a config_dump."""
    section = dump_section(dump, SECRETS_DUMP)
    out: dict[str, dict] = {}
    groups = (("static_secrets", "active"), ("dynamic_active_secrets", "active"),
              ("dynamic_warming_secrets", "warming"))
    for key, state in groups:
        for entry in section.get(key) or []:
            secret = entry.get("secret") or {}
            name = entry.get("name") or secret.get("name") or "?"
            tls = secret.get("tls_certificate") or {}
            validation = secret.get("validation_context") or {}
            out[name] = {"cert": _data_source(tls.get("certificate_chain")),
                         "ca": _data_source(validation.get("trusted_ca")), "state": state}
    return out


def _ca_for(name: str, secrets: dict[str, dict]) -> str | None:
    """The trust anchor Envoy pairs with a certificate secret (istio-semantics §4, §6)."""
    own = secrets.get(name, {}).get("ca")
    if own:
        return own
    partner = "ROOTCA" if name == "default" else f"{name}-cacert"
    return (secrets.get(partner) or {}).get("ca")


def _status(info: dict) -> str:
    if info["expired"]:
        return "EXPIRED"
    if info["not_yet_valid"]:
        return "NOT YET VALID"
    return "valid"


def pem_rows(source: str, pem: str, *, ca_pem: str | None = None, trust_bundle: bool = False) -> list[dict]:
    """One row per certificate in a PEM chain; the leaf's `chain` column says whether it verifies."""
    try:
        infos = inspect(pem.encode())
    except LabkitError as exc:
        return [{"source": source, "role": "unreadable", "status": str(exc)}]
    chain = ""
    if ca_pem and not trust_bundle:
        ok, reason = verify_chain(pem.encode(), ca_pem.encode())
        chain = "ok" if ok else reason
    rows = []
    for index, info in enumerate(infos):
        if trust_bundle:
            role = "trusted CA"
        elif index == 0:
            role = "leaf"
        else:
            role = "root" if info["self_signed"] else "intermediate"
        rows.append({"source": source, "role": role, "subject": info["subject"], "issuer": info["issuer"],
                     "sans": ", ".join(info["sans"]), "spiffe_id": info["spiffe_id"], "serial": info["serial"],
                     "not_before": info["not_before"], "not_after": info["not_after"],
                     "days_left": round(info["days_left"], 3), "status": _status(info),
                     "chain": chain if index == 0 else ""})
    return rows


def proxy_certs(dump: dict) -> pd.DataFrame:
    """Every certificate a proxy holds: its identity (`default`), trust (`ROOTCA`), gateway credentials."""
    secrets = dump_secrets(dump)
    rows: list[dict] = []
    for name, secret in sorted(secrets.items()):
        label = name if secret["state"] == "active" else f"{name} (warming: not delivered yet)"
        if secret["cert"]:
            rows += pem_rows(label, secret["cert"], ca_pem=_ca_for(name, secrets))
        if secret["ca"]:
            rows += pem_rows(label, secret["ca"], trust_bundle=True)
        if not secret["cert"] and not secret["ca"]:
            rows.append({"source": label, "role": "missing", "status": "no certificate delivered"})
    return pd.DataFrame(rows, columns=COLUMNS)


def workload_identity(dump: dict) -> dict | None:
    """`certs.inspect` of the proxy's own leaf certificate (secret `default`), or None."""
    pem = (dump_secrets(dump).get("default") or {}).get("cert")
    if not pem:
        return None
    try:
        return inspect(pem.encode())[0]
    except LabkitError:
        return None


def secret_certs(secret: dict, companion: dict | None = None) -> pd.DataFrame:
    """The certificates of a Secret object (tls.crt/ca.crt or cert/cacert); `companion` is `<name>-cacert`."""
    meta = secret.get("metadata") or {}
    data = {k: base64.b64decode(v).decode(errors="replace") for k, v in (secret.get("data") or {}).items()}
    extra = {k: base64.b64decode(v).decode(errors="replace") for k, v in ((companion or {}).get("data") or {}).items()}
    source = f"secret {meta.get('namespace', '')}/{meta.get('name', '')}"
    cert = credential_cert_pem(data)
    ca = ca_pem(ca_secret(data, extra if companion is not None else None))
    rows: list[dict] = []
    if cert:
        rows += pem_rows(source, cert, ca_pem=ca)
    if ca:
        rows += pem_rows(source + " (CA)", ca, trust_bundle=True)
    if not rows:
        rows.append({"source": source, "role": "missing",
                     "status": f"no {' / '.join(CERT_KEYS + CA_KEYS)} key in the secret"})
    return pd.DataFrame(rows, columns=COLUMNS)
