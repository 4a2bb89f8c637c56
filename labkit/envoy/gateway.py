"""The ingress gateway's Envoy config from Gateway and VirtualService resources, named as istiod names it.

Listeners `0.0.0.0_<targetPort>` (bound on the loopback port the settings give that target port), routes
`http.<targetPort>` and `https.<port>.<portName>.<gateway>.<namespace>`, SDS `kubernetes://<credentialName>`
and `kubernetes://<credentialName>-cacert`, HCM server name `istio-envoy`. A credential that cannot be served
becomes an SDS file without a secret: the listener still binds and only the handshakes that need it fail
(envoy-facts.md), and the warning istiod would log joins the proxy's warnings (the runtime logs them).
"""
from __future__ import annotations

from typing import Any

from ..model.gateways import (CA_SUFFIX, CredentialError, Server, bound_virtual_services, ca_credential,
                              credential_location, credential_resource, gateway_servers, referenced_ca,
                              server_credential)
from ..model.hostmatch import subset_of
from ..model.mesh import MeshModel, Pod
from ..model.serviceentry import visible_entries
from ..model.vsbinding import RouteContext, match_applies
from . import common as c
from .gateway_settings import GatewaySettings
from .rbac import rbac_filters, rbac_network_filters, rbac_per_route, rbac_warnings
from .routing import FAULT_FILTER, catch_all_last, destination_cluster, virtual_service_routes
from .sidecar import entry_clusters, outbound_clusters

HTTPS_ALPN = ["h2", "http/1.1"]
# istiod's buildGatewayConnectionManager: the client address comes from the connection, and client
# certificate details are sanitized, then set from this TLS session (MUTUAL servers).
GATEWAY_HCM = {"use_remote_address": True, "forward_client_cert_details": "SANITIZE_SET",
               "set_current_client_cert_details": {"subject": True, "cert": True, "uri": True, "dns": True}}


def build_gateway(model: MeshModel, pod: Pod, paths: c.ProxyPaths, settings: GatewaySettings) -> c.ProxyConfig:
    return _GatewayBuilder(model, pod, paths, settings).build()


def virtual_host_domains(host: str, port: int) -> list[str]:
    """istiod's buildGatewayVirtualHostDomains: any port for a plain host; Envoy allows only one wildcard,
    so a wildcard host keeps the server's port."""
    if host == "*":
        return ["*"]
    return [host, f"{host}:{port}" if host.startswith("*") else f"{host}:*"]


def _san_matchers(names: list[str]) -> list[dict]:
    """A client certificate matches when any SAN of these types equals one of the names."""
    return [{"san_type": san_type, "matcher": {"exact": name}} for name in names for san_type in ("DNS", "URI")]


def _match_keys(match: dict) -> set[tuple]:
    """What Envoy compares to refuse overlapping filter chains: each server name with the other fields."""
    rest = tuple(sorted((k, str(v)) for k, v in match.items() if k != "server_names"))
    return {(name, rest) for name in match.get("server_names") or [""]}


