"""A sidecar's Envoy config: inbound listeners per container port, outbound listeners per service port.

Names follow istiod so `proxy_config` views read like a real mesh: inbound chains `0.0.0.0_<port>`,
clusters `inbound|<port>||` and `outbound|<port>|<subset>|<fqdn>`, outbound routes named by port.
"""
from __future__ import annotations

import os
from typing import Any

from ..model.addressing import real_port, service_hostnames
from ..model.destrule import (AUTO, CA_SUFFIX, ClientTls, client_tls, credential_ignored_at_sidecar,
                              credential_resource, endpoint_wants_mtls, sidecar_ca, sidecar_key_cert, server_identities)
from ..model.gateways import CredentialError, ca_credential, server_credential
from ..model.mesh import MeshModel, Pod, Service, ServicePort
from ..model.peerauth import DISABLE, PERMISSIVE, STRICT, effective_mtls
from . import common as c
from .names import outbound_cluster_name, outbound_sni
from .placeholders import UNVERIFIABLE_CA_PEM
from .rbac import rbac_filters, rbac_network_filters, rbac_per_route, rbac_warnings
from .routing import FAULT_FILTER, mesh_routes_for

HTTP_ALPN_IN = ["h2", "http/1.1"]
TCP_ALPN_IN = ["istio-peer-exchange", "h2", "http/1.1"]
# Upstream HTTP is HTTP/1.1 (auto_config cannot sit beside the plaintext socket of auto mTLS), so h2 is
# not offered; the Istio names make the server pick its mTLS chain, as istio.alpn would.
CLIENT_ALPN = ["istio-peer-exchange", "istio", "http/1.1"]


def build_sidecar(model: MeshModel, pod: Pod, paths: c.ProxyPaths) -> c.ProxyConfig:
    config = c.ProxyConfig(secrets=[c.MESH_CERT, c.MESH_ROOT], warnings=rbac_warnings(model, pod))
    _add_inbound(model, pod, paths, config)
    _add_outbound(model, pod, paths, config)
    return config


# ---- inbound -------------------------------------------------------------------------------------

def _inbound_protocol(model: MeshModel, pod: Pod, port: int) -> str:
    for service in model.services_of(pod):
        for sp in service.ports:
            if sp.target_port == port:
                return sp.protocol
    return "HTTP"


def _add_inbound(model: MeshModel, pod: Pod, paths: c.ProxyPaths, config: c.ProxyConfig) -> None:
    mtls = effective_mtls(model, pod)
    for port in pod.container_ports:
        cluster = f"inbound|{port}||"
        chain_name = f"0.0.0.0_{port}"
        config.clusters.append(c.static_cluster(cluster, [c.lb_endpoint(pod.app_ip, real_port(port))]))
        protocol = _inbound_protocol(model, pod, port)
        tcp_authz = rbac_network_filters(model, pod, f"inbound_{chain_name}")
        if protocol == "HTTP":
            route_name = f"inbound|{port}||"
            route = {"match": {"prefix": "/"}, "route": {"cluster": cluster, "timeout": "0s"},
                     "name": "default", "decorator": {"operation": f"{pod.name}.{pod.namespace}:{port}/*"}}
            per_route = rbac_per_route(model, pod, port)
            if per_route is not None:
                route["typed_per_filter_config"] = per_route
            config.routes.append(c.route_config(route_name, [
                {"name": f"inbound|http|{port}", "domains": ["*"], "routes": [route]}], ignore_port=False))

            # Called within this iteration only, so the loop variables it reads are the current ones.
            def app_filters(tls: bool):
                return [c.http_connection_manager(f"inbound_{chain_name}", route_name, paths,  # noqa: B023
                                                  server_name="istio-envoy", http_filters=rbac_filters(),
                                                  forward_client_cert=tls)]
            alpn_in = HTTP_ALPN_IN
        else:
            def app_filters(tls: bool):
                return [*tcp_authz, c.tcp_proxy(f"inbound_{chain_name}", cluster, paths)]  # noqa: B023
            alpn_in = TCP_ALPN_IN
        mode = mtls.for_port(port)
        chains = []
        if mode in (STRICT, PERMISSIVE):
            chains.append({"name": f"{chain_name}_mtls", "filter_chain_match": {
                "transport_protocol": "tls", **({"application_protocols": c.ISTIO_ALPN} if mode == PERMISSIVE else {})},
                "filters": app_filters(True), "transport_socket": c.downstream_mtls(paths, alpn_in)})
        if mode == PERMISSIVE:
            # The app's own TLS (no Istio ALPN) passes through untouched, as Istio's passthrough chain does.
            chains.append({"name": f"{chain_name}_tls_passthrough", "filter_chain_match": {"transport_protocol": "tls"},
                           "filters": [*tcp_authz, c.tcp_proxy(f"inbound_{chain_name}_passthrough", cluster, paths)]})
        if mode in (PERMISSIVE, DISABLE):
            chains.append({"name": f"{chain_name}_plaintext", "filter_chain_match": {"transport_protocol": "raw_buffer"},
                           "filters": app_filters(False)})
        # tls_inspector on every inbound listener: STRICT then resets plaintext (curl 56), as Istio does.
        config.listeners.append(c.listener(f"virtualInbound_{port}", pod.ip, real_port(port), chains,
                                           tls_inspector=True, log_paths=paths))


