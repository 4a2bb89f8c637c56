"""The mesh configuration as checks reason about it: the stored resources, resolved by Istio's rules.

Read through `lab.mesh_access()`, the same path the tools use, so hints and tools see the same mesh on
the local backend and on a cluster; the resolution itself (PeerAuthentication levels, DestinationRule
lookup) is labkit.model, which follows istiod.
"""
from __future__ import annotations

from functools import cached_property

from ..contract import Lab
from ..model.destrule import ClientTls, client_tls, destination_rule_for
from ..model.kinds import kind_key
from ..model.mesh import ROOT_NAMESPACE, MeshModel, Pod, Service, workload_selector
from ..model.peerauth import EffectiveMtls, effective_mtls

INJECTION_LABEL = "istio-injection"


class MeshView:
    def __init__(self, lab: Lab):
        self.lab = lab
        self.access = lab.mesh_access()
        self.objects: list[dict] = self.access.objects()

    @cached_property
    def model(self) -> MeshModel:
        return self.access.model(self.objects)

    @cached_property
    def pod_table(self):
        return self.lab.pods()

    def of_kind(self, kind: str, namespace: str | None = None) -> list[dict]:
        return [o for o in self.objects if kind_key(o) == kind
                and (namespace is None or o["metadata"].get("namespace") == namespace)]

    def find(self, kind: str, name: str, namespace: str | None = None) -> dict | None:
        return next((o for o in self.of_kind(kind, namespace) if o["metadata"]["name"] == name), None)

    # -- namespaces and pods ------------------------------------------------------------------------
    def namespace_exists(self, namespace: str) -> bool:
        return namespace in self.model.namespaces

    def namespace_labels(self, namespace: str) -> dict:
        return dict(self.model.namespaces.get(namespace) or {})

    def injection_enabled(self, namespace: str) -> bool:
        labels = self.namespace_labels(namespace)
        return labels.get(INJECTION_LABEL) == "enabled" or (
            "istio.io/rev" in labels and labels.get(INJECTION_LABEL) != "disabled")

    def pods(self, namespace: str) -> list[Pod]:
        return [p for p in self.model.pods if p.namespace == namespace]

    def pod_rows(self, namespace: str) -> list[dict]:
        table = self.pod_table
        return table[table.namespace == namespace].to_dict("records")

    def has_sidecar(self, namespace: str, pod_name: str) -> bool:
        return any(r["pod"] == pod_name and bool(r["sidecar"]) for r in self.pod_rows(namespace))

    def deployment_pods(self, namespace: str, deployment: str) -> list[dict]:
        """Rows of the pods table that belong to a deployment (Kubernetes names them `<deployment>-<hash>-<id>`)."""
        prefix = f"{deployment}-"
        return [r for r in self.pod_rows(namespace) if r["pod"].startswith(prefix)
                and r["pod"][len(prefix):].count("-") == 1]

    # -- services and policies ----------------------------------------------------------------------
    def service(self, name: str, namespace: str) -> Service | None:
        return next((s for s in self.model.services if s.name == name and s.namespace == namespace), None)

    def endpoints(self, service: Service) -> list[Pod]:
        return self.model.endpoints(service)

    def effective(self, pod: Pod) -> EffectiveMtls:
        return effective_mtls(self.model, pod)

    def client_pod(self, client_namespace: str) -> Pod | None:
        """The pod the checks call from (`curl.<namespace>`, a pod of Deployment curl, found through its owner as
        on a cluster): a DestinationRule's workloadSelector may pick it."""
        return next((p for p in self.model.pods if p.namespace == client_namespace and p.deployment == "curl"),
                    None)

    def client_tls(self, client_namespace: str, service: Service, port: int) -> ClientTls:
        return client_tls(self.model, client_namespace, service, port, self.client_pod(client_namespace))

    def destination_rule(self, client_namespace: str, service: Service) -> dict | None:
        return destination_rule_for(self.model, client_namespace, service, self.client_pod(client_namespace))

    def peer_authentications(self, namespace: str | None = None) -> list[dict]:
        return self.model_policies("PeerAuthentication", namespace)

    def model_policies(self, kind: str, namespace: str | None = None) -> list[dict]:
        return [p for p in self.model.of_kind(kind) if namespace is None or p["metadata"]["namespace"] == namespace]


def policy_mode(policy: dict) -> str:
    return ((policy.get("spec") or {}).get("mtls") or {}).get("mode") or "UNSET"


def policy_selector(policy: dict) -> dict:
    return workload_selector(policy)


def ref(obj: dict) -> str:
    """`namespace/name` as kubectl prints it."""
    meta = obj["metadata"]
    return f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]


def labels_text(labels: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items())
                     if not k.startswith(("labkit.io/", "pod-template-hash", "security.istio.io/",
                                          "service.istio.io/"))) or "none"


__all__ = ["MeshView", "ROOT_NAMESPACE", "policy_mode", "policy_selector", "ref", "labels_text"]
