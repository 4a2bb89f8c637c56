"""What learners see: the Check widget and colour-coded tables (traffic matrix, pods, TLS status).

`check(fn, lab, ...)` runs the check at once and shows the result with a Check button to run it again.
Where nobody can look at a widget (nbval, nbconvert, a script) a failed check raises AssertionError
with the details instead, so automated runs fail when a lab's claim stops being true.
"""
from __future__ import annotations

import functools
import os
from html import escape
from typing import Any

from . import progress
from .checks.result import CheckResult
from .kernel import in_kernel

NONINTERACTIVE_ENV = "LABKIT_NONINTERACTIVE"
# Kernels started by these run notebooks unattended (the kernel's parent process is one of them).
_HEADLESS_RUNNERS = ("pytest", "nbval", "nbconvert", "nbclient", "papermill")


def interactive() -> bool:
    """Is someone looking at this kernel in a notebook frontend?

    $LABKIT_NONINTERACTIVE decides when set ("1": no, "0": yes). Otherwise: no kernel (a script, a
    terminal) means no; a kernel whose parent process is a headless runner (nbval under pytest or a
    pytest-xdist worker, nbconvert/nbclient, papermill) means no; any other kernel (JupyterLab, VS Code)
    means yes.
    """
    setting = os.environ.get(NONINTERACTIVE_ENV, "").strip().lower()
    if setting:
        return setting in ("0", "false", "no")
    if not in_kernel():
        return False
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return False  # started inside a pytest-xdist worker (its parent's command line is `python -c ...`)
    try:
        import psutil
        parent_process = psutil.Process().parent()
        parent = parent_process.cmdline() if parent_process else []
    except Exception:
        return True
    return not _is_headless_runner(parent)


def _is_headless_runner(cmdline: list[str]) -> bool:
    """Judge by program and module names only: a checkout path containing "pytest" proves nothing."""
    names = []
    for arg in cmdline:
        if arg.startswith("-"):
            continue
        base = os.path.basename(arg).lower()
        for suffix in (".py", "-script"):
            base = base.removesuffix(suffix)
        names.append(base.removeprefix("jupyter-"))
    return any(name.split(".")[0] in _HEADLESS_RUNNERS for name in names)


class CheckWidget:
    """The latest result of a check above a Check button that runs it again.

    The result is an Output widget that also carries the result's HTML and text, so saved notebooks,
    nbconvert HTML and nbval outputs show it even where widgets do not render.
    Every run records the step's outcome in the progress file.
    """

    def __init__(self, fn, args: tuple, kwargs: dict):
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.lab = args[0] if args else None  # every check takes the lab first
        self.result: CheckResult | None = None
        self.view: Any = None  # the result's widget, once shown
        self.button: Any = _check_button() if in_kernel() else None

    def run(self) -> CheckResult:
        self.result = self.fn(*self.args, **self.kwargs)
        if self.lab is not None:
            self._record_progress(self.result)
        if self.view is not None:
            self.view.show(self.result)
        if self.button is not None:
            self.button.button_style = "success" if self.result.passed else "danger"
        return self.result

    def _record_progress(self, result: CheckResult) -> None:
        """Record the step; a failing re-check of a step that passed since the lab started says the mesh
        moved on (and progress keeps the pass) instead of reading as a broken step."""
        assert self.lab is not None, "a check records progress only for a lab"
        lab_id = self.lab.current_lab
        earlier = None if result.passed else progress.pass_since_start(self.lab, lab_id, result.title)
        progress.record(self.lab, lab_id, result.title, result.passed,
                        [f"{item.label}: {item.detail}" if item.detail else item.label for item in result.items])
        if earlier:
            result.note = progress.moved_on_note(earlier)

    def show(self) -> None:
        if self.button is None:
            print(self.result.report() if self.result else "")
            return
        from IPython.display import display
        self.view = result_view_class()()
        self.view.show(self.result)
        display(self.view)
        self.button.on_click(lambda _: self._rerun())
        display(self.button)

    def _rerun(self) -> None:
        self.button.disabled, self.button.description = True, "Checking…"
        try:
            self.run()
        except Exception as exc:  # a click must never leave the button stuck
            from IPython.display import HTML
            self.view.show(HTML(f"<b style='color:#b00020'>the check itself failed: "
                                f"{type(exc).__name__}: {escape(str(exc))}</b>"))
        finally:
            self.button.disabled, self.button.description = False, "Check"


@functools.cache
def _button_class():
    import ipywidgets

    class CheckButton(ipywidgets.Button):
        def _repr_mimebundle_(self, **kwargs):
            bundle = super()._repr_mimebundle_(**kwargs)
            if bundle:  # what static renderings show instead of "Button(description=...)"
                bundle["text/plain"] = "[Check button: run the check again in JupyterLab]"
            return bundle

    return CheckButton


@functools.cache
def result_view_class():
    import ipywidgets

    class CheckResultView(ipywidgets.Output):
        """The latest result, inside a widget: its model lives in the kernel, so a notebook reopened while
        its kernel runs shows what the last click found. (A display updated by display id would not: the
        id is not saved with the notebook, so after a reopen the update reaches no output.) Static
        renderings (nbconvert, a saved file without widget state) show the result's own HTML and text."""

        shown_times = 0

        def show(self, shown) -> None:
            from IPython import get_ipython
            data, metadata = get_ipython().display_formatter.format(shown)
            # Counted, so a result equal to the last one is still a change: the view renders it again, and
            # the learner sees that the click ran the check.
            self.shown_times += 1
            metadata = dict(metadata, labkit={"shown": self.shown_times})
            self.outputs = ({"output_type": "display_data", "data": data, "metadata": metadata},)

        def _repr_mimebundle_(self, **kwargs):
            bundle = super()._repr_mimebundle_(**kwargs)
            if bundle and self.outputs:
                bundle.update({key: value for key, value in self.outputs[0]["data"].items()
                               if key in ("text/html", "text/plain")})
            return bundle

    return CheckResultView


def _check_button():
    return _button_class()(description="Check", icon="check", tooltip="run this check again")


def check(fn, *args, raise_on_fail: bool | None = None, **kwargs) -> None:
    """Run `fn(*args, **kwargs)` now and show it with a Check button.

    A failure raises AssertionError when nobody is looking (see `interactive`) or when raise_on_fail=True;
    in JupyterLab the widget shows the failed items and their hints instead, and Check runs it again.
    """
    run_check(fn, args, kwargs, raise_on_fail)


def run_check(fn, args: tuple, kwargs: dict, raise_on_fail: bool | None = None) -> CheckResult:
    """`check`'s body, for callers that wrap the check function (a ticket's check, labkit/ticket_widget.py)."""
    widget = CheckWidget(fn, args, kwargs)
    result = widget.run()
    widget.show()
    if not result.passed and (raise_on_fail or (raise_on_fail is None and not interactive())):
        raise AssertionError(result.report())
    return result


