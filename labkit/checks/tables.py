"""Tables of what the mesh does, per client/server pair, for learners to read (not pass/fail)."""
from __future__ import annotations

from ..contract import Lab
from .clients import client_has_sidecar
from .state import MeshView
from .traffic import MIGRATION_NAMESPACES, hop


def configured_and_observed_tls(lab: Lab, clients=MIGRATION_NAMESPACES, servers=MIGRATION_NAMESPACES, service: str = "httpbin",
               port: int = 8000):
    """Per client/server pair: the configuration on each side and what a real request showed.

    Not `lab.tls_status()`, which is the configuration alone (istioctl's old `authn tls-check`): this
    table adds the observed side, so a learner sees a prediction next to what really happened.

    Configuration columns come from the policies (server mode: PeerAuthentication; client TLS:
    DestinationRule or auto mTLS); the last columns from curl to httpbin's /headers, where the
    X-Forwarded-Client-Cert header exists only when the server's sidecar terminated mutual TLS.
    """
    import pandas as pd
    view = MeshView(lab)
    rows = []
    for server_ns in servers:
        svc = view.service(service, server_ns)
        pods = view.endpoints(svc) if svc else []
        sp = (svc.port(port) or svc.ports[0]) if svc and svc.ports else None
        server_sidecar = bool(pods) and all(view.has_sidecar(server_ns, p.name) for p in pods)
        server_mode = (view.effective(pods[0]).for_port(sp.target_port) if sp and pods and server_sidecar
                       else "no sidecar")
        for client_ns in clients:
            client_sidecar = client_has_sidecar(view, client_ns)
            if not client_sidecar:
                client_tls = "plaintext (no sidecar)"
            elif svc is None or sp is None:
                client_tls = "?"
            else:
                tls = view.client_tls(client_ns, svc, sp.port)
                auto = "auto: mTLS" if server_sidecar else "auto: plaintext (no sidecar there)"
                client_tls = f"{tls.mode} ({tls.rule})" if tls.rule else auto
            seen = hop(lab, client_ns, f"{service}.{server_ns}:{port}")
            rows.append({"client": seen.outcome.client, "server": f"{service}.{server_ns}", "client TLS": client_tls,
                         "server mode": server_mode, "result": seen.outcome.label,
                         "mTLS": "yes" if seen.mtls else "no" if seen.outcome.answered else "",
                         "caller identity": seen.caller or ""})
    return pd.DataFrame(rows)
