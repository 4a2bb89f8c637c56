"""The sample apps, run as the runtime runs them: real processes, real sockets, real HTTP."""
from __future__ import annotations

import datetime
import json
import os
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from labkit.apps import net
from labkit.apps.images import SUPPORTED_IMAGES, app_for_image, parse_image
from labkit.errors import LabkitError

HOST = "127.0.0.1"


# --- helpers ------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 15.0) -> float:
    """Seconds until the port accepts TCP connections (the runtime's readiness check)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            raise AssertionError(f"app exited with {proc.returncode} before listening")
        try:
            socket.create_connection((HOST, port), timeout=0.2).close()
            return time.monotonic() - start
        except OSError:
            time.sleep(0.01)
    raise AssertionError(f"port {port} did not open within {timeout}s")


def write_resolve(path: Path, hosts: dict[str, str]) -> None:
    # Same as the runtime: write aside, then rename over, so readers never see half a file.
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"hosts": hosts}))
    os.replace(tmp, path)


def get(url: str, *, headers: dict | None = None, method: str = "GET", data: bytes | None = None,
        context: ssl.SSLContext | None = None, timeout: float = 10.0):
    """(status, headers, body text) for any status."""
    request = urllib.request.Request(url, headers=headers or {}, method=method, data=data)
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read().decode()


class App:
    def __init__(self, proc: subprocess.Popen, port: int, log: Path):
        self.proc, self.port, self.log = proc, port, log

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def output(self) -> str:
        return self.log.read_text()


class Launcher:
    """Starts app processes the way the runtime does and always kills them afterwards."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.apps: list[App] = []

    def start(self, module: str, *, variant: str | None = None, env: dict | None = None,
              ports: list[int] | None = None, resolve: dict[str, str] | None = None) -> App:
        ports = ports or [free_port()]
        log = self.tmp / f"{module}-{ports[0]}.log"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("LABKIT_")}
        full_env.update(LABKIT_BIND=",".join(f"{HOST}:{p}" for p in ports), POD_NAME=f"{module}-pod-{ports[0]}",
                        POD_NAMESPACE="default", SERVICE_ACCOUNT=module)
        if variant:
            full_env["LABKIT_APP_VARIANT"] = variant
        if resolve is not None:
            resolve_file = self.tmp / f"resolve-{ports[0]}.json"
            write_resolve(resolve_file, resolve)
            full_env["LABKIT_RESOLVE_FILE"] = str(resolve_file)
        full_env.update(env or {})
        with open(log, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", f"labkit.apps.{module}"], env=full_env,
                                    stdout=out, stderr=subprocess.STDOUT, cwd=self.tmp)
        app = App(proc, ports[0], log)
        self.apps.append(app)
        for port in ports:
            wait_for_port(port, proc)
        return app

    def resolve_file(self, app: App) -> Path:
        return self.tmp / f"resolve-{app.port}.json"

    def stop_all(self) -> None:
        for app in self.apps:
            if app.proc.poll() is None:
                app.proc.kill()
            app.proc.wait(timeout=5)


@pytest.fixture
def launcher(tmp_path):
    apps = Launcher(tmp_path)
    yield apps
    apps.stop_all()


@pytest.fixture(scope="module")
def module_launcher(tmp_path_factory):
    apps = Launcher(tmp_path_factory.mktemp("apps"))
    yield apps
    apps.stop_all()


