"""The local mesh's Kubernetes API server: HTTPS on 127.0.0.1, clients authenticated by certificate.

It runs in the process that owns the mesh (a notebook kernel or `labkit up`) and stops with it.
"""
from __future__ import annotations

import json
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from ..certs import MeshCA
from ..errors import LabkitError
from ..resources.store import Store
from . import discovery, portforward, protobuf
from .authz import Authorizer, request_of, user_of
from .cluster_objects import Cluster, is_control_plane_pod
from .handlers import Request, ResourceHandlers
from ..model.k8s_rbac import Request as AccessRequest, User
from .kubeconfig import issue, kubeconfig_path, server_context, write_kubeconfig
from .objects import Objects
from .podio import client_gone, follow_logs, last_lines, websocket_exec
from .registry import READ_ONLY, lookup
from .status import ApiError, bad_request, method_not_allowed, not_found

MAX_BODY = 4 * 1024 * 1024
REVIEWS = ("SelfSubjectReview", "SelfSubjectAccessReview", "SelfSubjectRulesReview")
# The API server's warning for a deprecated API, sent with every answer about it (Kubernetes 1.33+).
DEPRECATED = {"Endpoints": "v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice"}


def review(kind: str, api_version: str, user: User, spec: dict, authorizer: Authorizer) -> dict:
    """The self-reviews: who am I (`kubectl auth whoami`), may I (`auth can-i`), what may I (`can-i --list`)."""
    if kind == "SelfSubjectReview":
        status: dict = {"userInfo": {"username": user.name, "groups": list(user.groups)}}
    elif kind == "SelfSubjectAccessReview":
        status = authorizer.access_review(user, spec)
    else:
        status = authorizer.rules_review(user, spec)
    return {"kind": kind, "apiVersion": api_version, "metadata": {}, "spec": spec, "status": status}


