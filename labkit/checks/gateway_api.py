"""Checks for a Kubernetes Gateway API gateway (labs 09, 11 and 12, the Gateway API sections): real curl from this
machine to the Gateway's own address, and, when it fails, what istiod wrote in the status.

On a cluster the status is where istiod explains a Gateway API problem (a certificateRef it cannot read, a
route that attached to no listener, a backend it cannot find): `kubectl get gtw`, `kubectl describe
httproute`. The hint quotes those conditions, so the learner reads what the cluster would say.
"""
from __future__ import annotations

from ..contract import Lab
from ..display.colours import short
from .curl_outcomes import describe_expected
from .edge_probe import edge_curl
from .mesh import precondition
from .result import CheckResult, checker

ROUTE_KINDS = ("HTTPRoute", "TLSRoute", "TCPRoute")


def _bad(conditions: list[dict] | None, good_false: tuple[str, ...] = ("Conflicted",)) -> list[str]:
    """The conditions that say something is wrong: False ones (True for those where False is good)."""
    out = []
    for condition in conditions or []:
        wrong = condition.get("status") == ("True" if condition.get("type") in good_false else "False")
        if wrong:
            out.append(f"{condition.get('type')} {condition.get('status')} ({condition.get('reason')}): "
                       f"{condition.get('message')}")
    return out


def status_problems(lab: Lab, gateway: str) -> list[str]:
    """What the status of the Gateway, its listeners and the routes naming it says is wrong."""
    namespace, _, name = gateway.rpartition("/")
    namespace = namespace or "default"
    found = lab.get("gtw", name, namespace)
    if not found:
        return [f"there is no Gateway {gateway} (kubectl get gtw -n {namespace})"]
    status = found[0].get("status") or {}
    problems = [f"Gateway {gateway}: {p}" for p in _bad(status.get("conditions"))]
    for listener in status.get("listeners") or []:
        problems += [f"listener {listener.get('name')}: {p}" for p in _bad(listener.get("conditions"))]
    for kind in ROUTE_KINDS:
        for route in lab.get(kind):
            for parent in (route.get("status") or {}).get("parents") or []:
                ref = parent.get("parentRef") or {}
                if ref.get("name") == name and (ref.get("namespace") or route["metadata"]["namespace"]) == namespace:
                    problems += [f"{kind} {route['metadata']['namespace']}/{route['metadata']['name']}: {p}"
                                 for p in _bad(parent.get("conditions"))]
    return problems


def _title(lab: Lab, gateway: str, host: str, path: str = "/", expect=200, contains=None, port=None, cacert=None,
           cert=None, key=None) -> str:
    scheme = "https" if cacert or cert else "http"
    return (f"{scheme}://{host}{path} via the Gateway {gateway}: {describe_expected(expect)}"
            + (" with a client certificate" if cert else "") + (f" showing {contains!r}" if contains else ""))


@checker(_title)
def via_gateway_api(result: CheckResult, lab: Lab, gateway: str, host: str, path: str = "/", expect=200,
                    contains: str | None = None, port: int | None = None, cacert=None, cert=None, key=None) -> None:
    """One request from this machine to a Gateway API Gateway ("NS/NAME") gets `expect` (a status, or
    "refused", "TLS failure", "untrusted"); on failure the hint is what the status conditions say."""
    if not precondition(result, lab):
        return
    outcome = edge_curl(lab, host, path, port=port, cacert=cacert, cert=cert, key=key, gateway=gateway)
    ok = outcome.matches(expect)
    hint = ""
    if not ok:
        problems = status_problems(lab, gateway)
        hint = ("the status says: " + "; ".join(problems)) if problems else (
            f"the status reports no problem; the request got {outcome.label}"
            + (f": {short(outcome.body, 160)}" if outcome.answered else "")
            + " (kubectl get gtw,httproute -A; kubectl describe httproute)")
    result.add(outcome.command, ok, f"{outcome.label}{': ' + outcome.error if outcome.error else ''} "
                                    f"(expected {describe_expected(expect)})", hint)
    if contains is not None:
        result.add(f"the response shows {contains!r}", contains in outcome.body, short(outcome.body, 200))
