"""The labs: titles, notebooks, each lab's starting state and the checks that make up its progress.

`lab.reset_lab("03")` applies `start_resources("03")` so a learner can begin at any lab. A lab's `steps`
are the titles of the checks its notebook runs; progress counts them, and the notebook's last cell
(`checks.lab_complete`) fails under nbval when the notebook and this list drift apart.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from importlib import resources
from typing import Callable

from .errors import LabkitError
from .resources.loader import load_documents
from .resources.store import key_of
from .samples import sample


def in_namespace(yaml_text: str, namespace: str) -> list[dict]:
    """The documents of a sample, placed in a namespace (what `kubectl apply -n` does)."""
    docs = copy.deepcopy(load_documents(yaml_text))
    for doc in docs:
        doc.setdefault("metadata", {})["namespace"] = namespace
    return docs


def migration() -> list[dict]:
    """Istio's mTLS migration setup: httpbin and curl in foo and bar (sidecars) and in legacy (none)."""
    text = resources.files("labkit.data").joinpath("labs").joinpath("migration-namespaces.yaml").read_text()
    docs = load_documents(text)
    for namespace in ("foo", "bar", "legacy"):
        docs += in_namespace(sample("httpbin"), namespace) + in_namespace(sample("curl"), namespace)
    return docs


def outside_client() -> list[dict]:
    """Lab 05: only a client outside the mesh, curl in `legacy` (no sidecar). The lab itself deploys what it
    teaches: Tetrate's web-frontend (no sidecar) and customers in `default`, and their gateway routes."""
    legacy = [doc for doc in _lab_data("migration-namespaces.yaml") if doc["metadata"]["name"] == "legacy"]
    return legacy + in_namespace(sample("curl"), "legacy")


def nothing() -> list[dict]:
    return []


def _lab_data(name: str) -> list[dict]:
    return load_documents(resources.files("labkit.data").joinpath("labs").joinpath(name).read_text())


def edge_demo() -> list[dict]:
    """Lab 08 (seed 002): namespace demo in the mesh with the NGINX `web` service."""
    return _lab_data("edge-demo.yaml")


def edge_https() -> list[dict]:
    """Lab 09: where lab 08 ends. Lab 08's demo namespace, https://local.test through the ingress gateway
    (Gateway web-gateway, VirtualService web) and a fresh self-signed certificate for local.test in Secret
    istio-system/local-test-tls, made as lab 08's `openssl req -x509` makes it (the learner takes it out of the
    Secret to trust it, as on a cluster)."""
    from . import certs
    certificate = certs.make_self_signed_cert("local.test")
    return (_lab_data("edge-demo.yaml") + _lab_data("edge-https.yaml")
            + [certs.tls_secret("local-test-tls", "istio-system", certificate)])


def edge_bookinfo() -> list[dict]:
    """Lab 10: lab 08's demo namespace, plus Bookinfo in it."""
    return _lab_data("edge-demo.yaml") + in_namespace(sample("bookinfo"), "demo")


def edge_mutual() -> list[dict]:
    """Lab 11: where lab 10 ended, its MUTUAL Gateway and VirtualService for bookinfo.local.test (the notebook
    makes the certificates and their secrets: the learner's curl needs the CA and client certificate as files)."""
    return edge_bookinfo() + _lab_data("edge-mutual.yaml")


def asset_management() -> list[dict]:
    """Labs 12 and 14 (seed 000): asset-management in `assets` (mesh), curl in `assets` and in `legacy` (no sidecar)."""
    return (_lab_data("asset-management.yaml") + in_namespace(sample("curl"), "assets")
            + in_namespace(sample("curl"), "legacy"))


def asset_management_secured() -> list[dict]:
    """Lab 13: where lab 12's first three steps end. asset-management behind the ingress gateway, STRICT, ISTIO_MUTUAL
    towards it and an AuthorizationPolicy that lets only the ingress gateway in; the tickets break it from there."""
    return asset_management() + _lab_data("asset-management-secured.yaml")


