"""Image mapping for air-gapped workshops: `LABKIT_IMAGE_MAP` rewrites container images on apply.

The map is JSON (``{"curlimages/curl:8.5.0": "registry.local/curl:8.5.0"}``) or a list
``from=to,from=to``. A key matches an image

* exactly (``docker.io/kennethreitz/httpbin`` = ``docker.io/kennethreitz/httpbin``);
* as a repository without tag (key ``curlimages/curl`` maps ``curlimages/curl:8.5.0`` to
  ``<to>:8.5.0`` unless ``<to>`` has a tag of its own);
* as a registry/path prefix when it ends with ``/`` (``docker.io/`` → ``registry.local:5000/``).

Docker Hub shorthand is understood: ``nginx``, ``library/nginx`` and ``docker.io/library/nginx``
are the same repository.
"""
from __future__ import annotations

import copy
import json
import os
from typing import Mapping

from ..errors import LabkitError

ENV = "LABKIT_IMAGE_MAP"


def parse_image_map(text: str | None) -> dict[str, str]:
    """`LABKIT_IMAGE_MAP` text → {from: to}."""
    if text is None or not text.strip():
        return {}
    text = text.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LabkitError(f"{ENV} is not valid JSON: {exc}",
                              hint='use {"from-image": "to-image"} or from=to,from=to')
        if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in data.items()):
            raise LabkitError(f"{ENV} JSON must map image names to image names")
        return {k.strip(): v.strip() for k, v in data.items() if k.strip()}
    out: dict[str, str] = {}
    for item in text.replace("\n", ",").split(","):
        item = item.strip()
        if not item:
            continue
        if "=" not in item:
            raise LabkitError(f"{ENV} entry {item!r} has no '='", hint="write from=to,from=to")
        src, dst = (part.strip() for part in item.split("=", 1))
        if not src or not dst:
            raise LabkitError(f"{ENV} entry {item!r} has an empty side", hint="write from=to,from=to")
        out[src] = dst
    return out


def image_map_from_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    return parse_image_map((environ if environ is not None else os.environ).get(ENV))


def _split(image: str) -> tuple[str, str]:
    """``repo:tag`` / ``repo@sha256:..`` → (repo, suffix incl. separator)."""
    at = image.find("@")
    if at >= 0:
        return image[:at], image[at:]
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon:]
    return image, ""


def _canonical_repo(repo: str) -> str:
    """Docker Hub shorthand → ``docker.io/library/nginx``."""
    parts = repo.split("/")
    if len(parts) == 1:
        return f"docker.io/library/{repo}"
    first = parts[0]
    if "." in first or ":" in first or first == "localhost":
        if first in ("index.docker.io", "registry-1.docker.io"):
            parts[0] = "docker.io"
        if parts[0] == "docker.io" and len(parts) == 2:
            parts.insert(1, "library")
        return "/".join(parts)
    return f"docker.io/{repo}"


def map_image(image: str, mapping: Mapping[str, str]) -> str:
    """The image to use instead of `image` (unchanged when no key matches)."""
    if not mapping or not isinstance(image, str):
        return image
    if image in mapping:
        return mapping[image]
    repo, suffix = _split(image)
    canon_repo = _canonical_repo(repo)
    canon_image = canon_repo + suffix
    for src, dst in mapping.items():
        if src.endswith("/"):
            continue
        s_repo, s_suffix = _split(src)
        if s_suffix:
            if _canonical_repo(s_repo) + s_suffix == canon_image:
                return dst
        elif _canonical_repo(s_repo) == canon_repo:
            d_repo, d_suffix = _split(dst)
            return dst if d_suffix else dst + suffix
    # prefix keys: longest first
    for src in sorted((k for k in mapping if k.endswith("/")), key=len, reverse=True):
        if image.startswith(src):
            return mapping[src] + image[len(src):]
        if canon_image.startswith(src):
            return mapping[src] + canon_image[len(src):]
    return image


def _pod_specs(obj: dict) -> list[dict]:
    kind = obj.get("kind")
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return []
    if kind == "Pod":
        return [spec]
    if kind == "CronJob":
        inner = (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec")
        return [inner] if isinstance(inner, dict) else []
    template = spec.get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        return [template["spec"]]
    return []


def rewrite_images(obj: dict, mapping: Mapping[str, str]) -> dict:
    """A copy of a workload (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob)
    with its container images mapped."""
    if not mapping:
        return obj
    out = copy.deepcopy(obj)
    for spec in _pod_specs(out):
        for key in ("containers", "initContainers", "ephemeralContainers"):
            for container in spec.get(key) or []:
                if isinstance(container, dict) and isinstance(container.get("image"), str):
                    container["image"] = map_image(container["image"], mapping)
    return out
