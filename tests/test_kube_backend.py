"""The kube backend against HTTP API mocks the real `kubernetes` client talks to (no cluster here).

* `tests/kube_mock.py`: a threaded mock API server (discovery, server-side apply, label selectors,
  logs, exec websocket) that records every request, so the EXACT requests are asserted;
* kmock (PyPI) for a read-only cross-check with a third-party mock;
* pure unit tests for namespace prefixing, image mapping, exec status parsing, pod views, doctor.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import stat
import sys
import threading
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))

from kube_mock import DEFAULT_RESOURCES, KubeMock, exit_status, label_selector_matches  # noqa: E402

from labkit.backends import kube as kube_mod  # noqa: E402
from labkit.backends.base import AppliedObject  # noqa: E402
from labkit.backends.kube import KubeLab, select_config  # noqa: E402
from labkit.backends.kube_exec import parse_exec_status  # noqa: E402
from labkit.backends.kube_images import map_image, parse_image_map, rewrite_images  # noqa: E402
from labkit.backends.kube_prefix import NamespaceMap, map_host, namespaces_in, normalize_prefix  # noqa: E402
from labkit.backends.progress import Progress  # noqa: E402
from labkit.backends.kube_views import default_container, pod_ready, pod_row, pod_status, rollout_state, \
    selector_string  # noqa: E402
from labkit.doctor_kube import format_report, kube_doctor  # noqa: E402
from labkit.errors import LabkitError  # noqa: E402

MANAGED = "app.kubernetes.io/managed-by"
APPLY_QUERY = "?fieldManager=labkit&force=true"

PA_STRICT = """
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: foo
spec:
  mtls:
    mode: STRICT
"""

NS_AND_DEPLOY = """
apiVersion: v1
kind: Namespace
metadata:
  name: foo
  labels:
    istio-injection: enabled
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: httpbin
  namespace: foo
spec:
  replicas: 1
  selector:
    matchLabels: {app: httpbin}
  template:
    metadata:
      labels: {app: httpbin}
    spec:
      containers:
      - name: httpbin
        image: docker.io/mccutchen/go-httpbin:v2.15.0
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("LABKIT_") or name == "KUBECONFIG":
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KUBECONFIG", "/nonexistent/labkit-test-kubeconfig")


@pytest.fixture
def api():
    with KubeMock() as mock:
        yield mock


@pytest.fixture
def lab(api):
    lab = KubeLab(api_client=api.api_client(), poll_interval=0.02)
    yield lab
    lab.close()


def make_pod(name, ns, *, ready=True, sidecar=True, native_sidecar=False, labels=None, phase="Running",
             restarts=0, waiting=None, ip="10.244.0.7"):
    containers = [{"name": "app", "image": "app:1"}]
    statuses = [{"name": "app", "ready": ready, "restartCount": restarts,
                 "state": {"waiting": {"reason": waiting}} if waiting else {"running": {}}}]
    init, init_statuses = [], []
    if sidecar and not native_sidecar:
        containers.append({"name": "istio-proxy", "image": "istio/proxyv2:1.22.1"})
        statuses.append({"name": "istio-proxy", "ready": True, "restartCount": 0, "state": {"running": {}}})
    if native_sidecar:
        init.append({"name": "istio-proxy", "image": "istio/proxyv2:1.22.1", "restartPolicy": "Always"})
        init_statuses.append({"name": "istio-proxy", "ready": True, "restartCount": 2, "state": {"running": {}}})
    spec = {"containers": containers}
    if init:
        spec["initContainers"] = init
    status = {"phase": phase, "podIP": ip, "containerStatuses": statuses,
              "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if init_statuses:
        status["initContainerStatuses"] = init_statuses
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels or {"app": name.rsplit("-", 1)[0]}},
            "spec": spec, "status": status}


def make_deploy(name, ns, *, ready=True, labels=None):
    labels = labels or {"app": name}
    n = 1 if ready else 0
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "generation": 1},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app"}]}}},
            "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": n,
                       "readyReplicas": n}}


# ================================================================== namespace prefixing (pure)

def test_normalize_prefix():
    assert normalize_prefix("alice") == "alice"
    assert normalize_prefix("alice-") == "alice"
    assert normalize_prefix("  ") is None
    assert normalize_prefix(None) is None
    for bad in ("Alice", "a_b", "-x-", "x" * 41, "a.b"):
        with pytest.raises(LabkitError):
            normalize_prefix(bad)


def test_ns_and_unns():
    m = NamespaceMap("alice")
    assert m.ns("foo") == "alice-foo"
    assert m.ns("alice-foo") == "alice-foo"          # idempotent
    assert m.ns("istio-system") == "istio-system"    # root namespace never prefixed
    assert m.ns("kube-system") == "kube-system"
    assert m.ns(None) is None
    assert m.ns("*") == "*"
    assert m.unns("alice-foo") == "foo"
    assert m.unns("bob-foo") == "bob-foo"
    assert m.unns("istio-system") == "istio-system"
    assert NamespaceMap(None).ns("foo") == "foo"
    assert not NamespaceMap("").enabled
    with pytest.raises(LabkitError, match="63"):
        m.ns("x" * 60)


def test_owns():
    m = NamespaceMap("alice")
    assert m.owns("alice-foo") and m.owns("istio-system")
    assert not m.owns("bob-foo") and not m.owns("foo")
    assert NamespaceMap(None).owns("anything")


def test_map_metadata_namespace_and_namespace_objects():
    m = NamespaceMap("alice")
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "httpbin", "namespace": "foo"}}
    assert m.map_object(dep)["metadata"] == {"name": "httpbin", "namespace": "alice-foo"}
    assert dep["metadata"]["namespace"] == "foo"  # input untouched
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "foo", "labels": {"istio-injection": "enabled"}}}
    assert m.map_object(ns)["metadata"]["name"] == "alice-foo"
    root = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-system"}}
    assert m.map_object(root)["metadata"]["name"] == "istio-system"
    pa = {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
          "metadata": {"name": "default", "namespace": "istio-system"}, "spec": {"mtls": {"mode": "STRICT"}}}
    assert m.map_object(pa) == pa


def test_map_authorization_policy():
    m = NamespaceMap("alice")
    ap = {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
          "metadata": {"name": "allow", "namespace": "foo"},
          "spec": {"rules": [
              {"from": [{"source": {"namespaces": ["foo", "istio-system"], "notNamespaces": ["legacy"]}},
                        {"source": {"principals": ["cluster.local/ns/bar/sa/sleep",
                                                   "cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account",
                                                   "*", "*/ns/foo/sa/*", "cluster.local/ns/*/sa/x"],
                                    "notPrincipals": ["example.org/ns/legacy/sa/default"]}}],
               "when": [{"key": "source.namespace", "values": ["foo"], "notValues": ["bar"]},
                        {"key": "source.principal", "values": ["cluster.local/ns/foo/sa/curl"]},
                        {"key": "request.headers[x]", "values": ["foo"]}]}]}}
    out = m.map_object(ap)
    rule = out["spec"]["rules"][0]
    assert rule["from"][0]["source"] == {"namespaces": ["alice-foo", "istio-system"], "notNamespaces": ["alice-legacy"]}
    assert rule["from"][1]["source"]["principals"] == [
        "cluster.local/ns/alice-bar/sa/sleep",
        "cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account",
        "*", "*/ns/alice-foo/sa/*", "cluster.local/ns/*/sa/x"]
    assert rule["from"][1]["source"]["notPrincipals"] == ["example.org/ns/alice-legacy/sa/default"]
    assert rule["when"][0] == {"key": "source.namespace", "values": ["alice-foo"], "notValues": ["alice-bar"]}
    assert rule["when"][1]["values"] == ["cluster.local/ns/alice-foo/sa/curl"]
    assert rule["when"][2]["values"] == ["foo"]  # not a namespace condition
    assert m.unmap_object(out) == ap