def broken_shop() -> list[dict]:
    """Lab 15's toolbox and lab 16's capstone: the shop with its four faults, a fresh certificate for
    shop.local.test (Secret istio-system/shop-credential) and its CA (ConfigMap shop/shop-ca), curl in `shop` and
    in `legacy`."""
    from . import certs
    ca = certs.make_ca("Shop CA", org="Shop Inc.")
    server = certs.make_server_cert(ca, "shop.local.test")
    ca_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shop-ca", "namespace": "shop"},
              "data": {"ca.crt": ca.cert_pem.decode()}}
    return (_lab_data("capstone-shop.yaml") + [certs.tls_secret("shop-credential", "istio-system", server), ca_map]
            + in_namespace(sample("curl"), "shop") + in_namespace(sample("curl"), "legacy"))


def shop_fixes() -> dict[str, list[dict]]:
    """The fixes of the capstone's tickets (capstone-shop-fixes.yaml), by ticket id: what lab 16's solutions apply."""
    import yaml
    text = resources.files("labkit.data").joinpath("labs").joinpath("capstone-shop-fixes.yaml").read_text()
    return yaml.safe_load(text)


def shop_with_fixes(tickets: tuple[str, ...]) -> list[dict]:
    """The broken shop with the faults of `tickets` already fixed, each document of a fix in place of the shop's."""
    fixes = shop_fixes()
    unknown = [t for t in tickets if t not in fixes]
    if unknown:
        raise LabkitError(f"no fix for ticket(s) {', '.join(unknown)}", field="tickets",
                          hint="capstone-shop-fixes.yaml fixes: " + ", ".join(fixes))
    replacing = {key_of(doc): doc for ticket in tickets for doc in fixes[ticket]}
    return [copy.deepcopy(replacing.get(key_of(doc), doc)) for doc in broken_shop()]


def capstone_first() -> list[dict]:
    """Lab 16: the broken shop, with the mesh's JSON access logs that name each caller, as lab 15 switched them on
    (its tools and checks read the callers' identities from them)."""
    return broken_shop() + load_documents(sample("mesh-access-log-json"))


def capstone_second() -> list[dict]:
    """Lab 17: where lab 16 ends, tickets 1 and 2 fixed (the gateway's certificate, customers' sidecar), with
    lab 15's JSON access logs."""
    return shop_with_fixes(("shop-https", "backend-plaintext")) + load_documents(sample("mesh-access-log-json"))


@dataclass(frozen=True)
class LabInfo:
    id: str
    title: str
    notebook: str | None = None
    start: Callable[[], list[dict]] | None = None
    steps: tuple[str, ...] = ()


MIGRATION_MATRIX = "traffic matrix: all 200"

