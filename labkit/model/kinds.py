"""Which key an object is stored and modelled under, when two API groups serve a kind of the same name.

Istio's `Gateway` (networking.istio.io) and the Kubernetes Gateway API's `Gateway`
(gateway.networking.k8s.io) are different resources with the same kind; a cluster keeps them apart by
group (`kubectl get gateways.gateway.networking.k8s.io`, short name `gtw`). The store and the model do the
same by giving the Gateway API's the key `Gateway.gateway.networking.k8s.io`; every other kind is its own key.
"""
from __future__ import annotations

GATEWAY_API_GROUP = "gateway.networking.k8s.io"
K8S_GATEWAY = f"Gateway.{GATEWAY_API_GROUP}"
QUALIFIED = {("Gateway", GATEWAY_API_GROUP): K8S_GATEWAY}


def kind_key(obj: dict) -> str:
    """The key an object is stored and modelled under: its kind, qualified when two groups share the name."""
    kind = obj.get("kind", "")
    group = str(obj.get("apiVersion") or "").rpartition("/")[0]
    return QUALIFIED.get((kind, group), kind)