def test_map_virtual_service():
    m = NamespaceMap("alice")
    vs = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
          "metadata": {"name": "httpbin", "namespace": "foo"},
          "spec": {"hosts": ["httpbin.example.com", "httpbin.foo.svc.cluster.local"],
                   "gateways": ["foo/httpbin-gateway", "mesh", "httpbin-gateway", "istio-system/shared"],
                   "exportTo": [".", "bar"],
                   "http": [{"match": [{"gateways": ["foo/httpbin-gateway"], "sourceNamespace": "bar"}],
                             "route": [{"destination": {"host": "httpbin.foo.svc.cluster.local", "port": {"number": 8000}}},
                                       {"destination": {"host": "httpbin.foo"}},
                                       {"destination": {"host": "httpbin"}},
                                       {"destination": {"host": "example.com"}}],
                             "mirror": {"host": "mirror.bar.svc"},
                             "mirrors": [{"destination": {"host": "m2.bar.svc.cluster.local"}}]}],
                   "tcp": [{"route": [{"destination": {"host": "db.legacy.svc.cluster.local"}}]}]}}
    out = m.map_object(vs, known={"foo", "bar"})
    spec = out["spec"]
    assert spec["hosts"] == ["httpbin.example.com", "httpbin.alice-foo.svc.cluster.local"]
    assert spec["gateways"] == ["alice-foo/httpbin-gateway", "mesh", "httpbin-gateway", "istio-system/shared"]
    assert spec["exportTo"] == [".", "alice-bar"]
    http = spec["http"][0]
    assert http["match"][0] == {"gateways": ["alice-foo/httpbin-gateway"], "sourceNamespace": "alice-bar"}
    assert [r["destination"]["host"] for r in http["route"]] == [
        "httpbin.alice-foo.svc.cluster.local", "httpbin.alice-foo", "httpbin", "example.com"]
    assert http["mirror"]["host"] == "mirror.alice-bar.svc"
    assert http["mirrors"][0]["destination"]["host"] == "m2.alice-bar.svc.cluster.local"
    assert spec["tcp"][0]["route"][0]["destination"]["host"] == "db.alice-legacy.svc.cluster.local"
    assert m.unmap_object(out) == vs


def test_short_host_only_for_known_namespaces():
    m = NamespaceMap("alice")
    f = m.ns
    assert map_host("httpbin.foo", f, lambda ns: ns == "foo") == "httpbin.alice-foo"
    assert map_host("example.com", f, lambda ns: ns == "foo") == "example.com"
    assert map_host("*.foo.svc.cluster.local", f, lambda ns: False) == "*.alice-foo.svc.cluster.local"
    assert map_host("istiod.istio-system.svc", f, lambda ns: True) == "istiod.istio-system.svc"
    assert map_host("foo/httpbin", f, lambda ns: True) == "foo/httpbin"
    assert map_host(None, f, lambda ns: True) is None
    assert m.map_host("httpbin.foo", known=["foo"]) == "httpbin.alice-foo"


def test_map_gateway_and_sidecar_hosts():
    m = NamespaceMap("alice")
    gw = {"apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": {"name": "gw", "namespace": "foo"},
          "spec": {"selector": {"istio": "ingressgateway"},
                   "servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"},
                                "hosts": ["foo/httpbin.example.com", "*/x.example.com", "./y.example.com", "z.example.com"]},
                               {"port": {"number": 443, "name": "https", "protocol": "HTTPS"},
                                "tls": {"mode": "SIMPLE", "credentialName": "httpbin-credential"}}]}}
    out = m.map_object(gw)
    assert out["spec"]["servers"][0]["hosts"] == ["alice-foo/httpbin.example.com", "*/x.example.com",
                                                  "./y.example.com", "z.example.com"]
    assert "hosts" not in out["spec"]["servers"][1]
    assert out["spec"]["servers"][1]["tls"]["credentialName"] == "httpbin-credential"
    sc = {"apiVersion": "networking.istio.io/v1", "kind": "Sidecar", "metadata": {"name": "default", "namespace": "foo"},
          "spec": {"egress": [{"hosts": ["./*", "istio-system/*", "bar/*"]}]}}
    assert m.map_object(sc)["spec"]["egress"][0]["hosts"] == ["./*", "istio-system/*", "alice-bar/*"]


def test_map_hosts_everywhere_a_lab_names_a_service():
    # issue 15, defect 1: hosts beyond metadata.namespace that name a lab namespace.
    m = NamespaceMap("alice")
    known = ["foo", "bar", "backend"]
    se = {"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry", "metadata": {"name": "s", "namespace": "foo"},
          "spec": {"hosts": ["httpbin.bar.svc.cluster.local", "api.example.com"], "resolution": "DNS"}}
    assert m.map_object(se, known)["spec"]["hosts"] == ["httpbin.alice-bar.svc.cluster.local", "api.example.com"]
    ap = {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
          "metadata": {"name": "a", "namespace": "foo"},
          "spec": {"rules": [{"to": [{"operation": {"hosts": ["httpbin.foo:8000", "httpbin.example.com"],
                                                    "notHosts": ["httpbin.bar.svc.cluster.local"]}}]}]}}
    op = m.map_object(ap, known)["spec"]["rules"][0]["to"][0]["operation"]
    assert op == {"hosts": ["httpbin.alice-foo:8000", "httpbin.example.com"],
                  "notHosts": ["httpbin.alice-bar.svc.cluster.local"]}
    vs = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
          "metadata": {"name": "v", "namespace": "foo"},
          "spec": {"hosts": ["nginx.example.com"],
                   "gateways": ["istio-system/gw", "gw.foo.svc.cluster.local", "mesh"],
                   "tls": [{"match": [{"port": 443, "sniHosts": ["nginx.bar.svc.cluster.local", "nginx.example.com"]}],
                            "route": [{"destination": {"host": "nginx.bar"}}]}],
                   "http": [{"delegate": {"name": "reviews", "namespace": "bar"}}]}}
    out = m.map_object(vs, known)["spec"]
    assert out["gateways"] == ["istio-system/gw", "gw.alice-foo.svc.cluster.local", "mesh"]
    assert out["tls"][0]["match"][0]["sniHosts"] == ["nginx.alice-bar.svc.cluster.local", "nginx.example.com"]
    assert out["tls"][0]["route"][0]["destination"]["host"] == "nginx.alice-bar"
    assert out["http"][0]["delegate"] == {"name": "reviews", "namespace": "alice-bar"}
    gw = {"apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": {"name": "g", "namespace": "foo"},
          "spec": {"servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"},
                                "hosts": ["./httpbin.foo.svc.cluster.local", "bar/httpbin.bar.svc.cluster.local"]}]}}
    assert m.map_object(gw, known)["spec"]["servers"][0]["hosts"] == [
        "./httpbin.alice-foo.svc.cluster.local", "alice-bar/httpbin.alice-bar.svc.cluster.local"]
    web = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web-frontend", "namespace": "foo"},
           "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:1", "env": [
               {"name": "CUSTOMER_SERVICE_URL", "value": "http://customers.backend.svc.cluster.local"},
               {"name": "OTHER", "value": "http://customers.backend:80/api"},
               {"name": "PLAIN", "value": "customers.backend"},
               {"name": "EXTERNAL", "value": "https://example.com/x"}]}]}}}}
    mapped = m.map_object(web, known)
    env = {e["name"]: e["value"] for e in mapped["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env == {"CUSTOMER_SERVICE_URL": "http://customers.alice-backend.svc.cluster.local",
                   "OTHER": "http://customers.alice-backend:80/api", "PLAIN": "customers.backend",
                   "EXTERNAL": "https://example.com/x"}
    assert m.unmap_object(mapped) == web


def test_map_destination_rule():
    m = NamespaceMap("alice")
    dr = {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
          "metadata": {"name": "httpbin", "namespace": "foo"},
          "spec": {"host": "httpbin.foo.svc.cluster.local", "exportTo": ["*"],
                   "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL",
                                             "subjectAltNames": ["spiffe://cluster.local/ns/foo/sa/httpbin"]}},
                   "subsets": [{"name": "v1", "labels": {"version": "v1"},
                                "trafficPolicy": {"tls": {"mode": "DISABLE"}}}]}}
    out = m.map_object(dr)
    assert out["spec"]["host"] == "httpbin.alice-foo.svc.cluster.local"
    assert out["spec"]["exportTo"] == ["*"]
    assert out["spec"]["trafficPolicy"]["tls"]["subjectAltNames"] == ["spiffe://cluster.local/ns/alice-foo/sa/httpbin"]
    short = dict(dr, spec={"host": "httpbin.foo"})
    assert m.map_object(short, known=["foo"])["spec"]["host"] == "httpbin.alice-foo"
    assert m.map_object(short)["spec"]["host"] == "httpbin.foo"  # unknown: could be a DNS name
    assert m.unmap_object(out) == dr


