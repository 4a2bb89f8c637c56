"""Which app module emulates a container image, and which variant of it.

Only the repository's name matters (registry, organisation, tag and digest are ignored) except
where the real images differ by tag: tetratelabs/customers 1.x is v1, 2.x is v2. So Istio's
samples apply verbatim whichever registry they name (docker.io/istio/..., registry.istio.io/release/...,
gcr.io/istio-release/..., a mirror).
"""
from __future__ import annotations

from labkit.errors import LabkitError

_BOOKINFO = {"productpage": ("v1",), "details": ("v1",), "reviews": ("v1", "v2", "v3"), "ratings": ("v1",)}

# Repository *name* (its last path component) -> (module, variant). The registry and the
# organisation in front vary by where an image is pulled from (docker.io/istio/...,
# registry.istio.io/release/..., gcr.io/istio-release/..., a mirror), the name does not.
_NAMES: dict[str, tuple[str, str | None]] = {
    "httpbin": ("httpbin", None),            # kennethreitz/, kong/, psf/httpbin
    "go-httpbin": ("httpbin", "go"),         # mccutchen/go-httpbin, Istio's sample since 1.24
    "curl": ("curl", None),                  # curlimages/curl (Istio's curl and sleep samples)
    "curl-ssl": ("curl", None),              # governmentpaas/curl-ssl
    "web-frontend": ("web_frontend", None),  # tetratelabs/web-frontend
    "nginx": ("web", None),
    "examples-helloworld-v1": ("helloworld", "v1"),
    "examples-helloworld-v2": ("helloworld", "v2"),
    "tcp-echo-server": ("tcp_echo", None),   # Istio's samples/tcp-echo
    **{f"examples-bookinfo-{service}-{version}": (service, version)
       for service, versions in _BOOKINFO.items() for version in versions},
}

# repository name -> {tag major version -> variant}; a missing or "latest" tag means the first.
_BY_TAG_MAJOR: dict[str, dict[str, tuple[str, str]]] = {
    "customers": {"1": ("customers", "v1"), "2": ("customers", "v2")},   # tetratelabs/customers
}

# What error messages list (any registry or organisation in front of these names works).
SUPPORTED_IMAGES: tuple[str, ...] = (
    "kennethreitz/httpbin", "mccutchen/go-httpbin", "curlimages/curl", "governmentpaas/curl-ssl", "nginx",
    "tetratelabs/web-frontend", "tetratelabs/customers:1.0.0", "tetratelabs/customers:2.0.0",
    "istio/examples-helloworld-v1", "istio/examples-helloworld-v2", "istio/tcp-echo-server",
    *(f"istio/examples-bookinfo-{service}-{version}" for service, versions in _BOOKINFO.items()
      for version in versions),
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
    """The entry for the repository's name (its last path component)."""
    return table.get(repository.rsplit("/", 1)[-1])


def app_for_image(image: str) -> tuple[str, str | None]:
    """(module under labkit.apps, variant or None) that emulates `image`."""
    repository, tag = parse_image(image)
    found = _lookup(_NAMES, repository)
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


def image_files(module: str) -> dict[str, bytes]:
    """Files the image ships that its app reads (nginx's stock config and welcome page); a volume
    mounted over their folder hides them, as on a cluster."""
    if module == "web":
        from .nginx_image import STOCK_FILES
        return dict(STOCK_FILES)
    return {}
