"""The Gateway API CRDs' own validation (OpenAPI bounds and CEL rules) for the fields the labs use.

Messages are the CRDs' `x-kubernetes-validations` messages (kubernetes-sigs/gateway-api
config/crd/standard/gateway.networking.k8s.io_gateways.yaml, _httproutes.yaml, v1.4), so a learner sees
what `kubectl apply` prints on a cluster.
"""
from __future__ import annotations

import re

from ..errors import LabkitError

# The CRDs' pattern for a listener or route hostname: an optional leading `*.`, then DNS labels.
HOSTNAME = re.compile(r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
SECTION_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
NO_TLS = ("HTTP", "TCP", "UDP")


def _check_hostname(value: str, field: str, where: dict) -> None:
    if not HOSTNAME.match(value or "") or len(value) > 253:
        raise LabkitError(f"{field}: Invalid value: {value!r}: should match "
                          "'^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'",
                          field=field, hint="a DNS name such as httpbin.example.com or *.example.com, no port",
                          **where)


def _check_port(value, field: str, where: dict) -> None:
    if not isinstance(value, int) or not 1 <= value <= 65535:
        raise LabkitError(f"{field}: Invalid value: {value!r}: {field} in body should be between 1 and 65535",
                          field=field, **where)


def check_gateway_class(obj: dict, where: dict) -> None:
    if not (obj.get("spec") or {}).get("controllerName"):
        raise LabkitError("spec.controllerName: Required value", field="spec.controllerName", **where)


def check_gateway(obj: dict, where: dict) -> None:
    spec = obj.get("spec") or {}
    if not spec.get("gatewayClassName"):
        raise LabkitError("spec.gatewayClassName: Required value", field="spec.gatewayClassName",
                          hint="Istio's class is `istio`", **where)
    listeners = spec.get("listeners") or []
    if not listeners:
        raise LabkitError("spec.listeners: Required value", field="spec.listeners", **where)
    names: set[str] = set()
    combos: set[tuple] = set()
    for index, listener in enumerate(listeners):
        base = f"spec.listeners[{index}]"
        name = listener.get("name")
        if not name:
            raise LabkitError(f"{base}.name: Required value", field=f"{base}.name", **where)
        if not SECTION_NAME.match(name):
            raise LabkitError(f"{base}.name: Invalid value: {name!r}: lowercase letters, digits, '-' and '.'",
                              field=f"{base}.name", **where)
        protocol = listener.get("protocol")
        if not protocol:
            raise LabkitError(f"{base}.protocol: Required value", field=f"{base}.protocol",
                              hint="HTTP, HTTPS, TLS or TCP", **where)
        _check_port(listener.get("port"), f"{base}.port", where)
        if listener.get("hostname") is not None:
            _check_hostname(listener["hostname"], f"{base}.hostname", where)
        tls = listener.get("tls")
        if protocol in NO_TLS and tls is not None:
            raise LabkitError("spec.listeners: Invalid value: \"array\": tls must not be specified for protocols "
                              "['HTTP', 'TCP', 'UDP']", field=f"{base}.tls", **where)
        if protocol == "HTTPS" and tls is not None and tls.get("mode", "Terminate") != "Terminate":
            raise LabkitError("spec.listeners: Invalid value: \"array\": tls mode must be Terminate for protocol "
                              "HTTPS", field=f"{base}.tls.mode", **where)
        if protocol == "TLS" and not (tls or {}).get("mode"):
            raise LabkitError("spec.listeners: Invalid value: \"array\": tls mode must be set for protocol TLS",
                              field=f"{base}.tls.mode", **where)
        if protocol in ("TCP", "UDP") and listener.get("hostname"):
            raise LabkitError("spec.listeners: Invalid value: \"array\": hostname must not be specified for "
                              "protocols ['TCP', 'UDP']", field=f"{base}.hostname", **where)
        if tls is not None and tls.get("mode", "Terminate") == "Terminate" and not (
                tls.get("certificateRefs") or tls.get("options")):
            raise LabkitError(f"{base}.tls: Invalid value: \"object\": certificateRefs or options must be specified "
                              "when mode is Terminate", field=f"{base}.tls.certificateRefs", **where)
        if name in names:
            raise LabkitError("spec.listeners: Invalid value: \"array\": Listener name must be unique within the "
                              "Gateway", field=f"{base}.name", **where)
        names.add(name)
        combo = (listener.get("port"), protocol, listener.get("hostname") or "")
        if combo in combos:
            raise LabkitError("spec.listeners: Invalid value: \"array\": Combination of port, protocol and "
                              "hostname must be unique for each listener", field=base, **where)
        combos.add(combo)


def _check_parent_refs(spec: dict, where: dict) -> None:
    for index, ref in enumerate(spec.get("parentRefs") or []):
        if not ref.get("name"):
            raise LabkitError(f"spec.parentRefs[{index}].name: Required value", field=f"spec.parentRefs[{index}].name",
                              **where)


def _check_backend_refs(rules: list, where: dict) -> None:
    for r, rule in enumerate(rules):
        for b, ref in enumerate(rule.get("backendRefs") or []):
            base = f"spec.rules[{r}].backendRefs[{b}]"
            if not ref.get("name"):
                raise LabkitError(f"{base}.name: Required value", field=f"{base}.name", **where)
            # CEL on BackendRef: "Must have port for Service reference".
            if ref.get("kind", "Service") == "Service" and ref.get("group", "") == "" and ref.get("port") is None:
                raise LabkitError(f"{base}: Invalid value: \"object\": Must have port for Service reference",
                                  field=f"{base}.port", **where)
            weight = ref.get("weight", 1)
            if not isinstance(weight, int) or not 0 <= weight <= 1000000:
                raise LabkitError(f"{base}.weight: Invalid value: {weight!r}: should be between 0 and 1000000",
                                  field=f"{base}.weight", **where)


def check_http_route(obj: dict, where: dict) -> None:
    spec = obj.get("spec") or {}
    _check_parent_refs(spec, where)
    for index, host in enumerate(spec.get("hostnames") or []):
        _check_hostname(host, f"spec.hostnames[{index}]", where)
    rules = spec.get("rules") or []
    for r, rule in enumerate(rules):
        for m, match in enumerate(rule.get("matches") or []):
            path = match.get("path") or {}
            field = f"spec.rules[{r}].matches[{m}].path"
            if path.get("type", "PathPrefix") in ("Exact", "PathPrefix") and "value" in path \
                    and not str(path["value"]).startswith("/"):
                raise LabkitError(f"{field}: Invalid value: \"object\": value must be an absolute path and start "
                                  "with '/' when type one of ['Exact', 'PathPrefix']", field=f"{field}.value", **where)
            for h, header in enumerate(match.get("headers") or []):
                if not header.get("name") or header.get("value") is None:
                    raise LabkitError(f"spec.rules[{r}].matches[{m}].headers[{h}]: name and value are required",
                                      field=f"spec.rules[{r}].matches[{m}].headers[{h}]", **where)
        filters = rule.get("filters") or []
        kinds = [f.get("type") for f in filters]
        for f, flt in enumerate(filters):
            wanted = {"RequestHeaderModifier": "requestHeaderModifier",
                      "ResponseHeaderModifier": "responseHeaderModifier",
                      "RequestRedirect": "requestRedirect"}.get(flt.get("type"))
            if wanted and flt.get(wanted) is None:
                raise LabkitError(f"spec.rules[{r}].filters[{f}]: Invalid value: \"object\": filter.{wanted} must "
                                  f"be specified for {flt.get('type')} filter.type",
                                  field=f"spec.rules[{r}].filters[{f}].{wanted}", **where)
            code = (flt.get("requestRedirect") or {}).get("statusCode")
            if code is not None and code not in (301, 302):
                raise LabkitError(f"spec.rules[{r}].filters[{f}].requestRedirect.statusCode: Unsupported value: "
                                  f"{code}: supported values: \"301\", \"302\"",
                                  field=f"spec.rules[{r}].filters[{f}].requestRedirect.statusCode", **where)
        if "RequestRedirect" in kinds and "URLRewrite" in kinds:
            raise LabkitError(f"spec.rules[{r}].filters: Invalid value: \"array\": May specify either "
                              "httpRouteFilterRequestRedirect or httpRouteFilterRequestRewrite, but not both",
                              field=f"spec.rules[{r}].filters", **where)
    _check_backend_refs(rules, where)


def check_tls_route(obj: dict, where: dict) -> None:
    spec = obj.get("spec") or {}
    _check_parent_refs(spec, where)
    for index, host in enumerate(spec.get("hostnames") or []):
        _check_hostname(host, f"spec.hostnames[{index}]", where)
    rules = spec.get("rules") or []
    if not rules:
        raise LabkitError("spec.rules: Required value", field="spec.rules", **where)
    _check_backend_refs(rules, where)


def check_tcp_route(obj: dict, where: dict) -> None:
    spec = obj.get("spec") or {}
    _check_parent_refs(spec, where)
    rules = spec.get("rules") or []
    if not rules:
        raise LabkitError("spec.rules: Required value", field="spec.rules", **where)
    _check_backend_refs(rules, where)


def check_reference_grant(obj: dict, where: dict) -> None:
    spec = obj.get("spec") or {}
    for key in ("from", "to"):
        if not spec.get(key):
            raise LabkitError(f"spec.{key}: Required value", field=f"spec.{key}", **where)
    for index, entry in enumerate(spec["from"]):
        for field in ("group", "kind", "namespace"):
            if field not in entry:
                raise LabkitError(f"spec.from[{index}].{field}: Required value", field=f"spec.from[{index}].{field}",
                                  hint='the core group is written group: ""', **where)
    for index, entry in enumerate(spec["to"]):
        for field in ("group", "kind"):
            if field not in entry:
                raise LabkitError(f"spec.to[{index}].{field}: Required value", field=f"spec.to[{index}].{field}",
                                  hint='the core group is written group: ""', **where)


GATEWAY_API_CHECKS = {
    "GatewayClass": check_gateway_class,
    "Gateway.gateway.networking.k8s.io": check_gateway,
    "HTTPRoute": check_http_route,
    "TLSRoute": check_tls_route,
    "TCPRoute": check_tcp_route,
    "ReferenceGrant": check_reference_grant,
}
