"""Gateway translation golden files: Gateway/VirtualService/AuthorizationPolicy in, gateway Envoy config out.

Each case runs on top of the mesh's own istio-system objects (the ingress gateway Deployment and Service)
and the shared credentials in golden/gateway/credentials.yaml. Regenerate with LABKIT_UPDATE_GOLDEN=1.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from golden_support import GOLDEN_DIR, cases, check_golden, model_from_yaml
from labkit.envoy.common import ProxyPaths
from labkit.envoy.proxy import GatewaySettings, build_proxy_config

CREDENTIALS = GOLDEN_DIR / "gateway" / "credentials.yaml"


class _OnTopOfTheMesh:
    """A case file read as the mesh's objects, the shared credentials, then the case (golden_support reads
    only `read_text()`, so this stands in for the case's Path)."""

    def __init__(self, case: Path):
        self.case = case

    def read_text(self) -> str:
        system = resources.files("labkit.data").joinpath("istio-system.yaml").read_text()
        return "\n---\n".join((system, CREDENTIALS.read_text(), self.case.read_text()))


def gateway_output(case: Path) -> dict:
    model = model_from_yaml(_OnTopOfTheMesh(case))
    pod = next(p for p in model.pods if p.is_gateway)
    config = build_proxy_config(model, pod, ProxyPaths("/state/pod"), GatewaySettings())
    return {"listeners": config.listeners, "routes": config.routes, "clusters": config.clusters,
            "endpoints": config.endpoints,
            # Which secrets each SDS file holds (their PEMs are the input's); [] is a missing credential.
            "sds": {name: [k for s in secrets for k in s if k in ("tls_certificate", "validation_context")]
                    for name, secrets in config.sds.items()},
            "warnings": config.warnings}


@pytest.mark.parametrize("case", cases("gateway"), ids=lambda p: p.name.replace(".in.yaml", ""))
def test_gateway_translation(case):
    check_golden(case, gateway_output(case))