# ---- outbound ------------------------------------------------------------------------------------


def _upstream_socket(model: MeshModel, tls: ClientTls, service: Service, sp: ServicePort, subset: str,
                     paths: c.ProxyPaths, endpoints: list[Pod], warnings: list[str],
                     client: Pod | None = None) -> tuple[dict | None, list[dict] | None]:
    """(transport_socket, transport_socket_matches) for one outbound cluster."""
    def mesh_tls():
        return c.upstream_mtls(paths, outbound_sni(service, sp.port, subset), server_identities(tls, endpoints),
                               CLIENT_ALPN)

    if tls.mode == AUTO:
        return None, [
            {"name": "tlsMode-istio", "match": {"tlsMode": "istio"}, "transport_socket": mesh_tls()},
            {"name": "tlsMode-disabled", "match": {},
             "transport_socket": {"name": "envoy.transport_sockets.raw_buffer", "typed_config": {
                 "@type": c.TYPE + "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"}}}]
    if tls.mode == "ISTIO_MUTUAL":
        return mesh_tls(), None
    if tls.mode in ("SIMPLE", "MUTUAL"):
        if credential_ignored_at_sidecar(tls, client):
            return None, None   # Istio sends no TLS at all (see model/destrule.py)
        return _origination_socket(model, tls, service, warnings, client), None
    return None, None


def _credential_context(model: MeshModel, tls: ClientTls, client: Pod | None, warnings: list[str]) -> dict:
    """The TLS context behind `credentialName`, as istiod would serve it over SDS to this proxy.

    A credential istiod would not serve leaves its part out (CA: the placeholder no chain verifies
    against, so the handshake fails; key: no client certificate) and its warning goes to istiod's log."""
    settings = tls.settings or {}
    name = settings["credentialName"]
    context: dict = {"tls_params": c.tls_params()}
    namespace = client.namespace if client is not None else ""
    if not settings.get("insecureSkipVerify"):
        resource = credential_resource(name + CA_SUFFIX)
        try:
            ca = (sidecar_ca(model, client, name) if client is not None and client.sidecar
                  else ca_credential(model, namespace, name))
            trusted = {"inline_string": ca.decode()}
        except CredentialError as exc:
            warnings.append(f"failed to fetch ca certificate for {resource}: {exc}")
            trusted = {"inline_string": UNVERIFIABLE_CA_PEM}
        validation: dict = {"trusted_ca": trusted}
        if settings.get("subjectAltNames"):
            validation["match_typed_subject_alt_names"] = [
                {"san_type": "DNS", "matcher": {"exact": san}} for san in settings["subjectAltNames"]]
        context["validation_context"] = validation
    if tls.mode == "MUTUAL":
        resource = credential_resource(name)
        try:
            pair = (sidecar_key_cert(model, client, name) if client is not None and client.sidecar
                    else server_credential(model, namespace, name))
            context["tls_certificates"] = [{"certificate_chain": {"inline_string": pair.cert_pem.decode()},
                                            "private_key": {"inline_string": pair.key_pem.decode()}}]
        except CredentialError as exc:
            text = str(exc)
            warnings.append(text if text.startswith("proxy ") else
                            f"failed to fetch key and certificate for {resource}: {text}")
    return context


