"""Every table a lab shows, coloured by outcome (labkit.display.colours): the notebook's one place for them.

Some tables run real requests first (the traffic matrix, the gateway and caller tables); the requests are
the checks' own (labkit.checks), so a table and a check never disagree about an outcome.
"""
from __future__ import annotations

import time

from ..checks.clients import pick_client, service_account
from ..checks.edge_probe import edge_curl
from ..checks.state import MeshView
from ..checks.traffic import MIGRATION_NAMESPACES, curl
from ..constants import GATEWAY_PRINCIPAL, PROXY_CONTAINER
from ..contract import Lab
from ..model.access_logging import text_formats
from ..tools.access_log_format import compile_formats, parse_line
from .colours import GREEN, GREY, RED, YELLOW, outcome_colour, result_colour, short


def style_matrix(frame):
    """200 green, reset (curl 56) red, 403 orange, 503 grey, anything else yellow."""
    return frame.style.map(outcome_colour)


def traffic_matrix(lab: Lab, clients=MIGRATION_NAMESPACES, servers=MIGRATION_NAMESPACES):
    """curl from every client namespace to httpbin in every server namespace, as a coloured table."""
    from ..checks.traffic import matrix, matrix_frame
    return style_matrix(matrix_frame(matrix(lab, clients, servers)))


def pods_table(lab: Lab, namespaces=None):
    """`kubectl get pods` for some namespaces, READY coloured: with a sidecar green, without grey."""
    frame = lab.pods()
    if namespaces:
        frame = frame[frame.namespace.isin(list(namespaces))].reset_index(drop=True)
    frame = frame[["namespace", "pod", "ready", "status", "restarts"]]

    def colour(row):
        done, total = str(row["ready"]).split("/")
        if row["status"] != "Running" or done != total:
            return ["background-color: " + YELLOW] * len(row)
        return [f"background-color: {GREEN if total == '2' else GREY}"] * len(row)
    return frame.style.apply(colour, axis=1)


def tls_configured_and_observed(lab: Lab, clients=MIGRATION_NAMESPACES, servers=MIGRATION_NAMESPACES):
    """Per client/server pair: the TLS each side is configured for and what a real request showed
    (coloured by result). `lab.tls_status()` is the configured side alone."""
    from ..checks.tables import configured_and_observed_tls
    frame = configured_and_observed_tls(lab, clients, servers)
    styled = frame.style.set_caption("TLS: configured (policies) and observed (a real request)")
    return styled.map(outcome_colour, subset=["result"]).map(
        lambda v: f"background-color: {GREEN}" if v == "yes" else "", subset=["mTLS"])


# Lab 06's name for it.
tls_table = tls_configured_and_observed


def mtls_matrix(lab: Lab, clients=MIGRATION_NAMESPACES, servers=MIGRATION_NAMESPACES):
    """Which hops are mutual TLS, client by server: the mesh's security graph as a table."""
    from ..checks.tables import configured_and_observed_tls
    frame = configured_and_observed_tls(lab, clients, servers)
    cell = frame.apply(lambda r: "mTLS" if r["mTLS"] == "yes" else "plaintext" if r["mTLS"] == "no" else r["result"],
                       axis=1)
    table = frame.assign(hop=cell).pivot(index="client", columns="server", values="hop")
    table = table.loc[[c for c in frame["client"].unique()], [s for s in frame["server"].unique()]]
    table.index.name, table.columns.name = None, "from \\ to"
    return table.style.map(lambda v: f"background-color: {GREEN if v == 'mTLS' else YELLOW if v == 'plaintext' else RED}"
                                     "; text-align: center")


def callers_table(lab: Lab, namespace: str, service: str, host: str, port: int = 80, path: str = "/get"):
    """The three kinds of caller of a service, what each got, coloured (200 green, 403 orange, reset red)."""
    import pandas as pd
    view = MeshView(lab)
    rows = []
    outcome = edge_curl(lab, host, path, port=80)
    rows.append({"caller": "this machine, through the ingress gateway",
                 "identity": GATEWAY_PRINCIPAL + " (the gateway)",
                 "result": outcome.label, "response": short(outcome.body) if outcome.answered else outcome.error})
    for sidecar in (True, False):
        client = pick_client(view, sidecar=sidecar, prefer=(namespace, "legacy"))
        if client is None:
            continue
        seen = curl(lab, client[0], f"{service}.{namespace}:{port}", path, client=client[1], with_body=True)
        identity = (f"cluster.local/ns/{client[0]}/sa/{service_account(view, *client)}" if sidecar
                    else "none (plaintext)")
        rows.append({"caller": f"{seen.client} ({'sidecar' if sidecar else 'no sidecar'})", "identity": identity,
                     "result": seen.label, "response": short(seen.body) if seen.answered else seen.error})
    frame = pd.DataFrame(rows, columns=["caller", "identity", "result", "response"])
    return frame.style.format(escape="html").map(result_colour, subset=["result"]).hide(axis="index")


def edge_table(lab: Lab, requests: dict[str, dict]):
    """One row per named request (label → `edge_curl` keyword arguments, with `host` and `path`): the command,
    and what came back, coloured (2xx green, 403 orange, 503 grey, refused/TLS failures red)."""
    import pandas as pd
    rows = []
    for label, spec in requests.items():
        spec = dict(spec)
        host, path = spec.pop("host"), spec.pop("path", "/")
        outcome = edge_curl(lab, host, path, **spec)
        rows.append({"request": label, "result": outcome.label, "curl says": outcome.error or short(outcome.body),
                     "command": outcome.command})
    frame = pd.DataFrame(rows, columns=["request", "result", "curl says", "command"])
    return frame.style.format(escape="html").map(result_colour, subset=["result"]).hide(axis="index")


LOG_COLUMNS = ["start_time", "method", "authority", "path", "response_code", "response_flags",
               "response_code_details", "downstream_peer_uri_san", "upstream_cluster"]


def access_log(lab: Lab, namespace: str, workload: str, last: int = 5):
    """The last requests a proxy logged (`kubectl logs POD -c istio-proxy`), as a table: who called
    (`downstream_peer_uri_san`: the caller's SPIFFE id, empty for plaintext, and only when the mesh's
    accessLogFormat has %DOWNSTREAM_PEER_URI_SAN%), what came back, and why (`response_code_details`,
    e.g. rbac_access_denied_matched_policy[none])."""
    import pandas as pd
    text, deadline = None, time.monotonic() + 1.0
    while True:  # Envoy writes its access log every 200 ms here (every second or so on a cluster)
        latest = lab.logs(namespace, workload, container=PROXY_CONTAINER)
        if latest == text or time.monotonic() > deadline:
            break
        text = latest
        time.sleep(0.25)
    rows = []
    formats = compile_formats(text_formats(MeshView(lab).model))   # TEXT or JSON, as the mesh config says
    for line in (latest or "").splitlines():
        entry = parse_line(line, formats)
        if entry and entry.get("method"):
            rows.append({k: entry.get(k) for k in LOG_COLUMNS})
    frame = pd.DataFrame(rows[-last:], columns=LOG_COLUMNS).rename(columns={"downstream_peer_uri_san": "caller"})
    frame["response_code"] = frame["response_code"].astype(str)
    return frame.style.format(escape="html", na_rep="").map(result_colour, subset=["response_code"]).hide(axis="index")
