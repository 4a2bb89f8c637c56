"""Checking and normalising one resource as the API server would before storing it."""
from __future__ import annotations

import base64
import binascii
import copy
import ipaddress
import re

from ..errors import LabkitError
from ..model.hostmatch import VS_ROUTE_SECTIONS
from .gateway_api_rules import GATEWAY_API_CHECKS
from .schema import KINDS, METADATA, check_node, kind_info, store_kind

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DEFAULT_NAMESPACE = "default"


def split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def validate(doc: dict, default_namespace: str = DEFAULT_NAMESPACE) -> dict:
    """A normalised copy of `doc`, or LabkitError naming kind, name and field."""
    kind = doc.get("kind")
    if not isinstance(kind, str) or not kind:
        raise LabkitError("missing `kind`", field="kind",
                          hint="every document needs apiVersion, kind and metadata.name")
    meta = doc.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    where = {"kind": kind, "name": name}
    if store_kind(doc) not in KINDS:
        try:
            canonical = kind_info(kind).kind
            hint = f"kinds are case-sensitive in YAML: did you mean {canonical}?"
        except LabkitError:
            hint = "supported kinds: " + ", ".join(sorted(KINDS))
        raise LabkitError(f"unknown kind {kind!r} (no such resource type on this mesh)", hint=hint, **where)
    api_version = doc.get("apiVersion")
    if not isinstance(api_version, str):
        raise LabkitError("missing `apiVersion`", field="apiVersion", **where)
    info = KINDS[store_kind(doc)]
    group, version = split_api_version(api_version)
    if group != info.group or version not in info.versions:
        expected = ", ".join(f"{info.group + '/' if info.group else ''}{v}" for v in info.versions)
        raise LabkitError(f"apiVersion {api_version!r} does not serve {kind}", field="apiVersion",
                          hint=f"use {expected}", **where)
    if not isinstance(meta, dict):
        raise LabkitError("missing `metadata`", field="metadata", **where)
    check_node(meta, METADATA, "metadata", where)
    if not name:
        raise LabkitError("missing metadata.name", field="metadata.name", **where)
    pattern = DNS1123_LABEL if kind in ("Namespace", "Service") else DNS1123_SUBDOMAIN
    if not pattern.match(name) or len(name) > 253:
        raise LabkitError(f"invalid name {name!r}: lowercase letters, digits and '-' only", field="metadata.name",
                          **where)
    out = copy.deepcopy(doc)
    if info.namespaced:
        namespace = meta.get("namespace") or default_namespace
        if not DNS1123_LABEL.match(namespace):
            raise LabkitError(f"invalid namespace {namespace!r}", field="metadata.namespace", **where)
        out["metadata"]["namespace"] = namespace
        where["namespace"] = namespace
    else:
        out["metadata"].pop("namespace", None)
    top = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind", "metadata")}
    check_node(top, info.spec, "", where)
    _SEMANTIC_CHECKS.get(info.key, lambda o, w: None)(out, where)
    return out


def _check_deployment(obj: dict, where: dict) -> None:
    spec = obj.get("spec") or {}
    template = spec.get("template") or {}
    containers = ((template.get("spec") or {}).get("containers")) or []
    if not containers:
        raise LabkitError("a Deployment needs at least one container", field="spec.template.spec.containers", **where)
    for index, container in enumerate(containers):
        for key in ("name", "image"):
            if not container.get(key):
                raise LabkitError(f"container {index} has no {key}",
                                  field=f"spec.template.spec.containers[{index}].{key}", **where)
    selector = (spec.get("selector") or {}).get("matchLabels")
    if not selector:
        raise LabkitError("spec.selector.matchLabels is required (apps/v1)", field="spec.selector", **where)
    labels = (template.get("metadata") or {}).get("labels") or {}
    if any(labels.get(k) != v for k, v in selector.items()):
        raise LabkitError("`selector` does not match template `labels`", field="spec.template.metadata.labels",
                          hint=f"the pod template needs the labels {selector}", **where)
    replicas = spec.get("replicas", 1)
    if replicas < 0 or replicas > 20:
        raise LabkitError(f"replicas {replicas} out of range (0..20 on the local mesh)", field="spec.replicas",
                          **where)