def test_map_gateway_api_rbac_and_external_name():
    m = NamespaceMap("alice")
    route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
             "metadata": {"name": "r", "namespace": "foo"},
             "spec": {"parentRefs": [{"name": "gw", "namespace": "istio-ingress"}, {"name": "mesh-gw"}],
                      "rules": [{"backendRefs": [{"name": "httpbin", "namespace": "bar", "port": 8000}]}]}}
    out = m.map_object(route)
    assert out["spec"]["parentRefs"] == [{"name": "gw", "namespace": "alice-istio-ingress"}, {"name": "mesh-gw"}]
    assert out["spec"]["rules"][0]["backendRefs"][0]["namespace"] == "alice-bar"
    rb = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
          "metadata": {"name": "rb", "namespace": "foo"},
          "subjects": [{"kind": "ServiceAccount", "name": "sleep", "namespace": "bar"},
                       {"kind": "User", "name": "bob"}]}
    assert m.map_object(rb)["subjects"][0]["namespace"] == "alice-bar"
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "alias", "namespace": "foo"},
           "spec": {"type": "ExternalName", "externalName": "httpbin.bar.svc.cluster.local"}}
    assert m.map_object(svc)["spec"]["externalName"] == "httpbin.alice-bar.svc.cluster.local"


def test_no_prefix_is_identity_and_namespaces_in():
    m = NamespaceMap(None)
    obj = {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
           "metadata": {"name": "x", "namespace": "foo"},
           "spec": {"rules": [{"from": [{"source": {"namespaces": ["bar"]}}]}]}}
    out = m.map_object(obj)
    assert out == obj and out is not obj
    assert namespaces_in([obj, {"kind": "Namespace", "metadata": {"name": "legacy"}}, {"kind": "X"}]) == {"foo", "legacy"}


# ================================================================== image map (pure)

def test_parse_image_map():
    assert parse_image_map('{"a:1": "r/a:1"}') == {"a:1": "r/a:1"}
    assert parse_image_map("a:1=r/a:1, docker.io/=registry.local:5000/") == {
        "a:1": "r/a:1", "docker.io/": "registry.local:5000/"}
    assert parse_image_map(None) == {} and parse_image_map("  ") == {}
    for bad in ("{not json", "a:1", "=x", '["a"]'):
        with pytest.raises(LabkitError):
            parse_image_map(bad)


def test_map_image_rules():
    mapping = {"curlimages/curl:8.5.0": "reg.local/curl:8.5.0",
               "docker.io/mccutchen/go-httpbin": "reg.local/httpbin",
               "docker.io/": "mirror.local/dockerhub/"}
    assert map_image("curlimages/curl:8.5.0", mapping) == "reg.local/curl:8.5.0"
    assert map_image("docker.io/curlimages/curl:8.5.0", mapping) == "reg.local/curl:8.5.0"
    assert map_image("mccutchen/go-httpbin:v2.15.0", mapping) == "reg.local/httpbin:v2.15.0"
    assert map_image("nginx:1.25", mapping) == "mirror.local/dockerhub/library/nginx:1.25"
    assert map_image("quay.io/x/y:1", mapping) == "quay.io/x/y:1"
    assert map_image("anything", {}) == "anything"


def test_rewrite_images_in_workloads():
    mapping = {"busybox": "reg.local/busybox"}
    dep = yaml.safe_load(NS_AND_DEPLOY.split("---")[1])
    dep["spec"]["template"]["spec"]["initContainers"] = [{"name": "init", "image": "busybox:1.36"}]
    out = rewrite_images(dep, mapping)
    assert out["spec"]["template"]["spec"]["initContainers"][0]["image"] == "reg.local/busybox:1.36"
    assert dep["spec"]["template"]["spec"]["initContainers"][0]["image"] == "busybox:1.36"
    cron = {"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": {
        "containers": [{"name": "c", "image": "busybox"}]}}}}}}
    assert rewrite_images(cron, mapping)["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0][
        "image"] == "reg.local/busybox"
    cm = {"kind": "ConfigMap", "data": {"image": "busybox"}}
    assert rewrite_images(cm, mapping) == cm


# ================================================================== exec status, pod views (pure)

def test_parse_exec_status_exit_code():
    status = ('{"status":"Failure","reason":"NonZeroExitCode",'
              '"details":{"causes":[{"reason":"ExitCode","message":"56"}]}}')
    assert parse_exec_status(status)[0] == 56
    assert parse_exec_status(json.loads(status))[0] == 56
    assert parse_exec_status('{"metadata":{},"status":"Success"}') == (0, "")
    assert parse_exec_status({"status": "Failure", "message": "command terminated with exit code 7"})[0] == 7
    code, msg = parse_exec_status({"status": "Failure", "reason": "InternalError", "message":
                                   'exec: "curl": executable file not found in $PATH: unknown'})
    assert code == 127 and "curl" in msg
    assert parse_exec_status({"status": "Failure", "message": "permission denied"})[0] == 126
    assert parse_exec_status("")[0] == 255
    assert parse_exec_status("status: Failure\ndetails:\n  causes:\n  - reason: ExitCode\n    message: '3'\n")[0] == 3
    assert parse_exec_status(json.dumps(exit_status(28, ["curl"])))[0] == 28


def test_pod_views():
    two = make_pod("httpbin-1", "foo")
    one = make_pod("sleep-1", "legacy", sidecar=False, restarts=3)
    native = make_pod("curl-1", "foo", native_sidecar=True)
    assert pod_row(two) == {"namespace": "foo", "pod": "httpbin-1", "ready": "2/2", "sidecar": True,
                            "status": "Running", "restarts": 0, "ip": "10.244.0.7"}
    assert pod_row(one)["ready"] == "1/1" and pod_row(one)["sidecar"] is False and pod_row(one)["restarts"] == 3
    assert pod_row(native)["ready"] == "2/2" and pod_row(native)["sidecar"] is True
    assert pod_row(native)["restarts"] == 2
    crash = make_pod("bad-1", "foo", ready=False, waiting="CrashLoopBackOff")
    assert pod_status(crash) == "CrashLoopBackOff" and not pod_ready(crash)
    assert pod_row(crash)["ready"] == "1/2"
    gone = make_pod("old-1", "foo")
    gone["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    assert pod_status(gone) == "Terminating" and not pod_ready(gone)
    init = make_pod("init-1", "foo", ready=False, phase="Pending")
    init["spec"]["initContainers"] = [{"name": "istio-init"}]
    init["status"]["initContainerStatuses"] = [{"name": "istio-init", "state": {"waiting": {"reason": "PodInitializing"}}}]
    assert pod_status(init) == "Init:0/1"
    assert default_container(two) == "app"
    assert default_container({"spec": {"containers": [{"name": "istio-proxy"}, {"name": "web"}]}}) == "web"


def test_rollout_state_and_selectors():
    assert rollout_state(make_deploy("a", "foo"))[0]
    assert not rollout_state(make_deploy("a", "foo", ready=False))[0]
    stale = make_deploy("a", "foo")
    stale["metadata"]["generation"] = 2
    assert "controller" in rollout_state(stale)[1]
    sel = {"matchLabels": {"app": "x", "version": "v1"},
           "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]},
                                {"key": "canary", "operator": "DoesNotExist"}]}
    text = selector_string(sel)
    assert text == "app=x,version=v1,tier in (a,b),!canary"
    assert label_selector_matches(text, {"app": "x", "version": "v1", "tier": "b"})
    assert not label_selector_matches(text, {"app": "x", "version": "v1", "tier": "b", "canary": "1"})


def test_select_config_from_dump():
    dump = {"configs": [
        {"@type": "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump", "bootstrap": {"node": {"id": "x"}}},
        {"@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
         "static_clusters": [{"cluster": {"name": "prometheus_stats"}}],
         "dynamic_active_clusters": [{"cluster": {"name": "outbound|8000||httpbin.foo.svc.cluster.local"}}]},
        {"@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
         "dynamic_listeners": [{"name": "virtualInbound", "active_state": {"listener": {"name": "virtualInbound"}}}]},
    ]}
    assert [c["name"] for c in select_config(dump, "cluster")] == [
        "prometheus_stats", "outbound|8000||httpbin.foo.svc.cluster.local"]
    assert select_config(dump, "listener") == [{"name": "virtualInbound"}]
    assert select_config(dump, "bootstrap") == {"node": {"id": "x"}}
    assert select_config(dump, "route") == []
    assert select_config(dump, "all") is dump


