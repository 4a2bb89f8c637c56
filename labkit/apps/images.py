"""Which app module emulates a container image, and which variant of it.

Only the repository path matters (registry, tag and digest are ignored) except where the
real images differ by tag: tetratelabs/customers 1.x is v1, 2.x is v2. A repository
matches by its trailing path components, so mirrors such as gcr.io/tetratelabs/customers
or my.registry/mirror/istio/examples-helloworld-v1 resolve like the Docker Hub names.
"""
from __future__ import annotations

from labkit.errors import LabkitError

_BOOKINFO = {"productpage": ("v1",), "details": ("v1",), "reviews": ("v1", "v2", "v3"), "ratings": ("v1",)}

# repository -> (module, variant)
_REPOSITORIES: dict[str, tuple[str, str | None]] = {
    "kennethreitz/httpbin": ("httpbin", None),
    "mccutchen/go-httpbin": ("httpbin", "go"),
    "kong/httpbin": ("httpbin", None),
    "psf/httpbin": ("httpbin", None),
    "curlimages/curl": ("curl", None),
    "governmentpaas/curl-ssl": ("curl", None),
    "curl": ("curl", None),
    "tetratelabs/web-frontend": ("web_frontend", None),
    "nginx": ("web", None),
    "istio/examples-helloworld-v1": ("helloworld", "v1"),
    "istio/examples-helloworld-v2": ("helloworld", "v2"),
    # Current Istio samples pull from registry.istio.io/release/ (the registry part is dropped).
    "release/examples-helloworld-v1": ("helloworld", "v1"),
    "release/examples-helloworld-v2": ("helloworld", "v2"),
    **{f"istio/examples-bookinfo-{service}-{version}": (service, version)
       for service, versions in _BOOKINFO.items() for version in versions},
}

# repository -> {tag major version -> variant}; a missing or "latest" tag means the first.
_BY_TAG_MAJOR: dict[str, dict[str, tuple[str, str]]] = {
    "tetratelabs/customers": {"1": ("customers", "v1"), "2": ("customers", "v2")},
}

SUPPORTED_IMAGES: tuple[str, ...] = (
    *_REPOSITORIES,
    "tetratelabs/customers:1.0.0",
    "tetratelabs/customers:2.0.0",
)
_HINT = 'use one of the supported images, or run this lab on a real cluster (backend "kube")'


def parse_image(image: str) -> tuple[str, str | None]:
    """(repository path without registry or "library/", tag or None) of an image reference."""
    name = image.strip().split("@", 1)[0]  # a digest pins content, not the app
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag = None
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
    parts = name.lower().split("/")
    # The first component is a registry host when it looks like one (Docker's own rule).
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    if len(parts) > 1 and parts[0] == "library":
        parts = parts[1:]
    return "/".join(parts), tag


def _lookup(table: dict, repository: str):
    """The entry whose key is `repository` or a trailing run of its path components."""
    parts = repository.split("/")
    for start in range(len(parts)):
        entry = table.get("/".join(parts[start:]))
        if entry is not None:
            return entry
    return None


def app_for_image(image: str) -> tuple[str, str | None]:
    """(module under labkit.apps, variant or None) that emulates `image`."""
    repository, tag = parse_image(image)
    found = _lookup(_REPOSITORIES, repository)
    if found is not None:
        return found
    by_tag = _lookup(_BY_TAG_MAJOR, repository)
    if by_tag is not None:
        major = "1" if tag in (None, "latest") else tag.lstrip("v").split(".", 1)[0]
        if major in by_tag:
            return by_tag[major]
        tags = ", ".join(f"{m}.x" for m in by_tag)
        raise LabkitError(f"image {image!r}: the local mesh has no emulation of tag {tag!r} "
                          f"(known tags: {tags}); supported images: {', '.join(SUPPORTED_IMAGES)}",
                          field="image", hint=_HINT)
    raise LabkitError(f"image {image!r} is not one the local mesh can run; "
                      f"supported images: {', '.join(SUPPORTED_IMAGES)}", field="image", hint=_HINT)
