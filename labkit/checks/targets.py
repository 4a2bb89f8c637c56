"""`name.namespace[:port]` targets of the traffic checks, and the failure when the service is not there."""
from __future__ import annotations

from . import hints
from .state import MeshView


def split_target(target: str, default_port: int) -> tuple[str, str, int]:
    """`httpbin.bar` or `httpbin.bar:8000` → (service, namespace, port)."""
    host, _, port = target.partition(":")
    service, _, namespace = host.partition(".")
    return service, namespace.split(".")[0], int(port or default_port)


def service_or_fail(result, view: MeshView, target: str, default_port: int):
    """(service, namespace, port) for a `name.ns[:port]` target, or None after adding the failed item."""
    name, namespace, port = split_target(target, default_port)
    service = view.service(name, namespace)
    if service is None:
        result.add(f"service {target}", False, "not found", hints.missing_deployment(view, namespace, name))
        return None
    return service, namespace, port
