"""Checks on the mesh itself: the environment, namespaces, deployments and sidecars."""
from __future__ import annotations

from ..contract import Lab
from ..constants import GATEWAY_DEPLOYMENT, GATEWAY_NAMESPACE
from . import hints
from .result import CheckResult, checker
from .state import MeshView



def mesh_is_running(lab: Lab) -> tuple[bool, str, str]:
    """(running, detail, hint)."""
    if lab.running:
        owner = lab.owner
        detail = "" if owner is None else ("started by this notebook" if owner else
                                           "attached to a mesh another process runs")
        return True, detail, ""
    return False, "the mesh is not running", ("the process that ran it stopped (a notebook kernel shut down?): run "
                                              "lab = labkit.connect() again")


def precondition(result: CheckResult, lab: Lab) -> bool:
    """Fail early, with the right hint, when there is no mesh to send traffic through."""
    running, detail, hint = mesh_is_running(lab)
    if not running:
        result.add("the mesh is running", False, detail, hint)
    return running


@checker(lambda lab: "the lab environment is ready")
def environment(result: CheckResult, lab: Lab) -> None:
    result.add("backend", True, lab.backend)
    for item in lab.environment():
        result.add(item.check, item.ok, item.detail, item.fix)
    running, detail, hint = mesh_is_running(lab)
    result.add("the mesh is running", running, detail, hint)
    if not running:
        return
    view = MeshView(lab)
    rows = view.deployment_pods(GATEWAY_NAMESPACE, GATEWAY_DEPLOYMENT)
    ready = [r for r in rows if r["status"] == "Running" and r["ready"].split("/")[0] == r["ready"].split("/")[-1]]
    result.add("the ingress gateway is ready", bool(ready),
               ", ".join(f"{r['pod']} {r['ready']} {r['status']}" for r in rows) or "no gateway pod",
               f"lab.logs('{GATEWAY_NAMESPACE}', '{GATEWAY_DEPLOYMENT}') says why it is not ready")
    urls = f"{lab.gateway_url(80)} (HTTP), {lab.gateway_url(443)} (HTTPS)"
    result.add("gateway ports", True, urls)


@checker(lambda lab: "this machine has what the labs need (labkit doctor)", settle=False)
def doctor(result: CheckResult, lab: Lab) -> None:
    """`labkit doctor` as a check: local tools and limits, or the cluster and its Istio."""
    from ..backends.doctors import doctor as backend_doctor
    for line in backend_doctor(lab.backend):
        result.add(line.check, line.ok, line.detail, line.fix)


@checker(lambda lab, namespace, enabled=True:
         f"namespace {namespace} has sidecar injection {'enabled' if enabled else 'disabled'}", settle=False)
def namespace_injected(result: CheckResult, lab: Lab, namespace: str, enabled: bool = True) -> None:
    view = MeshView(lab)
    exists = view.namespace_exists(namespace)
    result.add(f"namespace {namespace} exists", exists, "", hints.injection(view, namespace))
    if not exists:
        return
    labels = view.namespace_labels(namespace)
    on = view.injection_enabled(namespace)
    shown = ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "no labels"
    hint = hints.injection(view, namespace) if enabled else \
        f"remove the label: kubectl label namespace {namespace} istio-injection-"
    result.add(f"injection label {'set' if enabled else 'absent'}", on == enabled, shown, hint)


@checker(lambda lab, namespace, expected=True:
         f"pods in {namespace} run {'with a sidecar (2/2)' if expected else 'without a sidecar (1/1)'}")
def pods_have_sidecars(result: CheckResult, lab: Lab, namespace: str, expected: bool = True) -> None:
    if not precondition(result, lab):
        return
    view = MeshView(lab)
    rows = view.pod_rows(namespace)
    if not rows:
        result.add(f"pods in {namespace}", False, "no pods", hints.missing_deployment(view, namespace, "httpbin")
                   if view.namespace_exists(namespace) else hints.injection(view, namespace))
        return
    for row in rows:
        ready = row["status"] == "Running"
        if not ready:
            result.add(row["pod"], False, f"{row['ready']} {row['status']}",
                       f"lab.logs('{namespace}', '{row['pod']}') shows why it is not running")
            continue
        has = bool(row["sidecar"])
        if has == expected:
            result.add(row["pod"], True, f"READY {row['ready']}")
        else:
            hint = hints.missing_sidecar(view, namespace, row["pod"]) if expected else \
                hints.unexpected_sidecar(view, namespace)
            result.add(row["pod"], False, f"READY {row['ready']}, {'a' if has else 'no'} sidecar", hint)


@checker(lambda lab, namespace, apps=("httpbin", "curl"): f"{', '.join(apps)} run in {namespace}")
def deployed(result: CheckResult, lab: Lab, namespace: str, apps=("httpbin", "curl")) -> None:
    if not precondition(result, lab):
        return
    view = MeshView(lab)
    for app in apps:
        if view.find("Deployment", app, namespace) is None:
            result.add(app, False, "no such deployment", hints.missing_deployment(view, namespace, app))
            continue
        rows = view.deployment_pods(namespace, app)
        running = [r for r in rows if r["status"] == "Running"]
        result.add(app, bool(running), ", ".join(f"{r['pod']} {r['ready']} {r['status']}" for r in rows) or "no pod yet",
                   hints.missing_secrets(view, namespace, app)
                   or f"lab.wait_ready('{namespace}') waits; lab.logs('{namespace}', '{app}') shows errors")
