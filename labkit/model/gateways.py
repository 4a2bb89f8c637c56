"""Which Gateway servers a gateway workload runs, which VirtualServices bind to them, and their credentials.

Rules followed (istio-semantics.md §4–5, istiod's MergeGateways and gateway.go):
- a Gateway selects gateway pods by label in any namespace; an empty selector selects every gateway pod;
- a server's port number is the gateway Service port and is translated to that port's targetPort (80 → 8080),
  a number no Service port has is used as is;
- per target port there is either one plaintext HTTP group (servers merged into one route `http.<port>`),
  or TLS/HTTPS servers told apart by SNI, or a single TCP server; a server that conflicts with the port's
  first server, or repeats a TLS host already served on that port, is skipped with a warning;
- server hosts are `[ns/]host`: no prefix or `*/` binds VirtualServices from any namespace, `./` the
  Gateway's own; VS hosts without a dot are short names of the VS namespace (ResolveShortnameToFQDN);
- credentialName is looked up in the gateway pod's namespace: `tls.crt`/`tls.key` (or `cert`/`key`); the CA
  for `<name>-cacert` comes from the secret `<name>-cacert` (`cacert` or `ca.crt`), else from `ca.crt`/`cacert`
  in `<name>` itself (GetCaCert); errors use istiod's wording.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .fqdn import resolve as resolve_host
from .gatewayapi import credential_for, internal_gateways_for
from .hostmatch import intersect_hosts
from .mesh import MeshModel, Pod
from .vsbinding import gateway_virtual_services

HTTP_PROTOCOLS = ("HTTP", "HTTP2", "GRPC", "GRPC-WEB")
TERMINATING_MODES = ("SIMPLE", "MUTUAL", "ISTIO_MUTUAL", "OPTIONAL_MUTUAL")
CREDENTIAL_PREFIX = "kubernetes://"
CA_SUFFIX = "-cacert"
# The keys istiod reads from a credential Secret (kube secretcontroller): certificate and key as a pair, tls.*
# first; the CA bundle under cacert or ca.crt.
CERT_KEYS, KEY_KEYS = ("tls.crt", "cert"), ("tls.key", "key")
CA_KEYS = ("cacert", "ca.crt")


# ---- hosts ---------------------------------------------------------------------------------------

def vs_hosts(vs: dict) -> list[str]:
    """A VirtualService's hosts as istiod stores them: only dotless short names gain `.<ns>.svc.cluster.local`."""
    namespace = vs["metadata"]["namespace"]
    return [resolve_host(host, namespace) for host in (vs.get("spec") or {}).get("hosts") or []]


# ---- servers -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Server:
    """One `servers[]` entry of one Gateway, with its port already resolved for this gateway pod."""
    gateway_name: str
    gateway_namespace: str
    index: int
    number: int                      # the Gateway's port.number (the gateway Service port)
    target_port: int                 # where the gateway workload listens for it
    port_name: str
    protocol: str
    hosts: tuple[tuple[str, str], ...]   # (namespace or "*", dnsName)
    tls: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def gateway(self) -> str:
        return f"{self.gateway_namespace}/{self.gateway_name}"

    @property
    def label(self) -> str:
        return f"{self.gateway} server {self.index} (port {self.number} {self.protocol})"

    @property
    def tls_mode(self) -> str | None:
        return self.tls.get("mode") if self.protocol in ("HTTPS", "TLS") else None

    @property
    def kind(self) -> str:
        """"http" (plaintext HTTP), "tls" (HTTPS/TLS, told apart by SNI) or "tcp" (opaque TCP)."""
        if self.protocol in HTTP_PROTOCOLS:
            return "http"
        return "tls" if self.protocol in ("HTTPS", "TLS") else "tcp"

    @property
    def terminates_http(self) -> bool:
        return self.protocol == "HTTPS" and self.tls_mode in TERMINATING_MODES

    @property
    def dns_names(self) -> list[str]:
        return sorted({host for _, host in self.hosts})

    @property
    def sni_hosts(self) -> list[str] | None:
        """Filter chain server_names: the hosts without namespaces; None (match any SNI) once `*` is among them."""
        names = self.dns_names
        return None if "*" in names else names

    @property
    def route_name(self) -> str | None:
        """istiod's gatewayRDSRouteName."""
        if self.kind == "http":
            return f"http.{self.target_port}"
        if self.terminates_http:
            return f"https.{self.number}.{self.port_name}.{self.gateway_name}.{self.gateway_namespace}"
        return None

    def hosts_for_namespace(self, namespace: str) -> list[str]:
        """Istio's NamesForNamespace: the server hosts a VirtualService in `namespace` may bind to."""
        return [host for ns, host in self.hosts if ns in ("*", namespace)]


