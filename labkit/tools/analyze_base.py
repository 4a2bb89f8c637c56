"""What the analyzer checks share: message codes and levels, one message, and the analysis context.

Codes IST* are istioctl's (pkg/config/analysis/msg/messages.yaml, istio-semantics §9) with istioctl's
levels and wording where the doc gives it. Codes LAB* are labkit's own: istioctl has no such check
(or retired it, like IST0113), and every LAB message says so, so nobody hunts for it in Istio's docs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..model.kinds import kind_key
from ..model.mesh import MeshModel, Pod

ERROR, WARNING, INFO = "Error", "Warning", "Info"
LEVEL_ORDER = {ERROR: 0, WARNING: 1, INFO: 2}

CODES = {
    "IST0101": ("ReferencedResourceNotFound", ERROR),
    "IST0102": ("NamespaceNotInjected", INFO),
    "IST0103": ("PodMissingProxy", WARNING),
    "IST0106": ("SchemaValidationError", ERROR),
    "IST0118": ("PortNameIsNotUnderNamingConvention", INFO),
    "IST0127": ("NoMatchingWorkloadsFound", WARNING),
    "IST0128": ("NoServerCertificateVerificationDestinationLevel", WARNING),
    "IST0129": ("NoServerCertificateVerificationPortLevel", WARNING),
    "IST0132": ("VirtualServiceHostNotFoundInGateway", WARNING),
    "IST0145": ("ConflictingGateways", ERROR),
    "IST0161": ("InvalidGatewayCredential", ERROR),
    "IST0162": ("GatewayPortNotDefinedOnService", WARNING),
    "IST0173": ("DestinationRuleSubsetNotSelectPods", ERROR),
    "IST0174": ("UnknownDestinationRuleHost", WARNING),
    "LAB0001": ("PodCreatedBeforeInjection", WARNING),
    "LAB0002": ("StrictWithSidecarlessClients", WARNING),
    "LAB0003": ("ClientTlsConflictsWithServerMtls", ERROR),
    "LAB0004": ("PeerAuthenticationIgnored", WARNING),
    "LAB0005": ("SelectorMatchesNoWorkload", WARNING),
    "LAB0006": ("GatewayListenerRefsNotResolved", ERROR),
    "LAB0007": ("RouteNotAttachedToListener", ERROR),
    "LAB0008": ("RouteBackendRefsNotResolved", ERROR),
}
LABKIT_NOTE = " [labkit check, not an istioctl code]"


@dataclass(frozen=True)
class Message:
    code: str
    level: str
    kind: str
    namespace: str
    name: str
    text: str

    @property
    def analyzer(self) -> str:
        return CODES[self.code][0]

    @property
    def origin(self) -> str:
        return "istioctl" if self.code.startswith("IST") else "labkit"

    @property
    def resource(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"

    def __str__(self) -> str:
        return f"{self.level} [{self.code}] ({self.resource}) {self.text}"


def message(code: str, obj: dict | None, text: str, *, kind: str | None = None, namespace: str | None = None,
            name: str | None = None) -> Message:
    """A message about `obj` (or about kind/namespace/name when there is no object, e.g. a deployment)."""
    meta = (obj or {}).get("metadata") or {}
    if code.startswith("LAB"):
        text += LABKIT_NOTE
    return Message(code=code, level=CODES[code][1], kind=kind or (obj or {}).get("kind", ""),
                   namespace=namespace if namespace is not None else meta.get("namespace", ""),
                   name=name or meta.get("name", ""), text=text)


@dataclass
class Context:
    """The resources under analysis, resolved once.

    `live` is True for a running mesh: its pods really exist, so pod-state checks (IST0103,
    LAB0001) apply; on files the pods are what the deployments would create now.
    `observed` holds `evidence` calls (source/destination workload ids, mtls) when there are any.
    """
    model: MeshModel
    objects: list[dict]
    namespaces: set[str]
    live: bool
    observed: list[dict] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[dict]:
        return [o for o in self.objects if kind_key(o) == kind]

    def find(self, kind: str, namespace: str, name: str) -> dict | None:
        return next((o for o in self.objects if kind_key(o) == kind and o["metadata"]["name"] == name
                     and o["metadata"].get("namespace", "") == namespace), None)

    def pods_matching(self, selector: dict | None, namespace: str | None = None) -> list[Pod]:
        return [p for p in self.model.pods if (namespace is None or p.namespace == namespace) and p.matches(selector)]

    def workload_namespaces(self) -> set[str]:
        kinds = ("Deployment", "Pod")
        return {o["metadata"].get("namespace") for o in self.objects if o.get("kind") in kinds}
