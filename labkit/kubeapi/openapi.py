"""OpenAPI v3 schemas for `kubectl explain`, generated from the schemas the store validates with
(labkit/resources/schema.py): one source of truth, so explain shows exactly the fields `kubectl apply`
accepts here.

What kubectl reads (kubectl pkg/explain/v2, templates/plaintext.tmpl): the group-version document's
`paths` give the kind of the resource (`x-kubernetes-group-version-kind` of an operation), then the
component under `components.schemas` whose `x-kubernetes-group-version-kind` list holds that kind is
printed: its description, its fields with their types (`<string>`, `<[]Object>`, `<map[string]string>`,
`<ObjectMeta>` from a `$ref`), enums. Names of components follow kube-openapi: `io.k8s.api.core.v1.Pod`
for Kubernetes' types, the reversed group for custom resources (`io.istio.networking.v1.ServiceEntry`).
Descriptions are the ones a cluster shows: Kubernetes' type comments, and for Istio's CRDs the
description on `spec` (Istio's CRDs describe the kind there and leave the top level empty).
"""
from __future__ import annotations

from typing import Any, cast

from ..resources.schema import ANY, DEPLOYMENT, KINDS, METADATA, POD_SPEC, Enum
from .registry import RESOURCES, Resource

OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
API_CONVENTIONS = "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"
COMMON = {
    "apiVersion": "APIVersion defines the versioned schema of this representation of an object. Servers should "
                  "convert recognized schemas to the latest internal value, and may reject unrecognized values. "
                  f"More info: {API_CONVENTIONS}#resources",
    "kind": "Kind is a string value representing the REST resource this object represents. Servers may infer "
            "this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: "
            f"{API_CONVENTIONS}#types-kinds",
    "metadata": f"Standard object's metadata. More info: {API_CONVENTIONS}#metadata",
}
# Kubernetes' own kinds: the type's comment, as the API server's OpenAPI carries it.
KIND_DESCRIPTIONS = {
    "Pod": "Pod is a collection of containers that can run on a host. This resource is created by clients and "
           "scheduled onto hosts.",
    "Service": "Service is a named abstraction of software service (for example, mysql) consisting of local port "
               "(for example 3306) that the proxy listens on, and the selector that determines which pods will "
               "answer requests sent through the proxy.",
    "Deployment": "Deployment enables declarative updates for Pods and ReplicaSets.",
    "ReplicaSet": "ReplicaSet ensures that a specified number of pod replicas are running at any given time.",
    "Secret": "Secret holds secret data of a certain type. The total bytes of the values in the Data field must "
              "be less than MaxSecretSize bytes.",
    "ConfigMap": "ConfigMap holds configuration data for pods to consume.",
    "Namespace": "Namespace provides a scope for Names. Use of multiple namespaces is optional.",
    "ServiceAccount": "ServiceAccount binds together: * a name, understood by users, and perhaps by peripheral "
                      "systems, for an identity * a principal that can be authenticated and authorized * a set of "
                      "secrets",
    "Role": "Role is a namespaced, logical grouping of PolicyRules that can be referenced as a unit by a "
            "RoleBinding.",
    "RoleBinding": "RoleBinding references a role, but does not contain it.  It can reference a Role in the same "
                   "namespace or a ClusterRole in the global namespace.",
    "ClusterRole": "ClusterRole is a cluster level, logical grouping of PolicyRules that can be referenced as a "
                   "unit by a RoleBinding or ClusterRoleBinding.",
    "ClusterRoleBinding": "ClusterRoleBinding references a ClusterRole, but not contain it.  It can reference a "
                          "ClusterRole in the global namespace, and adds who information via Subject.",
}
# Istio's CRDs: the description of `spec` (manifests/charts/base/files/crd-all.gen.yaml).
ISTIO_REFERENCE = "https://istio.io/docs/reference/config"
SPEC_DESCRIPTIONS = {
    "PeerAuthentication": "Peer authentication configuration for workloads. See more details at: "
                          f"{ISTIO_REFERENCE}/security/peer_authentication.html",
    "AuthorizationPolicy": "Configuration for access control on workloads. See more details at: "
                           f"{ISTIO_REFERENCE}/security/authorization-policy.html",
    "RequestAuthentication": "Request authentication configuration for workloads. See more details at: "
                             f"{ISTIO_REFERENCE}/security/request_authentication.html",
    "DestinationRule": "Configuration affecting load balancing, outlier detection, etc. See more details at: "
                       f"{ISTIO_REFERENCE}/networking/destination-rule.html",
    "Gateway": "Configuration affecting edge load balancer. See more details at: "
               f"{ISTIO_REFERENCE}/networking/gateway.html",
    "VirtualService": "Configuration affecting label/content routing, sni routing, etc. See more details at: "
                      f"{ISTIO_REFERENCE}/networking/virtual-service.html",
    "ServiceEntry": "Configuration affecting service registry. See more details at: "
                    f"{ISTIO_REFERENCE}/networking/service-entry.html",
    "Telemetry": "Telemetry configuration for workloads. See more details at: "
                 f"{ISTIO_REFERENCE}/telemetry.html",
}
# The fields the labs use most, described as Istio's CRDs describe them (kind, dotted path under the top level).
FIELD_DESCRIPTIONS = {
    ("PeerAuthentication", "spec.selector"): "The selector determines the workloads to apply the "
                                             "PeerAuthentication on.",
    ("PeerAuthentication", "spec.mtls"): "Mutual TLS settings for workload.",
    ("PeerAuthentication", "spec.mtls.mode"): "Defines the mTLS mode used for peer authentication.",
    ("PeerAuthentication", "spec.portLevelMtls"): "Port specific mutual TLS settings.",
    ("DestinationRule", "spec.host"): "The name of a service from the service registry.",
    ("DestinationRule", "spec.trafficPolicy.tls"): "TLS related settings for connections to the upstream service.",
    ("DestinationRule", "spec.trafficPolicy.tls.mode"): "Indicates whether connections to this port should be "
                                                        "secured using TLS.",
    ("AuthorizationPolicy", "spec.action"): "Optional. The action to take if the request is matched with the rules.",
    ("AuthorizationPolicy", "spec.rules"): "Optional. A list of rules to match the request.",
    ("Gateway", "spec.servers"): "A list of server specifications.",
    ("VirtualService", "spec.hosts"): "The destination hosts to which traffic is being sent.",
    ("VirtualService", "spec.gateways"): "The names of gateways and sidecars that should apply these routes.",
    ("ServiceEntry", "spec.hosts"): "The hosts associated with the ServiceEntry.",
    ("ServiceEntry", "spec.location"): "Specify whether the service should be considered external to the mesh or "
                                       "part of the mesh.",
    ("ServiceEntry", "spec.resolution"): "Service resolution mode for the hosts.",
    ("ServiceEntry", "spec.ports"): "The ports associated with the external service.",
    ("ServiceEntry", "spec.endpoints"): "One or more endpoints associated with the service.",
    ("ServiceEntry", "spec.exportTo"): "A list of namespaces to which this service is exported.",
}
# Kinds the API serves that the store does not validate (made by controllers), shaped from the same parts.
RENDERED_SCHEMAS: dict[str, Any] = {
    "Pod": {"spec": POD_SPEC, "status": ANY},
    "ReplicaSet": {"spec": {k: cast(dict, DEPLOYMENT["spec"])[k]
                            for k in ("replicas", "selector", "minReadySeconds", "template")},
                   "status": ANY},
}