class StubServer:
    """An in-test upstream that answers (recording what it was sent), resets (SO_LINGER 0)
    or hangs up (FIN, no answer)."""

    def __init__(self, mode: str = "answer", *, status: int = 200, body: bytes = b"", read_first: bool = True):
        self.listener = socket.socket()
        self.listener.bind((HOST, 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.mode, self.status, self.body, self.read_first = mode, status, body, read_first
        self.requests: list[tuple[str, dict[str, str]]] = []  # (request line, lower-cased headers)
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                if self.read_first:
                    self._record(conn.recv(65536))  # like Envoy's TLS inspector: read, then decide
                if self.mode == "reset":
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                elif self.mode == "answer":
                    head = f"HTTP/1.1 {self.status} X\r\nContent-Length: {len(self.body)}\r\nConnection: close\r\n\r\n"
                    conn.sendall(head.encode() + self.body)

    def _record(self, data: bytes) -> None:
        line, *header_lines = data.decode("latin-1").split("\r\n\r\n", 1)[0].split("\r\n")
        headers = dict(h.split(": ", 1) for h in header_lines if ": " in h)
        self.requests.append((line, {k.lower(): v for k, v in headers.items()}))

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def stub():
    servers = []

    def make(mode: str = "answer", **kwargs) -> StubServer:
        servers.append(StubServer(mode, **kwargs))
        return servers[-1]
    yield make
    for server in servers:
        server.close()


def closed_port() -> int:
    return free_port()  # nothing listens there once the probe socket is closed


# --- images -------------------------------------------------------------------------------

@pytest.mark.parametrize("image, expected", [
    ("kennethreitz/httpbin", ("httpbin", None)),
    ("docker.io/kennethreitz/httpbin:latest", ("httpbin", None)),
    ("mccutchen/go-httpbin:v2.15.0", ("httpbin", "go")),
    ("registry.istio.io/release/examples-helloworld-v2:1.0", ("helloworld", "v2")),
    ("kong/httpbin", ("httpbin", None)),
    ("curlimages/curl:8.8.0", ("curl", None)),
    ("governmentpaas/curl-ssl", ("curl", None)),
    ("curl", ("curl", None)),
    ("tetratelabs/customers:1.0.0", ("customers", "v1")),
    ("gcr.io/tetratelabs/customers:1.0.0", ("customers", "v1")),
    ("gcr.io/tetratelabs/customers:2.0.0", ("customers", "v2")),
    ("gcr.io/tetratelabs/web-frontend:1.0.0", ("web_frontend", None)),
    ("nginx", ("web", None)),
    ("nginx:1.27-alpine", ("web", None)),
    ("docker.io/library/nginx:latest", ("web", None)),
    ("istio/examples-helloworld-v1", ("helloworld", "v1")),
    ("docker.io/istio/examples-helloworld-v2:1.0", ("helloworld", "v2")),
    ("docker.io/istio/examples-bookinfo-productpage-v1:1.20.1", ("productpage", "v1")),
    ("istio/examples-bookinfo-details-v1:1.20.1", ("details", "v1")),
    ("istio/examples-bookinfo-reviews-v1:1.20.1", ("reviews", "v1")),
    ("istio/examples-bookinfo-reviews-v2:1.20.1", ("reviews", "v2")),
    ("istio/examples-bookinfo-reviews-v3:1.20.1", ("reviews", "v3")),
    ("istio/examples-bookinfo-ratings-v1:1.20.1", ("ratings", "v1")),
    ("ghcr.io/some-org/mirror/istio/examples-bookinfo-ratings-v1", ("ratings", "v1")),
    ("localhost:5000/nginx@sha256:" + "0" * 64, ("web", None)),
    # Istio's current samples pull from registry.istio.io/release/ (issue 13): matched by name.
    ("registry.istio.io/release/examples-bookinfo-details-v1:1.20.3", ("details", "v1")),
    ("registry.istio.io/release/examples-bookinfo-reviews-v3:1.20.3", ("reviews", "v3")),
    ("gcr.io/istio-release/examples-bookinfo-productpage-v1:1.20.3", ("productpage", "v1")),
    ("registry.istio.io/release/tcp-echo-server:1.3", ("tcp_echo", None)),
    ("docker.io/mccutchen/go-httpbin:v2.15.0", ("httpbin", "go")),
    ("docker.io/curlimages/curl:8.16.0", ("curl", None)),
])
def test_app_for_image(image, expected):
    assert app_for_image(image) == expected


def test_parse_image_strips_registry_library_and_digest():
    assert parse_image("docker.io/library/nginx:1.27@sha256:abc") == ("nginx", "1.27")
    assert parse_image("registry.local:5000/team/app") == ("team/app", None)
    assert parse_image("team/app:2") == ("team/app", "2")


def test_unknown_image_lists_the_supported_ones():
    with pytest.raises(LabkitError) as caught:
        app_for_image("example.com/acme/shop:1.0")
    text = str(caught.value)
    assert "acme/shop" in text
    assert "tetratelabs/customers:1.0.0" in text and "kennethreitz/httpbin" in text
    assert caught.value.field == "image"


def test_unknown_customers_tag_is_an_error():
    with pytest.raises(LabkitError, match="3.0.0"):
        app_for_image("tetratelabs/customers:3.0.0")


def test_every_supported_image_resolves():
    for image in SUPPORTED_IMAGES:
        module, _ = app_for_image(image)
        assert (Path(net.__file__).parent / f"{module}.py").exists()


# --- net ----------------------------------------------------------------------------------

def test_resolve_follows_the_map_and_its_rewrites(tmp_path, monkeypatch):
    resolve_file = tmp_path / "resolve.json"
    write_resolve(resolve_file, {"details:9080": "127.1.2.3:19080"})
    monkeypatch.setenv("LABKIT_RESOLVE_FILE", str(resolve_file))
    assert net.resolve("details", 9080) == ("127.1.2.3", 19080)
    assert net.resolve("DETAILS.", 9080) == ("127.1.2.3", 19080)
    write_resolve(resolve_file, {"details:9080": "127.1.2.4:19081"})
    assert net.resolve("details", 9080) == ("127.1.2.4", 19081)
    with pytest.raises(net.NetError) as caught:
        net.resolve("details", 80)
    assert str(caught.value) == "getaddrinfo ENOTFOUND details" and caught.value.code == "ENOTFOUND"
    assert net.resolve("10.0.0.7", 80) == ("10.0.0.7", 80)  # an IP literal needs no lookup


def test_http_get_keeps_the_url_host_and_reports_node_style_errors(tmp_path, monkeypatch, stub):
    echo, reset, hangup, refused = stub(status=201, body=b"ok"), stub("reset"), stub("hangup"), closed_port()
    resolve_file = tmp_path / "resolve.json"
    write_resolve(resolve_file, {
        "echo.default.svc.cluster.local:80": echo.address,
        "down:9080": f"{HOST}:{refused}",
        "reset:9080": reset.address,
        "hangup:9080": hangup.address,
    })
    monkeypatch.setenv("LABKIT_RESOLVE_FILE", str(resolve_file))

    status, _, body = net.http_get("http://echo.default.svc.cluster.local/a?b=1", 5, {"x-request-id": "abc"})
    assert (status, body) == (201, b"ok")
    line, headers = echo.requests[-1]
    assert line == "GET /a?b=1 HTTP/1.1"
    assert headers["host"] == "echo.default.svc.cluster.local" and headers["x-request-id"] == "abc"

    with pytest.raises(net.NetError) as caught:
        net.http_get("http://down:9080/", 5)
    assert str(caught.value) == f"connect ECONNREFUSED {HOST}:{refused}"

    with pytest.raises(net.NetError) as caught:
        net.http_get("http://reset:9080/", 5)
    assert (caught.value.code, str(caught.value)) == ("ECONNRESET", "read ECONNRESET")

    with pytest.raises(net.NetError) as caught:
        net.http_get("http://hangup:9080/", 5)
    assert (caught.value.code, str(caught.value)) == ("ECONNRESET", "socket hang up")

    with pytest.raises(net.NetError, match="ENOTFOUND nowhere"):
        net.http_get("http://nowhere/", 5)


# --- customers, web-frontend --------------------------------------------------------------

CUSTOMER_NAMES = ["Jewel Schaefer", "Raleigh Larson", "Eloise Senger", "Moshe Zieme", "Filiberto Lubowitz"]


def test_customers_v1_and_v2(launcher):
    v1 = launcher.start("customers", variant="v1")
    v2 = launcher.start("customers", variant="v2")
    status, headers, body = get(v1.url + "/")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert body.startswith('[{"name":"Jewel Schaefer"},{"name":"Raleigh Larson"},{"name":"Eloise Senger"},'
                           '{"name":"Moshe Zieme"},{"name":"Filiberto Lubowitz"}')
    assert [c["name"] for c in json.loads(body)][:5] == CUSTOMER_NAMES
    customers = json.loads(get(v2.url + "/")[2])
    assert all(set(c) == {"name", "city"} and c["city"] for c in customers)
    assert get(v1.url + "/nope")[0] == 404
    assert f'{HOST} "GET / HTTP/1.1" 200' in v1.output()
    assert "customers v1 listening on" in v1.output()


def test_web_frontend_renders_customers_and_follows_resolve_rewrites(launcher):
    v1 = launcher.start("customers", variant="v1")
    v2 = launcher.start("customers", variant="v2")
    host = "customers.default.svc.cluster.local:80"
    front = launcher.start("web_frontend", resolve={host: f"{HOST}:{v1.port}"}, ports=[free_port(), free_port()])
    status, _, body = get(front.url + "/")
    assert status == 200 and "<title>Customers</title>" in body
    assert "<td>Jewel Schaefer</td>" in body and "<th>City</th>" not in body
    assert get(f"http://{HOST}:{front.port}/")[0] == 200

    write_resolve(launcher.resolve_file(front), {host: f"{HOST}:{v2.port}"})
    status, _, body = get(front.url + "/")
    assert status == 200 and "<th>City</th>" in body and "<td>Gianni Pouros</td>" in body


def test_web_frontend_uses_customer_service_url_and_forwards_user_agent(launcher, stub):
    customers = stub(body=b'[{"name":"A"}]')
    front = launcher.start("web_frontend", env={"CUSTOMER_SERVICE_URL": "http://customers.prod:8080/list"},
                           resolve={"customers.prod:8080": customers.address})
    assert get(front.url + "/", headers={"User-Agent": "debug", "x-request-id": "r1"})[0] == 200
    line, headers = customers.requests[-1]
    assert line == "GET /list HTTP/1.1"
    assert (headers["host"], headers["user-agent"], headers["x-request-id"]) == ("customers.prod:8080", "debug", "r1")


@pytest.mark.parametrize("failure, expected", [
    ("refused", "Error: connect ECONNREFUSED"),
    ("reset", "ECONNRESET"),
    ("reset-at-once", "ECONNRESET"),
    ("unresolvable", "Error: getaddrinfo ENOTFOUND customers.default.svc.cluster.local"),
    ("denied", "Error: Request failed with status code 403"),
])
def test_web_frontend_shows_the_failure(launcher, stub, failure, expected):
    host = "customers.default.svc.cluster.local:80"
    upstream = {
        "refused": lambda: f"{HOST}:{closed_port()}",
        "reset": lambda: stub("reset").address,
        "reset-at-once": lambda: stub("reset", read_first=False).address,
        "unresolvable": lambda: None,
        "denied": lambda: stub(status=403, body=b"RBAC: access denied").address,
    }[failure]()
    front = launcher.start("web_frontend", resolve={host: upstream} if upstream else {})
    status, _, body = get(front.url + "/")
    assert status == 500
    assert expected in body and "<title>Customers</title>" in body
    if failure == "reset":
        assert "Error: read ECONNRESET" in body  # what the Node.js app shows behind STRICT mTLS
    if failure == "denied":
        assert "RBAC: access denied" in body


# --- nginx, helloworld --------------------------------------------------------------------

def test_web_is_nginx(launcher, tmp_path):
    """The stock image: its own nginx.conf and conf.d/default.conf (port 80, here a free port)."""
    from labkit.apps.nginx_image import STOCK_FILES
    port = free_port()
    files = dict(STOCK_FILES)
    files["/etc/nginx/conf.d/default.conf"] = files["/etc/nginx/conf.d/default.conf"].replace(
        b"listen       80;", f"listen       {port};".encode())
    web = launcher.start("web", ports=[port], env={"LABKIT_ROOT": str(_container_root(tmp_path, files))})
    status, headers, body = get(web.url + "/")
    assert status == 200 and "<title>Welcome to nginx!</title>" in body and headers["Server"] == "nginx"
    assert len(body.encode()) == 615  # the size of nginx's stock index.html
    status, headers, body = get(web.url + "/missing")
    assert status == 404 and "<center><h1>404 Not Found</h1></center>" in body and headers["Server"] == "nginx"
    assert get(web.url + "/", method="POST", data=b"x")[0] == 405
    status, _, body = get(web.url + "/", method="HEAD")
    assert status == 200 and body == ""


def test_helloworld(launcher):
    v2 = launcher.start("helloworld", variant="v2")
    assert get(v2.url + "/hello")[2] == f"Hello version: v2, instance: helloworld-pod-{v2.port}\n"
    assert get(v2.url + "/health")[2] == "Helloworld is healthy"
    assert get(v2.url + "/")[0] == 404
    custom = launcher.start("helloworld", variant="v1", env={"SERVICE_VERSION": "v9"})
    assert get(custom.url + "/hello")[2].startswith("Hello version: v9, instance: ")


# --- bookinfo -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bookinfo(module_launcher):
    ratings = module_launcher.start("ratings", variant="v1")
    to_ratings = {"ratings:9080": f"{HOST}:{ratings.port}"}
    apps = {
        "ratings": ratings,
        "details": module_launcher.start("details", variant="v1"),
        "reviews-v1": module_launcher.start("reviews", variant="v1"),
        "reviews-v2": module_launcher.start("reviews", variant="v2", resolve=to_ratings),
        "reviews-v3": module_launcher.start("reviews", variant="v3", resolve=to_ratings),
        "reviews-v2-no-ratings": module_launcher.start("reviews", variant="v2", resolve={}),
    }
    apps["productpage"] = module_launcher.start("productpage", variant="v1", resolve={})
    return apps


def wire(launcher: Launcher, bookinfo: dict, **hosts: str) -> App:
    """Point productpage's details/reviews/ratings names at the given addresses."""
    page = bookinfo["productpage"]
    write_resolve(launcher.resolve_file(page), {f"{name}:9080": address for name, address in hosts.items()})
    return page


def addr(app: App) -> str:
    return f"{HOST}:{app.port}"


def test_ratings_details_reviews_json(bookinfo):
    assert get(bookinfo["ratings"].url + "/ratings/0")[2] == '{"id":0,"ratings":{"Reviewer1":5,"Reviewer2":4}}'
    assert get(bookinfo["ratings"].url + "/ratings/x")[0] == 400
    details = json.loads(get(bookinfo["details"].url + "/details/0")[2])
    assert details["author"] == "William Shakespeare" and details["ISBN-10"] == "1234567890" and details["id"] == 0
    v1 = json.loads(get(bookinfo["reviews-v1"].url + "/reviews/0")[2])
    assert [r["reviewer"] for r in v1["reviews"]] == ["Reviewer1", "Reviewer2"]
    assert all("rating" not in r for r in v1["reviews"]) and v1["podname"].startswith("reviews-pod-")
    v3 = json.loads(get(bookinfo["reviews-v3"].url + "/reviews/0")[2])
    assert [r["rating"] for r in v3["reviews"]] == [{"stars": 5, "color": "red"}, {"stars": 4, "color": "red"}]
    broken = json.loads(get(bookinfo["reviews-v2-no-ratings"].url + "/reviews/0")[2])
    assert all(r["rating"] == {"error": "Ratings service is currently unavailable"} for r in broken["reviews"])
    assert json.loads(get(bookinfo["details"].url + "/health")[2]) == {"status": "Details is healthy"}


def test_productpage_with_each_reviews_version(module_launcher, bookinfo):
    common = {"details": addr(bookinfo["details"]), "ratings": addr(bookinfo["ratings"])}
    page = wire(module_launcher, bookinfo, reviews=addr(bookinfo["reviews-v1"]), **common)
    status, _, body = get(page.url + "/productpage")
    assert status == 200 and "<title>Simple Bookstore App</title>" in body and "The Comedy of Errors" in body
    assert "Book Details" in body and "1234567890" in body and "Book Reviews" in body
    assert "An extremely entertaining play by Shakespeare" in body and "glyphicon-star" not in body

    wire(module_launcher, bookinfo, reviews=addr(bookinfo["reviews-v2"]), **common)
    body = get(page.url + "/productpage")[2]
    assert '<font color="black">' in body and body.count("glyphicon-star-empty") == 1

    wire(module_launcher, bookinfo, reviews=addr(bookinfo["reviews-v3"]), **common)
    body = get(page.url + "/productpage")[2]
    assert '<font color="red">' in body and "Reviews served by:" in body

    wire(module_launcher, bookinfo, reviews=addr(bookinfo["reviews-v2-no-ratings"]), **common)
    assert "Ratings service is currently unavailable" in get(page.url + "/productpage")[2]


@pytest.mark.parametrize("failure", ["refused", "reset", "denied", "unresolvable"])
def test_productpage_survives_failing_backends(module_launcher, bookinfo, stub, failure):
    upstream = {
        "refused": lambda: f"{HOST}:{closed_port()}",
        "reset": lambda: stub("reset").address,
        "denied": lambda: stub(status=403, body=b"RBAC: access denied").address,
        "unresolvable": lambda: None,
    }[failure]()
    hosts = {"details": upstream, "reviews": upstream} if upstream else {}
    page = wire(module_launcher, bookinfo, **hosts)
    status, _, body = get(page.url + "/productpage")
    assert status == 200  # the real page stays 200 and explains inside
    assert "Error fetching product details" in body
    assert "Sorry, product details are currently unavailable for this book." in body
    assert "Error fetching product reviews" in body
    assert "Sorry, product reviews are currently unavailable for this book." in body
    status, _, body = get(page.url + "/api/v1/products/0")
    assert status == (403 if failure == "denied" else 500)
    assert json.loads(body) == {"error": "Sorry, product details are currently unavailable for this book."}


def test_productpage_api(module_launcher, bookinfo):
    page = wire(module_launcher, bookinfo, details=addr(bookinfo["details"]),
                reviews=addr(bookinfo["reviews-v3"]), ratings=addr(bookinfo["ratings"]))
    assert get(page.url + "/health")[2] == "Product page is healthy"
    products = json.loads(get(page.url + "/api/v1/products")[2])
    assert products[0]["title"] == "The Comedy of Errors"
    assert json.loads(get(page.url + "/api/v1/products/0")[2])["author"] == "William Shakespeare"
    assert len(json.loads(get(page.url + "/api/v1/products/0/reviews")[2])["reviews"]) == 2
    assert json.loads(get(page.url + "/api/v1/products/0/ratings")[2])["ratings"]["Reviewer1"] == 5
    assert "Simple Bookstore App" in get(page.url + "/")[2]


def test_productpage_login_sends_end_user_to_reviews(module_launcher, bookinfo, stub):
    reviews = stub(body=b'{"id": "0", "reviews": []}')
    page = wire(module_launcher, bookinfo, details=addr(bookinfo["details"]), reviews=reviews.address)
    no_redirects = urllib.request.build_opener(type("NoRedirect", (urllib.request.HTTPRedirectHandler,),
                                                    {"redirect_request": lambda *args: None}))
    login = urllib.request.Request(page.url + "/login", data=b"username=jason&passwd=x",
                                   headers={"Referer": page.url + "/productpage"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        no_redirects.open(login, timeout=10)
    assert caught.value.code == 302 and caught.value.headers["Location"] == page.url + "/productpage"
    cookie = caught.value.headers["Set-Cookie"].split(";", 1)[0]
    assert cookie == "user=jason"

    body = get(page.url + "/productpage", headers={"Cookie": cookie, "x-request-id": "r2"})[2]
    assert "jason" in body and "sign out" in body
    _, headers = reviews.requests[-1]
    assert (headers["end-user"], headers["x-request-id"], headers["host"]) == ("jason", "r2", "reviews:9080")


# --- httpbin ------------------------------------------------------------------------------

def test_httpbin_endpoints(launcher):
    app = launcher.start("httpbin")
    status, _, body = get(app.url + "/ip")
    assert status == 200 and json.loads(body)["origin"] == HOST
    headers = json.loads(get(app.url + "/headers", headers={"X-Forwarded-Client-Cert": "By=spiffe://a;URI=spiffe://b"})[2])
    assert headers["headers"]["X-Forwarded-Client-Cert"] == "By=spiffe://a;URI=spiffe://b"
    assert json.loads(get(app.url + "/get?x=1")[2])["args"] == {"x": "1"}
    assert get(app.url + "/status/418")[0] == 418
    assert json.loads(get(app.url + "/anything/x", method="POST", data=b"hi",
                                headers={"Content-Type": "text/plain"})[2])["data"] == "hi"
    start = time.monotonic()
    assert get(app.url + "/delay/1")[0] == 200 and time.monotonic() - start >= 1
    assert f'{HOST} "GET /status/418 HTTP/1.1" 418' in app.output()


def self_signed(tmp: Path, name: str = "httpbin.example.com") -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp / "tls.crt", tmp / "tls.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def _container_root(tmp: Path, files: dict[str, bytes]) -> Path:
    """A container filesystem as the runtime builds it: files at their in-container paths."""
    root = tmp / "rootfs"
    for path, data in files.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root


def _pem(tmp: Path) -> dict[str, bytes]:
    cert, key = self_signed(tmp)
    return {"/etc/tls/tls.crt": cert.read_bytes(), "/etc/tls/tls.key": key.read_bytes()}


def _raw(port: int, data: bytes) -> bytes:
    with socket.create_connection((HOST, port), timeout=5) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(4096)
            except ConnectionError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def _tls_context_for(tmp: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(tmp / "tls.crt"))
    context.check_hostname = False  # we connect by IP; the chain is still verified
    return context


@pytest.mark.parametrize("module", ["httpbin", "customers", "web"])
def test_no_app_turns_tls_on_by_itself(launcher, tmp_path, module):
    """A mounted tls.crt/tls.key is just files: without the image's own TLS setting, plain HTTP."""
    root = _container_root(tmp_path, _pem(tmp_path))
    port = free_port() if module != "web" else None
    variant = "go" if module == "httpbin" else None
    env = {"LABKIT_ROOT": str(root)}
    if module == "httpbin":
        env["PORT"] = str(port)
    if module == "web":
        from labkit.apps.nginx_image import STOCK_FILES
        root = _container_root(tmp_path, {**_pem(tmp_path), **STOCK_FILES,
                                          "/etc/nginx/conf.d/default.conf": (
                                              "server { listen %d; location / { root /usr/share/nginx/html; } }"
                                              % (port := free_port())).encode()})
        env["LABKIT_ROOT"] = str(root)
    app = launcher.start(module, variant=variant, env=env, ports=[port])
    status, _, _ = get(f"http://{HOST}:{port}/")
    assert status == 200


def test_go_httpbin_serves_https_with_its_flags_and_answers_plaintext_like_go(launcher, tmp_path):
    root = _container_root(tmp_path, _pem(tmp_path))
    port = free_port()
    app = launcher.start("httpbin", variant="go", ports=[port], env={
        "LABKIT_ROOT": str(root),
        "LABKIT_ARGS": json.dumps(["-port", str(port), "-https-cert-file", "/etc/tls/tls.crt",
                                   "-https-key-file=/etc/tls/tls.key"])})
    idle = socket.create_connection((HOST, port))  # a silent TCP probe must not block the next client
    try:
        status, _, body = get(f"https://{HOST}:{port}/get", context=_tls_context_for(tmp_path))
        assert status == 200 and json.loads(body)["url"].startswith("https://")
        # Go's net/http: plaintext that looks like HTTP gets a bare 400, other plaintext is closed.
        for method in ("GET", "HEAD", "POST", "PUT", "OPTIONS"):
            answer = _raw(port, f"{method} / HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert answer == b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
        assert _raw(port, b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n") == b""
        assert _raw(port, b"hello there\n") == b""
    finally:
        idle.close()
    assert f"https://0.0.0.0:{port}" in app.output()


def test_go_httpbin_env_and_half_configured_tls(launcher, tmp_path):
    root = _container_root(tmp_path, _pem(tmp_path))
    port = free_port()
    launcher.start("httpbin", variant="go", ports=[port], env={
        "LABKIT_ROOT": str(root), "PORT": str(port),
        "HTTPS_CERT_FILE": "/etc/tls/tls.crt", "HTTPS_KEY_FILE": "/etc/tls/tls.key"})
    status, _, _ = get(f"https://{HOST}:{port}/get", context=_tls_context_for(tmp_path))
    assert status == 200
    # Only the certificate: go-httpbin refuses to start.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABKIT_")}
    env.update(LABKIT_BIND=f"{HOST}:{free_port()}", LABKIT_APP_VARIANT="go", LABKIT_ROOT=str(root),
               HTTPS_CERT_FILE="/etc/tls/tls.crt")
    done = subprocess.run([sys.executable, "-m", "labkit.apps.httpbin"], env=env, capture_output=True, text=True,
                          timeout=30)
    assert done.returncode != 0 and "https cert and key must both be provided" in done.stderr


def _nginx_root(tmp: Path, conf: str, extra: dict | None = None) -> Path:
    from labkit.apps.nginx_image import STOCK_FILES
    files = {k: v for k, v in STOCK_FILES.items() if not k.startswith("/etc/nginx")}  # a ConfigMap hides it
    files.update({"/etc/nginx/nginx.conf": conf.encode(), **_pem(tmp), **(extra or {})})
    return _container_root(tmp, files)


def test_nginx_serves_tls_from_its_nginx_conf(launcher, tmp_path):
    """istio.io's SNI passthrough task: nginx.conf from a ConfigMap at /etc/nginx, certs from a Secret."""
    port = free_port()
    conf = f"""events {{
}}
http {{
  log_format main '$remote_addr - $remote_user [$time_local]  $status '
  '"$request" $body_bytes_sent "$http_referer" '
  '"$http_user_agent" "$http_x_forwarded_for"';
  access_log /var/log/nginx/access.log main;
  error_log  /var/log/nginx/error.log;
  server {{
    listen {port} ssl;
    root /usr/share/nginx/html;
    index index.html;
    server_name nginx.example.com;
    ssl_certificate /etc/tls/tls.crt;
    ssl_certificate_key /etc/tls/tls.key;
    location /teapot {{ return 418 "short and stout"; }}
  }}
}}
"""
    launcher.start("web", ports=[port], env={"LABKIT_ROOT": str(_nginx_root(tmp_path, conf))})
    context = _tls_context_for(tmp_path)
    status, headers, body = get(f"https://{HOST}:{port}/", context=context)
    assert status == 200 and "Welcome to nginx!" in body and headers.get("Server") == "nginx"
    status, _, body = get(f"https://{HOST}:{port}/teapot", context=context)
    assert status == 418 and body == "short and stout"
    answer = _raw(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400") and b"The plain HTTP request was sent to HTTPS port" in answer


def test_nginx_requires_a_client_certificate_when_its_conf_says_so(launcher, tmp_path):
    port = free_port()
    conf = f"""events {{}}
http {{ server {{ listen {port} ssl; ssl_certificate /etc/tls/tls.crt; ssl_certificate_key /etc/tls/tls.key;
  ssl_client_certificate /etc/tls/tls.crt; ssl_verify_client on; location / {{ return 200 "in"; }} }} }}
"""
    launcher.start("web", ports=[port], env={"LABKIT_ROOT": str(_nginx_root(tmp_path, conf))})
    status, _, body = get(f"https://{HOST}:{port}/", context=_tls_context_for(tmp_path))
    assert status == 400 and "No required SSL certificate was sent" in body
    context = _tls_context_for(tmp_path)
    context.load_cert_chain(str(tmp_path / "tls.crt"), str(tmp_path / "tls.key"))
    status, _, body = get(f"https://{HOST}:{port}/", context=context)
    assert status == 200 and body == "in"


def _curl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-sS", "--max-time", "10", *args], capture_output=True, text=True, timeout=30)


def test_nginx_answers_400_to_an_untrusted_client_certificate(launcher, tmp_path):
    """As real nginx: the handshake completes whatever certificate the client sends; the request then gets
    nginx's 400 page for a certificate that does not verify or (under `on`) for none, then the close."""
    port = free_port()
    conf = f"""events {{}}
http {{ server {{ listen {port} ssl; ssl_certificate /etc/tls/tls.crt; ssl_certificate_key /etc/tls/tls.key;
  ssl_client_certificate /etc/tls/tls.crt; ssl_verify_client on; location / {{ return 200 "in"; }} }} }}
"""
    launcher.start("web", ports=[port], env={"LABKIT_ROOT": str(_nginx_root(tmp_path, conf))})
    url = f"https://httpbin.example.com:{port}/"
    common = ["--resolve", f"httpbin.example.com:{port}:{HOST}", "--cacert", str(tmp_path / "tls.crt"),
              "-D", "-", url]
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    cert, key = self_signed(stranger, "stranger.example.com")      # not signed by the CA nginx trusts
    untrusted = _curl("--cert", str(cert), "--key", str(key), *common)
    assert untrusted.returncode == 0, untrusted.stderr             # the handshake itself succeeded
    assert untrusted.stdout.startswith("HTTP/1.1 400 Bad Request")
    assert "Connection: close" in untrusted.stdout
    assert ("<head><title>400 The SSL certificate error</title></head>" in untrusted.stdout
            and "<center>The SSL certificate error</center>" in untrusted.stdout)
    missing = _curl(*common)
    assert missing.returncode == 0 and missing.stdout.startswith("HTTP/1.1 400 Bad Request")
    assert "<center>No required SSL certificate was sent</center>" in missing.stdout
    trusted = _curl("--cert", str(tmp_path / "tls.crt"), "--key", str(tmp_path / "tls.key"), *common)
    assert trusted.returncode == 0 and trusted.stdout.startswith("HTTP/1.1 200") and trusted.stdout.endswith("in")


def test_nginx_optional_client_verification_lets_no_certificate_in(launcher, tmp_path):
    port = free_port()
    conf = f"""events {{}}
http {{ server {{ listen {port} ssl; ssl_certificate /etc/tls/tls.crt; ssl_certificate_key /etc/tls/tls.key;
  ssl_client_certificate /etc/tls/tls.crt; ssl_verify_client optional; location / {{ return 200 "in"; }} }} }}
"""
    launcher.start("web", ports=[port], env={"LABKIT_ROOT": str(_nginx_root(tmp_path, conf))})
    common = ["--resolve", f"httpbin.example.com:{port}:{HOST}", "--cacert", str(tmp_path / "tls.crt"),
              f"https://httpbin.example.com:{port}/"]
    assert _curl(*common).stdout == "in"
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    cert, key = self_signed(stranger, "stranger.example.com")
    assert "The SSL certificate error" in _curl("--cert", str(cert), "--key", str(key), *common).stdout


def test_nginx_refuses_ssl_without_certificate(tmp_path):
    port = free_port()
    root = _nginx_root(tmp_path, f"events {{}} http {{ server {{ listen {port} ssl; }} }}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABKIT_")}
    env.update(LABKIT_BIND=f"{HOST}:{port}", LABKIT_ROOT=str(root))
    done = subprocess.run([sys.executable, "-m", "labkit.apps.web"], env=env, capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 1 and 'no "ssl_certificate" is defined' in done.stderr


def test_tcp_echo_listens_on_its_argument_ports(launcher):
    ports = [free_port(), free_port()]
    launcher.start("tcp_echo", ports=ports, env={"LABKIT_ARGS": json.dumps([",".join(map(str, ports)), "hello"])})
    for port in ports:
        assert _raw_line(port, b"world\n") == b"hello world\n"


def _raw_line(port: int, data: bytes) -> bytes:
    with socket.create_connection((HOST, port), timeout=5) as sock:
        sock.sendall(data)
        return sock.makefile("rb").readline()


# --- process contract ---------------------------------------------------------------------

@pytest.mark.parametrize("module", ["customers", "httpbin"])
def test_sigterm_exits_promptly(launcher, module):
    app = launcher.start(module)
    get(app.url + "/")
    keep_alive = socket.create_connection((HOST, app.port))  # an idle client must not delay the exit
    try:
        start = time.monotonic()
        app.proc.send_signal(signal.SIGTERM)
        assert app.proc.wait(timeout=2) == 0
        assert time.monotonic() - start < 0.5
    finally:
        keep_alive.close()


def test_idle_waits_for_sigterm():
    proc = subprocess.Popen([sys.executable, "-m", "labkit.apps.idle"], stdout=subprocess.PIPE,
                            env={**os.environ, "POD_NAME": "sleep-1"})
    try:
        assert b"idle container of pod sleep-1" in proc.stdout.readline()
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=2) == 0
        proc.stdout.close()


def test_missing_bind_is_a_clear_error():
    env = {k: v for k, v in os.environ.items() if k != "LABKIT_BIND"}
    out = subprocess.run([sys.executable, "-m", "labkit.apps.customers"], env=env, capture_output=True,
                         text=True, timeout=10)
    assert out.returncode != 0 and "LABKIT_BIND" in out.stderr
