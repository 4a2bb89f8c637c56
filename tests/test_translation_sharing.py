"""Outbound clusters are translated once per model and shared between clients that cannot differ
(envoy/sidecar.py outbound_clusters): each proxy's config must equal the one it gets translated alone."""
from __future__ import annotations

import pytest

from golden_support import cases, model_from_yaml
from labkit.envoy.common import ProxyPaths
from labkit.envoy.proxy import GatewaySettings, build_proxy_config

DR_SELECTING = """
apiVersion: v1
kind: Namespace
metadata: {name: foo, labels: {istio-injection: enabled}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: one, namespace: foo}
spec:
  selector: {matchLabels: {app: one}}
  template:
    metadata: {labels: {app: one}}
    spec: {containers: [{name: web, image: nginx, ports: [{containerPort: 80}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: two, namespace: foo}
spec:
  selector: {matchLabels: {app: two}}
  template:
    metadata: {labels: {app: two}}
    spec: {containers: [{name: web, image: nginx, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: foo}
spec: {selector: {app: one}, ports: [{name: http, port: 80}]}
"""
WITH_SELECTOR = DR_SELECTING + """---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: only-two, namespace: foo}
spec:
  host: web.foo.svc.cluster.local
  workloadSelector: {matchLabels: {app: two}}
  trafficPolicy: {tls: {mode: DISABLE}}
"""
WITH_FILES = DR_SELECTING + """---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: files, namespace: foo}
spec:
  host: web.foo.svc.cluster.local
  trafficPolicy: {tls: {mode: SIMPLE, caCertificates: /etc/certs/ca.pem}}
"""


class _Text:
    def __init__(self, text: str):
        self.text = text

    def read_text(self) -> str:
        return self.text


def configs(source, shared: bool) -> dict:
    """Every proxy's config, from one model (shared translation) or from a fresh model each (alone)."""
    model = model_from_yaml(source)
    out = {}
    for pod in sorted(model.pods, key=lambda p: (p.namespace, p.name)):
        if pod.sidecar or pod.is_gateway:
            own = model if shared else model_from_yaml(source)
            config = build_proxy_config(own, next(p for p in own.pods if p.uid == pod.uid),
                                        ProxyPaths(f"/state/{pod.namespace}_{pod.name}"), GatewaySettings())
            out[pod.uid] = (config.clusters, config.endpoints, config.listeners, config.routes, config.warnings)
    return out


@pytest.mark.parametrize("case", cases("sidecar"), ids=lambda p: p.name.replace(".in.yaml", ""))
def test_shared_translation_equals_translation_alone(case):
    assert configs(case, shared=True) == configs(case, shared=False)


@pytest.mark.parametrize("text", [DR_SELECTING, WITH_SELECTOR, WITH_FILES], ids=["plain", "selector", "files"])
def test_clients_share_only_what_cannot_differ(text):
    source = _Text(text)
    assert configs(source, shared=True) == configs(source, shared=False)
    model = model_from_yaml(source)
    for pod in model.pods:
        if pod.sidecar:
            build_proxy_config(model, pod, ProxyPaths(f"/state/{pod.name}"), GatewaySettings())
    entries = [k for k in model.client_view if isinstance(k, tuple) and k[0] == "outbound_clusters"]
    # Two sidecars, one service: shared unless a DestinationRule selects one of them or names files (then
    # each proxy has its own entry, or none when its translation warned: warnings name the proxy).
    if text is DR_SELECTING:
        assert len(entries) == 1, entries
    elif text is WITH_SELECTOR:
        assert len(entries) == 2, entries
    else:
        assert len(entries) in (0, 2) and len({k[-1] for k in entries}) == len(entries), entries
