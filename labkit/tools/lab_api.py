"""The bodies of the Lab's verification methods, so `backends/base.py` stays a list of one-liners.

Each function takes a `MeshAccess` (`Lab.mesh_access()`: how to reach this backend's mesh) and returns a
tool's view.
"""
from __future__ import annotations

import datetime as dt
import time

from ..contract import MeshAccess
from ..errors import LabkitError
from ..model.mesh import MeshModel
from . import certs_view, describe as describe_view, tls_status as tls_view
from .analyze import AnalysisReport, analyze_objects
from .common import find_pod, workload_id
from ..model.access_logging import text_formats
from .access_log_format import compile_formats
from .evidence import Directory, Evidence, as_datetime, read_records
from .graph import MeshGraph, build_graph
from .graph_model import graph_edges
from .proxy_config import ProxyConfigView, normalise_kind


def tls_status(access: MeshAccess, client=None, service=None, conflicts_only=False):
    return tls_view.tls_status(access.model(), client, service, conflicts_only)


def describe(access: MeshAccess, namespace: str, target: str) -> describe_view.PodDescription:
    def certificate(pod):
        try:
            return certs_view.workload_identity(access.config_dump(pod.namespace, pod.name))
        except (LabkitError, OSError):
            return None
    return describe_view.describe(access.model(), namespace, target, certificate)


def proxy_config(access: MeshAccess, namespace: str, target: str, kind: str) -> ProxyConfigView:
    pod = find_pod(access.model(), namespace, target)
    # Endpoints of EDS clusters are in the dump only with include_eds (istioctl asks for them the same way).
    with_eds = normalise_kind(kind) in ("endpoints", "clusters")
    return ProxyConfigView(f"{namespace}/{pod.name}", kind,
                           access.config_dump(namespace, pod.name, include_eds=with_eds))


def certs(access: MeshAccess, namespace: str, target: str):
    """A proxy's certificates (`target` = pod or deployment), or a Secret's (`target` = "secret/NAME")."""
    if target.startswith("secret/"):
        name = target.split("/", 1)[1]
        secrets = {o["metadata"]["name"]: o for o in access.objects()
                   if o["kind"] == "Secret" and o["metadata"].get("namespace") == namespace}
        if name not in secrets:
            raise LabkitError(f'secrets "{name}" not found', kind="Secret", name=name, namespace=namespace,
                              hint="a gateway's credentialName secret lives in the gateway pod's namespace "
                                   "(istio-system)")
        return certs_view.secret_certs(secrets[name], secrets.get(f"{name}-cacert"))
    pod = find_pod(access.model(), namespace, target)
    return certs_view.proxy_certs(access.config_dump(namespace, pod.name))


def evidence(access: MeshAccess, since=None, model: MeshModel | None = None) -> Evidence:
    model = model or access.model()
    directory = Directory(model, access.addresses())
    logs = access.access_logs(access.proxies(model))
    records, skipped = read_records(logs, directory, since, compile_formats(text_formats(model)))
    return Evidence(records, skipped, len(logs), endpoints=directory.by_pod.values())


def graph(access: MeshAccess, since=None, idle: bool = False, window: float | None = None) -> MeshGraph:
    """The graph of the calls since `since`; with `window`, only the last `window` seconds of them, labelled
    in requests per second (Kiali's "Last 1m" and rps labels)."""
    if window is not None:
        recent = dt.datetime.fromtimestamp(time.time() - window, dt.timezone.utc)
        start = as_datetime(since)
        since = recent if start is None or start < recent else start
    model = access.model()
    seen = evidence(access, since, model)
    extra = sorted({workload_id(p) for p in model.pods}) if idle else None
    return build_graph(graph_edges(seen.call_rows), seen.endpoints, extra, window)


def analyze(access: MeshAccess, since=None) -> AnalysisReport:
    objects = access.objects()
    try:
        observed = evidence(access, since).calls.to_dict("records")
    except (LabkitError, OSError):
        observed = []
    return analyze_objects(objects, subnet=access.subnet, observed=observed)
