"""What each supported kind may contain, checked strictly like `kubectl apply --validate=strict`.

A schema node is one of:
- a Python type (str, int, bool, list, dict) or a tuple of types,
- a dict {field: node} (unknown fields rejected), with "*" for a map of free keys,
- a list [node] for a list whose items follow node,
- ANY for a subtree we accept as written (Kubernetes fields the emulation ignores),
- an Enum(...) of allowed strings.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import LabkitError
from ..model.kinds import GATEWAY_API_GROUP, kind_key

ANY = object()


@dataclass(frozen=True)
class Enum:
    values: tuple[str, ...]


@dataclass(frozen=True)
class KindInfo:
    kind: str
    group: str          # "" for the core group
    versions: tuple[str, ...]
    namespaced: bool
    spec: Any           # schema of the top-level fields other than apiVersion/kind/metadata
    short: tuple[str, ...] = ()
    qualified: bool = False  # a kind name another group also serves (Gateway): stored under kind.group

    @property
    def key(self) -> str:
        """How the store and the model name this kind: the kind, or `Gateway.gateway.networking.k8s.io`
        when Istio's `Gateway` (networking.istio.io) has the same name."""
        return f"{self.kind}.{self.group}" if self.qualified else self.kind


INT_OR_STR = (int, str)
STRING_MATCH = {"exact": str, "prefix": str, "regex": str}
LABELS = {"*": str}
SELECTOR = {"matchLabels": LABELS, "matchExpressions": ANY}
TLS_MODE = Enum(("DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"))
MTLS_MODE = Enum(("UNSET", "DISABLE", "PERMISSIVE", "STRICT"))

METADATA = {
    "name": str, "namespace": str, "labels": LABELS, "annotations": {"*": str},
    "generateName": str, "uid": str, "resourceVersion": str, "generation": int,
    "creationTimestamp": str, "managedFields": ANY, "ownerReferences": ANY, "finalizers": ANY,
}

CONTAINER_PORT = {"containerPort": int, "name": str, "protocol": str, "hostPort": int, "hostIP": str}
CONTAINER = {
    "name": str, "image": str, "imagePullPolicy": str, "command": [str], "args": [str],
    "ports": [CONTAINER_PORT], "env": [{"name": str, "value": str, "valueFrom": ANY}],
    "envFrom": ANY, "resources": ANY, "volumeMounts": ANY, "readinessProbe": ANY, "livenessProbe": ANY,
    "startupProbe": ANY, "securityContext": ANY, "workingDir": str, "lifecycle": ANY, "stdin": bool, "tty": bool,
    "terminationMessagePath": str, "terminationMessagePolicy": str,
}
POD_SPEC = {
    "containers": [CONTAINER], "initContainers": ANY, "serviceAccountName": str, "serviceAccount": str,
    "volumes": ANY, "terminationGracePeriodSeconds": int, "securityContext": ANY, "nodeSelector": ANY,
    "affinity": ANY, "tolerations": ANY, "restartPolicy": str, "hostname": str, "dnsPolicy": str,
    "automountServiceAccountToken": bool, "imagePullSecrets": ANY, "priorityClassName": str,
}
DEPLOYMENT = {"spec": {
    "replicas": int, "selector": SELECTOR, "strategy": ANY, "minReadySeconds": int,
    "revisionHistoryLimit": int, "progressDeadlineSeconds": int, "paused": bool,
    "template": {"metadata": METADATA, "spec": POD_SPEC},
}, "status": ANY}
SERVICE = {"spec": {
    "selector": LABELS, "type": Enum(("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")),
    "ports": [{"name": str, "port": int, "targetPort": INT_OR_STR, "protocol": str, "nodePort": int,
               "appProtocol": str}],
    "clusterIP": str, "clusterIPs": ANY, "externalName": str, "sessionAffinity": str,
    "externalTrafficPolicy": str, "ipFamilies": ANY, "ipFamilyPolicy": str, "internalTrafficPolicy": str,
}, "status": ANY}
SECRET = {"type": str, "data": {"*": str}, "stringData": {"*": str}, "immutable": bool}

