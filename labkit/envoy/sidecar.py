"""A sidecar's Envoy config: inbound listeners per container port, outbound listeners per service port.

Names follow istiod so `proxy_config` views read like a real mesh: inbound chains `0.0.0.0_<port>`,
clusters `inbound|<port>||` and `outbound|<port>|<subset>|<fqdn>`, outbound routes named by port.
"""
from __future__ import annotations

from typing import Any, Sequence

from ..model.addressing import real_port, service_hostnames
from ..model.destrule import (AUTO, CA_SUFFIX, ClientTls, client_tls, credential_ignored_at_sidecar,
                              credential_resource, endpoint_wants_mtls, names_certificate_files, rules_selecting,
                              server_identities, sidecar_ca, sidecar_key_cert)
from ..model.gateways import CredentialError, ca_credential, server_credential
from ..model.mesh import MeshModel, Pod, Service, ServicePort
from ..model.volumes import proxy_file, proxy_system_roots
from ..model.peerauth import DISABLE, PERMISSIVE, STRICT, effective_mtls
from ..model.serviceentry import EntryService, selected_pods, visible_entries
from ..model.protocol import (AUTO as SNIFFED, HTTP, MTLS_HTTP_ALPNS, MTLS_TCP_ALPNS, PLAINTEXT_HTTP_ALPNS, TCP, UDP,
                              carries_http, carries_tcp, inbound_passes_app_tls)
from . import common as c
from .names import outbound_cluster_name, outbound_sni
from .placeholders import UNVERIFIABLE_CA_PEM
from .rbac import rbac_filters, rbac_network_filters, rbac_per_route, rbac_warnings
from .routing import FAULT_FILTER, mesh_routes_for

HTTP_ALPN_IN = ["h2", "http/1.1"]
TCP_ALPN_IN = ["istio-peer-exchange", "h2", "http/1.1"]
# Upstream HTTP is HTTP/1.1 (auto_config cannot sit beside the plaintext socket of auto mTLS), so h2 is
# not offered. These are what istio.alpn leaves on TCP (tcp_proxy) connections, so a sniffed server port picks
# its TCP mTLS chain; HTTP requests replace them with istio-http/1.1 (common.ISTIO_ALPN_FILTER).
CLIENT_ALPN = ["istio-peer-exchange", "istio", "http/1.1"]
SYSTEM_ROOTS = "system"   # istiod's caCertificates default: the proxy's system trust bundle


def build_sidecar(model: MeshModel, pod: Pod, paths: c.ProxyPaths) -> c.ProxyConfig:
    config = c.ProxyConfig(secrets=[c.MESH_CERT, c.MESH_ROOT], warnings=rbac_warnings(model, pod))
    _add_inbound(model, pod, paths, config)
    _add_outbound(model, pod, paths, config)
    return config


# ---- inbound -------------------------------------------------------------------------------------

def _inbound_chain_plan(protocol: str, mode: str) -> list[tuple[str, dict, str, bool]]:
    """(name suffix, filter_chain_match, HTTP or TCP, terminates mTLS) per inbound filter chain, as istiod
    builds them (pilot/pkg/networking/core/filterchain_options.go, getFilterChainMatchOptions)."""
    tls: dict[str, Any] = {"transport_protocol": "tls"}
    raw: dict[str, Any] = {"transport_protocol": "raw_buffer"}
    if protocol == SNIFFED:
        # Sniffed: an mTLS client's ALPN says what it detected (istio-http/* or istio-peer-exchange/istio);
        # a plaintext client is told apart by Envoy's http_inspector.
        if mode == STRICT:
            return [("mtls_http", {**tls, "application_protocols": MTLS_HTTP_ALPNS}, HTTP, True),
                    ("mtls", tls, TCP, True)]
        if mode == PERMISSIVE:
            return [("mtls_http", {**tls, "application_protocols": MTLS_HTTP_ALPNS}, HTTP, True),
                    ("plaintext_http", {**raw, "application_protocols": PLAINTEXT_HTTP_ALPNS}, HTTP, False),
                    ("mtls", {**tls, "application_protocols": MTLS_TCP_ALPNS}, TCP, True),
                    ("plaintext", raw, TCP, False),
                    ("tls_passthrough", tls, TCP, False)]
        return [("plaintext_http", {**raw, "application_protocols": PLAINTEXT_HTTP_ALPNS}, HTTP, False),
                ("plaintext", raw, TCP, False)]
    chains: list[tuple[str, dict[str, Any], str, bool]] = []
    if mode in (STRICT, PERMISSIVE):
        chains.append(("mtls", {**tls, **({"application_protocols": c.ISTIO_ALPN} if mode == PERMISSIVE else {})},
                       protocol, True))
    if inbound_passes_app_tls(protocol, mode):
        # The app's own TLS (no Istio ALPN) passes through untouched, as Istio's passthrough chain does.
        chains.append(("tls_passthrough", tls, TCP, False))
    if mode in (PERMISSIVE, DISABLE):
        chains.append(("plaintext", raw, protocol, False))
    return chains


