"""Gateway API golden files: Gateway/HTTPRoute/TLSRoute/TCPRoute/ReferenceGrant in; the automated gateway's
Envoy config and the status istiod would write out. Regenerate with LABKIT_UPDATE_GOLDEN=1.

Each case runs on top of the mesh's own istio-system objects (with the GatewayClass `istio`) and the shared
credentials of golden/gateway/credentials.yaml, copied into the namespaces `gw` (where the cases' Gateways
live) and `certs` (for cross-namespace references).
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from golden_support import GOLDEN_DIR, cases, check_golden
from labkit.envoy.common import ProxyPaths
from labkit.envoy.proxy import GatewaySettings, build_proxy_config
from labkit.model.deployments import reconcile_pods
from labkit.model.gateway_deploy import automated_gateway_of, reconcile_automated
from labkit.model.gatewayapi_status import status_updates
from labkit.model.mesh import build_model
from labkit.model.owners import owner_deployment
from labkit.resources.loader import load_documents
from labkit.resources.validate import validate

CREDENTIALS = GOLDEN_DIR / "gateway" / "credentials.yaml"
SUBNET = 10


def _objects(case: Path) -> list[dict]:
    system = resources.files("labkit.data").joinpath("istio-system.yaml").read_text()
    credentials = "\n---\n".join(CREDENTIALS.read_text().replace("namespace: istio-system", f"namespace: {ns}")
                                   for ns in ("gw", "certs"))
    objects = []
    for order, doc in enumerate(load_documents("\n---\n".join((system, credentials, case.read_text())))):
        obj = validate(doc)
        obj["metadata"]["creationTimestamp"] = f"2026-01-01T00:00:{order:02d}Z"
        obj["metadata"]["uid"] = f"uid-{obj['kind']}-{obj['metadata']['name']}"
        objects.append(obj)
    return objects


def model_for(case: Path):
    """The model after istiod's deployment controller and the deployment controller ran (stable pod names)."""
    objects = _objects(case)
    automated, _ = reconcile_automated(objects)
    objects += automated
    created, _ = reconcile_pods(objects)
    for pod in created:
        deployment = owner_deployment(pod["metadata"])
        pod["metadata"]["name"] = f"{deployment}-0"
        pod["metadata"]["uid"] = f"uid-{pod['metadata']['namespace']}-{deployment}"
    return build_model(objects + created, SUBNET)


def _without_times(value):
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items() if k != "lastTransitionTime"}
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


def gateway_api_output(case: Path) -> dict:
    model = model_for(case)
    out: dict = {"status": {f"{o['kind']}/{o['metadata'].get('namespace', '')}/{o['metadata']['name']}":
                            _without_times(o["status"]) for o in status_updates(model)}}
    for pod in sorted((p for p in model.pods if automated_gateway_of(p.labels)), key=lambda p: p.name):
        config = build_proxy_config(model, pod, ProxyPaths("/state/pod"), GatewaySettings())
        out[pod.name] = {"listeners": config.listeners, "clusters": [c["name"] for c in config.clusters],
                         "sds": {name: [k for s in secrets for k in s if k in ("tls_certificate", "validation_context")]
                                 for name, secrets in config.sds.items()},
                         "warnings": config.warnings}
    return out


@pytest.mark.parametrize("case", cases("gateway-api"), ids=lambda p: p.name.replace(".in.yaml", ""))
def test_gateway_api_translation(case):
    check_golden(case, gateway_api_output(case))
