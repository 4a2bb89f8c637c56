"""Cluster IPs as the API server allocates them (resources/clusterips.py), and how `kubectl get svc` prints
the external address column."""
from __future__ import annotations

import pytest

from labkit.errors import LabkitError
from labkit.kubeapi.tables import columns_and_cells
from labkit.resources.store import Store


def service(name: str, **spec) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80}], **spec}}


def test_allocated_kept_unique_and_immutable(tmp_path):
    store = Store(tmp_path)
    (first, action), (second, _) = store.apply([service("a"), service("b")])
    ip = first["spec"]["clusterIP"]
    assert action == "created" and ip.startswith("10.96.") and first["spec"]["clusterIPs"] == [ip]
    assert second["spec"]["clusterIP"] != ip
    # Re-applying the same YAML (no clusterIP in it) keeps the address: nothing changed.
    assert store.apply([service("a")])[0] == (first, "unchanged")
    with pytest.raises(LabkitError, match="field is immutable") as info:
        store.apply([service("a", clusterIP="10.96.7.7")])
    assert info.value.field == "spec.clusterIP"
    with pytest.raises(LabkitError, match="already allocated"):
        store.apply([service("c", clusterIP=ip)])
    with pytest.raises(LabkitError, match="not in the valid range"):
        store.apply([service("c", clusterIP="192.168.0.1")])
    assert store.apply([service("c", clusterIP="10.96.9.9")])[0][0]["spec"]["clusterIP"] == "10.96.9.9"
    headless = store.apply([service("h", clusterIP="None")])[0][0]
    assert headless["spec"]["clusterIP"] == "None"
    external = store.apply([{**service("x"), "spec": {"type": "ExternalName", "externalName": "example.com"}}])[0][0]
    assert "clusterIP" not in external["spec"]


@pytest.mark.parametrize("spec, status, shown", [
    ({"type": "ClusterIP"}, {}, "<none>"),
    ({"type": "LoadBalancer"}, {"loadBalancer": {}}, "<pending>"),
    ({"type": "LoadBalancer"}, {"loadBalancer": {"ingress": [{"ip": "172.18.255.200"}]}}, "172.18.255.200"),
    ({"type": "NodePort", "externalIPs": ["1.2.3.4"]}, {}, "1.2.3.4"),
    ({"type": "ExternalName", "externalName": "example.com"}, {}, "example.com"),
])
def test_external_ip_column(spec, status, shown):
    obj = {"kind": "Service", "metadata": {"name": "s", "creationTimestamp": "2026-01-01T00:00:00Z"},
           "spec": {"ports": [], **spec}, "status": status}
    columns, cells = columns_and_cells(obj)
    assert cells[[c["name"] for c in columns].index("External-IP")] == shown