def test_progress_widget_updates_in_place(capsys):
    bar = Progress("waiting for pods", widget=True)
    assert bar.widget is not None
    bar.update(1, 3, "x")
    bar.update(2, 3, "y")
    assert (bar.widget.value, bar.widget.max) == (2, 3)
    bar.close(True)
    assert bar.widget.bar_style == "success"
    text = Progress("waiting", widget=False, stream=sys.stdout)
    text.update(0, 2, "a")
    text.update(0, 2, "b")   # only the text changed: quiet
    text.update(2, 2, "")
    assert capsys.readouterr().out.count("waiting:") == 2


# ================================================================== apply / delete / get over HTTP

def test_apply_peer_authentication_is_server_side_apply(api, lab):
    result = lab.apply(PA_STRICT)
    assert result == [AppliedObject("PeerAuthentication", "default", "foo", "created")]
    patches = api.find_requests("PATCH")
    assert len(patches) == 1
    req = patches[0]
    assert req.path == "/apis/security.istio.io/v1/namespaces/foo/peerauthentications/default" + APPLY_QUERY
    assert req.content_type == "application/apply-patch+yaml"
    body = yaml.safe_load(req.body)
    assert body["metadata"]["labels"][MANAGED] == "labkit"
    assert body["metadata"]["labels"]["labkit.dev/created"] == "true"
    assert body["spec"] == {"mtls": {"mode": "STRICT"}}
    assert body["apiVersion"] == "security.istio.io/v1" and body["kind"] == "PeerAuthentication"
    # the resourceVersion judged before/after: same config again is unchanged, a change is configured
    assert lab.apply(PA_STRICT)[0].action == "unchanged"
    assert lab.apply(PA_STRICT.replace("STRICT", "PERMISSIVE"))[0].action == "configured"
    assert api.get("PeerAuthentication", "default", "foo")["spec"]["mtls"]["mode"] == "PERMISSIVE"
    assert len(api.find_requests("POST")) == 0  # never create/replace, only apply


def test_apply_namespace_and_deployment(api, lab):
    result = lab.apply(NS_AND_DEPLOY)
    assert [str(r) for r in result] == ["namespace/foo created", "deployment/foo/httpbin created"]
    routes = [r.path for r in api.find_requests("PATCH")]
    assert routes == ["/api/v1/namespaces/foo" + APPLY_QUERY,
                      "/apis/apps/v1/namespaces/foo/deployments/httpbin" + APPLY_QUERY]
    ns_body = yaml.safe_load(api.find_requests("PATCH")[0].body)
    assert ns_body["metadata"]["labels"] == {"istio-injection": "enabled", MANAGED: "labkit",
                                             "labkit.dev/created": "true"}
    for req in api.find_requests("PATCH"):
        assert req.content_type == "application/apply-patch+yaml"
    assert [r.action for r in lab.apply(NS_AND_DEPLOY)] == ["unchanged", "unchanged"]


def test_apply_order_defaults_and_validation(api, lab):
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "httpbin"},
           "spec": {"ports": [{"port": 8000}]}}
    assert lab.apply(svc)[0].namespace == "default"
    assert lab.apply([svc], namespace="bar")[0].namespace == "bar"
    with pytest.raises(LabkitError, match="does not match"):
        lab.apply({**svc, "metadata": {"name": "x", "namespace": "foo"}}, namespace="bar")
    with pytest.raises(LabkitError, match="metadata.name"):
        lab.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "x-"}})
    with pytest.raises(LabkitError, match="apiVersion"):
        lab.apply({"kind": "ConfigMap", "metadata": {"name": "x"}})
    with pytest.raises(LabkitError) as err:
        lab.apply({"apiVersion": "telemetry.istio.io/v1", "kind": "Telemetry", "metadata": {"name": "x"}})
    assert "Istio" in (err.value.hint or "")
    # Namespace documents are applied first, whatever their position
    docs = list(reversed(list(yaml.safe_load_all(NS_AND_DEPLOY.replace("foo", "later")))))
    assert [r.kind for r in lab.apply(docs)] == ["Namespace", "Deployment"]


def test_apply_image_map_from_env(api, monkeypatch):
    monkeypatch.setenv("LABKIT_IMAGE_MAP", "docker.io/mccutchen/go-httpbin=registry.local:5000/httpbin")
    lab = KubeLab(api_client=api.api_client())
    lab.apply(NS_AND_DEPLOY)
    body = yaml.safe_load(api.find_requests("PATCH")[-1].body)
    assert body["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.local:5000/httpbin:v2.15.0"


def test_get_and_delete(api, lab):
    lab.apply(NS_AND_DEPLOY + "---\n" + PA_STRICT)
    got = lab.get("PeerAuthentication", namespace="foo")
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in got] == [("foo", "default")]
    assert got[0]["kind"] == "PeerAuthentication"
    assert lab.get("peerauthentications", "default", "foo")[0]["spec"]["mtls"]["mode"] == "STRICT"
    assert lab.get("pa", "nope", "foo") == []
    assert lab.get("Gateway") == []  # served by two groups: Istio's wins
    assert len(lab.get("Namespace", "foo")) == 1
    with pytest.raises(LabkitError, match="serves no kind"):
        lab.get("Frobnicator")

    api.requests.clear()
    assert lab.delete("PeerAuthentication", "default", namespace="foo") == [
        AppliedObject("PeerAuthentication", "default", "foo", "deleted")]
    assert [r.path for r in api.find_requests("DELETE")] == [
        "/apis/security.istio.io/v1/namespaces/foo/peerauthentications/default"]
    with pytest.raises(LabkitError, match="not found"):
        lab.delete("PeerAuthentication", "default", namespace="foo")
    assert lab.delete(PA_STRICT, ignore_missing=True) == []
    with pytest.raises(LabkitError, match="needs a name"):
        lab.delete("PeerAuthentication")
    deleted = lab.delete(NS_AND_DEPLOY)
    assert [str(d) for d in deleted] == ["deployment/foo/httpbin deleted", "namespace/foo deleted"]


def test_restart_is_the_rollout_restart_patch(api, lab):
    api.add(make_deploy("httpbin", "foo"))
    api.requests.clear()
    lab.restart("foo", "deployment/httpbin")
    lab.restart("foo", "httpbin")
    reqs = api.find_requests("PATCH")
    assert [r.route for r in reqs] == ["/apis/apps/v1/namespaces/foo/deployments/httpbin"] * 2
    assert reqs[0].content_type == "application/strategic-merge-patch+json"
    assert reqs[0].query["fieldManager"] == ["labkit"]
    body = reqs[0].json
    stamp = body["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp)
    assert body == {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}}}
    assert api.get("Deployment", "httpbin", "foo")["metadata"]["generation"] == 2
    with pytest.raises(LabkitError, match="only deployments"):
        lab.restart("foo", "pod/httpbin-1")
    with pytest.raises(LabkitError):
        lab.restart("foo", "nope")


def test_label_namespace(api, lab):
    lab.apply(NS_AND_DEPLOY)
    lab.label_namespace("foo", {"istio-injection": None, "istio.io/rev": "canary"})
    req = api.find_requests("PATCH")[-1]
    assert req.route == "/api/v1/namespaces/foo" and req.content_type == "application/merge-patch+json"
    labels = api.get("Namespace", "foo")["metadata"]["labels"]
    assert "istio-injection" not in labels and labels["istio.io/rev"] == "canary"
    with pytest.raises(LabkitError, match="not found"):
        lab.label_namespace("nope", {"a": "b"})


# ================================================================== down(): label-scoped clean-up

def test_down_deletes_only_what_labkit_created(api, lab):
    # objects that are not labkit's
    api.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    api.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})
    api.add({"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
             "metadata": {"name": "keep", "namespace": "other"}, "spec": {}})
    api.add({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "foreign", "namespace": "other", "labels": {MANAGED: "helm"}}})
    # labkit's
    lab.apply(NS_AND_DEPLOY + "---\n" + PA_STRICT)
    # a pre-existing object labkit only changed: labelled, not created
    lab.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default", "labels": {"lab": "x"}}})
    assert "labkit.dev/created" not in api.get("Namespace", "default")["metadata"]["labels"]
    api.requests.clear()

    lab.down()

    lists = [r for r in api.find_requests("GET") if "labelSelector" in r.query]
    assert lists, "clean-up must find objects by label"
    for req in lists:
        assert req.query["labelSelector"][0].startswith(f"{MANAGED}=labkit,")
    deletes = sorted(r.path for r in api.find_requests("DELETE"))
    assert deletes == ["/api/v1/namespaces/foo",
                       "/apis/apps/v1/namespaces/foo/deployments/httpbin",
                       "/apis/security.istio.io/v1/namespaces/foo/peerauthentications/default"]
    assert api.names("Namespace") == [(None, "default"), (None, "other")]
    assert api.get("PeerAuthentication", "keep", "other") is not None
    assert api.get("ConfigMap", "foreign", "other") is not None
    # the pre-existing namespace got labkit's fields released (an empty apply), not deleted, then what labkit
    # overwrote put back (the label `lab` was absent) and labkit's marks removed (issue 15, defect 8)
    released = [r for r in api.find_requests("PATCH") if r.route == "/api/v1/namespaces/default"]
    assert len(released) == 2 and yaml.safe_load(released[0].body) == {
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}
    assert released[1].content_type == "application/merge-patch+json"
    assert json.loads(released[1].body) == {"metadata": {
        "labels": {"lab": None, MANAGED: None, "labkit.dev/created": None, "labkit.dev/owner": None},
        "annotations": {"labkit.dev/restore": None}}}
    assert {(o.kind, o.name, o.action) for o in lab.cleaned} == {
        ("Deployment", "httpbin", "deleted"), ("PeerAuthentication", "default", "deleted"),
        ("Namespace", "foo", "deleted"), ("Namespace", "default", "released")}
    api.requests.clear()
    lab.down(keep=True)
    assert api.requests == []


