"""Pods as a current Istio injects them (issue 13): istio-proxy as a native sidecar by default, the classic
shape on request; workloads found through ownerReferences or Deployment selectors, never labkit labels.
The model, describe, tls_status and evidence handle both shapes alike."""
from __future__ import annotations

import json

import pytest

from labkit.model.deployments import reconcile_pods
from labkit.model.mesh import build_model
from labkit.tools.describe import describe
from labkit.tools.evidence import Directory
from labkit.tools.tls_status import tls_status

from mesh_scenarios import strict
from tools_fixtures import SUBNET, migration


def model(objects, native: bool):
    pods, _ = reconcile_pods(objects, native_sidecars=native)
    return build_model(objects + pods, SUBNET), pods


@pytest.mark.parametrize("native", [True, False])
def test_injected_pod_shape(native):
    _, pods = model(migration(), native)
    pod = next(p for p in pods if p["metadata"]["namespace"] == "foo"
               and p["metadata"]["labels"].get("app") == "httpbin")
    spec, meta = pod["spec"], pod["metadata"]
    init = {c["name"]: c for c in spec.get("initContainers") or []}
    containers = [c["name"] for c in spec["containers"]]
    assert "istio-init" in init and "restartPolicy" not in init["istio-init"]
    if native:
        assert init["istio-proxy"]["restartPolicy"] == "Always" and containers == ["httpbin"]
    else:
        assert "istio-proxy" not in init and containers == ["httpbin", "istio-proxy"]
    assert meta["annotations"]["kubectl.kubernetes.io/default-container"] == "httpbin"
    assert meta["annotations"]["kubectl.kubernetes.io/default-logs-container"] == "httpbin"
    assert json.loads(meta["annotations"]["sidecar.istio.io/status"])["initContainers"][0] == "istio-init"
    assert not any(k.startswith("labkit.io/") for k in meta["labels"])        # only what a cluster would have
    owner = meta["ownerReferences"][0]
    assert owner["kind"] == "ReplicaSet" and owner["name"] == f"httpbin-{meta['labels']['pod-template-hash']}"


def test_pod_annotation_overrides_the_global_shape():
    objects = migration("""
apiVersion: apps/v1
kind: Deployment
metadata: {name: classic, namespace: foo}
spec:
  selector: {matchLabels: {app: classic}}
  template:
    metadata: {labels: {app: classic}, annotations: {sidecar.istio.io/nativeSidecar: "false"}}
    spec: {containers: [{name: c, image: curlimages/curl}]}
""")
    mesh, _ = model(objects, True)
    pod = next(p for p in mesh.pods if p.deployment == "classic")
    assert pod.sidecar and pod.sidecar_shape == "classic"


@pytest.mark.parametrize("native", [True, False])
def test_model_and_tools_see_both_shapes_alike(native):
    mesh, _ = model(migration(strict("foo")), native)
    foo = [p for p in mesh.pods if p.namespace == "foo"]
    assert all(p.sidecar for p in foo) and {p.sidecar_shape for p in foo} == {"native" if native else "classic"}
    assert {p.deployment for p in foo} == {"httpbin", "curl"}
    assert [c.name for c in foo[0].app_containers] == [foo[0].deployment]
    text = describe(mesh, "foo", "httpbin").text()
    assert "Proxy: sidecar" in text and "Workload mTLS mode: STRICT" in text
    table = tls_status(mesh)
    row = table[(table.client == "legacy/curl") & (table.host.str.startswith("httpbin.foo"))].iloc[0]
    assert row.expected.startswith("reset") or "STRICT" in row.reason
    directory = Directory(mesh)
    assert directory.by_pod[f"foo/{foo[0].name}"].proxy


def test_native_and_classic_give_the_same_tls_status():
    native, _ = model(migration(strict("foo")), True)
    classic, _ = model(migration(strict("foo")), False)
    columns = ["client", "host", "client_tls", "server_mode", "expected"]
    assert sorted(tls_status(native)[columns].values.tolist()) == sorted(tls_status(classic)[columns].values.tolist())


CLUSTER_POD = {
    # A pod as a cluster returns it: owned by a ReplicaSet, no labkit label, istio-proxy as a native sidecar.
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "httpbin-5c8d7f9b6-x2x7q", "namespace": "foo", "uid": "u1",
                 "labels": {"app": "httpbin", "version": "v1", "pod-template-hash": "5c8d7f9b6",
                            "security.istio.io/tlsMode": "istio"},
                 "annotations": {"sidecar.istio.io/status": "{}"},
                 "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                      "name": "httpbin-5c8d7f9b6", "controller": True}]},
    "spec": {"serviceAccountName": "httpbin",
             "initContainers": [{"name": "istio-init", "image": "docker.io/istio/proxyv2:1.28.0"},
                                {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.28.0",
                                 "restartPolicy": "Always"}],
             "containers": [{"name": "httpbin", "image": "docker.io/mccutchen/go-httpbin:v2.15.0",
                             "ports": [{"containerPort": 8080}]}]},
}


def test_cluster_pods_are_understood_without_labkit_labels():
    mesh = build_model([CLUSTER_POD], SUBNET)
    pod = mesh.pods[0]
    assert pod.sidecar and pod.native_sidecar and pod.deployment == "httpbin"
    assert [c.name for c in pod.app_containers] == ["httpbin"] and pod.container_ports == [8080]
    bare = json.loads(json.dumps(CLUSTER_POD))
    del bare["metadata"]["ownerReferences"]
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": "httpbin", "namespace": "foo"},
                  "spec": {"selector": {"matchLabels": {"app": "httpbin", "version": "v1"}}, "template": {}}}
    assert build_model([bare, deployment], SUBNET).pods[0].deployment == "httpbin"   # found by its selector
    assert build_model([bare], SUBNET).pods[0].deployment is None