LABS: tuple[LabInfo, ...] = (
    LabInfo("00", "Welcome and environment check", "00-welcome.ipynb", nothing, (
        "the lab environment is ready",
        "this machine has what the labs need (labkit doctor)",
    )),
    LabInfo("01", "Sample apps and sidecar injection", "01-sidecar-injection.ipynb", nothing, (
        "namespace foo has sidecar injection enabled",
        "namespace legacy has sidecar injection disabled",
        "httpbin, curl run in foo",
        "pods in foo run with a sidecar (2/2)",
        "pods in legacy run without a sidecar (1/1)",
        "pods in bar run with a sidecar (2/2)",
    )),
    LabInfo("02", "PERMISSIVE mode", "02-permissive.ipynb", migration, (
        MIGRATION_MATRIX,
        "curl.foo → httpbin.bar is mutual TLS (X-Forwarded-Client-Cert names the caller)",
        "curl.legacy → httpbin.bar is plaintext (no X-Forwarded-Client-Cert)",
        "curl.foo → httpbin.legacy is plaintext (no X-Forwarded-Client-Cert)",
        "mesh-wide PeerAuthentication sets PERMISSIVE",
        "curl.foo → httpbin.bar is plaintext (no X-Forwarded-Client-Cert)",
    )),
    LabInfo("03", "Switching to STRICT", "03-strict.ipynb", migration, (
        "STRICT mTLS is enforced for httpbin.foo",
        "traffic matrix: legacy → foo reset; the rest 200",
        "traffic matrix: legacy → foo reset; legacy → bar reset; the rest 200",
        "STRICT mTLS is enforced for httpbin.bar",
        MIGRATION_MATRIX,
    )),
    LabInfo("04", "A port-level exception: the NodePort case", "04-nodeport-exception.ipynb", migration, (
        "plaintext is allowed on httpbin.bar:8000 by a port-level exception",
        "a browser outside the mesh reaches httpbin-nodeport.bar on its NodePort: 200",
        MIGRATION_MATRIX,
    )),
    LabInfo("05", "A frontend without a sidecar", "05-frontend-without-sidecar.ipynb", outside_client, (
        "curl.legacy → customers.default:80/: reset (curl 56)",
        "curl.legacy → web-frontend.default:80/: an HTTP answer showing 'ECONNRESET'",
        "http://customers.default.svc.cluster.local/ via the ingress gateway: 200",
        "curl.legacy → web-frontend.default:80/: 200 showing 'Jewel Schaefer'",
    )),
    LabInfo("06", "DestinationRule TLS inside the mesh", "06-destination-rule-tls.ipynb", migration, (
        "curl.foo → httpbin.bar uses tls mode ISTIO_MUTUAL",
        "curl.foo → httpbin.bar accepts only the server's own identity (secure naming)",
        "curl.foo → httpbin.legacy/ip: 503",
        "curl.foo → httpbin.bar uses tls mode DISABLE",
        "curl.foo → httpbin.bar/ip: 503",
        "curl.foo → httpbin.bar/ip: 200",
    )),
    # The notebook itself makes the server's CA and certificate and deploys secure-httpbin: serving TLS from
    # the app's own flags is what the lab teaches, so the start is the plain migration setup.
    LabInfo("07", "TLS origination: SIMPLE and MUTUAL", "07-tls-origination.ipynb", migration, (
        "curl.foo → secure-httpbin.legacy:8443 uses tls mode SIMPLE",
        "curl.foo → secure-httpbin.legacy:8443 uses tls mode MUTUAL",
    )),
    LabInfo("08", "HTTPS at the edge (SIMPLE)", "08-https-edge.ipynb", edge_demo, (
        "http://local.test/ via the ingress gateway: 200 showing 'Welcome to nginx!'",
        "https://local.test/ via the ingress gateway: 200 showing 'Welcome to nginx!'",
        "without --cacert, curl rejects the certificate for local.test (exit 60)",
        "local.test: the handshake fails and the gateway log names the missing secret",
    )),
    LabInfo("09", "A second host, and the Gateway API", "09-second-host-gateway-api.ipynb", edge_https, (
        "https://bookinfo.local.test/productpage via the ingress gateway: 200 showing 'Simple Bookstore App'",
        "https://local.test/ via the Gateway demo/web-gtw: 200 showing 'Welcome to nginx!'",
    )),
    LabInfo("10", "A MUTUAL gateway: client certificates", "10-mutual-gateway.ipynb", edge_bookinfo, (
        "bookinfo.local.test requires a client certificate (MUTUAL)",
        "bookinfo.local.test rejects a client certificate from another CA",
    )),
    LabInfo("11", "PASSTHROUGH, and the edge with the Gateway API", "11-passthrough.ipynb", edge_mutual, (
        "https://nginx.example.com/ reaches the backend's own TLS (PASSTHROUGH)",
        "https://bookinfo.local.test/productpage via the Gateway demo/edge-gtw: 200 with a client certificate "
        "showing 'Simple Bookstore App'",
        "https://bookinfo.local.test/productpage via the Gateway demo/edge-gtw: TLS failure (curl 16/35/55/56)",
        "https://nginx.example.com/ via the Gateway demo/edge-gtw: 200 showing 'Welcome to nginx!'",
    )),
    LabInfo("12", "Gateway to a STRICT service with AuthorizationPolicy", "12-gateway-strict.ipynb", asset_management, (
        "http://asset-management.example.com/get via the ingress gateway: 200",
        "STRICT mTLS is enforced for asset-management.assets",
        "only the ingress gateway may call asset-management.assets",
        "http://asset-management.example.com/get via the Gateway assets/asset-management-gtw: 403 showing "
        "'RBAC: access denied'",
        "http://asset-management.example.com/get via the Gateway assets/asset-management-gtw: 200",
    )),
    LabInfo("13", "On call: three tickets at the gateway", "13-gateway-tickets.ipynb", asset_management_secured, (
        "http://asset-management.example.com/get via the ingress gateway: 403 showing 'RBAC: access denied'",
        "only the ingress gateway may call asset-management.assets",
        "http://asset-management.example.com/get via the ingress gateway: refused (curl 7)",
        "http://asset-management.example.com/get via the ingress gateway: 200",
        "http://asset-management.example.com/get via the ingress gateway: 503",
    )),
    LabInfo("14", "Authorization, service by service (Bookinfo)", "14-authorization.ipynb", asset_management, (
        "http://bookinfo.local.test/productpage over 4 loads: every load shows 'The Comedy of Errors'; "
        "none shows 'Error fetching'",
        "http://bookinfo.local.test/productpage via the ingress gateway: 403 showing 'RBAC: access denied'",
        "http://bookinfo.local.test/productpage over 4 loads: every load shows 'Error fetching product details'; "
        "every load shows 'Error fetching product reviews'",
        "http://bookinfo.local.test/productpage over 4 loads: one shows 'Ratings service is currently unavailable'; "
        "none shows 'Error fetching'",
        "curl.assets (another mesh identity) is refused by details.default:9080, reviews.default:9080",
        "http://bookinfo.local.test/productpage over 4 loads: one shows 'glyphicon-star'; "
        "none shows 'currently unavailable'",
    )),
    LabInfo("15", "The troubleshooting toolbox", "15-troubleshoot-toolbox.ipynb", broken_shop, (
        "https://shop.local.test/ via the ingress gateway: TLS failure (curl 16/35/55/56)",
    )),
    LabInfo("16", "Capstone: the shop's first tickets", "16-capstone.ipynb", capstone_first, (
        "https://shop.local.test/ via the ingress gateway: TLS failure (curl 16/35/55/56)",
        "the gateway completes TLS for shop.local.test with a trusted certificate",
        "curl.legacy → customers.backend:80/: reset (curl 56)",
        "pods in backend run with a sidecar (2/2)",
    )),
    LabInfo("17", "Capstone, part 2: the shop's last tickets", "17-capstone-part-2.ipynb", capstone_second, (
        "web-frontend.shop → customers.backend:80 is mutual TLS",
        "only web-frontend.shop may call customers.backend:80 (curl.shop gets 403)",
        "https://shop.local.test/ via the ingress gateway: 200 showing 'Jewel Schaefer'",
    )),
)


def lab_info(lab_id: str) -> LabInfo:
    wanted = str(lab_id).zfill(2)
    for info in LABS:
        if info.id == wanted:
            return info
    raise LabkitError(f"no lab {lab_id!r}", hint="labs: " + ", ".join(i.id for i in LABS))


def start_resources(lab_id: str) -> list[dict]:
    info = lab_info(lab_id)
    if info.start is None:
        raise LabkitError(f"lab {info.id} ({info.title}) has no starting state defined yet",
                          hint="define `start` for it in labkit/labs.py")
    return info.start()
