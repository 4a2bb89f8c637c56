"""A small, threaded Kubernetes API server mock the REAL `kubernetes` client talks to over HTTP.

Why not only kmock: kmock (0.8) cannot parse core ``/api/v1/namespaces/<name>`` paths (Namespace
objects), has no server-side-apply create-on-PATCH, no label selectors, no resourceVersions and no
exec websocket. This mock does exactly what labkit's kube backend needs, and records every request:

* discovery: ``/version``, ``/api``, ``/api/v1``, ``/apis``, ``/apis/<group>``, ``/apis/<group>/<version>``;
* objects: GET (one / list with ``labelSelector``), POST, PATCH (``apply-patch+yaml`` creates or
  merges, strategic/merge patch merges), DELETE; resourceVersion bumps only on real changes;
* ``pods/<name>/log`` (text) and ``pods/<name>/exec`` as a websocket speaking the
  ``v4.channel.k8s.io`` (or v5) protocol: stdout on channel 1, stderr on 2, Status on 3.

Usage::

    with KubeMock() as api:
        api.add({"apiVersion": "v1", "kind": "Pod", ...})
        lab = KubeLab(api_client=api.api_client())
        ...
        assert api.requests[-1].path == "/api/v1/..."
"""
from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import select
import socket
import struct
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

import yaml

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@dataclass(frozen=True)
class ResourceDef:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


DEFAULT_RESOURCES = [
    ResourceDef("", "v1", "namespaces", "Namespace", False, ("ns",), ("status",)),
    ResourceDef("", "v1", "pods", "Pod", True, ("po",), ("exec", "log", "status")),
    ResourceDef("", "v1", "services", "Service", True, ("svc",), ("status",)),
    ResourceDef("", "v1", "serviceaccounts", "ServiceAccount", True, ("sa",)),
    ResourceDef("", "v1", "configmaps", "ConfigMap", True, ("cm",)),
    ResourceDef("", "v1", "secrets", "Secret", True),
    ResourceDef("", "v1", "nodes", "Node", False, ("no",), ("status",)),
    ResourceDef("apps", "v1", "deployments", "Deployment", True, ("deploy",), ("status", "scale")),
    ResourceDef("apps", "v1", "statefulsets", "StatefulSet", True, ("sts",)),
    ResourceDef("apps", "v1", "daemonsets", "DaemonSet", True, ("ds",)),
    ResourceDef("security.istio.io", "v1", "peerauthentications", "PeerAuthentication", True, ("pa",)),
    ResourceDef("security.istio.io", "v1", "authorizationpolicies", "AuthorizationPolicy", True, ("ap",)),
    ResourceDef("security.istio.io", "v1", "requestauthentications", "RequestAuthentication", True, ("ra",)),
    ResourceDef("networking.istio.io", "v1", "virtualservices", "VirtualService", True, ("vs",)),
    ResourceDef("networking.istio.io", "v1", "destinationrules", "DestinationRule", True, ("dr",)),
    ResourceDef("networking.istio.io", "v1", "gateways", "Gateway", True, ("gw",)),
    ResourceDef("networking.istio.io", "v1", "serviceentries", "ServiceEntry", True, ("se",)),
    ResourceDef("gateway.networking.k8s.io", "v1", "gateways", "Gateway", True, ("gtw",)),
    ResourceDef("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute", True),
    ResourceDef("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
                False, ("crd",)),
    ResourceDef("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations",
                "MutatingWebhookConfiguration", False),
    ResourceDef("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", False),
]

ISTIO_GROUPS = {"security.istio.io", "networking.istio.io"}


@dataclass
class Recorded:
    method: str
    path: str                 # path with the query string, as sent
    headers: dict[str, str]   # lower-case names
    body: bytes = b""
    json: Any = None

    @property
    def route(self) -> str:
        return self.path.split("?", 1)[0]

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.path).query, keep_blank_values=True)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def __repr__(self) -> str:
        return f"{self.method} {self.path}"


def _status(code: int, reason: str, message: str, details: dict | None = None) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "details": details or {}, "code": code}