WORKLOAD_SELECTOR = {"matchLabels": LABELS}
PEER_AUTHENTICATION = {"spec": {
    "selector": WORKLOAD_SELECTOR, "mtls": {"mode": MTLS_MODE},
    "portLevelMtls": {"*": {"mode": MTLS_MODE}}, "targetRef": ANY, "targetRefs": ANY,
}}
CLIENT_TLS = {
    "mode": TLS_MODE, "clientCertificate": str, "privateKey": str, "caCertificates": str,
    "credentialName": str, "subjectAltNames": [str], "sni": str, "insecureSkipVerify": bool, "caCrl": str,
}
TRAFFIC_POLICY = {
    "tls": CLIENT_TLS, "loadBalancer": ANY, "connectionPool": ANY, "outlierDetection": ANY, "tunnel": ANY,
    "portLevelSettings": [{"port": {"number": int}, "tls": CLIENT_TLS, "loadBalancer": ANY,
                           "connectionPool": ANY, "outlierDetection": ANY}],
    "proxyProtocol": ANY,
}
DESTINATION_RULE = {"spec": {
    "host": str, "trafficPolicy": TRAFFIC_POLICY, "exportTo": [str], "workloadSelector": WORKLOAD_SELECTOR,
    "subsets": [{"name": str, "labels": LABELS, "trafficPolicy": TRAFFIC_POLICY}],
}}
SERVER_TLS = {
    "mode": Enum(("PASSTHROUGH", "SIMPLE", "MUTUAL", "AUTO_PASSTHROUGH", "ISTIO_MUTUAL", "OPTIONAL_MUTUAL")),
    "httpsRedirect": bool, "credentialName": str, "credentialNames": [str], "serverCertificate": str,
    "privateKey": str, "caCertificates": str, "subjectAltNames": [str], "verifyCertificateSpki": [str],
    "verifyCertificateHash": [str],
    "minProtocolVersion": Enum(("TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3")),
    "maxProtocolVersion": Enum(("TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3")),
    "cipherSuites": [str], "caCrl": str,
}
GATEWAY = {"spec": {
    "selector": LABELS,
    "servers": [{"port": {"number": int, "name": str, "protocol": str, "targetPort": int},
                 "hosts": [str], "tls": SERVER_TLS, "bind": str, "name": str, "defaultEndpoint": str}],
}}
DESTINATION = {"host": str, "subset": str, "port": {"number": int}}
HTTP_MATCH = {
    "name": str, "uri": STRING_MATCH, "scheme": STRING_MATCH, "method": STRING_MATCH,
    "authority": STRING_MATCH, "headers": {"*": STRING_MATCH}, "queryParams": {"*": STRING_MATCH},
    "withoutHeaders": {"*": STRING_MATCH}, "port": int, "sourceLabels": LABELS, "gateways": [str],
    "sourceNamespace": str, "ignoreUriCase": bool, "statPrefix": str,
}
HEADER_OPS = {"set": {"*": str}, "add": {"*": str}, "remove": [str]}
VIRTUAL_SERVICE = {"spec": {
    "hosts": [str], "gateways": [str], "exportTo": [str],
    "http": [{
        "name": str, "match": [HTTP_MATCH],
        "route": [{"destination": DESTINATION, "weight": int,
                   "headers": {"request": HEADER_OPS, "response": HEADER_OPS}}],
        "redirect": {"uri": str, "authority": str, "port": int, "derivePort": str, "scheme": str,
                     "redirectCode": int},
        "directResponse": {"status": int, "body": {"string": str, "bytes": str}},
        "rewrite": {"uri": str, "authority": str, "uriRegexRewrite": ANY},
        "timeout": str, "retries": {"attempts": int, "perTryTimeout": str, "retryOn": str,
                                    "retryRemoteLocalities": bool},
        "fault": {"delay": {"fixedDelay": str, "percentage": {"value": (int, float)}, "percent": int},
                  "abort": {"httpStatus": int, "percentage": {"value": (int, float)}, "grpcStatus": str}},
        "mirror": ANY, "mirrorPercentage": ANY, "mirrors": ANY, "corsPolicy": ANY,
        "headers": {"request": HEADER_OPS, "response": HEADER_OPS},
    }],
    "tls": [{"match": [{"sniHosts": [str], "port": int, "destinationSubnets": [str],
                        "sourceLabels": LABELS, "gateways": [str], "sourceNamespace": str}],
             "route": [{"destination": DESTINATION, "weight": int}]}],
    "tcp": [{"match": [{"port": int, "destinationSubnets": [str], "sourceLabels": LABELS,
                        "gateways": [str], "sourceNamespace": str}],
             "route": [{"destination": DESTINATION, "weight": int}]}],
}}
# networking.istio.io ServiceEntry (istio/api networking/v1/service_entry.proto).
SERVICE_ENTRY = {"spec": {
    "hosts": [str], "addresses": [str], "exportTo": [str], "subjectAltNames": [str],
    "ports": [{"number": int, "protocol": str, "name": str, "targetPort": int}],
    "location": Enum(("MESH_EXTERNAL", "MESH_INTERNAL")),
    "resolution": Enum(("NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN")),
    "endpoints": [{"address": str, "ports": {"*": int}, "labels": LABELS, "network": str, "locality": str,
                   "weight": int, "serviceAccount": str}],
    "workloadSelector": {"labels": LABELS},
}}
SOURCE = {k: [str] for k in ("principals", "notPrincipals", "requestPrincipals", "notRequestPrincipals",
                            "namespaces", "notNamespaces", "ipBlocks", "notIpBlocks", "remoteIpBlocks",
                            "notRemoteIpBlocks", "serviceAccounts", "notServiceAccounts")}
