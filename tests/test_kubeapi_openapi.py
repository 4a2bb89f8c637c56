"""The OpenAPI v3 documents `kubectl explain` reads are generated from the store's schemas (one source)."""
from __future__ import annotations

from labkit.kubeapi.discovery import openapi_group_version
from labkit.kubeapi.openapi import component_name, node_schema
from labkit.kubeapi.registry import BY_KIND
from labkit.resources.schema import KINDS


def test_every_validated_kind_has_its_schema_under_its_kube_openapi_name():
    for kind, info in KINDS.items():
        resource = BY_KIND[kind]
        for version in resource.versions:
            document = openapi_group_version(resource.group, version)
            schema = document["components"]["schemas"][component_name(resource, version)]
            assert schema["x-kubernetes-group-version-kind"] == [
                {"group": resource.group, "version": version, "kind": resource.kind}]
            for field, node in info.spec.items():
                generated = {k: v for k, v in schema["properties"][field].items() if k != "description"}
                plain = {k: v for k, v in node_schema(node).items() if k != "description"}
                assert generated.keys() == plain.keys(), (kind, field)
    assert component_name(BY_KIND["Pod"], "v1") == "io.k8s.api.core.v1.Pod"
    assert component_name(BY_KIND["ServiceEntry"], "v1") == "io.istio.networking.v1.ServiceEntry"
    assert component_name(BY_KIND["Role"], "v1") == "io.k8s.api.rbac.v1.Role"
    # Istio's Gateway and the Gateway API's share the kind name; each document carries its own fields.
    istio = openapi_group_version("networking.istio.io", "v1")["components"]["schemas"]
    gateway_api = openapi_group_version("gateway.networking.k8s.io", "v1")["components"]["schemas"]
    assert "servers" in istio["io.istio.networking.v1.Gateway"]["properties"]["spec"]["properties"]
    assert "listeners" in gateway_api["io.k8s.networking.gateway.v1.Gateway"]["properties"]["spec"]["properties"]


def test_schema_nodes_map_to_openapi_types():
    from labkit.resources.schema import ANY, INT_OR_STR, LABELS, Enum
    assert node_schema([str]) == {"type": "array", "items": {"type": "string"}}
    assert node_schema(LABELS) == {"type": "object", "additionalProperties": {"type": "string"}}
    assert node_schema(Enum(("A", "B"))) == {"type": "string", "enum": ["A", "B"]}
    assert node_schema(INT_OR_STR)["format"] == "int-or-string"
    assert node_schema(ANY) == {"x-kubernetes-preserve-unknown-fields": True}
    assert node_schema({"mode": bool})["properties"]["mode"] == {"type": "boolean"}


def test_strategic_merge_stays_unlisted_so_kubectl_computes_patches_from_its_own_types():
    # kubectl apply (pkg/cmd/apply/patcher.go) would build strategic merge patches from these schemas if a patch
    # operation listed application/strategic-merge-patch+json; ours carry no patch merge keys.
    document = openapi_group_version("", "v1")
    for path in document["paths"].values():
        if "patch" in path:
            assert "application/strategic-merge-patch+json" not in path["patch"]["requestBody"]["content"]
