"""AuthorizationPolicy → Envoy RBAC, the way istiod's authz generator does it.

Two RBAC filters run in order, DENY then ALLOW, so "DENY before ALLOW" holds. Their rules travel per
route (RDS), which applies policy changes to live keep-alive connections at once; a listener change
would only reach new connections. A workload with no ALLOW policy gets no ALLOW enforcement; an
ALLOW policy with no rules (`spec: {}`) leaves an ALLOW filter with no policies: it denies all.
"""
from __future__ import annotations

import ipaddress
from typing import Callable

from ..model.addressing import real_port
from ..model.authz import by_action, policies_for, unsupported
from ..model.mesh import MeshModel, Pod
from .common import TYPE

PortMap = Callable[[int], int]   # a workload port → the loopback port whose listener serves it
RBAC_TYPE = TYPE + "envoy.extensions.filters.http.rbac.v3.RBAC"
RBAC_PER_ROUTE_TYPE = TYPE + "envoy.extensions.filters.http.rbac.v3.RBACPerRoute"
RBAC_NETWORK_TYPE = TYPE + "envoy.extensions.filters.network.rbac.v3.RBAC"
DENY_FILTER, ALLOW_FILTER = "istio.rbac.deny", "istio.rbac.allow"


def rbac_filters() -> list[dict]:
    """The two HTTP filters; with no rules they enforce nothing until a route says otherwise."""
    return [{"name": name, "typed_config": {"@type": RBAC_TYPE}} for name in (DENY_FILTER, ALLOW_FILTER)]


def string_matcher(pattern: str, *, prefix_path: str = "", ignore_case: bool = False) -> dict:
    """Istio's string forms: exact, `abc*` prefix, `*abc` suffix, `*` presence."""
    base: dict
    if pattern == "*":
        base = {"safe_regex": {"regex": ".+"}}
    elif pattern.endswith("*"):
        base = {"prefix": prefix_path + pattern[:-1]}
    elif pattern.startswith("*"):
        base = {"suffix": pattern[1:]}
    else:
        base = {"exact": prefix_path + pattern}
    if ignore_case and "safe_regex" not in base:
        base["ignore_case"] = True
    return base


def _any_of(items: list[dict], key: str) -> dict:
    if len(items) == 1:
        return items[0]
    return {f"or_{key}": {key: items}}


def _principal_name(pattern: str) -> dict:
    return {"authenticated": {"principal_name": string_matcher(pattern, prefix_path="spiffe://")
                              if pattern not in ("*",) and not pattern.startswith("*")
                              else string_matcher(pattern)}}


def _ip(cidr: str, field: str) -> dict:
    net = ipaddress.ip_network(cidr, strict=False)
    return {field: {"address_prefix": str(net.network_address), "prefix_len": net.prefixlen}}


def _port(value: str, port_map: PortMap) -> dict:
    return {"destination_port": port_map(int(value))}


def _service_account(value: str) -> dict:
    namespace, account = value.split("/")
    return _principal_name(f"cluster.local/ns/{namespace}/sa/{account}")


def _header(name: str, pattern: str, ignore_case: bool = False) -> dict:
    return {"header": {"name": name, "string_match": string_matcher(pattern, ignore_case=ignore_case)}}


_RE2_SPECIAL = set("\\.+?()|[]{}^$")


def _namespace_regex(pattern: str) -> str:
    """Istio's namespace match on the SPIFFE id: `*` is a wildcard ("prod-*", "*-test"), the rest literal."""
    literal = ["".join("\\" + ch if ch in _RE2_SPECIAL else ch for ch in part) for part in pattern.split("*")]
    return ".*/ns/" + ".*".join(literal) + "/.*"


def _never() -> dict:
    return {"not_id": {"any": True}}



SOURCE_FIELDS = {
    "principals": lambda v: _principal_name(v),
    "namespaces": lambda v: {"authenticated": {"principal_name": {"safe_regex": {"regex": _namespace_regex(v)}}}},
    "serviceAccounts": _service_account,
    "ipBlocks": lambda v: _ip(v, "direct_remote_ip"),
    "remoteIpBlocks": lambda v: _ip(v, "remote_ip"),
    "requestPrincipals": lambda v: _never(),
}


