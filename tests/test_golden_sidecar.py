"""Sidecar translation golden files: every change to generated Envoy config shows up as a diff."""
from __future__ import annotations

import pytest

from golden_support import cases, check_golden, model_from_yaml
from labkit.envoy.common import ProxyPaths
from labkit.envoy.proxy import GatewaySettings, build_proxy_config


@pytest.mark.parametrize("case", cases("sidecar"), ids=lambda p: p.name.replace(".in.yaml", ""))
def test_sidecar_translation(case):
    model = model_from_yaml(case)
    out = {}
    for pod in sorted(model.pods, key=lambda p: (p.namespace, p.name)):
        if pod.sidecar:
            config = build_proxy_config(model, pod, ProxyPaths(f"/state/{pod.namespace}_{pod.name}/istio-proxy"),
                                        GatewaySettings())
            out[f"{pod.namespace}/{pod.name}"] = {"listeners": config.listeners, "clusters": config.clusters,
                                                  "routes": config.routes, "endpoints": config.endpoints,
                                                  "warnings": config.warnings}
    assert out, "a golden case needs at least one pod with a sidecar"
    check_golden(case, out)
