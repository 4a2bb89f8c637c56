"""API Status objects: how the API server reports failures, so kubectl prints them as it prints a cluster's.

Shapes follow k8s.io/apimachinery/pkg/api/errors (NewNotFound, NewAlreadyExists, NewConflict,
NewInvalid, NewBadRequest): kubectl shows `Error from server (<reason>): <message>`.
"""
from __future__ import annotations

from ..errors import LabkitError
from ..resources.store import StoreConflict
from .registry import BY_KIND, Resource


class ApiError(Exception):
    """A failure with the HTTP code and Status body the API server would send."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def body(self) -> dict:
        status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                  "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            status["details"] = self.details
        return status


def qualified(resource: Resource) -> str:
    """`pods`, `deployments.apps`, `peerauthentications.security.istio.io`: how errors name a resource."""
    return f"{resource.plural}.{resource.group}" if resource.group else resource.plural


def not_found(resource: Resource, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{qualified(resource)} "{name}" not found',
                    {"name": name, "group": resource.group, "kind": resource.plural})


def already_exists(resource: Resource, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{qualified(resource)} "{name}" already exists',
                    {"name": name, "group": resource.group, "kind": resource.plural})


def conflict(resource: Resource, name: str) -> ApiError:
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {qualified(resource)} "{name}": the object '
                    "has been modified; please apply your changes to the latest version and try again",
                    {"name": name, "group": resource.group, "kind": resource.plural})


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def method_not_allowed() -> ApiError:
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")


def from_labkit(exc: LabkitError, resource: Resource, name: str, version: str) -> ApiError:
    """The Status a cluster would answer for the same bad write that labkit's validation refused."""
    if isinstance(exc, StoreConflict):
        if exc.message == "already exists":
            return already_exists(resource, name)
        return conflict(resource, name)
    if exc.message.endswith("not found") and exc.message.startswith("namespaces "):
        namespace = exc.message.split('"')[1]
        return ApiError(404, "NotFound", exc.message, {"name": namespace, "kind": "namespaces"})
    # The resource written decides the group when it names the same kind (two groups serve `Gateway`).
    kind = resource.kind if exc.kind in (None, resource.kind) or exc.kind not in BY_KIND else exc.kind
    if exc.field and exc.message.startswith("unknown field"):
        # Strict field validation (fieldValidation=Strict, kubectl's default) rejects unknown fields
        # while decoding, before any validation: a BadRequest, not Invalid.
        return bad_request(f'{kind} in version "{version}" cannot be handled as a {kind}: '
                           f'strict decoding error: unknown field "{exc.field}"')
    group = resource.group if kind == resource.kind else BY_KIND[kind].group
    qualified_kind = f"{kind}.{group}" if group else kind
    detail = exc.message + (f" ({exc.hint})" if exc.hint else "")
    field = exc.field or "metadata"
    cause = {"reason": "FieldValueInvalid", "message": f"Invalid value: {detail}", "field": field}
    message = f'{qualified_kind} "{exc.name or name}" is invalid: {field}: Invalid value: {detail}'
    return ApiError(422, "Invalid", message,
                    {"name": exc.name or name, "group": group, "kind": kind, "causes": [cause]})
