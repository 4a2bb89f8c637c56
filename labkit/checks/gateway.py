"""Checks from outside the mesh, through the ingress gateway, the way a browser or a laptop curl gets in."""
from __future__ import annotations

import subprocess

from ..contract import Lab
from .mesh import precondition
from .result import CheckResult, checker
from .state import MeshView, ref
from .curl_outcomes import Outcome, describe_expected
from .traffic import TIMEOUT_S, snippet


def gateway_curl(lab: Lab, path: str = "/", host: str | None = None, port: int = 80) -> Outcome:
    """curl from this machine to the ingress gateway (`curl -H "Host: ..." $GATEWAY_URL/path`)."""
    url = lab.gateway_url(port) + path
    command = ["curl", "-sS", "--max-time", str(TIMEOUT_S), "-w", "\n%{http_code}"]
    if host:
        command += ["-H", f"Host: {host}"]
    out = subprocess.run(command + [url], capture_output=True, text=True, timeout=TIMEOUT_S + 5)
    body, _, status = out.stdout.rpartition("\n")
    return Outcome("this machine", url, status.strip() or "000", out.returncode,
                   out.stderr.strip().removeprefix("curl: "), body)


def _routing_hint(view: MeshView, host: str | None, outcome: Outcome) -> str:
    gateways = view.of_kind("Gateway")
    if not gateways:
        return "no Gateway resource: apply one with selector istio: ingressgateway and a server on port 80."
    if outcome.matches("refused"):
        return f"nothing listens on the gateway port: check the Gateway's servers ({', '.join(ref(g) for g in gateways)})."
    if outcome.status == "404":
        bound = [ref(v) for v in view.of_kind("VirtualService") if (v.get("spec") or {}).get("gateways")]
        return (f"no VirtualService bound to the gateway matches host {host or '(any)'}: list the gateway under "
                f"`gateways` and the host under `hosts` (bound now: {', '.join(bound) or 'none'}).")
    if outcome.status == "503":
        return "the gateway routes, but the destination does not answer: is the service's host and port right?"
    return ""


@checker(lambda lab, path="/", host=None, expect=200, contains=None:
         f"the ingress gateway serves {host or '*'}{path}: {describe_expected(expect)}"
         + (f" showing {contains!r}" if contains else ""))
def gateway_serves(result: CheckResult, lab: Lab, path: str = "/", host: str | None = None, expect=200,
                   contains: str | None = None) -> None:
    if not precondition(result, lab):
        return
    outcome = gateway_curl(lab, path, host)
    ok = outcome.matches(expect)
    result.add(f"GET {outcome.target}" + (f" (Host: {host})" if host else ""), ok,
               f"{outcome.label} (expected {describe_expected(expect)})",
               "" if ok else _routing_hint(MeshView(lab), host, outcome))
    if contains is not None:
        result.add(f"the response shows {contains!r}", contains in outcome.body, snippet(outcome.body, contains))

