"""VirtualService http rules → Envoy routes; the default route when no VirtualService applies."""
from __future__ import annotations

import re
from typing import Any

from ..model.gatewayapi import uses_gateway_semantics
from ..model.mesh import MeshModel, Service, ServicePort
from ..model.vsbinding import RouteContext, applicable_rule, mesh_virtual_services, resolve_host
from .common import TYPE
from .names import outbound_cluster_name

FAULT_FILTER = {"name": "envoy.filters.http.fault",
                "typed_config": {"@type": TYPE + "envoy.extensions.filters.http.fault.v3.HTTPFault"}}
# Istio's default retry policy (meshConfig.defaultHttpRetryPolicy).
DEFAULT_RETRY = {"retry_on": "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
                 "num_retries": 2, "retry_host_predicate": [{"name": "envoy.retry_host_predicates.previous_hosts",
                 "typed_config": {"@type": TYPE + "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"}}],
                 "host_selection_retry_max_attempts": "5"}


def duration(text: str | None) -> str | None:
    """Istio durations ('1.5s', '100ms', '2m') as Envoy's protobuf seconds strings."""
    if not text:
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text.strip())
    if not match:
        return None
    value, unit = float(match.group(1)), match.group(2)
    seconds = value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return f"{seconds:.3f}s"


def _string_match(spec: dict, *, ignore_case: bool = False) -> dict:
    if "exact" in spec:
        out = {"exact": spec["exact"]}
    elif "prefix" in spec:
        out = {"prefix": spec["prefix"]}
    else:
        out = {"safe_regex": {"regex": spec.get("regex", ".*")}}
    if ignore_case and "safe_regex" not in out:
        out["ignore_case"] = True
    return out


def route_match(match: dict | None, separated_prefix: bool = False) -> dict:
    """`separated_prefix`: a prefix matches whole path segments (routes converted from the Gateway API)."""
    match = match or {}
    out: dict = {}
    uri = match.get("uri")
    if not uri:
        out["prefix"] = "/"
    elif "exact" in uri:
        out["path"] = uri["exact"]
    elif "prefix" in uri and separated_prefix and uri["prefix"] != "/":
        out["path_separated_prefix"] = uri["prefix"].rstrip("/")
    elif "prefix" in uri:
        out["prefix"] = uri["prefix"]
    else:
        out["safe_regex"] = {"regex": uri.get("regex", ".*")}
    if match.get("ignoreUriCase"):
        out["case_sensitive"] = False
    headers = []
    for name, spec in (match.get("headers") or {}).items():
        headers.append({"name": name.lower(), "string_match": _string_match(spec)})
    for name, spec in (match.get("withoutHeaders") or {}).items():
        headers.append({"name": name.lower(), "string_match": _string_match(spec), "invert_match": True})
    if match.get("method"):
        headers.append({"name": ":method", "string_match": _string_match(match["method"])})
    if match.get("authority"):
        headers.append({"name": ":authority", "string_match": _string_match(match["authority"])})
    if match.get("scheme"):
        headers.append({"name": ":scheme", "string_match": _string_match(match["scheme"])})
    if headers:
        out["headers"] = headers
    params = [{"name": k, "string_match": _string_match(v)} for k, v in (match.get("queryParams") or {}).items()]
    if params:
        out["query_parameters"] = params
    return out


def destination_cluster(model: MeshModel, destination: dict, vs_namespace: str, default_port: int | None) -> str:
    host = resolve_host(destination["host"], vs_namespace)
    service = model.service_by_fqdn(host)
    port = (destination.get("port") or {}).get("number")
    if service is None:
        # istiod keeps the route and points it at a cluster that does not exist: Envoy answers 503 (NC).
        return f"outbound|{port or default_port or 80}||{host}"
    if port is None:
        port = default_port if default_port and service.port(default_port) else service.ports[0].port if service.ports else 80
    return outbound_cluster_name(service, port, destination.get("subset") or "")


def _fault(fault: dict) -> dict:
    out: dict[str, Any] = {"@type": TYPE + "envoy.extensions.filters.http.fault.v3.HTTPFault"}
    abort, delay = fault.get("abort"), fault.get("delay")
    if abort:
        pct = (abort.get("percentage") or {}).get("value", 100)
        out["abort"] = {"http_status": abort.get("httpStatus", 503),
                        "percentage": {"numerator": int(pct * 10000), "denominator": "MILLION"}}
    if delay:
        pct = (delay.get("percentage") or {}).get("value", delay.get("percent", 100))
        out["delay"] = {"fixed_delay": duration(delay.get("fixedDelay")) or "0s",
                        "percentage": {"numerator": int(pct * 10000), "denominator": "MILLION"}}
    return out


