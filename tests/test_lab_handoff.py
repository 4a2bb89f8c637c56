"""A lab that starts where the previous one ends gets, from its start state, what the previous lab's solutions
built: lab 09 begins with lab 08's HTTPS edge for local.test (labkit/labs.py edge_https)."""
from __future__ import annotations

from pathlib import Path

import nbformat

from labkit.labs import lab_info, start_resources
from labkit.release import solutions_of
from labkit.resources.loader import load_documents

LABS = Path(__file__).resolve().parent.parent / "labs"


def last_solved(notebook_name: str) -> dict[tuple[str, str, str], dict]:
    """The objects a notebook's solutions leave behind: (kind, namespace, name) → the last version applied."""
    notebook = nbformat.read(LABS / notebook_name, as_version=4)
    objects = {}
    for block in solutions_of(notebook):
        for doc in load_documents("\n".join(block.solution)):
            objects[(doc["kind"], doc["metadata"].get("namespace"), doc["metadata"]["name"])] = doc
    return objects


def test_lab09_starts_with_the_gateway_and_route_lab08_ends_with():
    ended = last_solved(lab_info("08").notebook)
    started = {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d for d in start_resources("09")}
    for key in [("Gateway", "istio-system", "web-gateway"), ("VirtualService", "demo", "web")]:
        assert started[key]["spec"] == ended[key]["spec"], key
    # The credential the Gateway names exists, as a TLS Secret in the gateway's namespace, for local.test.
    credential = ended[("Gateway", "istio-system", "web-gateway")]["spec"]["servers"][0]["tls"]["credentialName"]
    secret = started[("Secret", "istio-system", credential)]
    assert secret["type"] == "kubernetes.io/tls" and set(secret["data"]) == {"tls.crt", "tls.key"}
    # ... and what lab 08 started from is still there: the demo namespace and web.
    assert {("Namespace", None, "demo"), ("Deployment", "demo", "web"), ("Service", "demo", "web")} <= set(started)


def test_lab09_start_makes_a_fresh_self_signed_certificate_for_local_test():
    import base64
    from labkit import certs
    first, second = ([d for d in start_resources("09") if d["kind"] == "Secret"][0] for _ in range(2))
    cert = base64.b64decode(first["data"]["tls.crt"])
    assert certs.verify_chain(cert, cert, hostname="local.test") == (True, "")   # trusted by itself, as lab 09 uses it
    assert first["data"]["tls.crt"] != second["data"]["tls.crt"]   # no key shared between learners or runs