OPERATION = {k: [str] for k in ("hosts", "notHosts", "ports", "notPorts", "methods", "notMethods",
                               "paths", "notPaths")}
AUTHORIZATION_POLICY = {"spec": {
    "selector": WORKLOAD_SELECTOR, "targetRef": ANY, "targetRefs": ANY,
    "action": Enum(("ALLOW", "DENY", "AUDIT", "CUSTOM")), "provider": {"name": str},
    "rules": [{"from": [{"source": SOURCE}], "to": [{"operation": OPERATION}],
               "when": [{"key": str, "values": [str], "notValues": [str]}]}],
}}
REQUEST_AUTHENTICATION = {"spec": {"selector": WORKLOAD_SELECTOR, "jwtRules": ANY, "targetRef": ANY,
                                   "targetRefs": ANY}}

# Kubernetes RBAC (rbac.authorization.k8s.io/v1): istiod asks it before serving a sidecar a credentialName.
POLICY_RULE = {"apiGroups": [str], "resources": [str], "verbs": [str], "resourceNames": [str],
               "nonResourceURLs": [str]}
ROLE = {"rules": [POLICY_RULE]}
CLUSTER_ROLE = {"rules": [POLICY_RULE], "aggregationRule": ANY}
ROLE_BINDING = {"roleRef": {"apiGroup": str, "kind": Enum(("Role", "ClusterRole")), "name": str},
                "subjects": [{"kind": Enum(("ServiceAccount", "User", "Group")), "name": str, "namespace": str,
                              "apiGroup": str}]}
# Telemetry API (telemetry.istio.io): access logging per mesh / namespace / workload.
TELEMETRY = {"spec": {
    "selector": WORKLOAD_SELECTOR, "targetRef": ANY, "targetRefs": ANY, "tracing": ANY, "metrics": ANY,
    "accessLogging": [{"providers": [{"name": str}], "disabled": bool,
                       "match": {"mode": Enum(("CLIENT_AND_SERVER", "CLIENT", "SERVER"))},
                       "filter": {"expression": str}}]}}
# Kubernetes Gateway API (gateway.networking.k8s.io), the shapes of its standard CRDs (v1.4, as Istio 1.28
# installs them) for the fields Istio reads; the CRDs' CEL rules are in validate.py.
GWAPI = GATEWAY_API_GROUP
OBJECT_REF = {"group": str, "kind": str, "name": str, "namespace": str}
PARENT_REF = {"group": str, "kind": str, "namespace": str, "name": str, "sectionName": str, "port": int}
BACKEND_REF = {"group": str, "kind": str, "name": str, "namespace": str, "port": int, "weight": int,
               "filters": ANY}
HEADER_VALUES = [{"name": str, "value": str}]
HEADER_MODIFIER = {"set": HEADER_VALUES, "add": HEADER_VALUES, "remove": [str]}
FRONTEND_TLS = {"validation": {"caCertificateRefs": [OBJECT_REF],
                               "mode": Enum(("AllowValidOnly", "AllowInsecureFallback"))}}