def _check_service(obj: dict, where: dict) -> None:
    ports = (obj.get("spec") or {}).get("ports") or []
    seen = set()
    for index, port in enumerate(ports):
        number = port.get("port")
        if not isinstance(number, int) or not 0 < number < 65536:
            raise LabkitError(f"port {number!r} must be 1..65535", field=f"spec.ports[{index}].port", **where)
        if number in seen:
            raise LabkitError(f"duplicate port {number}", field=f"spec.ports[{index}].port", **where)
        seen.add(number)
        if len(ports) > 1 and not port.get("name"):
            raise LabkitError("ports must be named when a Service has more than one",
                              field=f"spec.ports[{index}].name", **where)


def _check_secret(obj: dict, where: dict) -> None:
    data = dict(obj.get("data") or {})
    for key, value in data.items():
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise LabkitError(f"data[{key!r}] is not valid base64", field=f"data.{key}",
                              hint="use stringData for plain text", **where)
    for key, value in (obj.pop("stringData", None) or {}).items():
        data[key] = base64.b64encode(value.encode()).decode()
    obj["data"] = data
    obj.setdefault("type", "Opaque")
    if obj["type"] == "kubernetes.io/tls":
        for key in ("tls.crt", "tls.key"):
            if key not in data:
                raise LabkitError(f"a kubernetes.io/tls Secret needs data[{key!r}]", field=f"data.{key}", **where)


def _check_peer_authentication(obj: dict, where: dict) -> None:
    spec = obj.get("spec") or {}
    if spec.get("portLevelMtls"):
        if not (spec.get("selector") or {}).get("matchLabels"):
            raise LabkitError("portLevelMtls requires selector", field="spec.portLevelMtls", **where)
        normalised = {}
        for port, value in spec["portLevelMtls"].items():
            try:
                number = int(port)
            except (TypeError, ValueError):
                raise LabkitError(f"port {port!r} is not a number", field=f"spec.portLevelMtls.{port}", **where)
            normalised[number] = value
        spec["portLevelMtls"] = normalised


def _check_client_tls(tls: dict, field: str, where: dict) -> None:
    """Istio's ValidateTLS for a DestinationRule's tls block (pkg/config/validation/agent/validation.go)."""
    mode = tls.get("mode")
    if tls.get("insecureSkipVerify"):
        if mode == "SIMPLE" and (tls.get("caCertificates") or tls.get("credentialName") or tls.get("subjectAltNames")):
            raise LabkitError("cannot specify CaCertificates or CredentialName or SubjectAltNames when "
                              "InsecureSkipVerify is set true", field=field, **where)
        if mode == "MUTUAL" and (tls.get("caCertificates") or tls.get("subjectAltNames")):
            raise LabkitError("cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is set true",
                              field=field, **where)
    if mode in ("SIMPLE", "MUTUAL") and tls.get("credentialName"):
        if any(tls.get(k) for k in ("clientCertificate", "caCertificates", "privateKey", "caCrl")):
            raise LabkitError("cannot specify client certificates or CA certificate or CA CRL If credentialName is set",
                              field=field, **where)
        return
    if mode == "MUTUAL":
        if not tls.get("clientCertificate"):
            raise LabkitError("client certificate required for mutual tls", field=f"{field}.clientCertificate",
                              hint="or give credentialName (a Secret with tls.crt, tls.key, ca.crt)", **where)
        if not tls.get("privateKey"):
            raise LabkitError("private key required for mutual tls", field=f"{field}.privateKey", **where)


def _traffic_policy_tls(policy: dict | None, field: str, where: dict) -> None:
    policy = policy or {}
    if policy.get("tls"):
        _check_client_tls(policy["tls"], f"{field}.tls", where)
    for index, entry in enumerate(policy.get("portLevelSettings") or []):
        if (entry or {}).get("tls"):
            _check_client_tls(entry["tls"], f"{field}.portLevelSettings[{index}].tls", where)