class PodAccess(Protocol):
    """What exec and logs need from the mesh owner (LocalLab provides both)."""

    def exec_environment(self, namespace: str, target: str, container: str | None = None) -> tuple[Path, dict]: ...

    def container_command(self, namespace: str, target: str, container: str | None,
                          command: list[str]) -> list[str]: ...

    def logs(self, namespace: str, target: str, container: str | None = None, tail: int | None = None) -> str: ...

    def pod_port_address(self, namespace: str, pod: str, port: int) -> tuple[str, int]: ...


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, api: "KubeAPIServer", context: ssl.SSLContext):
        self.api, self.context = api, context
        self.connections: set = set()   # open client connections, closed when the server stops
        super().__init__(("127.0.0.1", 0), _Handler)

    def close_connections(self) -> None:
        for connection in list(self.connections):
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def finish_request(self, request, client_address):
        # The TLS handshake happens here, in the request's own thread, so a slow client never
        # holds up the accept loop.
        try:
            request.settimeout(30)
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        self.connections.add(tls)
        try:
            tls.settimeout(None)
            self.RequestHandlerClass(tls, client_address, self)  # type: ignore[arg-type]
        except (OSError, ssl.SSLError):
            pass
        finally:
            self.connections.discard(tls)
            try:
                tls.close()
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    warning: str | None = None   # a deprecation warning for the API asked about (DEPRECATED)

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass  # a notebook kernel's stderr is the learner's screen

    # -- plumbing ---------------------------------------------------------------------------------
    def send_json(self, code: int, body: dict, content_type: str = "application/json") -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        if self.warning:
            self.send_header("Warning", f'299 - "{self.warning}"')   # kubectl prints it as `Warning: ...`
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.wfile.write(data)

    def send_status_error(self, code: int, reason: str, message: str) -> None:
        self.send_json(code, ApiError(code, reason, message).body())

    def write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _body(self) -> bytes:
        return self.request_body

    def _read_body(self) -> bytes:
        """The whole body, read before anything can fail: a body left unread on a kept-alive connection
        would be taken for the next request."""
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            raise ApiError(413, "RequestEntityTooLarge", "the request body is too large")
        return self.rfile.read(length) if length else b""

    def _authenticated(self) -> bool:
        """Any client certificate the lab CA signed gets in (TLS checked that); CN is the user, O its groups.
        What the user may do is RBAC's answer (authz.py): the lab's admin is in system:masters."""
        subject: dict[str, list[str]] = {}
        for rdn in (self.connection.getpeercert() or {}).get("subject", ()):
            for key, value in rdn:
                subject.setdefault(key, []).append(value)
        user = user_of(subject)
        if user is not None:
            self.user = user
            return True
        self.send_status_error(401, "Unauthorized", "Unauthorized")
        return False

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        self.request_body = b""
        self.warning = None
        try:
            self.request_body = self._read_body()
        except ApiError as exc:
            self.send_json(exc.code, exc.body())
            return
        if not self._authenticated():
            return
        try:
            self._route(method)
        except ApiError as exc:
            self.send_json(exc.code, exc.body())
        except LabkitError as exc:
            self.send_status_error(500, "InternalError", str(exc))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # an API server answers 500 rather than dropping the connection
            self.send_status_error(500, "InternalError", f"{type(exc).__name__}: {exc}")

    # -- routing ----------------------------------------------------------------------------------
    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        query = parse_qs(url.query)
        api = self.server.api
        if method == "GET" and not (parts and parts[0] in ("api", "apis") and len(parts) > 2 + (parts[0] == "apis")):
            # Discovery, /version, /openapi: non-resource URLs (system:discovery lets every user read them).
            api.authorizer.check(self.user, AccessRequest("get", path=url.path.rstrip("/") or "/"))
            static = self._static(parts, api)
            if static is not None:
                self.send_json(200, static)
                return
        if parts and parts[0] == "openapi":
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if len(parts) >= 2 and parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        watch = bool(rest) and rest[0] == "watch"
        rest = rest[1:] if watch else rest
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces" and lookup(group, version, rest[2]):
            namespace, rest = rest[1], rest[2:]
        if not rest:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        resource = lookup(group, version, rest[0])
        if resource is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if namespace is not None and not resource.namespaced:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else None
        self.warning = DEPRECATED.get(resource.kind)
        req = Request(resource, version, namespace, name, query, self.headers.get("Accept", ""))
        handlers = api.handlers
        watch = watch or query.get("watch", [""])[0] in ("1", "true")
        api.authorizer.check(self.user, request_of(method, resource.group, resource.plural, namespace, name, sub,
                                                   watch))
        if resource.kind in REVIEWS and method == "POST":
            spec = (self._json(self._body()) or {}).get("spec") or {}
            self.send_json(201, review(resource.kind, resource.group_version(version), self.user, spec,
                                       api.authorizer))
            return
        if sub in ("exec", "log"):
            self._pod_io(req, sub, method)
            return
        if sub == "portforward":
            self._port_forward(req)
            return
        if sub == "scale" and resource.kind == "Deployment":
            body = self._body() if method in ("PUT", "PATCH") else b""
            self.send_json(200, handlers.scale(req, method, body, self.headers.get("Content-Type", "")))
            return
        if sub not in (None, "status"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if method == "GET":
            if watch:
                self._watch(req)
            elif name:
                self.send_json(200, handlers.get(req))
            else:
                self.send_json(200, handlers.list(req))
            return
        if resource.verbs == READ_ONLY:
            raise method_not_allowed()
        if method == "POST" and not name:
            if resource.namespaced and namespace is None:
                raise method_not_allowed()
            code, obj = handlers.create(req, self._json(self._body()))
            self.send_json(code, obj)
        elif method == "PUT" and name:
            self.send_json(200, handlers.replace(req, self._json(self._body())))
        elif method == "PATCH" and name:
            code, obj = handlers.patch(req, self._body(), self.headers.get("Content-Type", ""))
            self.send_json(code, obj)
        elif method == "DELETE" and name:
            self.send_json(200, handlers.delete(req))
        else:
            raise method_not_allowed()

    def _json(self, body: bytes):
        if "protobuf" in self.headers.get("Content-Type", ""):
            return protobuf.decode(body)
        try:
            return json.loads(body or b"{}")
        except ValueError as exc:
            raise bad_request(f"the body of the request could not be decoded: {exc}")

    def _static(self, parts: list[str], api: "KubeAPIServer") -> dict | None:
        path = "/".join(parts)
        if path in ("healthz", "livez", "readyz"):
            return {"status": "ok"}
        if path == "version":
            return discovery.KUBERNETES_VERSION
        if path == "api":
            return discovery.api_versions(api.address)
        if path == "apis":
            return discovery.api_group_list()
        if path == "api/v1":
            return discovery.resource_list("", "v1")
        if len(parts) == 2 and parts[0] == "apis":
            found = discovery.api_group(parts[1])
            if found is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return found
        if len(parts) == 3 and parts[0] == "apis":
            return discovery.resource_list(parts[1], parts[2])
        if path == "openapi/v3":
            return discovery.openapi_root()
        if len(parts) >= 4 and parts[:2] == ["openapi", "v3"]:
            group, version = ("", parts[3]) if parts[2] == "api" else (parts[3], parts[4] if len(parts) > 4 else "")
            return discovery.openapi_group_version(group, version)
        return None

    def _watch(self, req: Request) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        api = self.server.api
        for event in api.handlers.watch_events(req, api.stopping):
            if event is None:
                if client_gone(self.connection):
                    self.close_connection = True
                    return
                continue
            self.write_chunk(json.dumps(event).encode() + b"\n")
        self.write_chunk(b"")

    def _port_forward(self, req: Request) -> None:
        api = self.server.api
        if req.resource.kind != "Pod" or not req.name or api.objects.get(req.resource, req.namespace, req.name) is None:
            raise not_found(req.resource, req.name)
        namespace = req.namespace or "default"
        if not portforward.serve(self, lambda port: api.pods.pod_port_address(namespace, req.name, port),
                                 f"{req.name}_{namespace}", api.exec_sessions):
            raise bad_request("Upgrade request required")

    def _pod_io(self, req: Request, sub: str, method: str) -> None:
        api = self.server.api
        if req.resource.kind != "Pod" or not req.name:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        pod = api.objects.get(req.resource, req.namespace, req.name)
        if pod is None:
            raise not_found(req.resource, req.name)
        names = [c["name"] for c in pod["spec"].get("containers", [])]
        container = req.param("container")
        if container is None:
            if len(names) != 1:
                raise bad_request(f"a container name must be specified for pod {req.name}, choose one of: "
                                  f"[{' '.join(names)}]")
            container = names[0]
        # exec and logs reach init containers too (a native sidecar such as istio-proxy lives there).
        if container not in names + [c["name"] for c in pod["spec"].get("initContainers") or []]:
            raise bad_request(f"container {container} is not valid for pod {req.name}")
        if sub == "exec":
            if is_control_plane_pod(req.namespace, req.name):
                raise bad_request(f"exec into {req.name} is not possible on the local mesh: istiod is not a pod "
                                  "here (its log is: kubectl logs -n istio-system deploy/istiod)")
            command = req.query.get("command", [])
            if not command:
                raise bad_request("you must specify at least 1 command")
            if "websocket" not in self.headers.get("Upgrade", "").lower():
                raise bad_request("Upgrade request required")

            namespace = req.namespace or "default"
            # Paths inside the container (mounted Secrets, ConfigMaps) mean the container's files, as lab.exec.
            command = api.pods.container_command(namespace, req.name, container, list(command))
            websocket_exec(self, lambda: api.pods.exec_environment(namespace, req.name, container), command,
                           stdin=req.param("stdin") in ("true", "1"), tty=req.param("tty") in ("true", "1"),
                           sessions=api.exec_sessions)
            return
        if method != "GET":
            raise method_not_allowed()
        tail_lines = req.param("tailLines")
        tail = int(tail_lines) if tail_lines else None
        namespace = req.namespace or "default"

        def read() -> str:
            return api.pods.logs(namespace, req.name, container=container)

        try:
            text = read()
        except LabkitError as exc:
            raise bad_request(str(exc))
        shown = last_lines(text, tail)
        if req.param("follow") in ("true", "1"):
            follow_logs(self, read, api.stopping, skip=len(text) - len(shown))
            return
        body = shown.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class KubeAPIServer:
    """Serve the Kubernetes API for a lab's store; write its kubeconfig."""

    def __init__(self, store: Store, state_dir: Path, pods: PodAccess, read_status, on_write=lambda: None,
                 events=lambda namespace=None: [], cluster: Cluster | None = None):
        """pods: exec and logs; read_status: the mesh's published pod status; on_write: after each write;
        events: the Events recorded so far (labkit/kubeapi/events.py), by namespace; cluster: the node's and
        istiod's addresses (kubeapi/cluster_objects.py)."""
        self.state_dir = Path(state_dir)
        self.objects = Objects(store, read_status, events, cluster)
        self.handlers = ResourceHandlers(store, self.objects, on_write)
        self.authorizer = Authorizer(store)
        self.pods = pods
        self.stopping = threading.Event()
        self.exec_sessions: set = set()   # running `kubectl exec` commands, ended when the API stops
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2] if self._server else ("127.0.0.1", 0)
        return f"{host!s}:{port}"

    @property
    def url(self) -> str:
        return f"https://{self.address}"

    @property
    def kubeconfig(self) -> Path:
        return kubeconfig_path(self.state_dir)

    def start(self) -> "KubeAPIServer":
        ca = MeshCA.load_or_create(self.state_dir / "ca")
        credentials = issue(ca)
        context = server_context(credentials, self.state_dir / "kube-apiserver")
        self.stopping.clear()
        self._server = _Server(self, context)
        write_kubeconfig(self.kubeconfig, self.url, credentials)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="labkit-kubeapi", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: open watches and log streams end, the port is released, the kubeconfig removed."""
        self.stopping.set()
        for session in list(self.exec_sessions):
            session.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.close_connections()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.kubeconfig.unlink(missing_ok=True)



