"""The one exception type learners see, with the resource coordinates that caused it."""
from __future__ import annotations


class LabkitError(Exception):
    """A problem the learner can act on. `kind`, `name`, `namespace`, `field` say where."""

    def __init__(self, message: str, *, kind: str | None = None, name: str | None = None,
                 namespace: str | None = None, field: str | None = None, hint: str | None = None):
        self.kind, self.name, self.namespace, self.field, self.hint = kind, name, namespace, field, hint
        self.message = message
        super().__init__(self._render())

    def _render(self) -> str:
        where = ""
        if self.kind:
            ref = self.kind
            if self.name:
                ref += f" {self.namespace}/{self.name}" if self.namespace else f" {self.name}"
            where = ref
        if self.field:
            where = f"{where} field {self.field}" if where else f"field {self.field}"
        text = f"{where}: {self.message}" if where else self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text