def _check_destination_rule(obj: dict, where: dict) -> None:
    if not (obj.get("spec") or {}).get("host"):
        raise LabkitError("spec.host is required", field="spec.host", **where)
    _traffic_policy_tls((obj.get("spec") or {}).get("trafficPolicy"), "spec.trafficPolicy", where)
    for index, subset in enumerate((obj.get("spec") or {}).get("subsets") or []):
        _traffic_policy_tls((subset or {}).get("trafficPolicy"), f"spec.subsets[{index}].trafficPolicy", where)
    seen = set()
    for index, subset in enumerate((obj.get("spec") or {}).get("subsets") or []):
        # Each subset becomes a cluster per port; two of one name would make Envoy refuse them all.
        if subset.get("name") in seen:
            raise LabkitError(f"duplicate subset name {subset.get('name')!r}", field=f"spec.subsets[{index}].name",
                              **where)
        seen.add(subset.get("name"))


_TLS_PROTOCOLS = ("HTTPS", "TLS")
_HTTP_PROTOCOLS = ("HTTP", "HTTP2", "GRPC", "GRPC-WEB")


def _check_gateway(obj: dict, where: dict) -> None:
    """Istio's webhook (pkg/config/validation/validation.go: ValidateGateway, validateServer,
    validateServerPort, validateTLSOptions), the rules the labs can run into."""
    servers = (obj.get("spec") or {}).get("servers") or []
    if not servers:
        raise LabkitError("gateway must have at least one server", field="spec.servers", **where)
    port_names: set[str] = set()
    for index, server in enumerate(servers):
        port = server.get("port") or {}
        if not server.get("port"):
            raise LabkitError("port is required", field=f"spec.servers[{index}].port", **where)
        if not port.get("number"):
            raise LabkitError("server port number is required", field=f"spec.servers[{index}].port.number", **where)
        if not port.get("name"):
            raise LabkitError(f"port name must be set: number:{port.get('number')} "
                              f"protocol:{port.get('protocol', '')!r}", field=f"spec.servers[{index}].port.name",
                              **where)
        if port["name"] in port_names:
            raise LabkitError(f"port names in servers must be unique: duplicate name {port['name']}",
                              field=f"spec.servers[{index}].port.name", **where)
        port_names.add(port["name"])
        if port.get("targetPort"):
            raise LabkitError("targetPort has no impact on Gateways", field=f"spec.servers[{index}].port.targetPort",
                              **where)
        if not server.get("hosts"):
            raise LabkitError("server hosts are required", field=f"spec.servers[{index}].hosts", **where)
        protocol = (port.get("protocol") or "").upper()
        if protocol not in ("HTTP", "HTTPS", "HTTP2", "GRPC", "GRPC-WEB", "TCP", "TLS", "MONGO"):
            raise LabkitError(f"unknown protocol {port.get('protocol')!r}",
                              field=f"spec.servers[{index}].port.protocol",
                              hint="HTTP, HTTPS, HTTP2, GRPC, TCP or TLS", **where)
        tls = server.get("tls") or {}
        if protocol in _TLS_PROTOCOLS and server.get("tls") is None:
            raise LabkitError("server must have TLS settings for HTTPS/TLS protocols",
                              field=f"spec.servers[{index}].tls", **where)
        if protocol not in _TLS_PROTOCOLS and server.get("tls") is not None:
            # Only an httpsRedirect (mode left at its zero value, PASSTHROUGH) is allowed on plain HTTP.
            certs = any(tls.get(k) for k in ("caCertificates", "privateKey", "serverCertificate"))
            if protocol not in _HTTP_PROTOCOLS:
                raise LabkitError("server cannot have TLS settings for non HTTPS/TLS ports",
                                  field=f"spec.servers[{index}].tls", **where)
            if tls.get("mode", "PASSTHROUGH") not in ("PASSTHROUGH", "AUTO_PASSTHROUGH") or certs:
                raise LabkitError("server cannot have TLS settings for plain text HTTP ports",
                                  field=f"spec.servers[{index}].tls", **where)
        if tls.get("mode") == "ISTIO_MUTUAL":
            for key, what in (("serverCertificate", "server certificate"), ("privateKey", "private key"),
                              ("caCertificates", "CA bundle"), ("credentialName", "credentialName")):
                if tls.get(key):
                    raise LabkitError(f"ISTIO_MUTUAL TLS cannot have associated {what}",
                                      field=f"spec.servers[{index}].tls.{key}", **where)
        if protocol in _TLS_PROTOCOLS and not tls.get("mode") and not tls.get("httpsRedirect"):
            raise LabkitError(f"a {protocol} server needs tls.mode", field=f"spec.servers[{index}].tls.mode", **where)
        if tls.get("mode") in ("SIMPLE", "MUTUAL") and not (tls.get("credentialName") or tls.get("credentialNames")
                                                            or tls.get("serverCertificate")):
            raise LabkitError(f"tls mode {tls['mode']} needs credentialName",
                              field=f"spec.servers[{index}].tls.credentialName", **where)


