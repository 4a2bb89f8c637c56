"""The checks find workloads as a cluster names them: a Deployment's pods through ownerReferences, a
Service's pods through its selector, never through an `app` label only the samples happen to carry
(issue 15, defect 3). Unit tests over MeshView with a resource list, no mesh running."""
from __future__ import annotations

from labkit.checks.state import MeshView
from labkit.model.mesh import build_model


def _pod(name, namespace, owner, labels, sidecar=True):
    containers = [{"name": "app", "image": "app:1"}]
    if sidecar:
        containers.append({"name": "istio-proxy", "image": "istio/proxyv2:1.28.0"})
    template_hash = name.split("-")[-2]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": {**labels, "pod-template-hash": template_hash},
                         "ownerReferences": [{"kind": "ReplicaSet", "name": f"{owner}-{template_hash}",
                                              "controller": True}]},
            "spec": {"containers": containers}}


class _Access:
    def __init__(self, objects):
        self._objects = objects

    def objects(self):
        return list(self._objects)

    def model(self, objects=None):
        return build_model(self.objects() if objects is None else objects, 10)


class _Lab:
    def __init__(self, objects):
        self._access = _Access(objects)

    def mesh_access(self):
        return self._access


def test_the_client_pod_is_deployment_curl_whatever_its_labels():
    objects = [_pod("curl-5b8f7c6d9d-x2x4q", "foo", "curl", {"app.kubernetes.io/name": "client"}),
               _pod("sleep-7d9c8b7f6f-abcde", "foo", "sleep", {"app": "curl"})]   # an app=curl label, not curl
    client = MeshView(_Lab(objects)).client_pod("foo")
    assert client is not None and client.name == "curl-5b8f7c6d9d-x2x4q"
    assert MeshView(_Lab(objects[1:])).client_pod("foo") is None