def _add_inbound(model: MeshModel, pod: Pod, paths: c.ProxyPaths, config: c.ProxyConfig) -> None:
    mtls = effective_mtls(model, pod)
    for port in pod.container_ports:
        cluster = f"inbound|{port}||"
        chain_name = f"0.0.0.0_{port}"
        config.clusters.append(c.static_cluster(cluster, [c.lb_endpoint(pod.app_ip, real_port(port))]))
        protocol = model.inbound_protocol(pod, port)
        if protocol == UDP:
            continue
        tcp_authz = rbac_network_filters(model, pod, f"inbound_{chain_name}")
        route_name = f"inbound|{port}||"
        if carries_http(protocol):
            route = {"match": {"prefix": "/"}, "route": {"cluster": cluster, "timeout": "0s"},
                     "name": "default", "decorator": {"operation": f"{pod.name}.{pod.namespace}:{port}/*"}}
            per_route = rbac_per_route(model, pod, port)
            if per_route is not None:
                route["typed_per_filter_config"] = per_route
            config.routes.append(c.route_config(route_name, [
                {"name": f"inbound|http|{port}", "domains": ["*"], "routes": [route]}], ignore_port=False))

        # Called within this iteration only, so the loop variables it reads are the current ones.
        def filters(kind: str, tls: bool, passthrough: bool = False) -> list[dict]:
            if kind == HTTP:
                return [c.http_connection_manager(f"inbound_{chain_name}", route_name, paths,  # noqa: B023
                                                  server_name="istio-envoy", http_filters=rbac_filters(),
                                                  forward_client_cert=tls)]
            prefix = f"inbound_{chain_name}_passthrough" if passthrough else f"inbound_{chain_name}"  # noqa: B023
            return [*tcp_authz, c.tcp_proxy(prefix, cluster, paths)]  # noqa: B023

        chains = []
        for suffix, match, kind, terminates in _inbound_chain_plan(protocol, mtls.for_port(port)):
            chain = {"name": f"{chain_name}_{suffix}", "filter_chain_match": match,
                     "filters": filters(kind, terminates, passthrough=suffix == "tls_passthrough")}
            if terminates:
                chain["transport_socket"] = c.downstream_mtls(paths, HTTP_ALPN_IN if kind == HTTP else TCP_ALPN_IN)
            chains.append(chain)
        # tls_inspector on every inbound listener: STRICT then resets plaintext (curl 56), as Istio does; a
        # sniffed port adds the http_inspector, which names plaintext HTTP by ALPN (http/1.1, h2c).
        config.listeners.append(c.listener(f"virtualInbound_{port}", pod.ip, real_port(port), chains,
                                           tls_inspector=True, http_inspector=protocol == SNIFFED, log_paths=paths))


# ---- outbound ------------------------------------------------------------------------------------


