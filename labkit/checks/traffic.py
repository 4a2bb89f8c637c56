"""Real requests from inside pods: the observations checks and tables are built on.

Every probe is `curl` run in a client pod through `lab.exec`, exactly what a learner would type after
`kubectl exec`, so an outcome is a real HTTP status or a real curl exit code (their meanings: `curl_outcomes`).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ..contract import Lab
from ..errors import LabkitError
from .curl_outcomes import Outcome

CLIENT_APPS = ("curl", "sleep")
MIGRATION_NAMESPACES = ("foo", "bar", "legacy")
TIMEOUT_S = 5


def client_deployment(lab: Lab, namespace: str, preferred: str | None = None) -> str:
    """The curl/sleep deployment to send requests from in a namespace."""
    names = {d["metadata"]["name"] for d in lab.get("Deployment", namespace=namespace)}
    for name in ((preferred,) if preferred else CLIENT_APPS):
        if name in names:
            return name
    wanted = preferred or " or ".join(CLIENT_APPS)
    raise LabkitError(f"no {wanted} deployment in namespace {namespace} to send requests from",
                      namespace=namespace,
                      hint=f'deploy one: lab.apply(samples.sample("curl"), namespace="{namespace}")')


def url_for(target: str, path: str = "/", default_port: int = 8000) -> str:
    """`httpbin.foo` or `httpbin.foo:8000` (or a full URL) → the URL a pod would curl."""
    if "://" in target:
        return target
    host, _, port = target.partition(":")
    return f"http://{host}:{port or default_port}{path}"


def curl(lab: Lab, namespace: str, target: str, path: str = "/", *, client: str | None = None,
         with_body: bool = False, headers: dict | None = None, timeout: float = TIMEOUT_S) -> Outcome:
    """`kubectl exec deploy/CLIENT -n NAMESPACE -- curl --max-time TIMEOUT URL`: one real request."""
    deployment = client_deployment(lab, namespace, client)
    url = url_for(target, path)
    command = ["curl", "-sS", "--max-time", f"{timeout:g}", "-w", "\n%{http_code}"]
    for key, value in (headers or {}).items():
        command += ["-H", f"{key}: {value}"]
    if not with_body:
        command += ["-o", "/dev/null"]
    result = lab.exec(namespace, deployment, command + [url], timeout=timeout + 5)
    body, _, status = result.stdout.rpartition("\n")
    return Outcome(f"{deployment}.{namespace}", url, status.strip() or "000", result.exit_code,
                   result.stderr.strip().removeprefix("curl: ").strip(), body)


def snippet(body: str, text: str, width: int = 120) -> str:
    """The line of a response that shows `text` (tags stripped), or its first line: evidence, not a page dump."""
    lines = [re.sub(r"<[^>]+>", " ", line).strip() for line in body.splitlines()]
    lines = [" ".join(line.split()) for line in lines if line.strip()]
    found = next((line for line in lines if text in line), lines[0] if lines else "empty response")
    return found if len(found) <= width else found[:width] + "…"


def echoed_headers(outcome: Outcome) -> dict[str, str] | None:
    """The request headers httpbin saw (`/headers`), lower-cased; None when the body is not httpbin's."""
    try:
        headers = json.loads(outcome.body)["headers"]
    except (ValueError, KeyError, TypeError):
        return None
    # go-httpbin returns each value as a list; the Python httpbin as a string.
    return {k.lower(): (v[0] if isinstance(v, list) and v else v) for k, v in headers.items()}


@dataclass(frozen=True)
class Hop:
    """One request to httpbin's /headers and what it says about the hop's security."""
    outcome: Outcome
    xfcc: str | None

    @property
    def mtls(self) -> bool:
        return self.xfcc is not None

    @property
    def caller(self) -> str | None:
        """The SPIFFE id of the client certificate the server sidecar saw (URI= in the XFCC header)."""
        if not self.xfcc:
            return None
        for part in self.xfcc.split(";"):
            if part.startswith("URI="):
                return part[4:]
        return None


def hop(lab: Lab, client_namespace: str, target: str, *, client: str | None = None) -> Hop:
    outcome = curl(lab, client_namespace, target, "/headers", client=client, with_body=True)
    headers = echoed_headers(outcome) or {}
    return Hop(outcome, headers.get("x-forwarded-client-cert"))


def matrix(lab: Lab, clients=MIGRATION_NAMESPACES, servers=MIGRATION_NAMESPACES, *, server: str = "httpbin",
           port: int = 8000, path: str = "/ip") -> dict[tuple[str, str], Outcome]:
    """Every client namespace's curl → every server namespace's service: the migration task's loop."""
    return {(c, s): curl(lab, c, f"{server}.{s}:{port}", path) for c in clients for s in servers}


def matrix_frame(results: dict[tuple[str, str], Outcome], server: str = "httpbin"):
    """Rows are callers (`curl.foo`), columns are servers (`httpbin.bar`), cells the outcome label."""
    import pandas as pd
    clients = list(dict.fromkeys(c for c, _ in results))
    servers = list(dict.fromkeys(s for _, s in results))
    rows = {}
    for c in clients:
        name = next(o.client for (cc, _), o in results.items() if cc == c)
        rows[name] = [results[(c, s)].label for s in servers]
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=[f"{server}.{s}" for s in servers])
    frame.columns.name = "from \\ to"  # shown in the table's corner, on the header row
    return frame
