"""The status istiod writes on Gateway API objects, from the conversion's results (model/gatewayapi.py).

Conditions and their words follow istiod (pilot/pkg/config/kube/gateway/conversion.go buildListener and
reportGatewayStatus, conditions.go createRouteStatus, gatewaycommon/conversion.go SetProgrammedCondition,
gatewayclass.go; the testdata `*.status.yaml.golden` files show whole statuses):
- GatewayClass `istio`: Accepted True, "Handled by Istio controller";
- Gateway: Accepted ("Resource accepted"; ListenersNotValid when some or all listeners are invalid),
  Programmed ("Resource programmed, assigned to service(s) <name>-istio.<ns>.svc.cluster.local:<port>", or
  False/AddressNotAssigned while the address is pending), ResolvedRefs; `addresses` the LoadBalancer address
  (on the local mesh: the gateway pod's IP, where its listeners answer);
- each listener: Accepted, Conflicted (False, NoConflicts), Programmed, ResolvedRefs ("No errors found", or
  e.g. InvalidCertificateRef / RefNotPermitted with Programmed False "Bad TLS configuration"), attachedRoutes,
  supportedKinds;
- routes: one `parents[]` entry per parentRef istiod handles, controllerName istio.io/gateway-controller,
  Accepted ("Route was valid", or NotAllowedByListeners, NoMatchingListenerHostname, NoMatchingParent) and
  ResolvedRefs ("All references resolved", or BackendNotFound, RefNotPermitted).
`lastTransitionTime` is kept while a condition's status does not change, as the API conventions ask.
"""
from __future__ import annotations

import copy
import datetime as dt

from .gateway_deploy import ISTIO_CLASS, ISTIO_CONTROLLER
from .gatewayapi import GatewayResult, ListenerResult, RouteResult, supported_kinds, translate
from .kinds import GATEWAY_API_GROUP
from .mesh import MeshModel

NO_ERRORS = "No errors found"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _condition(kind: str, ok: bool, reason: str, message: str, generation: int) -> dict:
    return {"type": kind, "status": "True" if ok else "False", "reason": reason, "message": message,
            "observedGeneration": generation}


def _keep_times(new: list[dict], old: list[dict] | None) -> list[dict]:
    before = {c.get("type"): c for c in old or []}
    for condition in new:
        previous = before.get(condition["type"])
        same = previous is not None and previous.get("status") == condition["status"]
        condition["lastTransitionTime"] = previous.get("lastTransitionTime") if same and previous else _now()
    return new


def _listener_status(result: ListenerResult, generation: int, old: dict | None) -> dict:
    def cond(kind: str, good_reason: str, ok_status: bool = True) -> dict:
        problem = result.problems.get(kind)
        if problem is None:
            return _condition(kind, ok_status, good_reason, NO_ERRORS, generation)
        return _condition(kind, not ok_status, problem.reason, problem.message, generation)
    conditions = [cond("Accepted", "Accepted"), cond("Conflicted", "NoConflicts", ok_status=False),
                  cond("Programmed", "Programmed"), cond("ResolvedRefs", "ResolvedRefs")]
    return {"name": result.name, "attachedRoutes": result.attached,
            "conditions": _keep_times(conditions, (old or {}).get("conditions")),
            "supportedKinds": [{"group": GATEWAY_API_GROUP, "kind": k} for k in supported_kinds(result.listener)]}


def human_join(items: list[str]) -> str:
    """HumanReadableJoin: a, b, and c."""
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