def _origination_socket(model: MeshModel, tls: ClientTls, service: Service, warnings: list[str],
                        client: Pod | None) -> dict:
    """DR SIMPLE/MUTUAL: credentialName (served by istiod), or files the DR names (which on a cluster must
    be inside the sidecar; here files on this machine stand for them).

    Reading the disk here keeps a typo in a path from freezing the proxy (see placeholders.py)."""
    settings = tls.settings or {}
    if settings.get("credentialName"):
        credential = _credential_context(model, tls, client, warnings)
        return {"name": c.TLS_SOCKET, "typed_config": {"@type": c.UPSTREAM_TLS, "common_tls_context": credential,
                                                       "sni": settings.get("sni") or service.fqdn}}
    context: dict = {"tls_params": c.tls_params()}
    if settings.get("caCertificates") and not settings.get("insecureSkipVerify"):
        ca_file = settings["caCertificates"]
        if os.path.isfile(ca_file):
            trusted = {"filename": ca_file}
        else:
            warnings.append(f"DestinationRule {tls.rule}: caCertificates file {ca_file} not found; "
                            f"TLS to {service.fqdn} fails verification")
            trusted = {"inline_string": UNVERIFIABLE_CA_PEM}
        validation: dict[str, Any] = {"trusted_ca": trusted}
        if settings.get("subjectAltNames"):
            validation["match_typed_subject_alt_names"] = [
                {"san_type": "DNS", "matcher": {"exact": san}} for san in settings["subjectAltNames"]]
        context["validation_context"] = validation
    if tls.mode == "MUTUAL" and settings.get("clientCertificate") and settings.get("privateKey"):
        files = (settings["clientCertificate"], settings["privateKey"])
        missing = [f for f in files if not os.path.isfile(f)]
        if missing:
            warnings.append(f"DestinationRule {tls.rule}: {', '.join(missing)} not found; "
                            f"no client certificate is sent to {service.fqdn}")
        else:
            context["tls_certificates"] = [{"certificate_chain": {"filename": files[0]},
                                            "private_key": {"filename": files[1]}}]
    return {"name": c.TLS_SOCKET, "typed_config": {"@type": c.UPSTREAM_TLS, "common_tls_context": context,
                                                   "sni": settings.get("sni") or service.fqdn}}


def outbound_clusters(model: MeshModel, client_namespace: str, service: Service, paths: c.ProxyPaths,
                      source_ip: str | None, warnings: list[str], client: Pod | None = None) -> list[dict]:
    """The clusters for every port (and DR subset) of one service, as seen by a client (pod) namespace."""
    clusters = []
    all_endpoints = model.endpoints(service)
    for sp in service.ports:
        tls = client_tls(model, client_namespace, service, sp.port, client)
        subsets = [("", {}, None)] + [(name, labels, mode) for name, labels, mode in tls.subsets]
        for subset, labels, _ in subsets:
            endpoints = [p for p in all_endpoints if p.matches(labels)]
            lb = []
            for pod in endpoints:
                marker = {"tlsMode": "istio"} if endpoint_wants_mtls(model, pod, sp.target_port, tls) else None
                lb.append(c.lb_endpoint(pod.ip, real_port(sp.target_port), marker))
            cluster = c.static_cluster(outbound_cluster_name(service, sp.port, subset), lb,
                                       source_ip=source_ip)
            socket, matches = _upstream_socket(model, tls, service, sp, subset, paths, endpoints, warnings, client)
            if socket:
                cluster["transport_socket"] = socket
            if matches:
                cluster["transport_socket_matches"] = matches
            clusters.append(cluster)
    return clusters


def _add_outbound(model: MeshModel, pod: Pod, paths: c.ProxyPaths, config: c.ProxyConfig) -> None:
    by_port: dict[int, list[tuple[Service, ServicePort]]] = {}
    for service in model.services:
        config.clusters.extend(outbound_clusters(model, pod.namespace, service, paths, pod.ip, config.warnings,
                                                 pod))
        for sp in service.ports:
            by_port.setdefault(sp.port, []).append((service, sp))
    for port, entries in sorted(by_port.items()):
        name = f"0.0.0.0_{port}"
        http = [(s, sp) for s, sp in entries if sp.protocol == "HTTP"]
        if http:
            route_name = str(port)
            vhosts = []
            for service, sp in http:
                vhosts.append({"name": f"{service.fqdn}:{port}",
                               "domains": service_hostnames(service.name, service.namespace, pod.namespace),
                               "routes": mesh_routes_for(model, pod.namespace, service, sp, pod.labels)})
            # RDS, named by port as istiod names outbound routes: the same RouteConfiguration serves every
            # sidecar of a namespace, so the control plane encodes it once and pushes it only where it changes.
            config.routes.append(c.route_config(route_name, vhosts))
            chain = {"name": name, "filters": [c.http_connection_manager(
                f"outbound_{name}", route_name, paths, server_name=None, http_filters=[FAULT_FILTER])]}
        else:
            service, sp = entries[0]
            if len(entries) > 1:
                config.warnings.append(f"TCP port {port} is shared by several services; {service.fqdn} wins here")
            chain = {"name": name, "filters": [c.tcp_proxy(f"outbound_{name}", outbound_cluster_name(service, port),
                                                           paths)]}
        config.listeners.append(c.listener(name, pod.outbound_ip, real_port(port), [chain]))