def _operation_fields(port_map: PortMap) -> dict:
    # `ports` name the workload port; the Envoy listener that serves it may sit elsewhere on loopback.
    return {
        "hosts": lambda v: _header(":authority", v, ignore_case=True),
        "methods": lambda v: _header(":method", v),
        "paths": lambda v: {"url_path": {"path": string_matcher(v)}},
        "ports": lambda v: _port(v, port_map),
    }


# Fields that only exist on HTTP requests (model.go checkError): on TCP an ALLOW rule using one is dropped
# (allows less), a DENY rule ignores it (denies more).
HTTP_ONLY_OPERATION = ("hosts", "methods", "paths")
HTTP_ONLY_SOURCE = ("requestPrincipals",)


def _negated(field: str) -> str:
    return "not" + field[0].upper() + field[1:]


def _fields(entry: dict, table: dict, any_key: str, negate_key: str, join_key: str) -> dict:
    """AND of the present fields, each an OR of its values; `notX` fields negated."""
    terms = []
    for field, build in table.items():
        values = entry.get(field)
        if values:
            terms.append(_any_of([build(v) for v in values], any_key))
        negated = entry.get(_negated(field))
        if negated:
            terms.append({negate_key: _any_of([build(v) for v in negated], any_key)})
    if not terms:
        return {"any": True}
    if len(terms) == 1:
        return terms[0]
    return {f"and_{join_key}": {join_key: terms}}


WHEN_PRINCIPAL_KEYS = {
    "source.principal": lambda v: _principal_name(v),
    "source.namespace": lambda v: SOURCE_FIELDS["namespaces"](v),
    "source.ip": lambda v: _ip(v, "direct_remote_ip"),
    "remote.ip": lambda v: _ip(v, "remote_ip"),
}


def _when_permission_keys(port_map: PortMap) -> dict:
    return {
        "destination.port": lambda v: _port(v, port_map),
        "connection.sni": lambda v: {"requested_server_name": string_matcher(v)},
        "destination.ip": lambda v: _ip(v, "destination_ip"),
    }


def _when(conditions: list[dict], port_map: PortMap) -> tuple[list[dict], list[dict]]:
    """(principal terms, permission terms) for `when` conditions; unknown keys never match."""
    principals: list[dict] = []
    permissions: list[dict] = []
    permission_keys = _when_permission_keys(port_map)
    for cond in conditions:
        key = cond.get("key", "")
        build: Callable[..., dict]
        values, not_values = cond.get("values") or [], cond.get("notValues") or []
        if key.startswith("request.headers[") and key.endswith("]"):
            header = key[len("request.headers["):-1]
            target, build, any_key = permissions, (lambda v, h=header: _header(h, v)), "rules"
        elif key in WHEN_PRINCIPAL_KEYS:
            target, build, any_key = principals, WHEN_PRINCIPAL_KEYS[key], "ids"
        elif key in permission_keys:
            target, build, any_key = permissions, permission_keys[key], "rules"
        else:
            principals.append(_never())
            continue
        if values:
            target.append(_any_of([build(v) for v in values], any_key))
        if not_values:
            negate = "not_id" if any_key == "ids" else "not_rule"
            target.append({negate: _any_of([build(v) for v in not_values], any_key)})
    return principals, permissions


def _and(terms: list[dict], key: str) -> dict:
    terms = [t for t in terms if t != {"any": True}]
    if not terms:
        return {"any": True}
    return terms[0] if len(terms) == 1 else {f"and_{key}": {key: terms}}


def _uses_http_only(rule: dict) -> bool:
    fields = [*HTTP_ONLY_OPERATION, *map(_negated, HTTP_ONLY_OPERATION)]
    sources = [*HTTP_ONLY_SOURCE, *map(_negated, HTTP_ONLY_SOURCE)]
    return (any((e.get("operation") or {}).get(f) for e in rule.get("to") or [] for f in fields)
            or any((e.get("source") or {}).get(f) for e in rule.get("from") or [] for f in sources)
            or any(c.get("key", "").startswith("request.") for c in rule.get("when") or []))