def parse_server_host(text: str, gateway_namespace: str) -> tuple[str, str]:
    """A server host `[ns/]dnsName` as (namespace or "*", dnsName): no prefix or `*/` is any namespace,
    `./` the Gateway's own."""
    namespace, _, host = text.rpartition("/")
    if not namespace:
        namespace = "*"
    elif namespace == ".":
        namespace = gateway_namespace
    return namespace, host.lower()


def server_dns_names(server: dict) -> list[str]:
    """The dnsName part of each host of a Gateway `servers[]` entry, as written (namespace prefix dropped)."""
    return [host for _, host in (parse_server_host(h, "") for h in server.get("hosts") or [])]


def server_hosts_for_namespace(server: dict, gateway_namespace: str, namespace: str) -> list[str]:
    """The hosts of a `servers[]` entry a VirtualService in `namespace` may bind to (NamesForNamespace)."""
    parsed = (parse_server_host(h, gateway_namespace) for h in server.get("hosts") or [])
    return [host for ns, host in parsed if ns in ("*", namespace)]


def gateways_for(model: MeshModel, pod: Pod) -> list[dict]:
    """Gateways whose selector matches the pod's labels, in any namespace (PILOT_SCOPE_GATEWAY_TO_NAMESPACE off),
    then, for an automated gateway pod, the internal Gateways istiod made of its Gateway API Gateway."""
    if not pod.is_gateway:
        return []
    return [gw for gw in model.of_kind("Gateway") if pod.matches((gw.get("spec") or {}).get("selector") or {})] \
        + internal_gateways_for(model, pod)


def _target_port(model: MeshModel, pod: Pod, number: int) -> int:
    for service in model.services_of(pod):
        port = service.port(number)
        if port is not None:
            return port.target_port
    return number


def _server(model: MeshModel, pod: Pod, gateway: dict, index: int, spec: dict) -> Server:
    meta, port = gateway["metadata"], spec.get("port") or {}
    return Server(gateway_name=meta["name"], gateway_namespace=meta["namespace"], index=index,
                  number=port["number"], target_port=_target_port(model, pod, port["number"]),
                  port_name=port.get("name", ""), protocol=(port.get("protocol") or "").upper(),
                  hosts=tuple(parse_server_host(h, meta["namespace"]) for h in spec.get("hosts") or []),
                  tls=dict(spec.get("tls") or {}))


def _conflict(server: Server, first: Server, tls_hosts: set[str]) -> str | None:
    """Why `server` cannot join the port `first` opened (None when it can)."""
    if server.kind != first.kind:
        return f"its protocol {server.protocol} conflicts with {first.label} on the same port"
    if server.kind == "tcp":
        return f"{first.label} already serves TCP on the same port"
    if server.kind == "tls":
        duplicates = sorted(set(server.dns_names) & tls_hosts)
        if duplicates:
            return f"duplicate host names on the same port: {', '.join(duplicates)}"
    return None


def gateway_servers(model: MeshModel, pod: Pod) -> tuple[list[Server], list[str]]:
    """The servers this gateway pod runs, merged per target port as istiod does, and what it skipped."""
    servers: list[Server] = []
    warnings: list[str] = []
    first_on_port: dict[int, Server] = {}
    tls_hosts: dict[int, set[str]] = {}
    for gateway in gateways_for(model, pod):
        for index, spec in enumerate((gateway.get("spec") or {}).get("servers") or []):
            server = _server(model, pod, gateway, index, spec)
            first = first_on_port.setdefault(server.target_port, server)
            reason = None if first is server else _conflict(server, first, tls_hosts.get(server.target_port, set()))
            if reason:
                warnings.append(f"skipping {server.label}: {reason}")
                continue
            if server.kind == "tls":
                tls_hosts.setdefault(server.target_port, set()).update(server.dns_names)
            servers.append(server)
    return servers, warnings


def bound_virtual_services(model: MeshModel, server: Server, proxy_namespace: str) -> list[tuple[dict, list[str]]]:
    """(VirtualService, hosts it serves on this server) for each VS bound to the server's Gateway."""
    out = []
    for vs in gateway_virtual_services(model, server.gateway, proxy_namespace):
        hosts = intersect_hosts(server.hosts_for_namespace(vs["metadata"]["namespace"]), vs_hosts(vs))
        if hosts:
            out.append((vs, hosts))
    return out


# ---- credentials ---------------------------------------------------------------------------------

class CredentialError(Exception):
    """A credential istiod cannot serve; str() is the reason istiod logs after the resource name."""


@dataclass(frozen=True)
class KeyCert:
    cert_pem: bytes
    key_pem: bytes


def credential_resource(name: str) -> str:
    """The SDS name of a credentialName: `kubernetes://<name>`, or a Gateway API `kubernetes-gateway://ns/name`
    (and `configmap://ns/name-cacert`) as it is."""
    return name if "://" in name else CREDENTIAL_PREFIX + name