def _upstream_socket(model: MeshModel, tls: ClientTls, service: Service, sp: ServicePort, subset: str,
                     paths: c.ProxyPaths, endpoints: list[Pod], config: c.ProxyConfig,
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
        return _origination_socket(model, tls, service, config, client), None
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


def _origination_socket(model: MeshModel, tls: ClientTls, service: Service, config: c.ProxyConfig,
                        client: Pod | None) -> dict:
    """DR SIMPLE/MUTUAL: credentialName (served by istiod), or files the DR names.

    The files are read where Istio reads them, inside the proxy's own istio-proxy container (mounted with
    the `sidecar.istio.io/userVolume`/`userVolumeMount` annotations; model/volumes.py `proxy_file`), never
    on this machine. istiod turns them into SDS resources `file-root:<ca>` and `file-cert:<cert>~<key>`
    (pilot/pkg/networking/core/cluster_tls.go) that istio-agent serves from those files
    (security/pkg/nodeagent/cache/secretcache.go generateFileSecret). A file that is not there: the agent
    logs `resource:file-root:<path> failed to generate secret for proxy from file: open <path>: no such
    file or directory` in the istio-proxy container and sends nothing, so Envoy fails the cluster's
    connections ("TLS error: Secret is not supplied by SDS", a 503)."""
    settings = tls.settings or {}
    if settings.get("credentialName"):
        credential = _credential_context(model, tls, client, config.warnings)
        return {"name": c.TLS_SOCKET, "typed_config": {"@type": c.UPSTREAM_TLS, "common_tls_context": credential,
                                                       "sni": settings.get("sni") or service.fqdn}}
    context: dict = {"tls_params": c.tls_params()}
    if not settings.get("insecureSkipVerify"):
        # Without caCertificates Istio verifies against the proxy's system roots (file-root:system).
        ca_file = settings.get("caCertificates") or SYSTEM_ROOTS
        name = f"file-root:{ca_file}"
        resource = _file_secret(model, client, config, name, [ca_file],
                                lambda data: c.validation_secret(name, data[0].decode()))
        validation: dict[str, Any] = {}
        if settings.get("subjectAltNames"):
            validation["match_typed_subject_alt_names"] = [
                {"san_type": "DNS", "matcher": {"exact": san}} for san in settings["subjectAltNames"]]
        context["combined_validation_context"] = {
            "default_validation_context": validation,
            "validation_context_sds_secret_config": c.sds_secret(resource, c.ProxyPaths(""), credential=True)}
    if tls.mode == "MUTUAL" and settings.get("clientCertificate") and settings.get("privateKey"):
        cert, key = settings["clientCertificate"], settings["privateKey"]
        name = f"file-cert:{cert}~{key}"
        resource = _file_secret(model, client, config, name, [cert, key],
                                lambda data: c.tls_certificate_secret(name, data[0].decode(), data[1].decode()))
        context["tls_certificate_sds_secret_configs"] = [c.sds_secret(resource, c.ProxyPaths(""), credential=True)]
    return {"name": c.TLS_SOCKET, "typed_config": {"@type": c.UPSTREAM_TLS, "common_tls_context": context,
                                                   "sni": settings.get("sni") or service.fqdn}}


def _file_secret(model: MeshModel, client: Pod | None, config: c.ProxyConfig, resource: str, paths: list[str],
                 secret) -> str:
    """Register the SDS resource `resource` built from files in the proxy's container (or, when one is
    missing, no resource and istio-agent's error in the proxy's log)."""
    if resource in config.sds:
        return resource
    data = [proxy_system_roots() if path == SYSTEM_ROOTS else
            proxy_file(model, client, path) if client is not None else None for path in paths]
    missing = next((path for path, found in zip(paths, data) if found is None), None)
    if missing is None:
        config.sds[resource] = [secret(data)]
    else:
        config.sds[resource] = []
        config.proxy_log.append(f"resource:{resource} failed to generate secret for proxy from file: "
                                f"open {missing}: no such file or directory")
    return resource


def _client_key(model: MeshModel, client: Pod | None, paths: c.ProxyPaths) -> str:
    """Everything of a client pod that its outbound clusters may depend on (its namespace, the
    DestinationRules its labels make it select, its annotations, service account, containers and volumes
    for credentials and certificate files), and nothing that is its own (name, uid, addresses): clients with
    equal keys get equal clusters, but for their source address. When a DestinationRule names certificate
    files, which each proxy reads from its own container, nothing is shared (the proxy's folder joins the key)."""
    if client is None:
        return ""
    # Once per proxy and model, not per service: the repr of its containers and volumes was a tenth of a
    # proxy's translation at 100 services.
    memo_key = ("client_key", client.uid, client.namespace, client.name, paths.root)
    known = model.memo.get(memo_key)
    if known is not None and known[0] is client:
        return known[1]
    files = model.client_view.get("names_certificate_files")   # a DestinationRule's, so the clients' view
    if files is None:
        files = model.client_view["names_certificate_files"] = names_certificate_files(model)
    key = repr((client.namespace, rules_selecting(model, client), client.annotations, client.service_account,
                client.containers, client.volumes, client.native_sidecar, client.is_gateway,
                paths.root if files else ""))
    model.memo[memo_key] = (client, key)
    return key


def outbound_clusters(model: MeshModel, client_namespace: str, service: Service, paths: c.ProxyPaths,
                      source_ip: str | None, config: c.ProxyConfig,
                      client: Pod | None = None) -> tuple[list[dict], list[dict]]:
    """The EDS clusters for every port (and DR subset) of one service, as seen by a client (pod) namespace,
    and their ClusterLoadAssignments (the endpoints' tlsMode marker depends on the client's DR, as istiod's
    EDS does, so the assignments are the client's too).

    Translated once per model for all the clients that cannot differ (istiod, too, caches clusters per
    service and client scope, pilot/pkg/networking/core/cluster_cache.go): at 100 pods every sidecar
    otherwise rebuilt every other service's clusters."""
    key = ("outbound_clusters", client_namespace, service.namespace, service.name, _client_key(model, client, paths))
    cached = model.client_view.get(key)
    if cached is None:
        # What the translation adds besides clusters (warnings, SDS resources read from the proxy's files,
        # istio-agent's log lines) is collected apart, so that every client sharing the result gets it too.
        extra = c.ProxyConfig()
        cached = (*_outbound_clusters(model, client_namespace, service, paths, extra, client), extra)
        if not extra.warnings and not extra.proxy_log:
            model.client_view[key] = cached   # warnings name the client pod: those results are its own
    clusters, assignments, extra = cached
    config.warnings.extend(extra.warnings)
    config.proxy_log.extend(extra.proxy_log)
    for resource, secrets in extra.sds.items():
        config.sds.setdefault(resource, secrets)
    if source_ip:
        # The pod's own source address (each pod has its own loopback IP): the one per-proxy field.
        clusters = [{**cluster, "upstream_bind_config": c.bind_to(source_ip)} for cluster in clusters]
    return list(clusters), list(assignments)


def _outbound_clusters(model: MeshModel, client_namespace: str, service: Service, paths: c.ProxyPaths,
                       config: c.ProxyConfig, client: Pod | None) -> tuple[list[dict], list[dict]]:
    clusters, assignments = [], []
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
            name = outbound_cluster_name(service, sp.port, subset)
            cluster = c.eds_cluster(name)
            assignments.append(c.load_assignment(name, lb))
            socket, matches = _upstream_socket(model, tls, service, sp, subset, paths, endpoints, config, client)
            if socket:
                cluster["transport_socket"] = socket
            if matches:
                cluster["transport_socket_matches"] = matches
            clusters.append(cluster)
    return clusters, assignments


# Envoy's cluster discovery type per ServiceEntry resolution (istiod's cluster_builder.go); NONE forwards to
# the address the app dialled (ORIGINAL_DST).
DISCOVERY_TYPE = {"STATIC": "STATIC", "DNS": "STRICT_DNS", "DNS_ROUND_ROBIN": "LOGICAL_DNS", "NONE": "ORIGINAL_DST"}


def entry_clusters(model: MeshModel, client_namespace: str, entry: EntryService, paths: c.ProxyPaths,
                   source_ip: str | None, config: c.ProxyConfig, client: Pod | None = None) -> list[dict]:
    """The clusters for every port of one ServiceEntry host. Address endpoints carry no `tlsMode: istio` marker
    (they have no sidecar), so auto mTLS sends plaintext; a DestinationRule's SIMPLE or MUTUAL TLS originates
    TLS towards them (istio.io, "Egress TLS Origination"). Pods picked by a workloadSelector are marked as a
    Service's pods are."""
    clusters = []
    pods = selected_pods(model, entry)
    for sp in entry.ports:
        name = outbound_cluster_name(entry, sp.port)
        tls = client_tls(model, client_namespace, entry, sp.port, client)
        kind = DISCOVERY_TYPE.get(entry.resolution, "STATIC")
        if entry.workload_selector:
            # Pods as endpoints, marked for auto mTLS like a Service's (a sidecar'd pod gets Istio mTLS).
            kind = "STATIC"
            lb = [c.lb_endpoint(p.ip, real_port(sp.target_port),
                                {"tlsMode": "istio"} if endpoint_wants_mtls(model, p, sp.target_port, tls) else None)
                  for p in pods]
        else:
            if kind == "ORIGINAL_DST":
                # An app's own destination address does not exist on the local mesh (its connection was sent
                # to this sidecar by name): nothing to forward to, as with an address that answers nobody.
                config.warnings.append(f"ServiceEntry {entry.entry}: resolution NONE forwards to the address the app "
                                f"dialled; the local mesh has none for {entry.host}, use STATIC or DNS endpoints")
                kind = "STATIC"
            lb = [c.lb_endpoint(address, real_port(port)) for address, port in entry.endpoints_for(sp)]
        cluster = c.static_cluster(name, lb, source_ip=source_ip)
        if kind != "STATIC":
            cluster["type"] = kind
            cluster["dns_lookup_family"] = "V4_ONLY"
        if tls.mode == AUTO and not pods:
            clusters.append(cluster)   # no endpoint has a sidecar: plaintext, the app's own bytes
            continue
        socket, matches = _upstream_socket(model, tls, entry, sp, "", paths, pods, config, client)
        if socket:
            cluster["transport_socket"] = socket
        if matches:
            cluster["transport_socket_matches"] = matches
        clusters.append(cluster)
    return clusters


def _domains(service: Service, pod: Pod) -> list[str]:
    """The names a request's Host may carry: a Service's DNS names from this namespace, a ServiceEntry's host."""
    if isinstance(service, EntryService):
        return [service.host]
    # istiod's virtual host domains also hold the Service's cluster IP, so `curl http://<cluster IP>:<port>` routes.
    return service_hostnames(service.name, service.namespace, pod.namespace) + (
        [service.cluster_ip] if service.cluster_ip else [])


def _has_wildcard_host(entries: Sequence[tuple[Service, ServicePort]]) -> bool:
    """A wildcard TLS host (`*.example.com`) is only ever matched by SNI."""
    return any(isinstance(s, EntryService) and s.host.startswith("*") for s, _ in entries)


def _add_outbound(model: MeshModel, pod: Pod, paths: c.ProxyPaths, config: c.ProxyConfig) -> None:
    by_port: dict[int, list[tuple[Service, ServicePort]]] = {}
    for service in model.services:
        clusters, assignments = outbound_clusters(model, pod.namespace, service, paths, pod.ip, config, pod)
        config.clusters.extend(clusters)
        config.endpoints.extend(assignments)
        for sp in service.ports:
            if sp.protocol != UDP:
                by_port.setdefault(sp.port, []).append((service, sp))
    for entry in visible_entries(model, pod.namespace):
        config.clusters.extend(entry_clusters(model, pod.namespace, entry, paths, pod.ip, config, pod))
        for sp in entry.ports:
            if sp.protocol != UDP:
                by_port.setdefault(sp.port, []).append((entry, sp))
    for port, entries in sorted(by_port.items()):
        name = f"0.0.0.0_{port}"
        http = [(s, sp) for s, sp in entries if carries_http(sp.protocol)]
        tcp = [(s, sp) for s, sp in entries if carries_tcp(sp.protocol)]
        # One local listener stands for all of a port's listeners on a cluster (per-service VIPs for TCP
        # and sniffed services, 0.0.0.0_<port> for HTTP ones). Where HTTP and TCP meet, Envoy tells them apart
        # per connection, as istiod's merged listeners do (listener.go, buildSidecarOutboundListener).
        sniffed = bool(http) and bool(tcp)
        chains = []
        if http:
            # A sniffed service alone on its port keeps the route name istiod gives its own VIP listener,
            # `<fqdn>:<port>`; HTTP ports share one route named by port (buildSidecarOutboundHTTPListenerOpts).
            only = http[0][0] if len(http) == 1 and http[0][1].protocol == SNIFFED and len(entries) == 1 else None
            route_name = f"{only.fqdn}:{port}" if only is not None else str(port)
            vhosts = []
            for service, sp in http:
                vhosts.append({"name": f"{service.fqdn}:{port}",
                               "domains": _domains(service, pod),
                               "routes": mesh_routes_for(model, pod.namespace, service, sp, pod.labels)})
            # RDS, named by port as istiod names outbound routes: the same RouteConfiguration serves every
            # sidecar of a namespace, so the control plane encodes it once and pushes it only where it changes.
            config.routes.append(c.route_config(route_name, vhosts))
            chain: dict[str, Any] = {"name": name, "filters": [c.http_connection_manager(
                f"outbound_{name}", route_name, paths, server_name=None,
                http_filters=[FAULT_FILTER, c.ISTIO_ALPN_FILTER])]}
            if sniffed:
                chain["filter_chain_match"] = {"transport_protocol": "raw_buffer",
                                               "application_protocols": PLAINTEXT_HTTP_ALPNS}
            chains.append(chain)
        # ServiceEntry hosts that speak TLS are matched on the SNI the app sends (istiod: one filter chain per
        # host); so are TLS clients of several services sharing the port: on a cluster each Service has its
        # own ClusterIP and listener, here they share one address, so TLS picks its service by SNI.
        tls_entries = [(s, sp) for s, sp in tcp if isinstance(s, EntryService) and s.speaks_tls(sp.port)]
        by_sni = len(tcp) > 1 or _has_wildcard_host(tls_entries)
        if by_sni:
            for service, _ in tcp:
                if isinstance(service, EntryService):
                    if not service.speaks_tls(port):
                        continue
                    names = [service.host]
                else:
                    names = service_hostnames(service.name, service.namespace, pod.namespace)
                chains.append({"name": f"{name}_{service.fqdn}", "filter_chain_match": {
                    "transport_protocol": "tls", "server_names": names},
                    "filters": [c.tcp_proxy(f"outbound_{name}_{service.fqdn}", outbound_cluster_name(service, port),
                                            paths)]})
        plaintext = [(s, sp) for s, sp in tcp if (s, sp) not in tls_entries] if by_sni else tcp
        if len(plaintext) > 1:
            config.warnings.append(f"TCP port {port} is shared by several services; plaintext TCP goes to "
                                   f"{plaintext[0][0].fqdn}, TLS to the service its SNI names")
        if plaintext:
            service, sp = plaintext[0]
            chains.append({"name": name if not sniffed else f"{name}_tcp",
                           "filters": [c.tcp_proxy(f"outbound_{name}", outbound_cluster_name(service, port), paths)]})
        config.listeners.append(c.listener(name, pod.outbound_ip, real_port(port), chains,
                                           tls_inspector=sniffed or by_sni, http_inspector=sniffed))