_NOT_RE2 = re.compile(r"\(\?<?[=!]|\\[1-9]")  # lookaround and backreferences: RE2 (Envoy, istiod) has neither


def _check_regex(pattern: str, field: str, where: dict) -> None:
    """Refuse what Envoy's RE2 would refuse, before the proxies do (they would keep their old config)."""
    problem = "lookaround and backreferences are not RE2 syntax" if _NOT_RE2.search(pattern) else None
    if problem is None:
        try:
            re.compile(pattern.replace("\\z", "\\Z"))
        except re.error as exc:
            problem = str(exc)
    if problem:
        raise LabkitError(f"invalid regex {pattern!r}: {problem}", field=field, **where)


def _check_string_match(value: object, field: str, where: dict) -> None:
    """istiod's webhook (pkg/config/validation validateStringMatch): an empty prefix or regex is refused
    ("prefix string match should not be empty", "regex string match should not be empty"); Envoy's
    StringMatcher would refuse them too."""
    if not isinstance(value, dict):
        return
    for kind in ("prefix", "regex"):
        if kind in value and value[kind] == "":
            raise LabkitError(f"{kind} string match should not be empty", field=f"{field}.{kind}", **where)
    if "regex" in value:
        _check_regex(value["regex"], f"{field}.regex", where)


def _check_http_match(match: dict, field: str, where: dict) -> None:
    for key in ("uri", "scheme", "method", "authority"):
        _check_string_match(match.get(key), f"{field}.{key}", where)
    for key in ("headers", "queryParams", "withoutHeaders"):
        for name, value in (match.get(key) or {}).items():
            _check_string_match(value, f"{field}.{key}.{name}", where)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")


def _check_fault_delay(rule: dict, field: str, where: dict) -> None:
    """istiod's webhook (ValidateDuration on fault.delay.fixedDelay): at least 1ms, in whole milliseconds."""
    delay = ((rule.get("fault") or {}).get("delay") or {})
    text = delay.get("fixedDelay")
    if not isinstance(text, str):
        return
    found = _DURATION.fullmatch(text.strip())
    if found is None:
        raise LabkitError(f"invalid duration {text!r} (e.g. 5s, 100ms)", field=f"{field}.fault.delay.fixedDelay",
                          **where)
    millis = float(found.group(1)) * {"ms": 1, "s": 1000, "m": 60000, "h": 3600000}[found.group(2)]
    if millis < 1:
        raise LabkitError("duration must be greater than 1ms", field=f"{field}.fault.delay.fixedDelay", **where)
    if abs(millis - round(millis)) > 1e-9:
        raise LabkitError("only durations to ms precision are supported", field=f"{field}.fault.delay.fixedDelay",
                          **where)