class _GatewayBuilder:
    def __init__(self, model: MeshModel, pod: Pod, paths: c.ProxyPaths, settings: GatewaySettings):
        self.model, self.pod, self.paths, self.settings = model, pod, paths, settings
        self.config = c.ProxyConfig(secrets=[c.MESH_CERT, c.MESH_ROOT])
        # AuthorizationPolicy ports name the gateway's target ports; its listeners sit on the mapped ones.
        self.vhost_rbac = rbac_per_route(model, pod, port_map=settings.host_port)

    def build(self) -> c.ProxyConfig:
        servers, skipped = gateway_servers(self.model, self.pod)
        self.config.warnings.extend(skipped + rbac_warnings(self.model, self.pod))
        for service in self.model.services:
            clusters, assignments = outbound_clusters(self.model, self.pod.namespace, service, self.paths,
                                                      self.pod.ip, self.config, self.pod)
            self.config.clusters.extend(clusters)
            self.config.endpoints.extend(assignments)
        # A gateway routes to ServiceEntry hosts too (Istio's egress gateway tasks).
        for entry in visible_entries(self.model, self.pod.namespace):
            self.config.clusters.extend(entry_clusters(self.model, self.pod.namespace, entry, self.paths,
                                                       self.pod.ip, self.config, self.pod))
        by_port: dict[int, list[Server]] = {}
        for server in servers:
            by_port.setdefault(server.target_port, []).append(server)
        for port, group in sorted(by_port.items()):
            self._add_listener(port, group)
        return self.config

    def _warn(self, message: str) -> None:
        if message not in self.config.warnings:
            self.config.warnings.append(message)

    def _add_listener(self, port: int, servers: list[Server]) -> None:
        name = f"0.0.0.0_{port}"
        if servers[0].kind == "http":
            chains = [{"filters": [self._hcm(self._http_routes(servers), f"outbound_{name}")]}]
        else:
            chains = self._unique([chain for server in servers for chain in self._server_chains(server, servers)],
                                  name)
        if not chains:
            # Envoy refuses a listener without filter chains; istiod leaves such a listener out too.
            self._warn(f"gateway omitting listener {name}: no VirtualService gives its servers a route")
            return
        self.config.listeners.append(c.listener(name, self.settings.bind_ip, self.settings.host_port(port), chains,
                                                tls_inspector=servers[0].kind == "tls", log_paths=self.paths))

    def _unique(self, chains: list[dict], listener_name: str) -> list[dict]:
        """Drop chains whose match repeats an earlier one: Envoy would reject the whole listener."""
        seen: set[tuple] = set()
        out = []
        for chain in chains:
            keys = _match_keys(chain.get("filter_chain_match") or {})
            if keys & seen:
                self._warn(f"{listener_name}: skipping a filter chain whose SNI match repeats an earlier one: "
                           f"{sorted(k[0] or '*' for k in keys & seen)}")
                continue
            seen |= keys
            out.append(chain)
        return out

    # ---- HTTP ------------------------------------------------------------------------------------

    def _hcm(self, route: dict, stat_prefix: str) -> dict:
        return c.http_connection_manager(stat_prefix, route, self.paths, server_name="istio-envoy",
                                         http_filters=[*rbac_filters(), FAULT_FILTER, c.ISTIO_ALPN_FILTER],
                                         overrides=GATEWAY_HCM)

    def _route_context(self, server: Server) -> RouteContext:
        return RouteContext(port=server.number, gateway=server.gateway, labels=self.pod.labels,
                            namespace=self.pod.namespace)

    def _http_routes(self, servers: list[Server]) -> dict:
        """The route configuration shared by `servers`, inlined in the listener (see http_connection_manager)."""
        name = servers[0].route_name
        assert name is not None, "HTTP and terminated HTTPS servers always have a route name"
        return c.route_config(name, self._virtual_hosts(servers), ignore_port=False)

    def _virtual_hosts(self, servers: list[Server]) -> list[dict]:
        """istiod's buildGatewayHTTPRouteConfig: one virtual host per hostname, later VirtualServices append."""
        vhosts: dict[str, dict] = {}
        for server in servers:
            redirect = bool(server.tls.get("httpsRedirect"))
            for vs, hosts in bound_virtual_services(self.model, server, self.pod.namespace):
                routes = virtual_service_routes(self.model, vs, self._route_context(server), None)
                for host in hosts:
                    self._vhost(vhosts, host, server, redirect)["routes"].extend(routes)
            for host in server.dns_names if redirect else []:
                self._vhost(vhosts, host, server, redirect)
        if not vhosts:
            # istiod: "no vhosts; Setting up a default 404 vhost" (no routes: Envoy answers 404 NR).
            vhosts["blackhole"] = {"name": f"blackhole:{servers[0].number}", "domains": ["*"], "routes": []}
        for vhost in vhosts.values():
            vhost["routes"] = catch_all_last(vhost["routes"])
            if self.vhost_rbac:
                vhost["typed_per_filter_config"] = self.vhost_rbac
        return sorted(vhosts.values(), key=lambda v: v["name"])

    @staticmethod
    def _vhost(vhosts: dict[str, dict], host: str, server: Server, redirect: bool) -> dict:
        vhost = vhosts.setdefault(host, {"name": f"{host}:{server.number}",
                                         "domains": virtual_host_domains(host, server.number),
                                         "routes": [], "include_request_attempt_count": True})
        if redirect:
            vhost["require_tls"] = "ALL"  # httpsRedirect: a 301 to https for every plaintext request
        return vhost

    # ---- TLS and TCP -----------------------------------------------------------------------------

    def _server_chains(self, server: Server, port_servers: list[Server]) -> list[dict]:
        if server.terminates_http:
            # Servers of one Gateway sharing a port name share the route (istiod's ServersByRouteName).
            route = self._http_routes([s for s in port_servers if s.route_name == server.route_name])
            return [self._tls_chain(server, [self._hcm(route, f"outbound_0.0.0.0_{server.target_port}")],
                                    HTTPS_ALPN)]
        if server.tls_mode == "PASSTHROUGH":
            return self._passthrough_chains(server)
        if server.tls_mode == "AUTO_PASSTHROUGH":
            return self._auto_passthrough_chains(server)
        return self._tcp_chains(server)

    def _tls_chain(self, server: Server, filters: list[dict], alpn: list[str] | None) -> dict:
        match = {"server_names": server.sni_hosts} if server.sni_hosts else {}
        return {"filter_chain_match": match, "filters": filters, "transport_socket": self._downstream_tls(server, alpn)}

    def _tcp_filters(self, routes: list[dict], vs_namespace: str, stat_prefix: str) -> list[dict]:
        clusters = [(destination_cluster(self.model, r["destination"], vs_namespace, None), r.get("weight") or 0)
                    for r in routes]
        proxy = c.tcp_proxy(stat_prefix, clusters[0][0], self.paths)
        if len(clusters) > 1:
            even = not any(weight for _, weight in clusters)
            del proxy["typed_config"]["cluster"]
            proxy["typed_config"]["weighted_clusters"] = {"clusters": [
                {"name": name, "weight": 1 if even else weight} for name, weight in clusters]}
        authz = rbac_network_filters(self.model, self.pod, stat_prefix, port_map=self.settings.host_port)
        return [*authz, proxy]

    def _applies(self, matches: list[dict] | None, vs: dict, server: Server) -> list[dict]:
        """The L4 match conditions (port, gateways) that hold on this server; [{}] when there are none."""
        ctx, namespace = self._route_context(server), vs["metadata"]["namespace"]
        return [m for m in matches or [{}] if match_applies(m, namespace, ctx)]

    def _tcp_chains(self, server: Server) -> list[dict]:
        """An opaque TCP server, or a TLS server terminating non-HTTP traffic: the first VS tcp rule that applies."""
        for vs, _ in bound_virtual_services(self.model, server, self.pod.namespace):
            for rule in (vs.get("spec") or {}).get("tcp") or []:
                if self._applies(rule.get("match"), vs, server):
                    filters = self._tcp_filters(rule["route"], vs["metadata"]["namespace"],
                                                f"outbound_0.0.0.0_{server.target_port}")
                    if server.kind == "tls":
                        return [self._tls_chain(server, filters, None)]
                    return [{"filters": filters}]
        return []

    def _passthrough_chains(self, server: Server) -> list[dict]:
        """PASSTHROUGH: a chain per VS tls match, on its sniHosts, forwarding the client's TLS untouched."""
        chains = []
        for vs, _ in bound_virtual_services(self.model, server, self.pod.namespace):
            for rule in (vs.get("spec") or {}).get("tls") or []:
                for match in self._applies(rule.get("match"), vs, server):
                    sni = match.get("sniHosts") or []
                    stat = f"outbound_0.0.0.0_{server.target_port}_{'_'.join(sni) or 'any'}"
                    chains.append({"filter_chain_match": {"server_names": sni} if sni else {},
                                   "filters": self._tcp_filters(rule["route"], vs["metadata"]["namespace"], stat)})
        return chains

    def _auto_passthrough_chains(self, server: Server) -> list[dict]:
        """AUTO_PASSTHROUGH: the SNI names the cluster (`outbound_.<port>_.<subset>_.<fqdn>`), only for Istio
        mTLS ALPNs; the matching SNI-DNAT clusters forward the bytes without a TLS layer of their own."""
        chains = []
        for cluster in [cl for cl in self.config.clusters if cl["name"].startswith("outbound|")]:
            _, port, subset, fqdn = cluster["name"].split("|")
            if not any(subset_of(fqdn, host) for host in server.dns_names):
                continue
            sni = f"outbound_.{port}_.{subset}_.{fqdn}"
            if not any(cl["name"] == sni for cl in self.config.clusters):  # several servers may cover it
                self.config.clusters.append(self._sni_dnat_cluster(cluster, sni))
            authz = rbac_network_filters(self.model, self.pod, sni, port_map=self.settings.host_port)
            chains.append({"filter_chain_match": {"server_names": [sni], "application_protocols": c.ISTIO_ALPN},
                           "filters": [*authz, c.tcp_proxy(sni, sni, self.paths)]})
        return chains

    @staticmethod
    def _sni_dnat_cluster(cluster: dict, name: str) -> dict:
        # Istio's SNI-DNAT cluster keeps the outbound cluster's EDS service name, so the one assignment of
        # `outbound|port|subset|fqdn` serves both (pilot/pkg/networking/core/cluster.go buildOutboundSniDnatClusters).
        plain = {k: v for k, v in cluster.items() if k not in ("transport_socket", "transport_socket_matches")}
        return {**plain, "name": name}

    # ---- server TLS and credentials --------------------------------------------------------------

    def _downstream_tls(self, server: Server, alpn: list[str] | None) -> dict:
        tls, mode = server.tls, server.tls_mode
        if mode == "ISTIO_MUTUAL":
            return c.downstream_mtls(self.paths, alpn or [])
        context: dict = {"tls_params": c.tls_params(tls.get("minProtocolVersion") or "TLSV1_2",
                                                    tls.get("maxProtocolVersion") or "TLSV1_3"),
                         "tls_certificate_sds_secret_configs": [c.sds_secret(self._certificate(server), self.paths, credential=True)]}
        if tls.get("cipherSuites"):
            context["tls_params"]["cipher_suites"] = list(tls["cipherSuites"])
        if alpn:
            context["alpn_protocols"] = alpn
        if mode in ("MUTUAL", "OPTIONAL_MUTUAL"):
            # With credentialName, istiod ignores caCertificates: the CA comes from the `-cacert` SDS resource.
            default: dict = {"match_typed_subject_alt_names": _san_matchers(tls["subjectAltNames"])} \
                if tls.get("subjectAltNames") else {}
            if tls.get("insecureSkipVerify"):
                # Gateway API AllowInsecureFallback: a client certificate is asked for but not verified.
                default["trust_chain_verification"] = "ACCEPT_UNTRUSTED"
            context["combined_validation_context"] = {
                "default_validation_context": default,
                "validation_context_sds_secret_config": c.sds_secret(self._ca(server), self.paths, credential=True)}
        typed: dict[str, Any] = {"@type": c.DOWNSTREAM_TLS, "common_tls_context": context}
        if mode in ("MUTUAL", "OPTIONAL_MUTUAL"):
            typed["require_client_certificate"] = mode == "MUTUAL"
        return {"name": c.TLS_SOCKET, "typed_config": typed}

    @staticmethod
    def _credential_name(server: Server) -> str | None:
        return server.tls.get("credentialName") or next(iter(server.tls.get("credentialNames") or []), None)

    def _certificate(self, server: Server) -> str:
        """The SDS name of the server certificate, its secret (or none) registered in config.sds."""
        name = self._credential_name(server)
        if name is None:
            return self._file_credential(f"file-cert:{server.tls.get('serverCertificate')}~"
                                         f"{server.tls.get('privateKey')}", "failed to fetch key and certificate")
        resource = credential_resource(name)

        def load() -> list[dict]:
            pair = server_credential(self.model, *credential_location(name, self.pod.namespace))
            return [c.tls_certificate_secret(resource, pair.cert_pem.decode(), pair.key_pem.decode())]
        return self._serve(resource, "failed to fetch key and certificate", load)

    def _ca(self, server: Server) -> str:
        referenced = server.tls.get("caCertCredentialName")
        if referenced:
            return self._serve(referenced, "failed to fetch ca certificate", lambda: [
                c.validation_secret(referenced, referenced_ca(self.model, referenced).decode())])
        name = self._credential_name(server)
        if name is None:
            return self._file_credential(f"file-root:{server.tls.get('caCertificates')}",
                                         "failed to fetch ca certificate")
        resource = credential_resource(name + CA_SUFFIX)

        def load() -> list[dict]:
            namespace, secret = credential_location(name, self.pod.namespace)
            return [c.validation_secret(resource, ca_credential(self.model, namespace, secret).decode())]
        return self._serve(resource, "failed to fetch ca certificate", load)

    def _file_credential(self, resource: str, failure: str) -> str:
        def load() -> list[dict]:
            raise CredentialError("the local mesh has no files mounted into the gateway; use credentialName")
        return self._serve(resource, failure, load)

    def _serve(self, resource: str, failure: str, load) -> str:
        """Put `resource` into config.sds: its secret, or nothing plus istiod's warning when it cannot be had."""
        if resource not in self.config.sds:
            try:
                self.config.sds[resource] = load()
            except CredentialError as exc:
                self.config.sds[resource] = []
                self._warn(f"{failure} for {resource}: {exc}")
        return resource
