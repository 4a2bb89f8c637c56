"""Analyzer checks on Kubernetes Gateway API resources.

istioctl has no analyzers for these: istiod reports them in the objects' status (pilot/pkg/config/kube/
gateway), which `kubectl get gtw` / `kubectl describe httproute` show. The analyzer reads the same
conclusions from the model (model/gatewayapi.py) and says them in istiod's words, so a learner running
`labkit analyze` on files (no mesh, no status) hears what the cluster's status would say:
- LAB0006: a listener's references do not resolve (a certificateRef to a missing Secret, InvalidCertificateRef;
  one in another namespace without a ReferenceGrant, RefNotPermitted; a bad caCertificateRef);
- LAB0007: a route attached to no listener of a parent Gateway (NoMatchingListenerHostname,
  NotAllowedByListeners, NoMatchingParent);
- LAB0008: a route's backends do not resolve (BackendNotFound; RefNotPermitted for a Service in another
  namespace without a ReferenceGrant).
"""
from __future__ import annotations

from typing import Iterator

from ..model.gatewayapi import translate
from .analyze_base import Context, Message, message


def check_gateway_api(ctx: Context) -> Iterator[Message]:
    translation = translate(ctx.model)
    for gateway in translation.gateways:
        for listener in gateway.listeners:
            problem = listener.problems.get("ResolvedRefs") or listener.problems.get("Accepted")
            if problem is not None:
                yield message("LAB0006", gateway.gateway, f"Listener {listener.name!r}: {problem.message} "
                              f"(status: ResolvedRefs False, reason {problem.reason})")
    for route in translation.routes:
        for parent in route.parents:
            ref = parent.parent_ref
            target = f"{ref.get('namespace') or route.route['metadata']['namespace']}/{ref['name']}"
            section = f" section {ref['sectionName']!r}" if ref.get("sectionName") else ""
            if parent.denied is not None:
                yield message("LAB0007", route.route, f"Not attached to Gateway {target}{section}: "
                              f"{parent.denied.message} (status: Accepted False, reason {parent.denied.reason})")
            if parent.route_error is not None:
                yield message("LAB0008", route.route, f"{parent.route_error.message} (status: ResolvedRefs False, "
                              f"reason {parent.route_error.reason})")