def test_reset_waits_and_reapplies(api, lab):
    lab.apply(NS_AND_DEPLOY)
    lab.reset(PA_STRICT.replace("namespace: foo", "namespace: default"))
    assert api.get("Deployment", "httpbin", "foo") is None
    assert api.get("PeerAuthentication", "default", "default") is not None


# ================================================================== workshops: namespace prefix

def test_workshop_prefix_maps_requests(api):
    lab = KubeLab(api_client=api.api_client(), namespace_prefix="alice")
    ap = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-sleep, namespace: foo}
spec:
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/bar/sa/sleep"]
        namespaces: ["bar"]
"""
    result = lab.apply(ap)
    assert result == [AppliedObject("AuthorizationPolicy", "allow-sleep", "foo", "created")]
    patches = api.find_requests("PATCH")
    # the learner's namespace is created first (labelled), then the object goes into it
    assert [r.path for r in patches] == [
        "/api/v1/namespaces/alice-foo" + APPLY_QUERY,
        "/apis/security.istio.io/v1/namespaces/alice-foo/authorizationpolicies/allow-sleep" + APPLY_QUERY]
    ns_labels = yaml.safe_load(patches[0].body)["metadata"]["labels"]
    assert ns_labels == {MANAGED: "labkit", "labkit.dev/created": "true", "labkit.dev/owner": "alice"}
    body = yaml.safe_load(patches[1].body)
    source = body["spec"]["rules"][0]["from"][0]["source"]
    assert source == {"principals": ["cluster.local/ns/alice-bar/sa/sleep"], "namespaces": ["alice-bar"]}
    assert body["metadata"]["labels"]["labkit.dev/owner"] == "alice"
    # reads show the lab's names
    got = lab.get("AuthorizationPolicy", namespace="foo")
    assert got[0]["metadata"]["namespace"] == "foo"
    assert got[0]["spec"]["rules"][0]["from"][0]["source"]["namespaces"] == ["bar"]
    assert [o["metadata"]["name"] for o in lab.get("Namespace")] == ["foo"]


def test_workshop_refuses_mesh_wide_writes(api, monkeypatch):
    lab = KubeLab(api_client=api.api_client(), namespace_prefix="alice")
    mesh_wide = PA_STRICT.replace("namespace: foo", "namespace: istio-system")
    with pytest.raises(LabkitError) as err:
        lab.apply(mesh_wide)
    assert err.value.namespace == "istio-system"
    assert "instructor" in err.value.hint and "allow_mesh_wide" in err.value.hint
    with pytest.raises(LabkitError, match="cluster-wide"):
        lab.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-system"}})
    with pytest.raises(LabkitError):
        lab.delete("PeerAuthentication", "default", namespace="istio-system")
    assert api.writes() == []
    allowed = KubeLab(api_client=api.api_client(), namespace_prefix="alice", allow_mesh_wide=True)
    assert allowed.apply(mesh_wide)[0].namespace == "istio-system"
    monkeypatch.setenv("LABKIT_ALLOW_MESH_WIDE", "1")
    monkeypatch.setenv("LABKIT_NAMESPACE_PREFIX", "carol")
    from_env = KubeLab(api_client=api.api_client())
    assert from_env.namespace_prefix == "carol" and from_env.allow_mesh_wide
    assert from_env.namespace("foo") == "carol-foo"


def test_workshop_down_only_touches_own_objects(api):
    alice = KubeLab(api_client=api.api_client(), namespace_prefix="alice")
    bob = KubeLab(api_client=api.api_client(), namespace_prefix="bob")
    solo = KubeLab(api_client=api.api_client())
    for lab in (alice, bob, solo):
        lab.apply(NS_AND_DEPLOY)
    assert api.names("Namespace") == [(None, "alice-foo"), (None, "bob-foo"), (None, "foo")]
    alice.down()
    assert api.names("Namespace") == [(None, "bob-foo"), (None, "foo")]
    assert api.names("Deployment") == [("bob-foo", "httpbin"), ("foo", "httpbin")]
    solo.down()
    assert api.names("Namespace") == [(None, "bob-foo")]


def test_workshop_pod_calls_map_namespaces(api):
    api.exec_handler = lambda ns, pod, c, cmd: ("ok", "", 0)
    api.add(make_pod("httpbin-1", "alice-foo", labels={"app": "httpbin"}))
    api.add(make_pod("httpbin-1", "bob-foo", labels={"app": "httpbin"}))
    api.add(make_deploy("httpbin", "alice-foo"))
    lab = KubeLab(api_client=api.api_client(), namespace_prefix="alice")
    frame = lab.pods()
    assert frame[["namespace", "pod"]].values.tolist() == [["foo", "httpbin-1"]]
    assert lab.exec("foo", "httpbin", ["true"]).ok
    assert api.exec_calls[-1]["namespace"] == "alice-foo"
    api.logs[("alice-foo", "httpbin-1", "app")] = "hello\n"
    assert lab.logs("foo", "httpbin-1") == "hello\n"
    lab.restart("foo", "httpbin")
    assert api.find_requests("PATCH")[-1].route == "/apis/apps/v1/namespaces/alice-foo/deployments/httpbin"


# ================================================================== pods, wait_ready, exec, logs

def test_pods_dataframe(api, lab):
    api.add(make_pod("httpbin-1", "foo"))
    api.add(make_pod("sleep-1", "legacy", sidecar=False))
    frame = lab.pods()
    assert list(frame.columns) == ["namespace", "pod", "ready", "sidecar", "status", "restarts", "ip"]
    assert frame.to_dict("records") == [
        {"namespace": "foo", "pod": "httpbin-1", "ready": "2/2", "sidecar": True, "status": "Running",
         "restarts": 0, "ip": "10.244.0.7"},
        {"namespace": "legacy", "pod": "sleep-1", "ready": "1/1", "sidecar": False, "status": "Running",
         "restarts": 0, "ip": "10.244.0.7"}]
    assert lab.pods("legacy")["pod"].tolist() == ["sleep-1"]
    assert api.find_requests("GET")[-1].route == "/api/v1/namespaces/legacy/pods"
    assert lab.pods("empty").empty


def test_wait_ready(api, lab):
    api.add(make_pod("httpbin-1", "foo"))
    api.add(make_deploy("httpbin", "foo"))
    lab.wait_ready("foo", timeout=2)
    api.add(make_pod("sleep-1", "legacy", ready=False, waiting="ImagePullBackOff"))
    with pytest.raises(LabkitError) as err:
        lab.wait_ready("legacy", timeout=0.2)
    assert "legacy/sleep-1 1/2 ImagePullBackOff" in err.value.message
    assert "LABKIT_IMAGE_MAP" in err.value.hint
    api.add(make_deploy("web", "pending", ready=False))
    with pytest.raises(LabkitError, match="deployment web"):
        lab.wait_ready("pending", timeout=0.1)

    def become_ready():
        import time
        time.sleep(0.15)
        api.add(make_pod("sleep-1", "legacy"))
    thread = threading.Thread(target=become_ready)
    thread.start()
    lab.wait_ready("legacy", timeout=3)
    thread.join()


def test_exec_over_websocket(api, lab):
    def handler(ns, pod, container, command):
        if command[0] == "curl":
            return "partial body\n", "curl: (56) Recv failure: Connection reset by peer\n", 56
        return "x" * 70000, "", 0   # bigger than one websocket frame length field
    api.exec_handler = handler
    api.add(make_pod("httpbin-7d8f", "foo", labels={"app": "httpbin"}))
    api.add(make_deploy("httpbin", "foo"))
    result = lab.exec("foo", "httpbin", ["curl", "-s", "http://httpbin.foo:8000/ip"])
    assert result.exit_code == 56 and not result.ok
    assert result.stdout == "partial body\n"
    assert result.stderr == "curl: (56) Recv failure: Connection reset by peer\n"
    assert result.command == ["curl", "-s", "http://httpbin.foo:8000/ip"]
    ws = [r for r in api.requests if r.headers.get("upgrade", "").lower() == "websocket"][0]
    assert ws.route == "/api/v1/namespaces/foo/pods/httpbin-7d8f/exec"
    assert ws.query["command"] == ["curl", "-s", "http://httpbin.foo:8000/ip"]
    assert ws.query["container"] == ["app"]  # the first container that is not istio-proxy
    assert [ws.query[k][0].lower() for k in ("stdout", "stderr", "stdin", "tty")] == ["true", "true", "false", "false"]
    big = lab.exec("foo", "httpbin-7d8f", ["cat", "big"], container="istio-proxy")
    assert big.ok and len(big.stdout) == 70000
    assert api.exec_calls[-1]["container"] == "istio-proxy"
    with pytest.raises(LabkitError, match="no pod or deployment"):
        lab.exec("foo", "nope", ["true"])
    with pytest.raises(LabkitError, match="must be a list"):
        lab.exec("foo", "httpbin", "curl x")
    with pytest.raises(LabkitError, match="exec failed"):
        lab.exec("foo", "httpbin", ["true"], container="missing")


def test_exec_and_logs_reach_a_native_sidecar(api, lab):
    # Istio 1.28+ on kubelet >= 1.33 injects istio-proxy as an init container with restartPolicy Always.
    api.exec_handler = lambda ns, pod, c, cmd: ("{}", "", 0)
    api.add(make_pod("httpbin-7d8f", "foo", native_sidecar=True, labels={"app": "httpbin"}))
    api.logs[("foo", "httpbin-7d8f", "istio-proxy")] = "proxy log\n"
    assert lab.exec("foo", "httpbin-7d8f", ["pilot-agent", "request", "GET", "config_dump"],
                    container="istio-proxy").ok
    assert api.exec_calls[-1]["container"] == "istio-proxy"
    assert lab.logs("foo", "httpbin-7d8f", container="istio-proxy") == "proxy log\n"
    assert lab.pods("foo")["sidecar"].tolist() == [True]


def test_delete_by_yaml_honours_the_namespace(api, lab):
    # `%%delete -n foo` / `kubectl delete -f FILE -n foo`: documents without a namespace are deleted from foo.
    lab.apply(PA_STRICT)
    api.requests.clear()
    no_ns = PA_STRICT.replace("  namespace: foo\n", "")
    assert lab.delete(no_ns, namespace="foo") == [AppliedObject("PeerAuthentication", "default", "foo", "deleted")]
    assert [r.path for r in api.find_requests("DELETE")] == [
        "/apis/security.istio.io/v1/namespaces/foo/peerauthentications/default"]


def test_an_istio_older_than_1_22_is_named_as_such():
    # Istio 1.21 serves networking.istio.io and security.istio.io as v1beta1 only: the labs' v1 cannot apply.
    old_istio = [dataclasses.replace(r, version="v1beta1") if r.group.endswith("istio.io") else r
                 for r in DEFAULT_RESOURCES]
    with KubeMock(resources=old_istio) as mock:
        lab = KubeLab(api_client=mock.api_client())
        with pytest.raises(LabkitError) as err:
            lab.apply(PA_STRICT)
        lab.close()
    assert "security.istio.io only as security.istio.io/v1beta1" in str(err.value)
    assert "older than 1.22" in str(err.value) and "Istio 1.22 or later" in err.value.hint
    no_istio = [r for r in DEFAULT_RESOURCES if not r.group.endswith("istio.io")]
    with KubeMock(resources=no_istio) as mock:
        lab = KubeLab(api_client=mock.api_client())
        with pytest.raises(LabkitError) as err:
            lab.apply(PA_STRICT)
        lab.close()
    assert "Istio's CRDs are missing" in err.value.hint


VS_TO_BAR = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: to-bar
  namespace: foo
spec:
  hosts: [httpbin.bar]
  http:
  - route:
    - destination: {host: httpbin.bar}
"""


