"""The verification tools through the kube backend (KubeLab) against the local mesh's Kubernetes API, as on a
cluster with Istio 1.28+ and kubelet >= 1.33: istio-proxy is a native sidecar (an init container with
restartPolicy Always), the proxies log in Istio's default TEXT format, and workloads are found through
Deployment selectors and ownerReferences, never through an `app` label (issue 15, defects 2, 3, 4)."""
from __future__ import annotations

from pathlib import Path

import pytest
from check_helpers import passes
from kubectl_support import DATA, kube_backend

import labkit
from labkit import checks

LABKIT_DATA = Path(labkit.__file__).parent / "data"

pytestmark = pytest.mark.envoy

BACKEND_NS = """
apiVersion: v1
kind: Namespace
metadata:
  name: backend
  labels:
    istio-injection: enabled
"""


@pytest.fixture(scope="module")
def kube(lab):
    with kube_backend(lab) as client:
        client.apply(DATA / "workloads.yaml")
        client.apply(BACKEND_NS)
        client.apply(LABKIT_DATA / "samples" / "customers.yaml", namespace="backend")
        client.apply(LABKIT_DATA / "labs" / "asset-management.yaml")
        client.wait_ready(timeout=120)
        yield client


def test_istio_proxy_is_a_native_sidecar_and_exec_reaches_it(kube):
    pod = kube.get("Pod", namespace="backend")[0]
    init = {c["name"]: c for c in pod["spec"].get("initContainers") or []}
    assert init["istio-proxy"]["restartPolicy"] == "Always"
    assert "istio-proxy" not in [c["name"] for c in pod["spec"]["containers"]]
    assert kube.pods("backend")["sidecar"].tolist() == [True]
    version = kube.exec("backend", "customers-v1", ["pilot-agent", "request", "GET", "server_info"],
                        container="istio-proxy")
    assert version.ok and '"state": "LIVE"' in version.stdout


def test_describe_finds_workloads_by_deployment_not_app_label(kube):
    # customers-v1's pods are labelled app=customers; asset-management's only app.kubernetes.io/name.
    customers = str(kube.describe("backend", "customers-v1"))
    assert "Workload: customers-v1" in customers and "Proxy: sidecar" in customers
    assert "Identity: spiffe://cluster.local/ns/backend/sa/customers" in customers
    assets = str(kube.describe("assets", "asset-management"))
    assert "Workload: asset-management" in assets
    assert "spiffe://cluster.local/ns/assets/sa/asset-management" in assets


def test_text_access_logs_give_evidence_and_mtls(kube):
    passes(checks.mtls_between, kube, "foo", "sleep", "customers.backend:80")
    proxy_log = kube.logs("backend", "customers-v1", container="istio-proxy", tail=5)
    assert '"GET / HTTP/1.1" 200' in proxy_log and not proxy_log.lstrip().startswith("{"), "Istio's TEXT format"
    calls = kube.evidence(since=0).calls
    rows = calls[(calls.source == "foo/sleep") & (calls.destination.str.startswith("backend/customers-v1"))]
    assert len(rows) and bool(rows.iloc[-1]["mtls"]) is True, calls.to_string()
