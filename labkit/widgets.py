"""What learners see: the Check widget and colour-coded tables (traffic matrix, pods, TLS status).

`check(fn, lab, ...)` runs the check at once and shows the result with a Check button to run it again.
Where nobody can look at a widget (nbval, nbconvert, a script) a failed check raises AssertionError
with the details instead, so automated runs fail when a lab's claim stops being true.
"""
from __future__ import annotations

import functools
import os
from typing import Any

from .contract import Lab
from . import progress
from .checks.result import CheckResult
from .checks.traffic import MIGRATION_NAMESPACES
from .kernel import in_kernel
from .display import GREEN, GREY, RED, YELLOW, outcome_colour

NONINTERACTIVE_ENV = "LABKIT_NONINTERACTIVE"
# Kernels started by these run notebooks unattended (the kernel's parent process is one of them).
_HEADLESS_RUNNERS = ("pytest", "nbval", "nbconvert", "nbclient", "papermill")


def interactive() -> bool:
    """Is someone looking at this kernel in a notebook frontend?

    $LABKIT_NONINTERACTIVE decides when set ("1": no, "0": yes). Otherwise: no kernel (a script, a
    terminal) means no; a kernel whose parent process is a headless runner (nbval under pytest,
    nbconvert/nbclient, papermill) means no; any other kernel (JupyterLab, VS Code) means yes.
    """
    setting = os.environ.get(NONINTERACTIVE_ENV, "").strip().lower()
    if setting:
        return setting in ("0", "false", "no")
    if not in_kernel():
        return False
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

    The result is a plain HTML display (updated in place by display id), so saved notebooks, nbconvert
    HTML and nbval outputs show it even where widgets do not render; only the button is a widget.
    Every run records the step's outcome in the progress file.
    """

    def __init__(self, fn, args: tuple, kwargs: dict):
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.lab = args[0] if args else None  # every check takes the lab first
        self.result: CheckResult | None = None
        self.handle: Any = None
        self.button: Any = _check_button() if in_kernel() else None

    def run(self) -> CheckResult:
        self.result = self.fn(*self.args, **self.kwargs)
        if self.lab is not None:
            progress.record(self.lab, getattr(self.lab, "current_lab", None), self.result.title, self.result.passed)
        if self.handle is not None:
            self.handle.update(self.result)
        if self.button is not None:
            self.button.button_style = "success" if self.result.passed else "danger"
        return self.result

    def show(self) -> None:
        if self.button is None:
            print(self.result.report() if self.result else "")
            return
        from IPython.display import display
        self.handle = display(self.result, display_id=True)
        self.button.on_click(lambda _: self._rerun())
        display(self.button)

    def _rerun(self) -> None:
        self.button.disabled, self.button.description = True, "Checking…"
        try:
            self.run()
        except Exception as exc:  # a click must never leave the button stuck
            from IPython.display import HTML
            self.handle.update(HTML(f"<b style='color:#b00020'>the check itself failed: "
                                    f"{type(exc).__name__}: {exc}</b>"))
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


def _check_button():
    return _button_class()(description="Check", icon="check", tooltip="run this check again")


def check(fn, *args, raise_on_fail: bool | None = None, **kwargs) -> None:
    """Run `fn(*args, **kwargs)` now and show it with a Check button.

    A failure raises AssertionError when nobody is looking (see `interactive`) or when raise_on_fail=True;
    in JupyterLab the widget shows the failed items and their hints instead, and Check runs it again.
    """
    widget = CheckWidget(fn, args, kwargs)
    result = widget.run()
    widget.show()
    if not result.passed and (raise_on_fail or (raise_on_fail is None and not interactive())):
        raise AssertionError(result.report())


# -- colour-coded tables -------------------------------------------------------------------------------
def style_matrix(frame):
    """200 green, reset (curl 56) red, 403 orange, 503 grey, anything else yellow."""
    return frame.style.map(outcome_colour)


def traffic_matrix(lab: Lab, clients=MIGRATION_NAMESPACES, servers=MIGRATION_NAMESPACES):
    """curl from every client namespace to httpbin in every server namespace, as a coloured table."""
    from .checks.traffic import matrix, matrix_frame
    return style_matrix(matrix_frame(matrix(lab, clients, servers)))


def pods_table(lab: Lab, namespaces=None):
    """`kubectl get pods` for some namespaces, READY coloured: with a sidecar green, without grey."""
    frame = lab.pods()
    if namespaces:
        frame = frame[frame.namespace.isin(list(namespaces))].reset_index(drop=True)
    frame = frame[["namespace", "pod", "ready", "status", "restarts"]]

    def colour(row):
        done, total = str(row["ready"]).split("/")
        if row["status"] != "Running" or done != total:
            return ["background-color: " + YELLOW] * len(row)
        return [f"background-color: {GREEN if total == '2' else GREY}"] * len(row)
    return frame.style.apply(colour, axis=1)


def tls_configured_and_observed(lab: Lab, clients=MIGRATION_NAMESPACES, servers=MIGRATION_NAMESPACES):
    """Per client/server pair: the TLS each side is configured for and what a real request showed
    (coloured by result). `lab.tls_status()` is the configured side alone."""
    from .checks.tables import configured_and_observed_tls
    frame = configured_and_observed_tls(lab, clients, servers)
    styled = frame.style.set_caption("TLS: configured (policies) and observed (a real request)")
    return styled.map(outcome_colour, subset=["result"]).map(
        lambda v: f"background-color: {GREEN}" if v == "yes" else "", subset=["mTLS"])


# Lab 04's name for it.
tls_table = tls_configured_and_observed


def mtls_matrix(lab: Lab, clients=MIGRATION_NAMESPACES, servers=MIGRATION_NAMESPACES):
    """Which hops are mutual TLS, client by server: the mesh's security graph as a table."""
    from .checks.tables import configured_and_observed_tls
    frame = configured_and_observed_tls(lab, clients, servers)
    cell = frame.apply(lambda r: "mTLS" if r["mTLS"] == "yes" else "plaintext" if r["mTLS"] == "no" else r["result"],
                       axis=1)
    table = frame.assign(hop=cell).pivot(index="client", columns="server", values="hop")
    table = table.loc[[c for c in frame["client"].unique()], [s for s in frame["server"].unique()]]
    table.index.name, table.columns.name = None, "from \\ to"
    return table.style.map(lambda v: f"background-color: {GREEN if v == 'mTLS' else YELLOW if v == 'plaintext' else RED}"
                                     "; text-align: center")