GATEWAY_API_GROUP = "gateway.networking.k8s.io"


def component_name(resource: Resource, version: str) -> str:
    """kube-openapi's name for a type: Kubernetes' packages, or the reversed group of a custom resource."""
    # The Gateway API is a set of CRDs although its group ends in k8s.io: named like any custom resource.
    if resource.group in ("", "apps") or (resource.group.endswith(".k8s.io") and resource.group != GATEWAY_API_GROUP):
        package = {"": "core"}.get(resource.group, resource.group.split(".")[0])
        return f"io.k8s.api.{package}.{version}.{resource.kind}"
    return ".".join(reversed(resource.group.split("."))) + f".{version}.{resource.kind}"


def node_schema(node: Any) -> dict:
    """One schema node of labkit/resources/schema.py as an OpenAPI v3 schema."""
    if node is ANY:
        return {"x-kubernetes-preserve-unknown-fields": True}
    if isinstance(node, Enum):
        return {"type": "string", "enum": list(node.values)}
    if isinstance(node, dict):
        if set(node) == {"*"}:
            return {"type": "object", "additionalProperties": node_schema(node["*"])}
        return {"type": "object", "properties": {k: node_schema(v) for k, v in node.items() if k != "*"}}
    if isinstance(node, list):
        return {"type": "array", "items": node_schema(node[0])}
    if isinstance(node, tuple):
        if set(node) == {int, str}:
            return {"type": "string", "format": "int-or-string", "x-kubernetes-int-or-string": True}
        return node_schema(node[0])
    return {str: {"type": "string"}, int: {"type": "integer", "format": "int64"}, bool: {"type": "boolean"},
            float: {"type": "number", "format": "double"}}.get(node, {})


def kind_schema(resource: Resource, version: str) -> dict | None:
    """The component for one kind at one version, or None when no schema of ours describes it."""
    # By the store's key: Istio's Gateway and the Gateway API's share the kind name `Gateway`.
    key = resource.store_key
    info = KINDS.get(key)
    top = info.spec if info is not None else RENDERED_SCHEMAS.get(key)
    if top is None:
        return None
    properties: dict[str, dict] = {
        "apiVersion": {"type": "string", "description": COMMON["apiVersion"]},
        "kind": {"type": "string", "description": COMMON["kind"]},
        "metadata": {"allOf": [{"$ref": f"#/components/schemas/{OBJECT_META}"}], "default": {},
                     "description": COMMON["metadata"]},
    }
    for field, node in top.items():
        properties[field] = node_schema(node)
    if key in SPEC_DESCRIPTIONS and "spec" in properties:
        properties["spec"]["description"] = SPEC_DESCRIPTIONS[key]
    for (kind, path), text in FIELD_DESCRIPTIONS.items():
        if kind == key:
            _describe(properties, path.split("."), text)
    out = {"type": "object", "properties": properties,
           "x-kubernetes-group-version-kind": [{"group": resource.group, "version": version, "kind": resource.kind}]}
    if key in KIND_DESCRIPTIONS:
        out["description"] = KIND_DESCRIPTIONS[key]
    return out


def _describe(properties: dict, path: list[str], text: str) -> None:
    schema = properties.get(path[0])
    for part in path[1:]:
        schema = (schema or {}).get("properties", {}).get(part)
    if schema is not None:
        schema["description"] = text


def components(group: str, version: str) -> dict[str, dict]:
    """Every component of one group-version document: its kinds and the ObjectMeta they refer to."""
    out = {OBJECT_META: {"description": "ObjectMeta is metadata that all persisted resources must have, which "
                                        "includes all objects users must create.",
                         **node_schema(METADATA)}}
    for resource in RESOURCES.values():
        if resource.group == group and version in resource.versions:
            schema = kind_schema(resource, version)
            if schema is not None:
                out[component_name(resource, version)] = schema
    return out
