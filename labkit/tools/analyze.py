"""`istioctl analyze` for the labs: on YAML files alone, or on the live lab.

    report = analyze_files(["gateway.yaml", "vs.yaml"])     # like `istioctl analyze --use-kube=false -f ...`
    print(report)                                            # Error [IST0101] (VirtualService foo/vs) ...
    report.exit_code                                         # 1 when there is an Error, as the CLI returns

On files, the mesh's own resources (the ingress gateway Deployment and Service) are added, so a
Gateway file is checked against the gateway it would run on, and pods are what the deployments would
create now (injection decided by the namespace labels in the files).
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Iterable

import pandas as pd

from ..errors import LabkitError
from ..model.deployments import reconcile_pods
from ..model.gateway_deploy import reconcile_automated
from ..model.mesh import build_model
from ..resources.loader import load_documents
from ..resources.store import BUILTIN_NAMESPACES, key_of
from ..resources.validate import validate
from ..samples import system_objects
from . import analyze_gateway_api, analyze_security, analyze_traffic
from .analyze_base import CODES, LEVEL_ORDER, Context, Message, message
from .render import frame_html

CHECKS = (
    analyze_traffic.check_gateways,
    analyze_traffic.check_conflicting_gateways,
    analyze_traffic.check_virtual_services,
    analyze_traffic.check_destination_rules,
    analyze_traffic.check_port_names,
    analyze_security.check_injection,
    analyze_security.check_selectors,
    analyze_security.check_ignored_peer_authentication,
    analyze_security.check_client_tls_conflicts,
    analyze_security.check_strict_with_plaintext_clients,
    analyze_gateway_api.check_gateway_api,
)
FILES_SUBNET = 10  # any subnet: on files, addresses are never used


class AnalysisReport:
    """The messages, most severe first; `str()` prints them as istioctl does."""

    def __init__(self, messages: Iterable[Message]):
        unique = list(dict.fromkeys(messages))
        self.messages = sorted(unique, key=lambda m: (LEVEL_ORDER[m.level], m.code, m.resource, m.text))

    def __iter__(self):
        return iter(self.messages)

    def __len__(self) -> int:
        return len(self.messages)

    def __contains__(self, code: str) -> bool:
        return any(m.code == code for m in self.messages)

    @property
    def codes(self) -> set[str]:
        return {m.code for m in self.messages}

    def by_code(self, code: str) -> list[Message]:
        return [m for m in self.messages if m.code == code]

    @property
    def errors(self) -> list[Message]:
        return [m for m in self.messages if m.level == "Error"]

    @property
    def exit_code(self) -> int:
        return 1 if self.errors else 0

    @property
    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"level": m.level, "code": m.code, "analyzer": m.analyzer, "origin": m.origin,
                              "resource": m.resource, "message": m.text} for m in self.messages],
                            columns=["level", "code", "analyzer", "origin", "resource", "message"])

    def __str__(self) -> str:
        if not self.messages:
            return "\u2714 No validation issues found."
        return "\n".join(str(m) for m in self.messages)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        if not self.messages:
            return f"<p>{html.escape(str(self))}</p>"
        return frame_html(self.frame)


def analyze_context(ctx: Context) -> AnalysisReport:
    return AnalysisReport(m for check in CHECKS for m in check(ctx))


def _namespaces(objects: list[dict]) -> set[str]:
    names = set(BUILTIN_NAMESPACES)
    for obj in objects:
        meta = obj.get("metadata") or {}
        names.add(meta["name"] if obj.get("kind") == "Namespace" else meta.get("namespace", ""))
    return names - {""}


def analyze_objects(objects: list[dict], *, subnet: int, observed: list[dict] | None = None,
                    live: bool = True) -> AnalysisReport:
    """Analyze stored resources (pods included) of a running mesh; `observed` = evidence calls."""
    ctx = Context(model=build_model(objects, subnet), objects=objects, namespaces=_namespaces(objects), live=live,
                  observed=observed or [])
    return analyze_context(ctx)


def analyze_documents(docs: list[dict], *, with_system: bool = True) -> AnalysisReport:
    """Analyze resource documents alone: each is validated (IST0106 when it fails), pods are derived."""
    schema_errors, objects = [], []
    for doc in docs:
        try:
            objects.append(validate(doc))
        except LabkitError as exc:
            meta: dict = doc["metadata"] if isinstance(doc.get("metadata"), dict) else {}
            schema_errors.append(message("IST0106", None, f"Schema validation error: {exc.message}"
                                         + (f" (field {exc.field})" if exc.field else ""),
                                         kind=str(doc.get("kind") or "?"), namespace=meta.get("namespace", "default"),
                                         name=meta.get("name") or "?"))
    if with_system:
        present = {key_of(o) for o in objects}
        objects += [o for o in system_objects() if key_of(o) not in present]
    # What istiod's deployment controller would add: each Gateway API Gateway's `<name>-istio` workload.
    objects += reconcile_automated(objects)[0]
    try:
        pods, _ = reconcile_pods(objects)
    except LabkitError:
        pods = []
    report = analyze_objects(objects + pods, subnet=FILES_SUBNET, live=False)
    return AnalysisReport(list(report) + schema_errors)


def analyze_files(paths: Iterable[str | Path]) -> AnalysisReport:
    """`labkit analyze -f FILE...`: files or folders of YAML, no running mesh needed."""
    docs: list[dict] = []
    for path in paths:
        docs += load_documents(Path(path))
    return analyze_documents(docs)


__all__ = ["AnalysisReport", "CODES", "analyze_documents", "analyze_files", "analyze_objects"]