def deep_merge(base: Any, patch: Any) -> Any:
    """JSON merge patch (RFC 7386): dicts merge, None deletes, everything else replaces."""
    if not isinstance(patch, dict) or not isinstance(base, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = deep_merge(out.get(key), value)
    return out


def _split_selector(text: str) -> list[str]:
    terms, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        terms.append(cur)
    return [t.strip() for t in terms if t.strip()]


def label_selector_matches(selector: str | None, labels: dict[str, str]) -> bool:
    if not selector:
        return True
    for term in _split_selector(selector):
        m = re.match(r"^([^\s!=]+)\s+(in|notin)\s+\((.*)\)$", term)
        if m:
            key, op, values = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
            if op == "in" and labels.get(key) not in values:
                return False
            if op == "notin" and key in labels and labels[key] in values:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term not in labels:
            return False
    return True


def ws_frame(payload: bytes, opcode: int = 0x2) -> bytes:
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    return head + payload


def exit_status(code: int, command: list[str]) -> dict:
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: error executing command "
                       f"{command}, exit code {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


ExecHandler = Callable[[str, str, str, list], "tuple[str, str, int | dict]"]


@dataclass
class KubeMock:
    resources: list[ResourceDef] = field(default_factory=lambda: list(DEFAULT_RESOURCES))
    git_version: str = "v1.29.2"
    exec_protocol: str = "v4.channel.k8s.io"
    exec_handler: ExecHandler | None = None
    strict_namespaces: bool = False
    requests: list[Recorded] = field(default_factory=list)
    logs: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.objects: dict[tuple[str, str, str | None, str], dict] = {}
        self._rv = 100
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.exec_calls: list[dict] = []
        self._clients: list = []

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "KubeMock":
        mock = self

        class Handler(_Handler):
            pass

        Handler.mock = mock
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name="kube-mock")
        self._thread.start()
        return self

    def stop(self) -> None:
        for api_client in self._clients:
            try:
                api_client.close()
            except Exception:  # noqa: BLE001
                pass
        self._clients.clear()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "KubeMock":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the mock first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def api_client(self):
        from kubernetes import client

        cfg = client.Configuration()
        cfg.host = self.url
        api_client = client.ApiClient(cfg)
        self._clients.append(api_client)  # closed by stop()
        return api_client

    # ------------------------------------------------------------------ state
    def resource(self, group: str, plural: str) -> ResourceDef | None:
        return next((r for r in self.resources if r.group == group and r.plural == plural), None)

    def resource_for(self, api_version: str, kind: str) -> ResourceDef:
        group = api_version.rpartition("/")[0]
        for r in self.resources:
            if r.group == group and r.kind == kind:
                return r
        raise KeyError(f"{kind} in {api_version} is not served by the mock")

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def add(self, obj: dict) -> dict:
        """Store an object as if it had been created (fills uid, resourceVersion)."""
        obj = copy.deepcopy(obj)
        r = self.resource_for(obj["apiVersion"], obj["kind"])
        meta = obj.setdefault("metadata", {})
        ns = meta.get("namespace", "default") if r.namespaced else None
        if r.namespaced:
            meta["namespace"] = ns
        with self._lock:
            self._stamp(obj, new=True)
            self.objects[(r.group, r.plural, ns, meta["name"])] = obj
        return obj

    def get(self, kind: str, name: str, namespace: str | None = None, group: str | None = None) -> dict | None:
        for (g, plural, ns, n), obj in self.objects.items():
            if obj.get("kind") == kind and n == name and ns == namespace and (group is None or g == group):
                return obj
        return None

    def names(self, kind: str) -> list[tuple[str | None, str]]:
        return sorted((ns, n) for (g, p, ns, n), o in self.objects.items() if o.get("kind") == kind)

    def _stamp(self, obj: dict, new: bool) -> None:
        meta = obj.setdefault("metadata", {})
        if new:
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", "2024-01-01T00:00:00Z")
            meta["generation"] = 1
        meta["resourceVersion"] = self._next_rv()

    def find_requests(self, method: str | None = None, route: str | None = None) -> list[Recorded]:
        return [r for r in self.requests
                if (method is None or r.method == method) and (route is None or r.route == route)]

    def writes(self) -> list[Recorded]:
        return [r for r in self.requests if r.method in ("POST", "PUT", "PATCH", "DELETE")]

    # ------------------------------------------------------------------ discovery
    def discovery(self, path: str) -> dict | None:
        path = path.rstrip("/") or "/"
        if path == "/version":
            major, minor = self.git_version.lstrip("v").split(".")[:2]
            return {"major": major, "minor": minor, "gitVersion": self.git_version,
                    "platform": "linux/amd64"}
        if path == "/api":
            return {"kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}
        if path == "/apis":
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [self._group(g) for g in self._groups()]}
        if path == "/api/v1":
            return self._resource_list("", "v1")
        parts = path.strip("/").split("/")
        if parts[0] == "apis" and len(parts) == 2 and parts[1] in self._groups():
            return {"kind": "APIGroup", "apiVersion": "v1", **self._group(parts[1])}
        if parts[0] == "apis" and len(parts) == 3 and any(
                r.group == parts[1] and r.version == parts[2] for r in self.resources):
            return self._resource_list(parts[1], parts[2])
        return None

    def _groups(self) -> list[str]:
        seen: dict[str, None] = {}
        for r in self.resources:
            if r.group:
                seen[r.group] = None
        return list(seen)

    def _group(self, group: str) -> dict:
        versions: dict[str, None] = {}
        for r in self.resources:
            if r.group == group:
                versions[r.version] = None
        vs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {"name": group, "versions": vs, "preferredVersion": vs[0]}

    def _resource_list(self, group: str, version: str) -> dict:
        out = []
        for r in self.resources:
            if r.group != group or r.version != version:
                continue
            out.append({"name": r.plural, "singularName": r.kind.lower(), "namespaced": r.namespaced,
                        "kind": r.kind, "shortNames": list(r.short_names),
                        "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]})
            for sub in r.subresources:
                out.append({"name": f"{r.plural}/{sub}", "singularName": "", "namespaced": r.namespaced,
                            "kind": "PodExecOptions" if sub == "exec" else r.kind, "verbs": ["get", "create"]})
        gv = f"{group}/{version}" if group else version
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out}

    # ------------------------------------------------------------------ resource routing
    def parse_path(self, path: str) -> tuple[ResourceDef, str | None, str | None, str | None] | None:
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif parts[0] == "apis" and len(parts) >= 4:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return None
        ns = None
        if len(rest) >= 3 and rest[0] == "namespaces" and self.resource(group, rest[2]) is not None:
            ns, rest = rest[1], rest[2:]
        if not rest:
            return None
        r = self.resource(group, rest[0])
        if r is None or r.version != version:
            return None
        name = rest[1] if len(rest) > 1 else None
        sub = "/".join(rest[2:]) or None
        return r, ns, name, sub

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
               body: bytes) -> tuple[int, Any, str]:
        """(status, payload, content type) for a plain (non-websocket) request."""
        if method == "GET":
            found = self.discovery(path)
            if found is not None:
                return 200, found, "application/json"
        parsed = self.parse_path(path)
        if parsed is None:
            return 404, _status(404, "NotFound", f"the server could not find the requested resource ({path})"), \
                "application/json"
        r, ns, name, sub = parsed
        q = {k: v[-1] for k, v in query.items()}
        with self._lock:
            if sub == "log" and method == "GET":
                return self._log(r, ns, name, q)
            if sub is not None:
                return 404, _status(404, "NotFound", f"subresource {sub} not served by the mock"), "application/json"
            if method == "GET" and name is None:
                items = [copy.deepcopy(o) for (g, p, ons, _), o in sorted(self.objects.items(), key=lambda kv: str(kv[0]))
                         if g == r.group and p == r.plural and (ns is None or ons == ns)
                         and label_selector_matches(q.get("labelSelector"),
                                                    (o.get("metadata") or {}).get("labels") or {})]
                for item in items:
                    item.pop("apiVersion", None)
                    item.pop("kind", None)
                return 200, {"kind": f"{r.kind}List", "apiVersion": r.group_version,
                             "metadata": {"resourceVersion": str(self._rv)}, "items": items}, "application/json"
            key = (r.group, r.plural, ns if r.namespaced else None, name)
            if method == "GET":
                obj = self.objects.get(key)
                if obj is None:
                    return 404, self._not_found(r, name), "application/json"
                return 200, obj, "application/json"
            if method == "DELETE":
                obj = self.objects.pop(key, None)
                if obj is None:
                    return 404, self._not_found(r, name), "application/json"
                return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                             "details": {"name": name, "group": r.group, "kind": r.plural, "uid": obj["metadata"]["uid"]}}, \
                    "application/json"
            if method == "POST" and name is None and r.kind == "SelfSubjectAccessReview":
                # `kubectl auth can-i`: the mock's user is a cluster admin
                return 201, {**json.loads(body or b"{}"), "status": {"allowed": True}}, "application/json"
            if method == "POST" and name is None:
                obj = json.loads(body or b"{}")
                oname = (obj.get("metadata") or {}).get("name")
                key = (r.group, r.plural, ns if r.namespaced else None, oname)
                if key in self.objects:
                    return 409, _status(409, "AlreadyExists", f'{r.plural} "{oname}" already exists'), "application/json"
                missing = self._missing_namespace(r, ns)
                if missing:
                    return 404, missing, "application/json"
                if r.namespaced:
                    obj.setdefault("metadata", {})["namespace"] = ns
                self._stamp(obj, new=True)
                self.objects[key] = obj
                return 201, obj, "application/json"
            if method == "PATCH" and name is not None:
                return self._patch(r, key, ns, name, q, headers.get("content-type", ""), body)
        return 405, _status(405, "MethodNotAllowed", f"{method} not allowed on {path}"), "application/json"

    def _not_found(self, r: ResourceDef, name: str | None) -> dict:
        return _status(404, "NotFound", f'{r.plural}.{r.group or "core"} "{name}" not found',
                       {"name": name, "group": r.group, "kind": r.plural})

    def _missing_namespace(self, r: ResourceDef, ns: str | None) -> dict | None:
        if self.strict_namespaces and r.namespaced and ("", "namespaces", None, ns) not in self.objects:
            return _status(404, "NotFound", f'namespaces "{ns}" not found', {"name": ns, "kind": "namespaces"})
        return None

    def _patch(self, r, key, ns, name, q, content_type, body) -> tuple[int, Any, str]:
        ctype = content_type.split(";")[0].strip()
        if ctype == "application/apply-patch+yaml":
            if not q.get("fieldManager"):
                return 400, _status(400, "BadRequest", "PATCH with apply requires fieldManager"), "application/json"
            patch = yaml.safe_load(body.decode("utf-8")) or {}
            meta = patch.get("metadata") or {}
            if meta.get("name") not in (None, name):
                return 400, _status(400, "BadRequest", "the name of the object does not match the URL"), \
                    "application/json"
            existing = self.objects.get(key)
            if existing is None:
                missing = self._missing_namespace(r, ns)
                if missing:
                    return 404, missing, "application/json"
                obj = copy.deepcopy(patch)
                obj.setdefault("metadata", {})["name"] = name
                if r.namespaced:
                    obj["metadata"]["namespace"] = ns
                self._stamp(obj, new=True)
                self.objects[key] = obj
                return 201, obj, "application/json"
            merged = deep_merge(existing, patch)
            return self._store_if_changed(key, existing, merged)
        if ctype in ("application/strategic-merge-patch+json", "application/merge-patch+json"):
            existing = self.objects.get(key)
            if existing is None:
                return 404, self._not_found(r, name), "application/json"
            merged = deep_merge(existing, json.loads(body or b"{}"))
            return self._store_if_changed(key, existing, merged)
        return 415, _status(415, "UnsupportedMediaType", f"the mock does not do {ctype}"), "application/json"

    def _store_if_changed(self, key, existing: dict, merged: dict) -> tuple[int, Any, str]:
        def comparable(o: dict) -> dict:
            o = copy.deepcopy(o)
            o.get("metadata", {}).pop("resourceVersion", None)
            return o

        if comparable(merged) == comparable(existing):
            return 200, existing, "application/json"
        if merged.get("spec") != existing.get("spec"):
            merged["metadata"]["generation"] = int(existing["metadata"].get("generation", 1)) + 1
        self._stamp(merged, new=False)
        self.objects[key] = merged
        return 200, merged, "application/json"

    def _log(self, r, ns, name, q) -> tuple[int, Any, str]:
        pod = self.objects.get(("", "pods", ns, name))
        if pod is None:
            return 404, self._not_found(r, name), "application/json"
        container = q.get("container") or pod["spec"]["containers"][0]["name"]
        names = [c["name"] for c in pod["spec"].get("containers", []) + pod["spec"].get("initContainers", [])]
        if container not in names:
            return 400, _status(400, "BadRequest",
                                f"container {container} is not valid for pod {name}"), "application/json"
        text = self.logs.get((ns, name, container), "")
        if q.get("tailLines"):
            text = "".join(text.splitlines(keepends=True)[-int(q["tailLines"]):])
        return 200, text, "text/plain"

    def run_exec(self, ns: str, pod: str, container: str, command: list[str]) -> tuple[str, str, dict]:
        self.exec_calls.append({"namespace": ns, "pod": pod, "container": container, "command": command})
        if self.exec_handler is None:
            return "", "", exit_status(0, command)
        out, err, code = self.exec_handler(ns, pod, container, command)
        status = code if isinstance(code, dict) else exit_status(int(code), command)
        return out, err, status


