"""A LabkitError in a notebook reads as its message and hint, not as a 90-line traceback.

A learner's mistake (a mis-indented YAML field, an unknown namespace) raises LabkitError deep inside
resources/ or the backends; IPython would print the whole stack with the useful line at the bottom.
Registered with IPython's custom exception hook (`InteractiveShell.set_custom_exc`), the cell still ends
in an error (Run All stops there, nbval fails), but shows only what the learner can act on; the full
traceback stays one click away, folded in a <details> above it.
"""
from __future__ import annotations

import traceback
from html import escape

from .errors import LabkitError


def short_traceback(error: LabkitError) -> list[str]:
    """The error output's lines: the error's kind and message, then its hint (what IPython prints)."""
    red, reset = "\x1b[0;31m", "\x1b[0m"
    return [f"{red}LabkitError{reset}: {error}"]


def full_traceback_html(etype, value, tb) -> str:
    text = "".join(traceback.format_exception(etype, value, tb))
    return ("<details><summary style='color:#555;cursor:pointer'>LabkitError: show the full traceback"
            f"</summary><pre style='font-size:85%'>{escape(text)}</pre></details>")


def _show(shell, etype, value, tb, tb_offset=None):
    # IPython's run_code calls the handler and ignores what it returns, so it shows the error itself:
    # `_showtraceback` is the hook IPython documents for shells to override (ipykernel's publishes the error
    # output and keeps it as the execute reply's traceback).
    from IPython.display import HTML, display
    display(HTML(full_traceback_html(etype, value, tb)))
    shell._showtraceback(etype, value, short_traceback(value))


def install(shell) -> None:
    """Show LabkitErrors briefly in this IPython shell (idempotent; other exceptions are untouched)."""
    if shell is None or LabkitError in (getattr(shell, "custom_exceptions", ()) or ()):
        return
    shell.set_custom_exc((LabkitError,), _show)


