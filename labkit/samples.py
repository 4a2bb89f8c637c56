"""The sample applications' YAML, as Istio and the course materials ship it."""
from __future__ import annotations

from importlib import resources

from .errors import LabkitError


def names() -> list[str]:
    folder = resources.files("labkit.data").joinpath("samples")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def sample(name: str) -> str:
    """YAML text of a sample (e.g. "httpbin", "curl", "sleep"), ready for `lab.apply(..., namespace=...)`."""
    path = resources.files("labkit.data").joinpath("samples").joinpath(f"{name}.yaml")
    if not path.is_file():
        raise LabkitError(f"no sample named {name!r}", hint="samples: " + ", ".join(names()))
    return path.read_text()


def system_objects() -> list[dict]:
    """The mesh's own resources (istio-system: istiod, the ingress gateway), as an Istio install creates them."""
    from .resources.loader import load_documents
    text = resources.files("labkit.data").joinpath("istio-system.yaml").read_text()
    return load_documents(text)
