"""How the tools reach a mesh: its resources, its proxies' config and their access logs.

`ToolAccess` works on any backend through the public Lab API (`get`, `pods`, `exec`, `logs`): the
config dump comes from `pilot-agent request GET config_dump` in the istio-proxy container, as
`istioctl proxy-config` falls back to. The local mesh has a faster, direct way (`LocalAccess`: the
Envoy admin API and the log files). `Lab.mesh_access()` returns the backend's; a backend with a better
way overrides that one method (the only extension point).
"""
from __future__ import annotations

import json

from ..contract import Lab
from ..constants import PROXY_CONTAINER
from ..errors import LabkitError
from ..model.mesh import MeshModel, build_model
from ..resources.schema import KINDS

SUBNET_UNUSED = 10  # a cluster's pods have real IPs; the model's loopback addresses are then never used


class ToolAccess:
    def __init__(self, lab: Lab):
        self.lab = lab

    # -- resources ------------------------------------------------------------------------------
    def objects(self) -> list[dict]:
        out: list[dict] = []
        for kind in list(KINDS) + ["Pod"]:
            try:
                out += self.lab.get(kind)
            except LabkitError:
                continue  # a kind this cluster does not serve
        return out

    @property
    def subnet(self) -> int:
        return SUBNET_UNUSED

    def model(self, objects: list[dict] | None = None) -> MeshModel:
        """The resolved mesh, from `objects` when the caller has read them already."""
        return build_model(self.objects() if objects is None else objects, self.subnet)

    def addresses(self) -> dict[str, tuple[str, str]] | None:
        """pod IP → (namespace, pod), for reading addresses in access logs."""
        frame = self.lab.pods()
        return {row.ip: (row.namespace, row.pod) for row in frame.itertuples() if row.ip}

    # -- proxies --------------------------------------------------------------------------------
    def proxies(self, model: MeshModel) -> list[tuple[str, str]]:
        return [(p.namespace, p.name) for p in model.pods if p.sidecar or p.is_gateway]

    def config_dump(self, namespace: str, pod: str, *, include_eds: bool = False, why: str = "") -> dict:
        """`pilot-agent request GET config_dump` in the pod's istio-proxy container (`include_eds`: with
        endpoints, as `istioctl proxy-config endpoint` asks); `why` is added to the error (what else failed)."""
        path = "config_dump?include_eds" if include_eds else "config_dump"
        result = self.lab.exec(namespace, pod, ["pilot-agent", "request", "GET", path],
                               container=PROXY_CONTAINER, timeout=60)
        if not result.ok:
            raise LabkitError(f"cannot read the proxy config: {result.stderr.strip() or result.exit_code}{why}",
                              kind="Pod", name=pod, namespace=namespace,
                              hint="the pod needs an istio-proxy sidecar (lab.pods() column sidecar)")
        try:
            return json.loads(result.stdout)
        except ValueError:
            raise LabkitError("the proxy's config_dump is not JSON", kind="Pod", name=pod,
                              namespace=namespace) from None

    def access_log(self, namespace: str, pod: str) -> str:
        return self.lab.logs(namespace, pod, container=PROXY_CONTAINER)

    def access_logs(self, proxies: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
        """(namespace, pod, log text) of each proxy that answers; a pod going away is skipped."""
        out = []
        for namespace, pod in proxies:
            try:
                out.append((namespace, pod, self.access_log(namespace, pod)))
            except (LabkitError, OSError):
                continue
        return out