def test_workshop_short_hosts_survive_a_kernel_restart(api):
    # alice applied namespace bar in an earlier kernel: it is on the cluster, labelled with her prefix.
    api.add({"apiVersion": "v1", "kind": "Namespace",
             "metadata": {"name": "alice-bar", "labels": {"labkit.dev/owner": "alice", MANAGED: "labkit",
                                                        "labkit.dev/created": "true"}}})
    api.add({"apiVersion": "v1", "kind": "Namespace",
             "metadata": {"name": "bob-legacy", "labels": {"labkit.dev/owner": "bob"}}})
    lab = KubeLab(api_client=api.api_client(), namespace_prefix="alice")   # a new kernel
    lab.apply(VS_TO_BAR)
    spec = api.get("VirtualService", "to-bar", "alice-foo")["spec"]
    assert spec["hosts"] == ["httpbin.alice-bar"]
    assert spec["http"][0]["route"][0]["destination"]["host"] == "httpbin.alice-bar"
    lab.apply(VS_TO_BAR.replace("httpbin.bar", "httpbin.legacy"))  # not alice's namespace: left as written
    assert api.get("VirtualService", "to-bar", "alice-foo")["spec"]["hosts"] == ["httpbin.legacy"]
    lab.close()


def test_a_missing_workload_is_named_as_such_when_some_workload_kinds_are_not_served(tmp_path):
    # `lab.logs("istio-system", "istiod")` looks for a pod, then a Deployment, StatefulSet or DaemonSet of that
    # name; an API that serves no StatefulSets must still answer "no pod or deployment", not "not served".
    served = [r for r in DEFAULT_RESOURCES if r.kind not in ("StatefulSet", "DaemonSet")]
    with KubeMock(resources=served) as mock:
        lab = KubeLab(api_client=mock.api_client())
        with pytest.raises(LabkitError, match="no pod or deployment of that name"):
            lab.logs("istio-system", "istiod")
        with pytest.raises(LabkitError, match="does not serve StatefulSet"):
            lab.logs("istio-system", "statefulset/istiod")
        lab.close()


def test_exec_timeout_is_exit_code_124(api, lab):
    import time

    def slow(ns, pod, container, command):
        time.sleep(0.6)
        return "late", "", 0
    api.exec_handler = slow
    api.add(make_pod("web-1", "foo"))
    started = time.monotonic()
    result = lab.exec("foo", "web-1", ["sleep", "10"], timeout=0.2)
    assert time.monotonic() - started < 0.5
    assert result.exit_code == 124 and "did not finish within 0.2s" in result.stderr


def test_exec_v5_protocol_and_no_running_pod(api, lab):
    api.exec_protocol = "v5.channel.k8s.io"
    api.exec_handler = lambda ns, pod, c, cmd: ("", "boom\n", 3)
    api.add(make_pod("web-1", "foo", labels={"app": "web"}))
    api.add(make_deploy("web", "foo"))
    assert lab.exec("foo", "deployment/web", ["false"]).exit_code == 3
    api.add(make_deploy("idle", "foo", labels={"app": "idle"}))
    with pytest.raises(LabkitError, match="no running pod"):
        lab.exec("foo", "idle", ["true"])


def test_logs(api, lab):
    api.add(make_pod("httpbin-1", "foo"))
    api.logs[("foo", "httpbin-1", "istio-proxy")] = '{"json": "looking line"}\nline2\nline3\n'
    api.logs[("foo", "httpbin-1", "app")] = "app log\n"
    assert lab.logs("foo", "httpbin-1", container="istio-proxy", tail=2) == "line2\nline3\n"
    req = api.find_requests("GET")[-1]
    assert req.route == "/api/v1/namespaces/foo/pods/httpbin-1/log"
    assert req.query == {"container": ["istio-proxy"], "tailLines": ["2"]}
    assert lab.logs("foo", "httpbin-1", container="istio-proxy").startswith('{"json": "looking line"}')
    assert lab.logs("foo", "httpbin-1") == "app log\n"
    with pytest.raises(LabkitError, match="not valid"):
        lab.logs("foo", "httpbin-1", container="nope")


