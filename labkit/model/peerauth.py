"""Effective PeerAuthentication, composed as istiod's ComposePeerAuthentication does.

Rules followed (shared/docs/istio-semantics.md §1): mesh (root namespace, no selector) → namespace
(no selector) → workload (selector, own namespace); UNSET inherits; a root-namespace policy with a
selector is ignored; at one level the oldest policy wins (creationTimestamp, then name); portLevelMtls
comes from the workload policy and is keyed by the container port.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .mesh import ROOT_NAMESPACE, MeshModel, Pod, workload_selector

PERMISSIVE, STRICT, DISABLE, UNSET = "PERMISSIVE", "STRICT", "DISABLE", "UNSET"


@dataclass(frozen=True)
class EffectiveMtls:
    mode: str                                     # workload-level effective mode
    port_modes: dict = field(default_factory=dict)  # container port -> mode
    applied: tuple[str, ...] = ()                 # "name.namespace" of the policies that decided it

    def for_port(self, port: int) -> str:
        return self.port_modes.get(port, self.mode)


def _mode(policy: dict | None) -> str:
    if not policy:
        return UNSET
    return ((policy.get("spec") or {}).get("mtls") or {}).get("mode") or UNSET


def _name(policy: dict) -> str:
    return f"{policy['metadata']['name']}.{policy['metadata']['namespace']}"


def _levels(model: MeshModel, namespace: str, pod: Pod | None):
    """(mesh, namespace, workload) policies, the oldest at each level (the model keeps them sorted)."""
    policies = model.of_kind("PeerAuthentication")
    mesh = next((p for p in policies if p["metadata"]["namespace"] == ROOT_NAMESPACE and not workload_selector(p)), None)
    ns_level = next((p for p in policies if p["metadata"]["namespace"] == namespace and not workload_selector(p)), None)
    if namespace == ROOT_NAMESPACE:
        ns_level = None  # the root namespace's selector-less policy is the mesh level
    workload = None
    if pod is not None and namespace != ROOT_NAMESPACE:
        workload = next((p for p in policies if p["metadata"]["namespace"] == namespace and workload_selector(p)
                         and pod.matches(workload_selector(p))), None)
    return mesh, ns_level, workload


def level_policy(model: MeshModel, namespace: str) -> dict | None:
    """The selector-less policy that sets `namespace`'s level (the mesh level for the root namespace)."""
    mesh, ns_level, _ = _levels(model, namespace, None)
    return mesh if namespace == ROOT_NAMESPACE else ns_level


def effective_mtls(model: MeshModel, pod: Pod) -> EffectiveMtls:
    mesh, ns_level, workload = _levels(model, pod.namespace, pod)
    mode, applied = PERMISSIVE, []
    for policy in (mesh, ns_level, workload):
        if policy is not None:
            applied.append(_name(policy))
            if _mode(policy) != UNSET:
                mode = _mode(policy)
    port_modes = {}
    if workload is not None:
        for port, setting in ((workload.get("spec") or {}).get("portLevelMtls") or {}).items():
            port_mode = (setting or {}).get("mode") or UNSET
            port_modes[int(port)] = mode if port_mode == UNSET else port_mode
    return EffectiveMtls(mode=mode, port_modes=port_modes, applied=tuple(applied))


def inferred_service_mode(model: MeshModel, namespace: str) -> str:
    """BestEffortInferServiceMTLSMode: only namespace and mesh level count for the client side."""
    mesh, ns_level, _ = _levels(model, namespace, None)
    mode = PERMISSIVE
    for policy in (mesh, ns_level):
        if policy is not None and _mode(policy) != UNSET:
            mode = _mode(policy)
    return mode


def ignored_policies(model: MeshModel) -> list[tuple[dict, str]]:
    """Policies istiod would skip, with the reason (for the analyzer and describe)."""
    out = []
    seen_levels: dict[tuple[str, bool], dict] = {}
    for policy in model.of_kind("PeerAuthentication"):
        namespace = policy["metadata"]["namespace"]
        if namespace == ROOT_NAMESPACE and workload_selector(policy):
            out.append((policy, "a policy with a selector in the root namespace is ignored"))
            continue
        if not workload_selector(policy):
            key = (namespace, False)
            if key in seen_levels:
                first = seen_levels[key]
                out.append((policy, f"Namespace/mesh-level PeerAuthentication is already defined for "
                                    f"\"{namespace}\": {_name(first)} is older"))
            else:
                seen_levels[key] = policy
    return out
