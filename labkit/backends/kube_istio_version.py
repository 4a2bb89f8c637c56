"""Which Istio the labs need, and the error a cluster with an older one gets.

The labs write `networking.istio.io/v1` and `security.istio.io/v1`. Istio serves the `v1` API versions
of its networking and security CRDs from release 1.22 on (istio.io news "Istio 1.22 announcement":
"Istio APIs promoted to v1"); an older Istio serves those groups only as v1beta1/v1alpha3, and an apply
of a v1 object is then answered "the server could not find the requested resource".
"""
from __future__ import annotations

import re

from ..errors import LabkitError

MIN_ISTIO = (1, 22)
MIN_ISTIO_TEXT = f"{MIN_ISTIO[0]}.{MIN_ISTIO[1]}"
UPGRADE_HINT = (f"the labs need Istio {MIN_ISTIO_TEXT} or later: upgrade it (istioctl upgrade, or "
                "istioctl install --set profile=demo -y with a current istioctl); `labkit doctor --backend kube` "
                "shows the version")
_VERSION = re.compile(r"(\d+)\.(\d+)")


def istio_minor(version: str | None) -> tuple[int, int] | None:
    """(major, minor) of an Istio version or image tag such as "1.28.1" or "1.21.0-distroless"."""
    found = _VERSION.search(version or "")
    return (int(found.group(1)), int(found.group(2))) if found else None


def istio_too_old(version: str | None) -> bool:
    minor = istio_minor(version)
    return minor is not None and minor < MIN_ISTIO


def unserved_version_error(api_version: str, kind: str, served_versions: list[str]) -> LabkitError:
    """The error for a kind the cluster does not serve at `api_version`: Istio too old when the group is
    served at other versions only, Istio missing when not at all."""
    group = str(api_version).rpartition("/")[0]
    if served_versions:
        have = ", ".join(f"{group}/{v}" for v in sorted(served_versions))
        return LabkitError(f"the cluster serves {group} only as {have}, not {api_version}: its Istio is older "
                           f"than {MIN_ISTIO_TEXT}", kind=kind, field="apiVersion", hint=UPGRADE_HINT)
    return LabkitError(f"the cluster does not serve {kind} in {api_version}", kind=kind, field="apiVersion",
                       hint="Istio's CRDs are missing: install Istio (istioctl install --set profile=demo -y); "
                            "`labkit doctor --backend kube` checks it")