def gateway_status(result: GatewayResult, old: dict | None) -> dict:
    generation = result.gateway["metadata"].get("generation", 1)
    old = old or {}
    valid = sum(1 for listener in result.listeners if listener.valid)
    if valid == len(result.listeners):
        accepted = _condition("Accepted", True, "Accepted", "Resource accepted", generation)
    elif valid:
        accepted = _condition("Accepted", True, "ListenersNotValid",
                              "One or more of the Gateway's listeners are invalid", generation)
    else:
        accepted = _condition("Accepted", False, "ListenersNotValid", "None of the Gateway's listeners are valid",
                              generation)
    ports = sorted({listener.listener["port"] for listener in result.listeners})
    services = [f"{result.service_host}:{port}" for port in ports]
    if result.pod is not None:
        programmed = _condition("Programmed", True, "Programmed",
                                f"Resource programmed, assigned to service(s) {human_join(services)}", generation)
    else:
        programmed = _condition("Programmed", False, "AddressNotAssigned",
                                f"Assigned to service(s) {human_join(services)}, but failed to assign to all "
                                f"requested addresses: address pending for hostname \"{result.service_host}\"",
                                generation)
    resolved = _condition("ResolvedRefs", True, "ResolvedRefs", "All references resolved", generation)
    old_listeners = {entry.get("name"): entry for entry in old.get("listeners") or []}
    status: dict = {}
    if result.pod is not None:
        status["addresses"] = [{"type": "IPAddress", "value": result.pod.ip}]
    status["conditions"] = _keep_times([accepted, programmed, resolved], old.get("conditions"))
    status["listeners"] = [_listener_status(listener, generation, old_listeners.get(listener.name))
                           for listener in result.listeners]
    return status


def _parent_key(ref: dict) -> tuple:
    return (ref.get("group", GATEWAY_API_GROUP), ref.get("kind", "Gateway"), ref.get("namespace"), ref.get("name"),
            ref.get("sectionName"), ref.get("port"))


def route_status(result: RouteResult, old: dict | None) -> dict:
    generation = result.route["metadata"].get("generation", 1)
    old_parents = {_parent_key(p.get("parentRef") or {}): p for p in (old or {}).get("parents") or []
                   if p.get("controllerName") == ISTIO_CONTROLLER}
    others = [p for p in (old or {}).get("parents") or [] if p.get("controllerName") != ISTIO_CONTROLLER]
    parents = []
    for parent in result.parents:
        accepted = _condition("Accepted", True, "Accepted", "Route was valid", generation) if parent.denied is None \
            else _condition("Accepted", False, parent.denied.reason, parent.denied.message, generation)
        resolved = _condition("ResolvedRefs", True, "ResolvedRefs", "All references resolved", generation) \
            if parent.route_error is None \
            else _condition("ResolvedRefs", False, parent.route_error.reason, parent.route_error.message, generation)
        previous = old_parents.get(_parent_key(parent.parent_ref)) or {}
        parents.append({"parentRef": parent.parent_ref, "controllerName": ISTIO_CONTROLLER,
                        "conditions": _keep_times([accepted, resolved], previous.get("conditions"))})
    return {"parents": others + parents}


def class_status(gateway_class: dict) -> dict | None:
    if (gateway_class.get("spec") or {}).get("controllerName") != ISTIO_CONTROLLER:
        return None
    generation = gateway_class["metadata"].get("generation", 1)
    return {"conditions": _keep_times([_condition("Accepted", True, "Accepted", "Handled by Istio controller",
                                                  generation)],
                                      (gateway_class.get("status") or {}).get("conditions"))}


def _without_times(status: dict | None) -> object:
    """A status with its transition times left out: what decides whether a write is needed."""
    if isinstance(status, dict):
        return {k: _without_times(v) for k, v in status.items() if k != "lastTransitionTime"}
    if isinstance(status, list):
        return [_without_times(v) for v in status]
    return status


def status_updates(model: MeshModel) -> list[dict]:
    """The Gateway API objects whose status istiod would rewrite now, with their new status."""
    translation = translate(model)
    wanted: list[tuple[dict, dict | None]] = []
    for gateway_class in model.of_kind("GatewayClass"):
        if gateway_class["metadata"]["name"] == ISTIO_CLASS or class_status(gateway_class):
            wanted.append((gateway_class, class_status(gateway_class)))
    for result in translation.gateways:
        wanted.append((result.gateway, gateway_status(result, result.gateway.get("status"))))
    for route in translation.routes:
        if route.parents or (route.route.get("status") or {}).get("parents"):
            wanted.append((route.route, route_status(route, route.route.get("status"))))
    out = []
    for obj, status in wanted:
        if status is not None and _without_times(status) != _without_times(obj.get("status")):
            updated = copy.deepcopy(obj)
            updated["status"] = status
            out.append(updated)
    return out