# ================================================================== gateway_url

def _gateway_service(svc_type="LoadBalancer", ingress=None):
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "istio-ingressgateway", "namespace": "istio-system"},
            "spec": {"type": svc_type, "ports": [{"name": "http2", "port": 80, "targetPort": 8080, "nodePort": 31380},
                                                 {"name": "https", "port": 443, "targetPort": 8443, "nodePort": 31390}]},
            "status": {"loadBalancer": {"ingress": ingress} if ingress else {}}}


def test_gateway_url_load_balancer(api, lab):
    from urllib.parse import urlsplit
    api.add(_gateway_service(ingress=[{"ip": "172.18.255.200"}]))
    # A load balancer listens on the Service port: written out, so the labs' `--resolve host:PORT:IP` has it.
    assert lab.gateway_url() == "http://172.18.255.200:80"
    assert lab.gateway_url(443) == "https://172.18.255.200:443"
    assert urlsplit(lab.gateway_url(443)).port == 443
    assert api.find_requests("GET")[-1].route == "/api/v1/namespaces/istio-system/services/istio-ingressgateway"
    with pytest.raises(LabkitError, match="no port 8081"):
        lab.gateway_url(8081)


def test_gateway_url_node_port_env_and_cluster_ip(api, lab, monkeypatch):
    api.add(_gateway_service())  # LoadBalancer pending (kind without MetalLB): node port
    api.add({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "kind-control-plane"},
             "status": {"addresses": [{"type": "Hostname", "address": "kind-control-plane"},
                                      {"type": "InternalIP", "address": "172.18.0.2"}]}})
    assert lab.gateway_url(80) == "http://172.18.0.2:31380"
    assert lab.gateway_url(443) == "https://172.18.0.2:31390"
    monkeypatch.setenv("LABKIT_GATEWAY_URL", "http://127.0.0.1:8080/")
    monkeypatch.setenv("LABKIT_SECURE_GATEWAY_URL", "https://127.0.0.1:8443")
    assert lab.gateway_url() == "http://127.0.0.1:8080"
    assert lab.gateway_url(443) == "https://127.0.0.1:8443"
    monkeypatch.setenv("LABKIT_SECURE_GATEWAY_URL", "https://gw.example.test")
    assert lab.gateway_url(443) == "https://gw.example.test:443"
    monkeypatch.delenv("LABKIT_GATEWAY_URL")
    monkeypatch.delenv("LABKIT_SECURE_GATEWAY_URL")
    api.add(_gateway_service("ClusterIP"))
    with pytest.raises(LabkitError) as err:
        lab.gateway_url()
    assert err.value.hint.endswith("port-forward svc/istio-ingressgateway 8080:80 "
                                   "and set LABKIT_GATEWAY_URL=http://127.0.0.1:8080")
    with pytest.raises(LabkitError) as err:
        lab.gateway_url(443)
    assert err.value.hint.endswith("port-forward svc/istio-ingressgateway 8443:443 "
                                   "and set LABKIT_SECURE_GATEWAY_URL=https://127.0.0.1:8443")


def test_gateway_url_without_istio(lab):
    with pytest.raises(LabkitError) as err:
        lab.gateway_url()
    assert "istioctl install" in err.value.hint


# ================================================================== proxy_config

CONFIG_DUMP = {"configs": [{"@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
                            "dynamic_active_clusters": [{"cluster": {"name": "inbound|8080||"}}]}]}


def test_proxy_config_falls_back_to_pilot_agent(api, lab, monkeypatch):
    monkeypatch.setattr(kube_mod.shutil, "which", lambda name: None)
    api.exec_handler = lambda ns, pod, c, cmd: (json.dumps(CONFIG_DUMP), "", 0)
    api.add(make_pod("httpbin-1", "foo"))
    assert lab.proxy_config_json("foo", "httpbin-1", "cluster") == [{"name": "inbound|8080||"}]
    assert api.exec_calls[-1]["container"] == "istio-proxy"
    assert api.exec_calls[-1]["command"] == ["pilot-agent", "request", "GET", "config_dump"]
    with pytest.raises(LabkitError, match="unknown proxy-config kind"):
        lab.proxy_config_json("foo", "httpbin-1", "everything")


def _fake_tool(directory: Path, name: str, script: str) -> None:
    path = directory / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_proxy_config_uses_istioctl_when_present(api, lab, tmp_path, monkeypatch):
    _fake_tool(tmp_path, "istioctl", 'echo "$@" > "$(dirname "$0")/args"\necho \'[{"name": "outbound|80||x"}]\'\n')
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    api.add(make_pod("httpbin-1", "foo"))
    assert lab.proxy_config_json("foo", "httpbin-1", "cluster", use_istioctl=True) == [{"name": "outbound|80||x"}]
    assert (tmp_path / "args").read_text().split() == ["proxy-config", "cluster", "httpbin-1.foo", "-o", "json"]


def test_proxy_config_json_is_the_same_with_or_without_istioctl(api, lab, tmp_path, monkeypatch):
    api.exec_handler = lambda ns, pod, c, cmd: (json.dumps(CONFIG_DUMP), "", 0)
    api.add(make_pod("httpbin-1", "foo"))
    without = lab.proxy_config_json("foo", "httpbin-1", "cluster")
    _fake_tool(tmp_path, "istioctl", 'echo "$@" > "$(dirname "$0")/args"\necho \'[{"name": "other"}]\'\n')
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    kubeconfig = tmp_path / "kubeconfig"   # a lab built from a kubeconfig, as a learner's is
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "mock",
        "clusters": [{"name": "mock", "cluster": {"server": api.url}}],
        "users": [{"name": "mock", "user": {}}],
        "contexts": [{"name": "mock", "context": {"cluster": "mock", "user": "mock"}}]}))
    own = KubeLab(kubeconfig=str(kubeconfig))
    assert own.proxy_config_json("foo", "httpbin-1", "cluster") == without == [{"name": "inbound|8080||"}]
    assert not (tmp_path / "args").exists(), "istioctl is not run unless asked for"
    own.close()


def test_istioctl_gets_the_kubeconfig_with_home_expanded(api, tmp_path, monkeypatch):
    _fake_tool(tmp_path, "istioctl", 'echo "$@" > "$(dirname "$0")/args"\necho \'[]\'\n')
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("HOME", str(tmp_path))
    api.add(make_pod("httpbin-1", "foo"))
    lab = KubeLab(api_client=api.api_client(), kubeconfig="~/.kube/workshop")
    assert lab.proxy_config_json("foo", "httpbin-1", "cluster", use_istioctl=True) == []
    args = (tmp_path / "args").read_text().split()
    assert args[args.index("--kubeconfig") + 1] == str(tmp_path / ".kube" / "workshop")
    lab.close()


def test_wait_ready_default_allows_first_image_pulls():
    import inspect
    # A cluster's first pull of the lab images (istio/proxyv2 alone is ~100 MB) takes minutes, not 60 s.
    assert inspect.signature(KubeLab.wait_ready).parameters["timeout"].default >= 300


# ================================================================== doctor

def _istio_objects(api, *, istiod=True, image="docker.io/istio/pilot:1.22.1"):
    for name in ["peerauthentications.security.istio.io", "authorizationpolicies.security.istio.io",
                 "requestauthentications.security.istio.io", "destinationrules.networking.istio.io",
                 "virtualservices.networking.istio.io", "gateways.networking.istio.io"]:
        api.add({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                 "metadata": {"name": name}})
    if istiod:
        dep = make_deploy("istiod", "istio-system")
        dep["spec"]["template"]["spec"]["containers"] = [{"name": "discovery", "image": image}]
        api.add(dep)
    api.add({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
             "metadata": {"name": "istio-sidecar-injector"}})
    api.add(_gateway_service(ingress=[{"ip": "172.18.255.200"}]))
    api.add(_mesh_config("accessLogFile: /dev/stdout\n"))


def _mesh_config(mesh: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "istio", "namespace": "istio-system"},
            "data": {"mesh": mesh}}