def _without_http_only(rule: dict) -> dict:
    drop_op = {*HTTP_ONLY_OPERATION, *map(_negated, HTTP_ONLY_OPERATION)}
    drop_src = {*HTTP_ONLY_SOURCE, *map(_negated, HTTP_ONLY_SOURCE)}

    def strip(entries, key, drop):
        return [{key: {k: v for k, v in (e.get(key) or {}).items() if k not in drop}} for e in entries or []]
    return {"from": strip(rule.get("from"), "source", drop_src), "to": strip(rule.get("to"), "operation", drop_op),
            "when": [c for c in rule.get("when") or [] if not c.get("key", "").startswith("request.")]}


def rule_to_policy(rule: dict, port_map: PortMap = real_port) -> dict:
    when_principals, when_permissions = _when(rule.get("when") or [], port_map)
    operation_fields = _operation_fields(port_map)
    sources = [e.get("source") or {} for e in rule.get("from") or []] or [{}]
    operations = [e.get("operation") or {} for e in rule.get("to") or []] or [{}]
    principals = [_and([_fields(s, SOURCE_FIELDS, "ids", "not_id", "ids"), *when_principals], "ids") for s in sources]
    permissions = [_and([_fields(o, operation_fields, "rules", "not_rule", "rules"), *when_permissions], "rules")
                   for o in operations]
    return {"permissions": permissions, "principals": principals}


def policies_to_rbac(action: str, policies: list[dict], port_map: PortMap = real_port, tcp: bool = False) -> dict:
    rules: dict = {"action": action, "policies": {}}
    for policy in policies:
        name = f"ns[{policy['metadata']['namespace']}]-policy[{policy['metadata']['name']}]"
        for index, rule in enumerate((policy.get("spec") or {}).get("rules") or []):
            if tcp and _uses_http_only(rule):
                if action == "ALLOW":
                    continue
                rule = _without_http_only(rule)
            rules["policies"][f"{name}-rule[{index}]"] = rule_to_policy(rule, port_map)
    return rules


def rbac_configs(model: MeshModel, pod: Pod, port_map: PortMap = real_port, tcp: bool = False) -> dict[str, dict]:
    """filter name → RBAC config for the policies that select this pod (empty when none)."""
    grouped = by_action(policies_for(model, pod))
    out = {}
    if grouped.get("DENY"):
        out[DENY_FILTER] = policies_to_rbac("DENY", grouped["DENY"], port_map, tcp)
    if grouped.get("ALLOW"):
        out[ALLOW_FILTER] = policies_to_rbac("ALLOW", grouped["ALLOW"], port_map, tcp)
    return out


def rbac_per_route(model: MeshModel, pod: Pod, port: int | None = None, *,
                   port_map: PortMap = real_port) -> dict | None:
    """typed_per_filter_config for an inbound route or a gateway virtual host (None when no policy applies)."""
    configs = rbac_configs(model, pod, port_map)
    if not configs:
        return None
    return {name: {"@type": RBAC_PER_ROUTE_TYPE, "rbac": {"rules": rules}} for name, rules in configs.items()}


def rbac_network_filters(model: MeshModel, pod: Pod, stat_prefix: str, *,
                         port_map: PortMap = real_port) -> list[dict]:
    """Network RBAC filters for a TCP chain; a denied connection is closed, as Istio's TCP authz does."""
    return [{"name": name, "typed_config": {"@type": RBAC_NETWORK_TYPE, "stat_prefix": f"{stat_prefix}.",
                                            "rules": rules}}
            for name, rules in rbac_configs(model, pod, port_map, tcp=True).items()]


def rbac_warnings(model: MeshModel, pod: Pod) -> list[str]:
    return unsupported(policies_for(model, pod))