GATEWAY_CLASS = {"spec": {"controllerName": str, "parametersRef": ANY, "description": str}, "status": ANY}
K8S_GATEWAY = {"spec": {
    "gatewayClassName": str,
    "listeners": [{
        "name": str, "hostname": str, "port": int, "protocol": str,
        "tls": {"mode": Enum(("Terminate", "Passthrough")), "certificateRefs": [OBJECT_REF],
                "options": {"*": str}, "frontendValidation": ANY},
        "allowedRoutes": {"namespaces": {"from": Enum(("All", "Same", "Selector", "None")), "selector": SELECTOR},
                          "kinds": [{"group": str, "kind": str}]},
    }],
    "addresses": [{"type": str, "value": str}],
    "infrastructure": {"labels": {"*": str}, "annotations": {"*": str}, "parametersRef": ANY},
    "tls": {"frontend": {"default": FRONTEND_TLS, "perPort": [{"port": int, "tls": FRONTEND_TLS}]},
            "backend": ANY},
    "allowedListeners": ANY, "defaultScope": ANY,
}, "status": ANY}
HTTP_ROUTE = {"spec": {
    "parentRefs": [PARENT_REF], "hostnames": [str],
    "rules": [{
        "name": str,
        "matches": [{"path": {"type": Enum(("Exact", "PathPrefix", "RegularExpression")), "value": str},
                     "headers": [{"type": Enum(("Exact", "RegularExpression")), "name": str, "value": str}],
                     "queryParams": [{"type": Enum(("Exact", "RegularExpression")), "name": str, "value": str}],
                     "method": str}],
        "filters": [{"type": Enum(("RequestHeaderModifier", "ResponseHeaderModifier", "RequestRedirect",
                                   "URLRewrite", "RequestMirror", "CORS", "ExtensionRef")),
                     "requestHeaderModifier": HEADER_MODIFIER, "responseHeaderModifier": HEADER_MODIFIER,
                     "requestRedirect": {"scheme": Enum(("http", "https")), "hostname": str, "port": int,
                                         "statusCode": int,
                                         "path": {"type": Enum(("ReplaceFullPath", "ReplacePrefixMatch")),
                                                  "replaceFullPath": str, "replacePrefixMatch": str}},
                     "urlRewrite": ANY, "requestMirror": ANY, "cors": ANY, "extensionRef": ANY}],
        "backendRefs": [BACKEND_REF], "timeouts": ANY, "retry": ANY, "sessionPersistence": ANY,
    }],
}, "status": ANY}
TLS_ROUTE = {"spec": {"parentRefs": [PARENT_REF], "hostnames": [str],
                      "rules": [{"name": str, "backendRefs": [BACKEND_REF]}]}, "status": ANY}
TCP_ROUTE = {"spec": {"parentRefs": [PARENT_REF], "rules": [{"name": str, "backendRefs": [BACKEND_REF]}]},
             "status": ANY}
REFERENCE_GRANT = {"spec": {"from": [{"group": str, "kind": str, "namespace": str}],
                            "to": [{"group": str, "kind": str, "name": str}]}}
ISTIO_NET = ("v1alpha3", "v1beta1", "v1")
ISTIO_SEC = ("v1beta1", "v1")
KINDS: dict[str, KindInfo] = {k.key: k for k in (
    KindInfo("Namespace", "", ("v1",), False, {"spec": ANY, "status": ANY}, ("ns",)),
    KindInfo("ServiceAccount", "", ("v1",), True, {"secrets": ANY, "imagePullSecrets": ANY,
                                                    "automountServiceAccountToken": bool}, ("sa",)),
    KindInfo("Service", "", ("v1",), True, SERVICE, ("svc",)),
    KindInfo("Secret", "", ("v1",), True, SECRET),
    KindInfo("ConfigMap", "", ("v1",), True, {"data": {"*": str}, "binaryData": ANY, "immutable": bool}, ("cm",)),
    KindInfo("Deployment", "apps", ("v1",), True, DEPLOYMENT, ("deploy",)),
    KindInfo("Role", "rbac.authorization.k8s.io", ("v1",), True, ROLE),
    KindInfo("RoleBinding", "rbac.authorization.k8s.io", ("v1",), True, ROLE_BINDING),
    KindInfo("ClusterRole", "rbac.authorization.k8s.io", ("v1",), False, CLUSTER_ROLE),
    KindInfo("ClusterRoleBinding", "rbac.authorization.k8s.io", ("v1",), False, ROLE_BINDING),
    KindInfo("PeerAuthentication", "security.istio.io", ISTIO_SEC, True, PEER_AUTHENTICATION, ("pa",)),
    KindInfo("AuthorizationPolicy", "security.istio.io", ISTIO_SEC, True, AUTHORIZATION_POLICY, ("ap",)),
    KindInfo("RequestAuthentication", "security.istio.io", ISTIO_SEC, True, REQUEST_AUTHENTICATION, ("ra",)),
    KindInfo("DestinationRule", "networking.istio.io", ISTIO_NET, True, DESTINATION_RULE, ("dr",)),
    KindInfo("Gateway", "networking.istio.io", ISTIO_NET, True, GATEWAY, ("gw",)),
    KindInfo("VirtualService", "networking.istio.io", ISTIO_NET, True, VIRTUAL_SERVICE, ("vs",)),
    KindInfo("ServiceEntry", "networking.istio.io", ISTIO_NET, True, SERVICE_ENTRY, ("se",)),
    KindInfo("Telemetry", "telemetry.istio.io", ("v1alpha1", "v1"), True, TELEMETRY, ("telemetry",)),
    # Short names from the Gateway API CRDs (gc, gtw, refgrant): plain `gateway` means Istio's kind here, as
    # kubectl's ambiguity rule makes it on a cluster with both CRDs; `gtw` is the Gateway API's.
    KindInfo("GatewayClass", GWAPI, ("v1", "v1beta1"), False, GATEWAY_CLASS, ("gc",)),
    KindInfo("Gateway", GWAPI, ("v1", "v1beta1"), True, K8S_GATEWAY, ("gtw",), qualified=True),
    KindInfo("HTTPRoute", GWAPI, ("v1", "v1beta1"), True, HTTP_ROUTE),
    KindInfo("TLSRoute", GWAPI, ("v1", "v1alpha2"), True, TLS_ROUTE),
    KindInfo("TCPRoute", GWAPI, ("v1alpha2",), True, TCP_ROUTE),
    KindInfo("ReferenceGrant", GWAPI, ("v1beta1",), True, REFERENCE_GRANT, ("refgrant",)),
)}
KEYS_LOWER = {key.lower(): key for key in KINDS}
for _info in KINDS.values():
    if _info.qualified:
        KEYS_LOWER.update({short: _info.key for short in _info.short})
