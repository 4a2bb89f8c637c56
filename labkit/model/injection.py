"""Sidecar injection: which new pods Istio's injector gives an istio-proxy, and the webhook that asks it.

The one home of the rule, used by the local mesh's deployment controller (model/deployments.py), the
analyzer, and the MutatingWebhookConfiguration the local Kubernetes API shows (kubeapi), so what
`kubectl get mutatingwebhookconfiguration istio-sidecar-injector -o yaml` prints is what decides here.

Two steps, as on a cluster:
1. The API server calls the injector only when one of the webhooks' namespaceSelector and objectSelector
   both match (istio/istio manifests/charts/istio-control/istio-discovery/templates/mutatingwebhook.yaml,
   default revision: `rev.namespace.`, `rev.object.`, `namespace.`, `object.` sidecar-injector.istio.io).
   So `istio-injection=enabled` on the namespace, or `istio.io/rev=default` on it, or the pod *label*
   `sidecar.istio.io/inject: "true"` in a namespace without either label.
2. The injector itself (pkg/kube/inject/inject.go `injectRequired`, policy `enabled`) injects unless the
   pod's label, else its annotation, `sidecar.istio.io/inject` is exactly "false", and never in
   kube-system / kube-public (IgnoredNamespaces). An annotation "true" alone never reaches it.
"""
from __future__ import annotations

WEBHOOK_CONFIGURATION = "istio-sidecar-injector"
INJECT_KEY = "sidecar.istio.io/inject"
REVISION_KEY = "istio.io/rev"
NAMESPACE_KEY = "istio-injection"
DEFAULT_REVISION = "default"
IGNORED_NAMESPACES = ("kube-system", "kube-public")


def _expr(key: str, operator: str, *values: str) -> dict:
    return {"key": key, "operator": operator, **({"values": list(values)} if values else {})}


# (name prefix, namespaceSelector expressions, objectSelector expressions), as the chart renders them.
WEBHOOKS = (
    ("rev.namespace.", [_expr(REVISION_KEY, "In", DEFAULT_REVISION), _expr(NAMESPACE_KEY, "DoesNotExist")],
     [_expr(INJECT_KEY, "NotIn", "false")]),
    ("rev.object.", [_expr(REVISION_KEY, "DoesNotExist"), _expr(NAMESPACE_KEY, "DoesNotExist")],
     [_expr(INJECT_KEY, "NotIn", "false"), _expr(REVISION_KEY, "In", DEFAULT_REVISION)]),
    ("namespace.", [_expr(NAMESPACE_KEY, "In", "enabled")], [_expr(INJECT_KEY, "NotIn", "false")]),
    ("object.", [_expr(NAMESPACE_KEY, "DoesNotExist"), _expr(REVISION_KEY, "DoesNotExist")],
     [_expr(INJECT_KEY, "In", "true"), _expr(REVISION_KEY, "DoesNotExist")]),
)


def selector_matches(selector: dict | None, labels: dict) -> bool:
    """A Kubernetes LabelSelector (matchLabels + matchExpressions) against labels; an empty one matches all."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def mutating_webhook_configuration(istiod_namespace: str = "istio-system") -> dict:
    """The istio-sidecar-injector MutatingWebhookConfiguration of a default-revision install."""
    webhooks = []
    for prefix, namespace_exprs, object_exprs in WEBHOOKS:
        webhooks.append({
            "name": f"{prefix}sidecar-injector.istio.io",
            "clientConfig": {"service": {"name": "istiod", "namespace": istiod_namespace, "path": "/inject",
                                         "port": 443}},
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"],
                       "scope": "*"}],
            "failurePolicy": "Fail", "matchPolicy": "Equivalent", "sideEffects": "None",
            "reinvocationPolicy": "Never", "admissionReviewVersions": ["v1"], "timeoutSeconds": 10,
            "namespaceSelector": {"matchExpressions": namespace_exprs},
            "objectSelector": {"matchExpressions": object_exprs},
        })
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": WEBHOOK_CONFIGURATION,
                         "labels": {"app": "sidecar-injector", "istio.io/rev": DEFAULT_REVISION,
                                    "operator.istio.io/component": "Pilot", "app.kubernetes.io/name": "istiod",
                                    "release": "istio"}},
            "webhooks": webhooks}


def webhook_called(namespace_labels: dict, pod_labels: dict) -> str | None:
    """The webhook the API server sends a new pod to, or None (then no injection at all)."""
    for hook in mutating_webhook_configuration()["webhooks"]:
        if selector_matches(hook["namespaceSelector"], namespace_labels) and \
                selector_matches(hook["objectSelector"], pod_labels):
            return hook["name"]
    return None


def injector_injects(namespace: str | None, pod_labels: dict, pod_annotations: dict) -> bool:
    """inject.go injectRequired with the default policy `enabled`: the label wins over the annotation."""
    if namespace in IGNORED_NAMESPACES:
        return False
    choice = pod_labels.get(INJECT_KEY, pod_annotations.get(INJECT_KEY, ""))
    return choice != "false"


def wants_sidecar(namespace_labels: dict, pod_labels: dict, pod_annotations: dict,
                  namespace: str | None = None) -> bool:
    """Whether a new pod gets Istio's sidecar: the webhook is called, and the injector agrees."""
    return webhook_called(namespace_labels, pod_labels) is not None and \
        injector_injects(namespace, pod_labels, pod_annotations)


# Native sidecars (istio-proxy as an init container with restartPolicy Always): Istio's default
# ENABLE_NATIVE_SIDECARS=auto turns them on when every node's kubelet is 1.33 or later, where the feature is
# stable (pkg/kube/inject DetectNativeSidecar; one older node turns them off for the whole cluster).
NATIVE_SIDECAR_MIN_KUBELET = 33


def native_sidecars_detected(kubelet_versions: list[str]) -> bool:
    """Istio's auto detection over the nodes' kubelet versions (`v1.33.1`, `v1.32.0+k3s1`)."""
    import re

    if not kubelet_versions:
        return False
    for version in kubelet_versions:
        found = re.match(r"v?(\d+)\.(\d+)", version or "")
        if not found or (int(found.group(1)), int(found.group(2))) < (1, NATIVE_SIDECAR_MIN_KUBELET):
            return False
    return True
