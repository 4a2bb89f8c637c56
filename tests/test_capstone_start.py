"""Lab 17 starts where lab 16 ends: its start state is the broken shop with tickets 1 and 2 fixed exactly as lab 16's
solutions fix them (labkit/data/labs/capstone-shop-fixes.yaml), and tickets 3 and 4's faults still in place."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
import yaml

from labkit import labs
from labkit.errors import LabkitError
from labkit.release import solutions_of
from labkit.resources.loader import load_documents
from labkit.samples import sample

LABS = Path(__file__).resolve().parent.parent / "labs"


def by_key(docs: list[dict]) -> dict[tuple[str, str, str], dict]:
    return {(d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d for d in docs}


def solution(notebook: str, goal_start: str) -> list[str]:
    blocks = solutions_of(nbformat.read(LABS / notebook, as_version=4))
    return next(b.solution for b in blocks if b.todo.startswith(goal_start))


def test_ticket_1s_fix_is_the_gateway_lab_16s_solution_applies():
    applied = yaml.safe_load("\n".join(line for line in solution("16-capstone.ipynb", "https://shop.local.test loads")
                                       if not line.lstrip().startswith("#")))
    assert labs.shop_fixes()["shop-https"] == [applied]


def test_ticket_2s_fix_is_the_injection_label_lab_16s_solution_sets():
    code = "\n".join(solution("16-capstone.ipynb", "only mutual TLS from inside the mesh"))
    assert 'lab.label_namespace("backend", {"istio-injection": "enabled"})' in code
    namespace, = labs.shop_fixes()["backend-plaintext"]
    assert (namespace["kind"], namespace["metadata"]) == (
        "Namespace", {"name": "backend", "labels": {"istio-injection": "enabled"}})


def test_lab17_starts_with_tickets_1_and_2_fixed_and_3_and_4_broken():
    broken, second = by_key(labs.start_resources("16")), by_key(labs.start_resources("17"))
    assert set(broken) == set(second)
    changed = {key for key in broken if broken[key] != second[key] and key[0] not in ("Secret", "ConfigMap")}
    assert changed == {("Gateway", "istio-system", "shop-gateway"), ("Namespace", "", "backend")}
    gateway = second[("Gateway", "istio-system", "shop-gateway")]
    assert gateway["spec"]["servers"][0]["tls"]["credentialName"] == "shop-credential"
    assert broken[("Gateway", "istio-system", "shop-gateway")]["spec"]["servers"][0]["tls"]["credentialName"] \
        == "shop-credentials"
    assert "istio-injection" not in broken[("Namespace", "", "backend")]["metadata"].get("labels", {})
    # Tickets 3 and 4: still there.
    assert ("DestinationRule", "backend", "customers-disable-mtls") in second
    policy = second[("AuthorizationPolicy", "backend", "customers")]
    assert "cluster.local/ns/default/sa/web-frontend" in json.dumps(policy)


def test_labs_16_and_17_start_with_lab_15s_access_logs_and_lab_15_without():
    mesh_config = load_documents(sample("mesh-access-log-json"))[0]
    for lab_id in ("16", "17"):
        assert by_key(labs.start_resources(lab_id))[("ConfigMap", "istio-system", "istio")] == mesh_config
    assert ("ConfigMap", "istio-system", "istio") not in by_key(labs.start_resources("15"))   # lab 15 switches it


def test_an_unknown_ticket_fix_is_a_clear_error():
    with pytest.raises(LabkitError) as raised:
        labs.shop_with_fixes(("shop-htps",))
    assert raised.value.field == "tickets" and "shop-https" in raised.value.hint
