"""What every cluster with Istio has, through the local mesh's Kubernetes API (issue 15): the node NodePorts
are reached on, istiod's Deployment and pod in istio-system whose log is the control plane's real log, and
Istio's istio-sidecar-injector webhook whose selectors are the rule the local mesh injects by."""
from __future__ import annotations

import json

import pytest
from kubectl_support import kube_backend, kubectl, normalise

from labkit.model.injection import mutating_webhook_configuration, selector_matches, wants_sidecar

pytestmark = pytest.mark.envoy


@pytest.fixture(scope="module")
def kube(lab):
    with kube_backend(lab) as client:
        yield client


def test_istiod_deployment_pod_and_log(lab, kube):
    deploy = kubectl(lab, "get", "deploy", "istiod", "-n", "istio-system")
    assert deploy.exit == 0, deploy.stderr
    assert normalise(deploy.stdout).splitlines()[1].startswith("istiod  1/1  1  1"), deploy.stdout
    pods = kube.pods("istio-system")
    istiod = pods[pods["pod"].str.startswith("istiod-")]
    assert list(istiod["ready"]) == ["1/1"] and list(istiod["status"]) == ["Running"]
    # The control plane's own log file (where it writes e.g. a credential it cannot serve).
    lab.runtime.istiod_log.parent.mkdir(parents=True, exist_ok=True)
    with open(lab.runtime.istiod_log, "a") as log:
        log.write("2026-01-01T00:00:00.000000Z\twarn\tads\tlabkit-test: a line only the control plane's log has\n")
    assert "a line only the control plane's log has" in kube.logs("istio-system", "istiod")
    logs = kubectl(lab, "logs", "-n", "istio-system", "deploy/istiod", "--tail=5")
    assert logs.exit == 0 and "a line only the control plane's log has" in logs.stdout, logs.stderr
    refused = kubectl(lab, "exec", "-n", "istio-system", "deploy/istiod", "--", "ls")
    assert refused.exit != 0 and "istiod is not a pod here" in refused.stderr


def test_node_address_is_where_node_ports_answer(lab, kube):
    nodes = kubectl(lab, "get", "nodes", "-o", "json")
    assert nodes.exit == 0, nodes.stderr
    [node] = json.loads(nodes.stdout)["items"]
    addresses = {a["type"]: a["address"] for a in node["status"]["addresses"]}
    assert addresses["InternalIP"] == lab.settings.gateway_ip
    assert kube._node_address() == lab.settings.gateway_ip   # what KubeLab.node_url / gateway_url use
    wide = normalise(kubectl(lab, "get", "nodes", "-o", "wide").stdout).splitlines()
    assert wide[1].startswith("labkit-local  Ready  control-plane"), wide
    assert kubectl(lab, "delete", "node", "labkit-local").exit != 0, "nodes are read-only here"


def test_webhook_configuration_is_the_rule_injection_follows(lab):
    run = kubectl(lab, "get", "mutatingwebhookconfiguration", "istio-sidecar-injector", "-o", "json")
    assert run.exit == 0, run.stderr
    served = json.loads(run.stdout)
    assert [w["name"] for w in served["webhooks"]] == [
        "rev.namespace.sidecar-injector.istio.io", "rev.object.sidecar-injector.istio.io",
        "namespace.sidecar-injector.istio.io", "object.sidecar-injector.istio.io"]
    assert served["webhooks"] == mutating_webhook_configuration()["webhooks"]
    # Reading the served selectors gives the same decision as the mesh's injector, case by case.
    cases = [({"istio-injection": "enabled"}, {}, True), ({"istio-injection": "enabled"},
             {"sidecar.istio.io/inject": "false"}, False), ({"istio-injection": "disabled"},
             {"sidecar.istio.io/inject": "true"}, False), ({}, {"sidecar.istio.io/inject": "true"}, True),
             ({}, {}, False), ({"istio.io/rev": "default"}, {}, True), ({"istio.io/rev": "canary"}, {}, False)]
    for ns_labels, pod_labels, expected in cases:
        called = any(selector_matches(w["namespaceSelector"], ns_labels)
                     and selector_matches(w["objectSelector"], pod_labels) for w in served["webhooks"])
        assert called == expected == wants_sidecar(ns_labels, pod_labels, {}), (ns_labels, pod_labels)


def test_injection_follows_istio_not_annotations_alone():
    # inject.go: the label wins over the annotation; the annotation alone never reaches the injector.
    assert wants_sidecar({}, {}, {"sidecar.istio.io/inject": "true"}) is False
    assert wants_sidecar({"istio-injection": "enabled"}, {}, {"sidecar.istio.io/inject": "false"}) is False
    assert wants_sidecar({"istio-injection": "enabled"}, {"sidecar.istio.io/inject": "true"},
                         {"sidecar.istio.io/inject": "false"}) is True
    assert wants_sidecar({"istio-injection": "enabled"}, {}, {}, namespace="kube-system") is False