def _check_virtual_service(obj: dict, where: dict) -> None:
    spec = obj.get("spec") or {}
    if not spec.get("hosts"):
        raise LabkitError("spec.hosts is required", field="spec.hosts", **where)
    for index, rule in enumerate(spec.get("http") or []):
        for m_index, match in enumerate(rule.get("match") or []):
            _check_http_match(match or {}, f"spec.http[{index}].match[{m_index}]", where)
        _check_fault_delay(rule, f"spec.http[{index}]", where)
        # Status codes a proxy can send itself: istiod's webhook (and Envoy) take 200..599 only.
        for key, field in (("directResponse", "status"), ("fault", "abort")):
            value = (rule.get(key) or {}).get(field)
            status = value.get("httpStatus") if isinstance(value, dict) else value
            if status is not None and not 200 <= status <= 599:
                path = f"spec.http[{index}].{key}.{field}" + (".httpStatus" if isinstance(value, dict) else "")
                raise LabkitError(f"HTTP status {status} must be between 200 and 599", field=path, **where)
    for section in VS_ROUTE_SECTIONS:
        for index, rule in enumerate(spec.get(section) or []):
            if not rule.get("route") and not rule.get("redirect") and not rule.get("directResponse"):
                raise LabkitError("a rule needs route, redirect or directResponse",
                                  field=f"spec.{section}[{index}]", **where)
            for r_index, route in enumerate(rule.get("route") or []):
                if not (route.get("destination") or {}).get("host"):
                    raise LabkitError("destination.host is required",
                                      field=f"spec.{section}[{index}].route[{r_index}].destination.host", **where)


def _check_authorization_policy(obj: dict, where: dict) -> None:
    spec = obj.get("spec") or {}
    if spec.get("action") == "CUSTOM" and not spec.get("provider"):
        raise LabkitError("action CUSTOM needs a provider", field="spec.provider", **where)
    # Values the RBAC filter needs as numbers or networks, refused as istiod's webhook refuses them.
    for r, rule in enumerate(spec.get("rules") or []):
        base = f"spec.rules[{r}]"
        for f, entry in enumerate(rule.get("from") or []):
            for key, values in ((entry or {}).get("source") or {}).items():
                check = _AUTHZ_VALUE_CHECKS.get(key.removeprefix("not").lower())
                for v, value in enumerate(values or []):
                    if check:
                        check(value, f"{base}.from[{f}].source.{key}[{v}]", where)
        for t, entry in enumerate(rule.get("to") or []):
            for key, values in ((entry or {}).get("operation") or {}).items():
                if key in ("ports", "notPorts"):
                    for v, value in enumerate(values or []):
                        _check_port_value(value, f"{base}.to[{t}].operation.{key}[{v}]", where)
        for c, condition in enumerate(rule.get("when") or []):
            check = _AUTHZ_CONDITION_CHECKS.get(condition.get("key", ""))
            for key in ("values", "notValues"):
                for v, value in enumerate(condition.get(key) or []):
                    if check:
                        check(value, f"{base}.when[{c}].{key}[{v}]", where)


def _check_cidr(value: str, field: str, where: dict) -> None:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise LabkitError(f"invalid IP address or CIDR range: {value!r}", field=field, **where)


def _check_port_value(value: str, field: str, where: dict) -> None:
    if not str(value).isdigit() or not 0 <= int(value) <= 65535:
        raise LabkitError(f"invalid port: {value!r} (a number 0..65535)", field=field, **where)


def _check_service_account(value: str, field: str, where: dict) -> None:
    namespace, _, name = value.partition("/")
    if not (namespace and name) or "/" in name:
        raise LabkitError(f"service account {value!r} must be written <namespace>/<name>", field=field, **where)


_AUTHZ_VALUE_CHECKS = {"ipblocks": _check_cidr, "remoteipblocks": _check_cidr,
                       "serviceaccounts": _check_service_account}
_AUTHZ_CONDITION_CHECKS = {"source.ip": _check_cidr, "remote.ip": _check_cidr, "destination.ip": _check_cidr,
                           "destination.port": _check_port_value}