class _Handler(BaseHTTPRequestHandler):
    mock: KubeMock
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # headers and body go out in separate writes: without this, Nagle + delayed ACK cost 40 ms each
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args) -> None:  # quiet
        pass

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            data = json.loads(body) if body else None
        except ValueError:
            data = None
        split = urlsplit(self.path)
        self.mock.requests.append(Recorded(self.command, self.path, headers, body, data))
        query = parse_qs(split.query, keep_blank_values=True)
        if headers.get("upgrade", "").lower() == "websocket":
            self._websocket(split.path, query, headers)
            return
        status, payload, ctype = self.mock.handle(self.command, split.path, query, headers, body)
        raw = payload.encode("utf-8") if isinstance(payload, str) else json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def _plain(self, status: int, payload: dict) -> None:
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(raw)
        self.close_connection = True

    def _websocket(self, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> None:
        mock = self.mock
        parsed = mock.parse_path(path)
        if parsed is None or parsed[3] != "exec" or parsed[0].plural != "pods":
            self._plain(404, _status(404, "NotFound", "only pods/exec upgrades"))
            return
        _, ns, name, _ = parsed
        with mock._lock:
            pod = mock.objects.get(("", "pods", ns, name))
        if pod is None:
            self._plain(404, _status(404, "NotFound", f'pods "{name}" not found'))
            return
        command = query.get("command", [])
        container = (query.get("container") or [pod["spec"]["containers"][0]["name"]])[-1]
        # The API server accepts any container of the pod's spec (containers, initContainers, ephemeralContainers,
        # as Kubernetes' podutil.VisitContainers): native sidecars such as istio-proxy are init containers.
        spec = pod["spec"]
        if container not in [c["name"] for key in ("containers", "initContainers", "ephemeralContainers")
                             for c in spec.get(key) or []]:
            self._plain(400, _status(400, "BadRequest", f"container {container} is not valid for pod {name}"))
            return
        offered = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
        protocol = mock.exec_protocol if mock.exec_protocol in offered else (offered[0] if offered else "")
        accept = base64.b64encode(hashlib.sha1((headers["sec-websocket-key"] + WS_GUID).encode()).digest()).decode()
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        if protocol:
            self.send_header("Sec-WebSocket-Protocol", protocol)
        self.end_headers()
        self.wfile.flush()
        out, err, status = mock.run_exec(ns, name, container, command)
        sock: socket.socket = self.connection
        frames = [ws_frame(bytes([1])), ws_frame(bytes([2])), ws_frame(bytes([3]))]  # channel opens
        if out:
            frames.append(ws_frame(bytes([1]) + out.encode()))
        if err:
            frames.append(ws_frame(bytes([2]) + err.encode()))
        frames.append(ws_frame(bytes([3]) + json.dumps(status).encode()))
        frames.append(ws_frame(struct.pack("!H", 1000), opcode=0x8))
        try:
            sock.sendall(b"".join(frames))
        except OSError:  # the client gave up (exec timeout)
            self.close_connection = True
            return
        # wait (briefly) for the client's close frame, then hang up
        readable, _, _ = select.select([sock], [], [], 2.0)
        if readable:
            try:
                sock.recv(1024)
            except OSError:
                pass
        self.close_connection = True