def credential_location(name: str, pod_namespace: str) -> tuple[str, str]:
    """(namespace, Secret name) a credentialName is read from: the gateway pod's namespace for Istio's
    `credentialName: name`, the named namespace for the Gateway API's `kubernetes-gateway://ns/name`."""
    return credential_for(name) or (pod_namespace, name)


def _secret(model: MeshModel, namespace: str, name: str) -> dict:
    data = model.secret(namespace, name)
    if data is None:
        raise CredentialError(f"secret {namespace}/{name} not found")
    return data


def _found(data: dict) -> str:
    return ", ".join(sorted(data)) or "none"


def server_credential(model: MeshModel, namespace: str, name: str) -> KeyCert:
    """The key and certificate behind `credentialName: name` for a gateway pod in `namespace`."""
    data = _secret(model, namespace, name)
    for cert_key, key_key in zip(CERT_KEYS, KEY_KEYS):
        if data.get(cert_key) and data.get(key_key):
            return _key_cert(data[cert_key], data[key_key])
    raise CredentialError("found secret, but didn't have expected keys (cert and key) or (tls.crt and tls.key); "
                          f"found: {_found(data)}")


def ca_secret(own: dict | None, companion: dict | None) -> dict | None:
    """Which Secret's data a MUTUAL server's CA comes from: `<name>-cacert` when it exists, else `<name>`
    itself (istiod's GetCaCert; the companion wins even when it lacks the keys)."""
    return companion if companion is not None else own


def ca_pem(data: dict | None):
    """The CA bundle in a Secret's (decoded) data, as written: `cacert`, else `ca.crt`; None without one."""
    data = data or {}
    return next((data[key] for key in CA_KEYS if data.get(key)), None)


def credential_cert_pem(data: dict | None):
    """The certificate in a Secret's (decoded) data: `tls.crt`, else `cert`; None without one."""
    data = data or {}
    return next((data[key] for key in CERT_KEYS if data.get(key)), None)


def has_key_pair(data: dict | None) -> bool:
    """Whether a Secret's (decoded) data holds a certificate with its key under the same naming scheme."""
    return any((data or {}).get(c) and (data or {}).get(k) for c, k in zip(CERT_KEYS, KEY_KEYS))


def ca_credential(model: MeshModel, namespace: str, name: str) -> bytes:
    """The CA bundle for `kubernetes://<name>-cacert`: the `-cacert` secret first, then `<name>` itself."""
    data = ca_secret(model.secret(namespace, name), model.secret(namespace, name + CA_SUFFIX))
    if data is None:
        data = _secret(model, namespace, name)
    pem = ca_pem(data)
    if pem:
        return b"".join(_pem(cert) for cert in _certificates(pem))
    raise CredentialError(f"found secret, but didn't have expected keys cacert or ca.crt; found: {_found(data)}")


def referenced_ca(model: MeshModel, resource: str) -> bytes:
    """The CA bundle behind a Gateway API frontend validation reference (caCertCredentialName):
    `kubernetes-gateway://ns/name-cacert` (a Secret's `ca.crt`) or `configmap://ns/name-cacert` (a ConfigMap's)."""
    scheme, _, rest = resource.partition("://")
    namespace, _, name = rest.removesuffix(CA_SUFFIX).partition("/")
    if scheme == "configmap":
        cm = next((c for c in model.of_kind("ConfigMap") if c["metadata"]["namespace"] == namespace
                   and c["metadata"]["name"] == name), None)
        if cm is None:
            raise CredentialError(f"configmap {namespace}/{name} not found")
        pem = str((cm.get("data") or {}).get("ca.crt") or "").encode()
    else:
        pem = (_secret(model, namespace, name)).get("ca.crt") or b""
    if not pem:
        raise CredentialError("found no ca.crt")
    return b"".join(_pem(cert) for cert in _certificates(pem))


# Parsed and written out again, so Envoy gets clean PEM or nothing: a secret it cannot load would have its
# SDS update rejected silently, where istiod and `istioctl analyze` (IST0161) would have said why.

def _pem(cert) -> bytes:
    from cryptography.hazmat.primitives import serialization
    return cert.public_bytes(serialization.Encoding.PEM)


def _certificates(pem: bytes) -> list:
    from cryptography import x509
    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise CredentialError(f"failed to parse certificate: {exc}") from None


def _key_cert(cert_pem: bytes, key_pem: bytes) -> KeyCert:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    chain = _certificates(cert_pem)
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise CredentialError(f"failed to parse private key: {exc}") from None
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != chain[0].public_key().public_bytes(*spki):
        raise CredentialError("the private key does not match the certificate")
    key_out = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return KeyCert(b"".join(_pem(cert) for cert in chain), key_out)