def _check_service_entry(obj: dict, where: dict) -> None:
    """istiod's ValidateServiceEntry (pilot/pkg/config/validation): hosts are FQDNs or `*.suffix` wildcards,
    never `*` or a short name; port names and numbers are unique; STATIC needs endpoints with IP addresses;
    DNS without endpoints needs hosts that are plain FQDNs (no wildcard) to resolve; an endpoint's `ports`
    name ports of the entry; endpoints and workloadSelector exclude each other."""
    spec = obj.get("spec") or {}
    hosts = spec.get("hosts") or []
    if not hosts:
        raise LabkitError("service entry must have at least one host", field="spec.hosts", **where)
    for index, host in enumerate(hosts):
        bare = host[2:] if host.startswith("*.") else host
        if host == "*" or "." not in host or not DNS1123_SUBDOMAIN.match(bare.lower()):
            raise LabkitError(f"invalid host {host}", field=f"spec.hosts[{index}]",
                              hint="a ServiceEntry host is a fully qualified name (api.example.com) or a "
                                   "wildcard like *.example.com", **where)
    for index, address in enumerate(spec.get("addresses") or []):
        try:
            ipaddress.ip_network(address, strict=False)
        except ValueError:
            raise LabkitError(f"invalid address {address}: an IP or a CIDR block", field=f"spec.addresses[{index}]",
                              **where)
    names: set[str] = set()
    numbers: set[int] = set()
    for index, port in enumerate(spec.get("ports") or []):
        field = f"spec.ports[{index}]"
        if not isinstance(port.get("number"), int) or not 0 < port["number"] < 65536:
            raise LabkitError(f"port number {port.get('number')!r} must be 1..65535", field=f"{field}.number", **where)
        name = port.get("name") or ""
        if not DNS1123_LABEL.match(name):
            raise LabkitError(f"invalid port name: {name}", field=f"{field}.name", **where)
        if name in names:
            raise LabkitError(f"service entry port name {name!r} already defined", field=f"{field}.name", **where)
        if port["number"] in numbers:
            raise LabkitError(f"service entry port {port['number']} already defined", field=f"{field}.number",
                              **where)
        names.add(name)
        numbers.add(port["number"])
        protocol = (port.get("protocol") or "").upper()
        if protocol not in SERVICE_ENTRY_PROTOCOLS:
            raise LabkitError(f"unsupported protocol: {port.get('protocol')}", field=f"{field}.protocol",
                              hint="one of " + ", ".join(SERVICE_ENTRY_PROTOCOLS), **where)
    endpoints = spec.get("endpoints") or []
    if endpoints and spec.get("workloadSelector"):
        raise LabkitError("only one of WorkloadSelector or Endpoints is allowed in Service Entry",
                          field="spec.workloadSelector", **where)
    resolution = spec.get("resolution") or "NONE"
    if resolution == "STATIC" and not endpoints and not spec.get("workloadSelector"):
        raise LabkitError("endpoints must be provided if service entry discovery mode is static",
                          field="spec.endpoints", **where)
    if resolution in ("DNS", "DNS_ROUND_ROBIN") and not endpoints:
        for index, host in enumerate(hosts):
            if host.startswith("*"):
                raise LabkitError("hosts must be FQDN if no endpoints are provided for resolution mode DNS",
                                  field=f"spec.hosts[{index}]", **where)
    for index, endpoint in enumerate(endpoints):
        field = f"spec.endpoints[{index}]"
        address = endpoint.get("address") or ""
        if resolution == "STATIC":
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise LabkitError(f"invalid address {address!r}: STATIC endpoints are IP addresses",
                                  field=f"{field}.address", **where)
        elif resolution in ("DNS", "DNS_ROUND_ROBIN") and not DNS1123_SUBDOMAIN.match(address.lower()) \
                and not _is_ip_address(address):
            raise LabkitError(f"invalid address {address!r}", field=f"{field}.address", **where)
        for name, number in (endpoint.get("ports") or {}).items():
            if name not in names:
                raise LabkitError(f"endpoint port {number} is not defined by the service entry",
                                  field=f"{field}.ports.{name}", **where)


def _is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


# Istio's protocols (pkg/config/protocol): what a ServiceEntry port may declare, case-insensitive.
SERVICE_ENTRY_PROTOCOLS = ("HTTP", "HTTPS", "GRPC", "GRPC-WEB", "HTTP2", "MONGO", "MYSQL", "REDIS", "TCP", "TLS",
                           "UDP")

_SEMANTIC_CHECKS = {
    "Deployment": _check_deployment, "Service": _check_service, "Secret": _check_secret,
    "PeerAuthentication": _check_peer_authentication, "DestinationRule": _check_destination_rule,
    "Gateway": _check_gateway, "VirtualService": _check_virtual_service,
    "AuthorizationPolicy": _check_authorization_policy, "ServiceEntry": _check_service_entry, **GATEWAY_API_CHECKS,
}
