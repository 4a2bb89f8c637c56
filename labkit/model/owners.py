"""Which Deployment a pod belongs to, found as on a cluster: never through a label only we add.

Kubernetes (docs "Deployments", "ReplicaSet"): a Deployment's pods are owned by a ReplicaSet named
`<deployment>-<pod-template-hash>` (ownerReferences, controller: true), and carry the label
`pod-template-hash`. `kubectl` and Istio's tools walk that chain; without the ReplicaSet object at hand,
its name minus the hash names the Deployment. A pod without such an owner belongs to the Deployment
whose selector matches its labels, if exactly one does.
"""
from __future__ import annotations

HASH_LABEL = "pod-template-hash"


def replica_set_name(deployment: str, template_hash: str) -> str:
    return f"{deployment}-{template_hash}"


def owner_deployment(metadata: dict, deployments: list[dict] | None = None) -> str | None:
    """The Deployment owning a pod with this metadata, or None for a bare pod."""
    labels = metadata.get("labels") or {}
    for ref in metadata.get("ownerReferences") or []:
        if ref.get("kind") == "ReplicaSet" and ref.get("controller", True):
            name, template_hash = ref.get("name", ""), labels.get(HASH_LABEL)
            if template_hash and name.endswith("-" + template_hash):
                return name[: -len(template_hash) - 1]
            return name.rsplit("-", 1)[0] if "-" in name else name
    namespace = metadata.get("namespace")
    matching = [d["metadata"]["name"] for d in deployments or []
                if d["metadata"].get("namespace") == namespace and _selects(d, labels)]
    return matching[0] if len(matching) == 1 else None


def _selects(deployment: dict, labels: dict) -> bool:
    selector = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())
