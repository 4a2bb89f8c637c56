"""What a check returns: a verdict per item, with the evidence and, for failures, a likely cause."""
from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import time
from dataclasses import dataclass, field
from html import escape
from typing import Callable, NamedTuple

from ..contract import Lab
from ..errors import LabkitError


class CheckItem(NamedTuple):
    label: str
    ok: bool
    detail: str = ""
    hint: str = ""


@dataclass
class CheckResult:
    title: str
    items: list[CheckItem] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        # A check that looked at nothing proves nothing.
        return bool(self.items) and all(item.ok for item in self.items)

    @property
    def failures(self) -> list[CheckItem]:
        return [item for item in self.items if not item.ok]

    def add(self, label: str, ok: bool, detail: str = "", hint: str = "") -> CheckItem:
        item = CheckItem(label, bool(ok), detail, "" if ok else hint)
        self.items.append(item)
        return item

    def report(self) -> str:
        lines = [f"{'PASS' if self.passed else 'FAIL'}: {self.title}"]
        for item in self.items or [CheckItem("nothing was checked", False)]:
            lines.append(f"  [{'ok' if item.ok else 'FAIL'}] {item.label}" + (f": {item.detail}" if item.detail else ""))
            if item.hint:
                lines.append(f"         hint: {item.hint}")
        return "\n".join(lines)

    __str__ = report

    def assert_passed(self) -> "CheckResult":
        if not self.passed:
            raise AssertionError(self.report())
        return self

    def to_html(self) -> str:
        colour = "#1b7f3b" if self.passed else "#b00020"
        rows = []
        for item in self.items:
            mark = '<span style="color:#1b7f3b">&#10004;</span>' if item.ok else \
                '<span style="color:#b00020">&#10008;</span>'
            hint = f'<div style="color:#8a5300">hint: {escape(item.hint)}</div>' if item.hint else ""
            detail = f' <span style="color:#555">{escape(item.detail)}</span>' if item.detail else ""
            rows.append(f"<li style='list-style:none'>{mark} {escape(item.label)}{detail}{hint}</li>")
        verdict = "passed" if self.passed else "failed"
        return (f'<div><b style="color:{colour}">{escape(self.title)}: {verdict}</b>'
                f'<ul style="margin:0.3em 0;padding-left:0.5em">{"".join(rows)}</ul></div>')

    def _repr_html_(self) -> str:
        return self.to_html()

    def _repr_pretty_(self, printer, cycle) -> None:  # text/plain in notebooks: the report, not the fields
        printer.text(self.report())


RETRY_PAUSE = 0.25


_settle_override: contextvars.ContextVar[float | None] = contextvars.ContextVar("settle_override", default=None)


def settle_time(lab: Lab) -> float:
    """How long a change may take to reach every proxy: local config writes are near-instant, but Envoy
    drains connections opened under the old config (1 s here); on a cluster istiod pushes in seconds."""
    override = _settle_override.get()
    if override is not None:
        return override
    return lab.settle_seconds


@contextlib.contextmanager
def settling(seconds: float):
    """Run checks with another settle time (0: judge the first observation), e.g. where failure is expected."""
    token = _settle_override.set(seconds)
    try:
        yield
    finally:
        _settle_override.reset(token)


def checker(title: Callable[..., str], settle: bool = True):
    """Give a check function a title built from its arguments, and turn lab errors into a failed item.

    A learner's mistake (a missing deployment to send traffic from, an unknown namespace) must read as
    a failed check with a hint, not as a traceback from deep inside the mesh. With `settle`, a failing
    check is retried for a few seconds, because a change the cell just made may not have reached every
    proxy yet (what traffic shows is eventually consistent, in Istio too).
    """
    def decorate(fn):
        full = inspect.signature(fn)
        signature = full.replace(parameters=list(full.parameters.values())[1:])  # without `result`

        @functools.wraps(fn)
        def run(*args, **kwargs) -> CheckResult:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            name = title(**bound.arguments)
            lab = next(iter(bound.arguments.values()), None)
            deadline = time.monotonic() + (settle_time(lab) if settle and lab is not None else 0)
            while True:
                result = CheckResult(name)
                try:
                    fn(result, *bound.args, **bound.kwargs)
                except LabkitError as exc:
                    result.add("the check could run", False, exc.message, exc.hint or "")
                if result.passed or time.monotonic() >= deadline:
                    return result
                time.sleep(RETRY_PAUSE)

        # A check is a function that also carries its title builder (check widgets and labs.py read it).
        run.__signature__ = signature  # type: ignore[attr-defined]
        run.title = title  # type: ignore[attr-defined]
        return run
    return decorate
