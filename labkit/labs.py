"""The labs: titles, notebooks, each lab's starting state and the checks that make up its progress.

`lab.reset_lab("03")` applies `start_resources("03")` so a learner can begin at any lab. A lab's `steps`
are the titles of the checks its notebook runs; progress counts them, and the notebook's last cell
(`checks.lab_complete`) fails under nbval when the notebook and this list drift apart.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from importlib import resources
from typing import Callable

from .errors import LabkitError
from .resources.loader import load_documents
from .samples import sample


def in_namespace(yaml_text: str, namespace: str) -> list[dict]:
    """The documents of a sample, placed in a namespace (what `kubectl apply -n` does)."""
    docs = copy.deepcopy(load_documents(yaml_text))
    for doc in docs:
        doc.setdefault("metadata", {})["namespace"] = namespace
    return docs


def migration() -> list[dict]:
    """Istio's mTLS migration setup: httpbin and curl in foo and bar (sidecars) and in legacy (none)."""
    text = resources.files("labkit.data").joinpath("labs", "migration-namespaces.yaml").read_text()
    docs = load_documents(text)
    for namespace in ("foo", "bar", "legacy"):
        docs += in_namespace(sample("httpbin"), namespace) + in_namespace(sample("curl"), namespace)
    return docs


def nothing() -> list[dict]:
    return []


@dataclass(frozen=True)
class LabInfo:
    id: str
    title: str
    notebook: str | None = None
    start: Callable[[], list[dict]] | None = None
    steps: tuple[str, ...] = ()


MIGRATION_MATRIX = "traffic matrix: all 200"

LABS: tuple[LabInfo, ...] = (
    LabInfo("00", "Welcome and environment check", "00-welcome.ipynb", nothing, (
        "the lab environment is ready",
    )),
    LabInfo("01", "Sample apps and sidecar injection", "01-sidecar-injection.ipynb", nothing, (
        "namespace foo has sidecar injection enabled",
        "namespace legacy has sidecar injection disabled",
        "httpbin, curl run in foo",
        "pods in foo run with a sidecar (2/2)",
        "pods in legacy run without a sidecar (1/1)",
        "pods in bar run with a sidecar (2/2)",
    )),
    LabInfo("02", "PERMISSIVE mode", "02-permissive.ipynb", migration, (
        MIGRATION_MATRIX,
        "curl.foo → httpbin.bar is mutual TLS (X-Forwarded-Client-Cert names the caller)",
        "curl.legacy → httpbin.bar is plaintext (no X-Forwarded-Client-Cert)",
        "curl.foo → httpbin.legacy is plaintext (no X-Forwarded-Client-Cert)",
        "mesh-wide PeerAuthentication sets PERMISSIVE",
    )),
    LabInfo("03", "Switching to STRICT", "03-strict.ipynb", migration, (
        "STRICT mTLS is enforced for httpbin.foo",
        "traffic matrix: legacy → foo reset; the rest 200",
        "traffic matrix: legacy → foo reset; legacy → bar reset; the rest 200",
        "STRICT mTLS is enforced for httpbin.bar",
        "plaintext is allowed on httpbin.bar:8000 by a port-level exception",
        MIGRATION_MATRIX,
        "curl.legacy → web-frontend.default:80/: 500 showing 'ECONNRESET'",
        "the ingress gateway serves customers.default.svc.cluster.local/: 200",
        "curl.legacy → web-frontend.default:80/: 200 showing 'Jewel Schaefer'",
    )),
    LabInfo("04", "DestinationRule TLS modes", "04-destination-rule-tls.ipynb", migration, (
        "curl.foo → httpbin.bar uses tls mode ISTIO_MUTUAL",
        "curl.foo → httpbin.legacy/ip: 503",
        "curl.foo → httpbin.bar uses tls mode DISABLE",
        "curl.foo → httpbin.bar/ip: 503",
        "curl.foo → httpbin.bar/ip: 200",
        "curl.foo → secure-httpbin.legacy:8443 uses tls mode SIMPLE",
        "curl.foo → secure-httpbin.legacy:8443 uses tls mode MUTUAL",
    )),
    LabInfo("05", "HTTPS at the edge (SIMPLE)"),
    LabInfo("06", "MUTUAL and PASSTHROUGH gateways"),
    LabInfo("07", "Gateway to a STRICT service with AuthorizationPolicy"),
    LabInfo("08", "Verify and troubleshoot"),
)


def lab_info(lab_id: str) -> LabInfo:
    wanted = str(lab_id).zfill(2)
    for info in LABS:
        if info.id == wanted:
            return info
    raise LabkitError(f"no lab {lab_id!r}", hint="labs: " + ", ".join(i.id for i in LABS))


def start_resources(lab_id: str) -> list[dict]:
    info = lab_info(lab_id)
    if info.start is None:
        raise LabkitError(f"lab {info.id} ({info.title}) has no starting state defined yet",
                          hint="define `start` for it in labkit/labs.py")
    return info.start()
