"""Validators: pure functions of the mesh state and real traffic, each returning a CheckResult.

`check(fn, lab, ...)` in `labkit.widgets` shows one with a Check button; in scripts and under nbval the
same call raises AssertionError with the details when it fails. Tables are in labkit.display.tables.
"""
from .authz import only_gateway_allowed, pages_show, refuses_other_callers
from .course import lab_complete
from .destination import dr_mode, responds, server_identity_pinned
from .edge_tls import (client_cert_required, credential_missing, foreign_client_rejected,
                       passthrough_serves, serves_certificate, untrusted_rejected, via_gateway)
from .gateway_api import via_gateway_api
from .mesh import deployed, doctor, environment, namespace_injected, pods_have_sidecars
from .mtls import (mesh_wide_mode, mtls_hop, node_port_serves, permissive, port_exception, strict_enforced,
                   traffic_matrix_matches)
from .result import CheckItem, CheckResult, checker
from .troubleshoot import mtls_between, only_caller_allowed, verification_flow

__all__ = ["CheckItem", "CheckResult", "checker", "deployed", "doctor", "dr_mode", "environment",
           "lab_complete", "mesh_wide_mode", "mtls_hop", "node_port_serves", "namespace_injected", "permissive", "pods_have_sidecars",
           "port_exception", "responds", "server_identity_pinned", "strict_enforced", "traffic_matrix_matches",
           # labs 08-17: the edge, authorization, troubleshooting
           "client_cert_required", "credential_missing",
           "foreign_client_rejected", "mtls_between", "only_caller_allowed", "only_gateway_allowed", "pages_show",
           "passthrough_serves", "refuses_other_callers", "serves_certificate", "untrusted_rejected",
           "verification_flow", "via_gateway", "via_gateway_api"]
