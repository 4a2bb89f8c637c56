"""Analyzer checks on injection and security policy (istio-semantics §1–§3, §9)."""
from __future__ import annotations

import re
from typing import Iterator

from ..model.addressing import service_hostnames
from ..model.injection import wants_sidecar
from ..model.mesh import ROOT_NAMESPACE, Pod, workload_selector
from ..model.peerauth import STRICT, effective_mtls, ignored_policies
from . import tls_status
from .analyze_base import Context, Message, message
from .common import has_proxy, selector_string, workload_id, workload_name

# istioctl's injection analyzer leaves these alone.
SYSTEM_NAMESPACES = {"kube-system", "kube-public", "kube-node-lease", "local-path-storage", ROOT_NAMESPACE}
URL_HOST = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)?([^/:?#\s]+)", re.IGNORECASE)


def _injection_enabled(labels: dict) -> bool:
    return labels.get("istio-injection") == "enabled" or "istio.io/rev" in labels


def _selector(obj: dict) -> dict:
    return workload_selector(obj)


def check_injection(ctx: Context) -> Iterator[Message]:
    """IST0102 for namespaces with workloads but no injection label; IST0103/LAB0001 for pods left behind.

    Unlike istioctl, an empty namespace gets no IST0102: the local mesh always has an empty
    `default`, and a message about it on every run would teach learners to ignore the analyzer.
    """
    populated = ctx.workload_namespaces()
    for namespace, labels in sorted(ctx.model.namespaces.items()):
        if namespace in SYSTEM_NAMESPACES or namespace not in populated:
            continue
        if "istio-injection" not in labels and "istio.io/rev" not in labels:
            yield message("IST0102", None,
                          f"The namespace is not enabled for Istio injection. Run 'kubectl label namespace "
                          f"{namespace} istio-injection=enabled' to enable it, or 'kubectl label namespace "
                          f"{namespace} istio-injection=disabled' to explicitly mark it as not needing injection.",
                          kind="Namespace", namespace="", name=namespace)
    if not ctx.live:
        return
    told: set[str] = set()
    for pod in ctx.model.pods:
        labels = ctx.model.namespaces.get(pod.namespace, {})
        if pod.is_gateway or pod.sidecar or not _injection_enabled(labels):
            continue
        if not wants_sidecar(labels, pod.labels, pod.annotations):
            continue  # the pod opted out (sidecar.istio.io/inject: "false")
        yield message("IST0103", None, f"The pod {pod.name} is missing the Istio proxy. This can often be resolved "
                      "by restarting or redeploying the workload.", kind="Pod", namespace=pod.namespace, name=pod.name)
        if pod.deployment and workload_id(pod) not in told:
            told.add(workload_id(pod))
            yield message("LAB0001", None,
                          f"Pod {pod.name} was created before sidecar injection was enabled for namespace "
                          f"{pod.namespace}; injection only happens when a pod is created. Restart it: kubectl "
                          f"rollout restart deployment/{pod.deployment} -n {pod.namespace}",
                          kind="Deployment", namespace=pod.namespace, name=pod.deployment)


def check_selectors(ctx: Context) -> Iterator[Message]:
    """IST0127 for AuthorizationPolicies (as istioctl's authz analyzer), LAB0005 for the other selectors."""
    for policy in ctx.of_kind("AuthorizationPolicy"):
        namespace, selector = policy["metadata"]["namespace"], _selector(policy)
        if namespace == ROOT_NAMESPACE:
            if selector and not ctx.pods_matching(selector):
                yield message("IST0127", policy, "No matching workloads for this resource with the following "
                              f"labels: {selector_string(selector)}")
        elif not ctx.pods_matching(selector, namespace):
            yield message("IST0127", policy, "No matching workloads for this resource with the following "
                          f"labels: {selector_string(selector)}")
        for rule in (policy.get("spec") or {}).get("rules") or []:
            for entry in rule.get("from") or []:
                for name in (entry.get("source") or {}).get("namespaces") or []:
                    if "*" not in name and name not in ctx.namespaces:
                        yield message("IST0101", policy, f'Referenced namespace not found: "{name}"')
    for policy in ctx.of_kind("PeerAuthentication"):
        namespace, selector = policy["metadata"]["namespace"], _selector(policy)
        if selector and namespace != ROOT_NAMESPACE and not ctx.pods_matching(selector, namespace):
            yield message("LAB0005", policy, f"The selector {selector_string(selector)} matches no workload in "
                          f"namespace {namespace}, so this PeerAuthentication changes nothing")
    for rule in ctx.of_kind("DestinationRule"):
        selector = ((rule.get("spec") or {}).get("workloadSelector") or {}).get("matchLabels") or {}
        if selector and not ctx.pods_matching(selector, rule["metadata"]["namespace"]):
            yield message("LAB0005", rule, f"The workloadSelector {selector_string(selector)} matches no workload "
                          f"in namespace {rule['metadata']['namespace']}, so this DestinationRule applies nowhere")


def check_ignored_peer_authentication(ctx: Context) -> Iterator[Message]:
    for policy, reason in ignored_policies(ctx.model):
        yield message("LAB0004", policy, f"istiod ignores this PeerAuthentication: {reason}")


def check_client_tls_conflicts(ctx: Context) -> Iterator[Message]:
    """What istioctl's retired IST0113 MTLSPolicyConflict caught: a DestinationRule the server rejects."""
    grouped: dict[tuple[str, str, str], list[dict]] = {}
    for row in tls_status.rows(ctx.model):
        if row.get("destination_rule") and row["status"] == tls_status.CONFLICT:
            grouped.setdefault((row["destination_rule"], row["host"], row["server"]), []).append(row)
    for (rule_ref, host, server), rows in sorted(grouped.items()):
        name, _, namespace = rule_ref.rpartition(".")
        first = rows[0]
        clients = ", ".join(sorted({r["client"] for r in rows}))
        yield message("LAB0003", ctx.find("DestinationRule", namespace, name),
                      f"{first['client_rule']} applies to clients ({clients}) calling {host} ({server}: "
                      f"{first['server_mode']}, {first['server_policy']}): {first['reason']}; "
                      f"expect {first['expected']}",
                      kind="DestinationRule", namespace=namespace, name=name)


def _hostnames(ctx: Context, pod: Pod, caller_namespace: str) -> set[str]:
    names = set()
    for service in ctx.model.services_of(pod):
        names |= set(service_hostnames(service.name, service.namespace, caller_namespace))
    return names


def _configured_callers(ctx: Context, server: Pod, clients: list[Pod]) -> set[str]:
    """Sidecar-less workloads whose environment names the server's service (e.g. CUSTOMER_SERVICE_URL)."""
    callers = set()
    for client in clients:
        hosts = _hostnames(ctx, server, client.namespace)
        for container in client.app_containers:
            for _, value in container.env:
                match = URL_HOST.match(value.strip())
                if match and match.group(1).lower() in hosts:
                    callers.add(workload_id(client))
    return callers


def check_strict_with_plaintext_clients(ctx: Context) -> Iterator[Message]:
    """LAB0002: STRICT on a workload that sidecar-less clients call (by their config, or seen in the logs)."""
    sidecarless = [p for p in ctx.model.pods if not has_proxy(p)]
    sidecarless_ids = {workload_id(p) for p in sidecarless}
    done = set()
    for server in ctx.model.pods:
        if not server.sidecar or workload_id(server) in done:
            continue
        effective = effective_mtls(ctx.model, server)
        strict_ports = [port for port in server.container_ports if effective.for_port(port) == STRICT]
        if not strict_ports:
            continue
        done.add(workload_id(server))
        callers = {c: "named in its configuration" for c in _configured_callers(ctx, server, sidecarless)}
        for call in ctx.observed:
            if call["destination"] == workload_id(server) and call["source"] in sidecarless_ids:
                callers.setdefault(call["source"], "observed in the access logs")
        if callers:
            who = ", ".join(f"{c} ({why})" for c, why in sorted(callers.items()))
            ports = ", ".join(str(p) for p in strict_ports)
            policies = ", ".join(effective.applied)
            yield message("LAB0002", None,
                          f"{workload_id(server)} requires mTLS (STRICT on port {ports}, from {policies}) but clients "
                          f"without a sidecar call it: {who}. Their plaintext connections are reset (curl exit 56, "
                          "ECONNRESET). Inject a sidecar into the client, or allow plaintext on that port "
                          "(PERMISSIVE, e.g. portLevelMtls)",
                          kind="Deployment" if server.deployment else "Pod", namespace=server.namespace,
                          name=workload_name(server) if server.deployment else server.name)