# One home for the rule (model/kinds.py); re-exported for the store and the API server.
store_kind = kind_key


# Pods are made by the deployment controller, never applied by learners.
SYSTEM_KINDS = ("Pod",)


def kind_info(kind: str) -> KindInfo:
    """Look a kind up by its name, plural or short name, case-insensitively (like kubectl); a qualified
    name (`Gateway.gateway.networking.k8s.io`, `gateways.gateway.networking.k8s.io`) picks the group."""
    wanted = kind.lower()
    if wanted in KEYS_LOWER:
        return KINDS[KEYS_LOWER[wanted]]
    for info in KINDS.values():
        if info.qualified and wanted == f"{info.kind.lower()}s.{info.group}":
            return info
    for info in KINDS.values():
        if info.qualified:
            continue  # reached only by its short name or its qualified name
        names = {info.kind.lower(), info.kind.lower() + "s", *info.short}
        if wanted in names or (wanted.endswith("ies") and info.kind.lower().endswith("y")
                               and wanted[:-3] == info.kind.lower()[:-1]):
            return info
    raise LabkitError(f"unknown kind {kind!r}", kind=kind,
                      hint="supported kinds: " + ", ".join(sorted(KINDS)))


def _type_name(node: Any) -> str:
    if isinstance(node, tuple):
        return " or ".join(_type_name(n) for n in node)
    if isinstance(node, dict):
        return "a mapping"
    if isinstance(node, list):
        return "a list"
    if isinstance(node, Enum):
        return "one of " + ", ".join(node.values)
    return {str: "a string", int: "an integer", bool: "true/false", float: "a number"}.get(node, str(node))


def check_node(value: Any, node: Any, path: str, where: dict) -> None:
    """Raise LabkitError at the first place `value` does not fit `node`."""
    if node is ANY or value is None:
        return
    if isinstance(node, Enum):
        if value not in node.values:
            raise LabkitError(f"{value!r} is not valid; expected {_type_name(node)}", field=path, **where)
        return
    if isinstance(node, dict):
        if not isinstance(value, dict):
            raise LabkitError(f"expected a mapping, got {type(value).__name__} {value!r}", field=path, **where)
        for key, item in value.items():
            child = node.get(key, node.get("*", None)) if isinstance(key, str) else node.get("*")
            if key not in node and "*" in node:
                child = node["*"]
            if child is None and key not in node:
                known = ", ".join(k for k in node if k != "*")
                raise LabkitError(f"unknown field {key!r}", field=f"{path}.{key}" if path else str(key),
                                  hint=f"known fields here: {known}" if known else None, **where)
            check_node(item, child, f"{path}.{key}" if path else str(key), where)
        return
    if isinstance(node, list):
        if not isinstance(value, list):
            raise LabkitError(f"expected a list, got {type(value).__name__} {value!r}", field=path, **where)
        for index, item in enumerate(value):
            check_node(item, node[0], f"{path}[{index}]", where)
        return
    types = node if isinstance(node, tuple) else (node,)
    if bool in types and isinstance(value, bool):
        return
    if isinstance(value, bool) and bool not in types:
        raise LabkitError(f"expected {_type_name(node)}, got {value!r}", field=path, **where)
    if float in types and isinstance(value, int):
        return
    if not isinstance(value, types):
        raise LabkitError(f"expected {_type_name(node)}, got {type(value).__name__} {value!r}", field=path, **where)