def _header_ops(ops: dict | None, prefix: str) -> dict:
    out: dict = {}
    if not ops:
        return out
    adds = [{"header": {"key": k, "value": v}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
            for k, v in (ops.get("set") or {}).items()]
    adds += [{"header": {"key": k, "value": v}, "append_action": "APPEND_IF_EXISTS_OR_ADD"}
             for k, v in (ops.get("add") or {}).items()]
    if adds:
        out[f"{prefix}_headers_to_add"] = adds
    if ops.get("remove"):
        out[f"{prefix}_headers_to_remove"] = list(ops["remove"])
    return out


_REDIRECT_CODES = {301: "MOVED_PERMANENTLY", 302: "FOUND", 303: "SEE_OTHER", 307: "TEMPORARY_REDIRECT",
                   308: "PERMANENT_REDIRECT"}


def _redirect(redirect: dict) -> dict:
    out: dict = {}
    for field, key in (("uri", "path_redirect"), ("authority", "host_redirect"), ("scheme", "scheme_redirect"),
                       ("port", "port_redirect")):
        if redirect.get(field):
            out[key] = redirect[field]
    out["response_code"] = _REDIRECT_CODES.get(redirect.get("redirectCode", 301), "MOVED_PERMANENTLY")
    return out


def _direct_response(response: dict) -> dict:
    body = (response.get("body") or {}).get("string")
    return {"status": response["status"], **({"body": {"inline_string": body}} if body else {})}


def _retry_policy(rule: dict) -> dict | None:
    """Istio turns retries off while a fault is configured; no `retries` means the mesh default."""
    retries = rule.get("retries")
    if rule.get("fault"):
        return None
    if retries is None:
        return DEFAULT_RETRY
    if retries.get("attempts", 0) <= 0:
        return None
    policy = {"retry_on": retries.get("retryOn") or DEFAULT_RETRY["retry_on"], "num_retries": retries["attempts"]}
    if duration(retries.get("perTryTimeout")):
        policy["per_try_timeout"] = duration(retries["perTryTimeout"])
    return policy


def _route_action(model: MeshModel, rule: dict, vs_namespace: str, default_port: int | None) -> dict:
    routes = rule.get("route") or []
    action: dict = {}
    if len(routes) == 1:
        action["cluster"] = destination_cluster(model, routes[0]["destination"], vs_namespace, default_port)
    else:
        # All-zero weights mean an even split, as istiod treats unweighted destinations.
        even = sum(r.get("weight", 0) or 0 for r in routes) == 0
        action["weighted_clusters"] = {"clusters": [
            {"name": destination_cluster(model, r["destination"], vs_namespace, default_port),
             "weight": 1 if even else r.get("weight", 0) or 0} for r in routes]}
    action["timeout"] = duration(rule.get("timeout")) or "0s"
    rewrite = rule.get("rewrite") or {}
    if rewrite.get("uri") is not None:
        action["prefix_rewrite"] = rewrite["uri"]
    if rewrite.get("uriRegexRewrite"):
        action["regex_rewrite"] = {"pattern": {"regex": rewrite["uriRegexRewrite"].get("match", "")},
                                   "substitution": rewrite["uriRegexRewrite"].get("rewrite", "")}
    if rewrite.get("authority"):
        action["host_rewrite_literal"] = rewrite["authority"]
    retry = _retry_policy(rule)
    if retry:
        action["retry_policy"] = retry
    return action


def http_rule_routes(model: MeshModel, rule: dict, vs_namespace: str, default_port: int | None,
                     name: str, separated_prefix: bool = False) -> list[dict]:
    """One VS http rule → one Envoy route per match condition (ORed), sharing the action."""
    extra: dict = {}
    if rule.get("redirect"):
        extra["redirect"] = _redirect(rule["redirect"])
    elif rule.get("directResponse"):
        extra["direct_response"] = _direct_response(rule["directResponse"])
    else:
        routes = rule.get("route") or []
        extra["route"] = _route_action(model, rule, vs_namespace, default_port)
        if len(routes) == 1:
            extra.update(_header_ops((routes[0].get("headers") or {}).get("request"), "request"))
            extra.update(_header_ops((routes[0].get("headers") or {}).get("response"), "response"))
    extra.update(_header_ops((rule.get("headers") or {}).get("request"), "request"))
    extra.update(_header_ops((rule.get("headers") or {}).get("response"), "response"))
    if rule.get("fault"):
        extra["typed_per_filter_config"] = {"envoy.filters.http.fault": _fault(rule["fault"])}
    matches = rule.get("match") or [None]
    return [{"name": (m or {}).get("name") or name, "match": route_match(m, separated_prefix), **extra}
            for m in matches]


def virtual_service_routes(model: MeshModel, vs: dict, ctx: RouteContext, default_port: int | None) -> list[dict]:
    """Routes for every http rule of `vs` whose match conditions can apply to this proxy and port."""
    namespace, name = vs["metadata"]["namespace"], vs["metadata"]["name"]
    routes = []
    for index, rule in enumerate((vs.get("spec") or {}).get("http") or []):
        applicable = applicable_rule(rule, namespace, ctx)
        if applicable is not None:
            routes.extend(http_rule_routes(model, applicable, namespace, default_port, f"{name}.{namespace}.{index}",
                                           uses_gateway_semantics(vs)))
    return routes


def is_catch_all(route: dict) -> bool:
    match = route.get("match") or {}
    return match.get("prefix") == "/" and set(match) <= {"prefix", "case_sensitive"}


def catch_all_last(routes: list[dict]) -> list[dict]:
    """istiod's SortVHostRoutes: when VirtualServices merge into one host, catch-alls go last, order kept."""
    return [r for r in routes if not is_catch_all(r)] + [r for r in routes if is_catch_all(r)]


def default_route(model: MeshModel, service: Service, sp: ServicePort) -> dict:
    return {"name": "default", "match": {"prefix": "/"},
            "route": {"cluster": outbound_cluster_name(service, sp.port), "timeout": "0s",
                      "retry_policy": DEFAULT_RETRY}}


def mesh_routes_for(model: MeshModel, client_namespace: str, service: Service, sp: ServicePort,
                    source_labels: dict | None = None) -> list[dict]:
    """Routes a sidecar uses towards one service port: from a mesh VirtualService, else the default."""
    ctx = RouteContext(port=sp.port, labels=source_labels, namespace=client_namespace)
    for vs in mesh_virtual_services(model, client_namespace, service):
        routes = virtual_service_routes(model, vs, ctx, sp.port)
        if routes:
            return routes
    return [default_route(model, service, sp)]