def test_doctor_checks_the_access_log_settings(api, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    api.add(_mesh_config("defaultConfig:\n  discoveryAddress: istiod.istio-system.svc:15012\n"))  # default profile
    logs = _by_check(kube_doctor(api.api_client()))["access logs"]
    assert not logs["ok"] and "no access log to stdout" in logs["detail"]
    assert "meshConfig.accessLogFile=/dev/stdout" in logs["fix"]
    api.add(_mesh_config("accessLogFile: /dev/stdout\naccessLogEncoding: JSON\n"))
    logs = _by_check(kube_doctor(api.api_client()))["access logs"]
    assert logs["ok"] and logs["detail"] == "every proxy logs to stdout (JSON)"


def _by_check(lines):
    return {line["check"]: line for line in lines}


def test_doctor_missing_istiod_fails_with_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no kubectl, no istioctl
    with KubeMock(resources=[r for r in DEFAULT_RESOURCES if not r.group.endswith("istio.io")]) as api:
        lines = kube_doctor(api.api_client())
    for line in lines:
        assert set(line) == {"check", "ok", "detail", "fix"}
        assert line["ok"] or line["fix"], line
    checks = _by_check(lines)
    assert checks["kubeconfig"]["ok"] and checks["API server"]["ok"]
    assert "v1.29.2" in checks["API server"]["detail"]
    assert not checks["istiod"]["ok"]
    assert "istioctl install" in checks["istiod"]["fix"]
    assert not checks["Istio CRDs"]["ok"] and "peerauthentications.security.istio.io" in checks["Istio CRDs"]["detail"]
    assert not checks["sidecar injection webhook"]["ok"]
    assert not checks["ingress gateway"]["ok"]
    assert not checks["kubectl"]["ok"] and "install kubectl" in checks["kubectl"]["fix"]
    # istioctl is optional (labkit reads proxies through pilot-agent): not a failure, but said how to get it.
    assert checks["istioctl"]["ok"] and "not installed (optional" in checks["istioctl"]["detail"]
    assert "downloadIstio" in checks["istioctl"]["detail"]
    report = format_report(lines)
    assert "[FAIL] istiod:" in report and "fix: istioctl install" in report


def test_doctor_all_green_and_version_skew(api, tmp_path, monkeypatch):
    _istio_objects(api)
    _fake_tool(tmp_path, "kubectl", "echo '{\"clientVersion\": {\"gitVersion\": \"v1.30.1\"}}'\n")
    _fake_tool(tmp_path, "istioctl", "echo '{\"clientVersion\": {\"version\": \"1.22.1\"}}'\n")
    monkeypatch.setenv("PATH", str(tmp_path))
    checks = _by_check(kube_doctor(api.api_client()))
    assert all(line["ok"] for line in checks.values()), format_report(list(checks.values()))
    assert checks["istiod"]["detail"].startswith("istiod 1.22.1, 1/1 ready")
    assert "http://172.18.255.200" in checks["ingress gateway"]["detail"]
    assert checks["kubectl"]["detail"] == "kubectl v1.30.1"
    assert checks["istioctl"]["detail"] == "istioctl 1.22.1"

    _fake_tool(tmp_path, "kubectl", "echo '{\"clientVersion\": {\"gitVersion\": \"v1.25.0\"}}'\n")
    _fake_tool(tmp_path, "istioctl", "echo '{\"clientVersion\": {\"version\": \"1.20.0\"}}'\n")
    skew = _by_check(kube_doctor(api.api_client()))["version skew"]
    assert not skew["ok"] and "skew 4" in skew["detail"] and "istioctl 1.20.0 vs istiod 1.22.1" in skew["detail"]
    assert skew["fix"]


def test_doctor_reads_istio_kinds_from_discovery_and_names_an_old_istio(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    old_istio = [dataclasses.replace(r, version="v1beta1") if r.group.endswith("istio.io") else r
                 for r in DEFAULT_RESOURCES]
    with KubeMock(resources=old_istio) as api:
        crds = _by_check(kube_doctor(api.api_client()))["Istio CRDs"]
    assert not crds["ok"] and "served only at older versions" in crds["detail"]
    assert "needs Istio 1.22 or later" in crds["detail"] and "istioctl upgrade" in crds["fix"]
    with KubeMock() as api:   # no CRD objects readable, the kinds served: a learner's view of a good cluster
        crds = _by_check(kube_doctor(api.api_client()))["Istio CRDs"]
        assert crds["ok"], crds
        assert not [r for r in api.requests if "customresourcedefinitions" in r.path]


def test_doctor_fails_an_istio_older_than_the_labs_need(api, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    _istio_objects(api, image="docker.io/istio/pilot:1.21.2")
    istiod = _by_check(kube_doctor(api.api_client()))["istiod"]
    assert not istiod["ok"] and "needs Istio 1.22 or later" in istiod["detail"]
    assert "istioctl upgrade" in istiod["fix"]


def test_doctor_unreachable_and_no_kubeconfig(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    from kubernetes import client
    cfg = client.Configuration()
    cfg.host = "http://127.0.0.1:9"  # discard port: nothing listens
    cfg.retries = 0
    with client.ApiClient(cfg) as unreachable:
        checks = _by_check(kube_doctor(unreachable))
    assert not checks["API server"]["ok"] and "cluster-info" in checks["API server"]["fix"]
    assert checks["istiod"]["detail"].startswith("not checked")
    assert not _by_check(kube_doctor())["kubeconfig"]["ok"]  # KUBECONFIG points nowhere
    with pytest.raises(LabkitError) as err:
        KubeLab()
    assert "kind create cluster" in err.value.hint


def test_kubeconfig_context_is_used(api, tmp_path, monkeypatch):
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "other",
        "clusters": [{"name": "mock", "cluster": {"server": api.url}},
                     {"name": "nowhere", "cluster": {"server": "http://127.0.0.1:9"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "kind-labkit", "context": {"cluster": "mock", "user": "u"}},
                     {"name": "other", "context": {"cluster": "nowhere", "user": "u"}}]}))
    lab = KubeLab(context="kind-labkit", kubeconfig=str(kubeconfig))
    api.add(make_pod("httpbin-1", "foo"))
    assert lab.pods()["pod"].tolist() == ["httpbin-1"]
    assert api.find_requests("GET")[-1].headers["authorization"] == "Bearer t"
    checks = _by_check(kube_doctor(context="kind-labkit", kubeconfig=str(kubeconfig)))
    assert checks["kubeconfig"]["ok"] and "kind-labkit" in checks["kubeconfig"]["detail"]
    assert checks["API server"]["ok"]
    lab.close()


def test_unreachable_server_is_a_labkit_error():
    from kubernetes import client
    cfg = client.Configuration()
    cfg.host = "http://127.0.0.1:9"
    cfg.retries = 0
    with client.ApiClient(cfg) as unreachable:
        lab = KubeLab(api_client=unreachable)
        with pytest.raises(LabkitError) as err:
            lab.pods()
    assert "cannot reach" in err.value.message and "kube_doctor" in err.value.hint


# ================================================================== kmock cross-check

class _KmockThread:
    """kmock's Kubernetes emulator (aiohttp) on its own event loop thread, for the sync client."""

    def __init__(self):
        import kmock
        self.kmock = kmock
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _main(self):
        self.stop = asyncio.Event()
        async with self.kmock.KubernetesEmulator() as handler, self.kmock.Server(handler) as server:
            self.handler, self.server = handler, server
            self.ready.set()
            await self.stop.wait()

    def __enter__(self):
        self.thread.start()
        assert self.ready.wait(10)
        return self

    def __exit__(self, *exc):
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(5)
        self.loop.close()


def test_pods_and_gateway_against_kmock():
    pytest.importorskip("kmock")
    from kubernetes import client
    with _KmockThread() as km:
        h, info = km.handler, km.kmock.ResourceInfo
        h.resources["v1/pods"] = info(kind="Pod", namespaced=True, verbs={"list", "get"})
        h.resources["v1/services"] = info(kind="Service", namespaced=True, verbs={"list", "get"})
        h.objects["v1/pods", "foo", "httpbin-1"] = make_pod("httpbin-1", "foo")
        h.objects["v1/pods", "legacy", "sleep-1"] = make_pod("sleep-1", "legacy", sidecar=False)
        h.objects["v1/services", "istio-system", "istio-ingressgateway"] = _gateway_service(
            ingress=[{"hostname": "gw.example.test"}])
        cfg = client.Configuration()
        cfg.host = str(km.server.url).rstrip("/")
        lab = KubeLab(api_client=client.ApiClient(cfg))
        lab._own_client = True  # close() it below
        frame = lab.pods()
        assert frame[["namespace", "pod", "ready", "sidecar"]].values.tolist() == [
            ["foo", "httpbin-1", "2/2", True], ["legacy", "sleep-1", "1/1", False]]
        assert lab.gateway_url(443) == "https://gw.example.test:443"
        lab.close()
