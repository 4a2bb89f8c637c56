"""Discovery (/api, /apis, /api/v1, /apis/G/V), /version and OpenAPI v3.

kubectl asks for aggregated discovery first and falls back to these legacy documents when the
answer is plain application/json. OpenAPI v3 is served as far as kubectl reads it: each patch
operation says which GroupVersionKind it serves, that it takes the `fieldValidation` query parameter
(so kubectl leaves validation to the server: k8s.io/cli-runtime resource.QueryParamVerifierV3) and
which patch content types it accepts; the components are the kinds' schemas for `kubectl explain`
(kubeapi/openapi.py).
"""
from __future__ import annotations

import functools
import hashlib
import json

from .openapi import components
from .registry import RESOURCES, Resource, groups

KUBERNETES_VERSION = {"major": "1", "minor": "37", "emulationMajor": "1", "emulationMinor": "37",
                      "minCompatibilityMajor": "1", "minCompatibilityMinor": "36",
                      "gitVersion": "v1.37.0", "gitCommit": "labkit-local-mesh", "gitTreeState": "clean",
                      "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.25", "compiler": "gc",
                      "platform": "linux/amd64"}
SUBRESOURCES: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {
    "Pod": [("exec", "PodExecOptions", ("create", "get")), ("log", "Pod", ("get",)),
            ("portforward", "PodPortForwardOptions", ("create", "get")),
            ("status", "Pod", ("get", "patch", "update"))],
    "Deployment": [("scale", "Scale", ("get", "patch", "update")),
                   ("status", "Deployment", ("get", "patch", "update"))],
}


def api_versions(address: str) -> dict:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}]}


def _group_entry(name: str, versions: list[str]) -> dict:
    listed = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": listed, "preferredVersion": listed[0]}


def api_group_list() -> dict:
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group_entry(g, v) for g, v in groups().items() if g]}


def api_group(name: str) -> dict | None:
    versions = groups().get(name)
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(name, versions)} if versions and name else None


def _entry(resource: Resource) -> dict:
    entry = {"name": resource.plural, "singularName": resource.singular, "namespaced": resource.namespaced,
             "kind": resource.kind, "verbs": list(resource.verbs),
             "storageVersionHash": hashlib.sha256(resource.plural.encode()).hexdigest()[:11]}
    if resource.short:
        entry["shortNames"] = list(resource.short)
    if resource.categories:
        entry["categories"] = list(resource.categories)
    return entry


def resource_list(group: str, version: str) -> dict | None:
    served = [r for r in RESOURCES.values() if r.group == group and version in r.versions]
    if not served:
        return None
    entries = []
    for resource in sorted(served, key=lambda r: r.plural):
        entries.append(_entry(resource))
        for sub, kind, verbs in SUBRESOURCES.get(resource.kind, []):
            entries.append({"name": f"{resource.plural}/{sub}", "singularName": "", "namespaced": True,
                            "kind": kind, "verbs": list(verbs)})
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{group}/{version}" if group else version,
            "resources": entries}


def _gv_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def openapi_root() -> dict:
    paths = {}
    for group, versions in groups().items():
        for version in versions:
            path = _gv_path(group, version)
            digest = hashlib.sha512(json.dumps(openapi_group_version(group, version), sort_keys=True)
                                    .encode()).hexdigest()[:64].upper()
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": paths}


PARAMETERS = [{"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
              for n in ("dryRun", "fieldManager", "fieldValidation", "force")]


@functools.lru_cache(maxsize=None)
def openapi_group_version(group: str, version: str) -> dict | None:
    """One group-version's OpenAPI v3 document (the same every time: cached, never to be modified)."""
    served = [r for r in RESOURCES.values() if r.group == group and version in r.versions]
    if not served:
        return None
    paths = {}
    for resource in served:
        base = f"/{_gv_path(group, version)}/" + ("namespaces/{namespace}/" if resource.namespaced else "")
        gvk = {"group": group, "version": version, "kind": resource.kind}
        content = ["application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"]
        # Strategic merge is not listed: kubectl would then compute it from OpenAPI schemas we do not
        # serve; without it kubectl computes strategic merge patches from its built-in types instead.
        patch: dict = {"operationId": f"patch{resource.kind}", "parameters": PARAMETERS,
                 "requestBody": {"content": {c: {"schema": {"type": "object"}} for c in content}, "required": True},
                 "responses": {"200": {"description": "OK"}},
                 "x-kubernetes-action": "patch", "x-kubernetes-group-version-kind": gvk}
        if "patch" not in resource.verbs:
            paths[f"{base}{resource.plural}/{{name}}"] = {"get": {"x-kubernetes-action": "get",
                                                                   "x-kubernetes-group-version-kind": gvk}}
            continue
        paths[f"{base}{resource.plural}/{{name}}"] = {
            "get": {"x-kubernetes-action": "get", "x-kubernetes-group-version-kind": gvk}, "patch": patch}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION["gitVersion"]},
            "paths": paths, "components": {"schemas": components(group, version)}}
