"""Real X.509 certificates for the labs: CAs, gateway server and client certs, SPIFFE workload certs.

Everything here produces what the Istio docs' `openssl` commands and istiod produce, so the files
work unchanged with `openssl verify`, curl and Envoy (BoringSSL), and certificates the learner made
with `openssl` by hand load back in with `load_pem_files`.

A `CertBundle` holds PEM bytes only. Its `cert_pem` is the certificate followed by any intermediates
up to (not including) the root, which is what a TLS server must send; `ca_pem` is the root that
peers need to trust it.
"""
from __future__ import annotations

from .bundle import CertBundle
from .files import cacert_secret, load_pem_files, tls_secret, write_pem
from .inspect import inspect, verify_chain
from .issue import (make_ca, make_client_cert, make_expired_client_cert, make_intermediate_ca, make_self_signed_cert,
                    make_server_cert, make_workload_cert)
from .mesh_ca import MeshCA

__all__ = [
    "CertBundle", "MeshCA", "make_ca", "make_intermediate_ca", "make_server_cert", "make_client_cert",
    "make_workload_cert", "make_expired_client_cert", "make_self_signed_cert", "write_pem", "load_pem_files", "tls_secret",
    "cacert_secret", "inspect", "verify_chain",
]
