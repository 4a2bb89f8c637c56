"""A ticket in a notebook: the report, a Hint button that gives one more level each click, and the check
that closes it (which then names the fault).

    ticket = open_ticket(lab, "shop-https")          # the report, and the Hint button
    ...                                              # the learner's own investigation and fix
    ticket.check(checks.serves_certificate, lab, "shop.local.test", cacert=CA)

Each hint level opened is recorded in progress (`progress.record_hint`), so a learner's and an
instructor's progress table show how much help a ticket took; a notebook run again shows the levels
already opened since the lab started. Where nobody looks at widgets (nbval, a script) the report prints as
text and `ticket.hint()` gives the next level.
"""
from __future__ import annotations

import re
from html import escape

from . import progress
from .contract import Lab
from .kernel import in_kernel
from .tickets import LEVELS, Ticket, closing_note, ticket as find_ticket, withhold_hints
from .widgets import run_check


def with_code(text: str) -> str:
    """Escaped text with its `backticked` commands set as code, as the notebook's Markdown shows them."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(text))


class TicketView:
    """One ticket's report and hints: text for scripts, a widget (report, hints, button) in a notebook."""

    def __init__(self, lab: Lab, ticket: Ticket):
        self.lab, self.ticket = lab, ticket
        self.level = progress.hint_level(lab, lab.current_lab, ticket.id)
        self.closed = False
        self.widget = self._build() if in_kernel() else None

    # -- hints --------------------------------------------------------------------------------------------
    def hint(self) -> str:
        """Open the next hint level (recorded in progress) and return its text."""
        if self.level >= len(LEVELS):
            return self.hints_text()
        self.level += 1
        progress.record_hint(self.lab, self.lab.current_lab, self.ticket.id, self.level)
        self._refresh()
        return f"hint {self.level} ({LEVELS[self.level - 1]}): {self.ticket.hints[self.level - 1]}"

    def hints_text(self) -> str:
        return "\n".join(f"hint {n} ({LEVELS[n - 1]}): {self.ticket.hints[n - 1]}" for n in range(1, self.level + 1))

    # -- the check that closes it ----------------------------------------------------------------------------
    def check(self, fn, *args, raise_on_fail: bool | None = None, **kwargs) -> None:
        """Run a check as `check(...)` does (same progress step, same Check button), except that a failure
        keeps its hints to itself and a pass closes the ticket, naming the fault."""
        def judged(*a, **k):
            result = withhold_hints(fn(*a, **k))
            if result.passed:
                result.note = closing_note(self.ticket)
                self.closed = True
                self._refresh()
            return result

        run_check(judged, args, kwargs, raise_on_fail)

    # -- display ----------------------------------------------------------------------------------------
    def header_html(self) -> str:
        state = (f'<div style="color:#1b7f3b"><b>closed</b>: {with_code(self.ticket.fault)}</div>' if self.closed
                 else "")  # the fault's name, once the ticket's check passed
        return (f'<div class="labkit-ticket" style="border-left:4px solid #1565c0;padding:0.3em 0.8em">'
                f'<div><b>Ticket</b> from {escape(self.ticket.reported_by)}:</div>'
                f'<div style="font-size:1.1em;margin:0.2em 0">\u201c{escape(self.ticket.title)}\u201d</div>{state}</div>')

    def hints_html(self) -> str:
        rows = [f'<li data-level="{n}"><b>{escape(LEVELS[n - 1])}:</b> {with_code(self.ticket.hints[n - 1])}</li>'
                for n in range(1, self.level + 1)]
        return f'<ol class="labkit-hints" style="margin:0.3em 0">{"".join(rows)}</ol>' if rows else ""

    def button_text(self) -> str:
        if self.level >= len(LEVELS):
            return "No more hints"
        return f"Hint {self.level + 1} of {len(LEVELS)}: {LEVELS[self.level]}"

    def _build(self):
        import ipywidgets
        self.header = ipywidgets.HTML(self.header_html())
        self.hints_box = ipywidgets.HTML(self.hints_html())
        self.button = ipywidgets.Button(description=self.button_text(), icon="life-ring",
                                        layout=ipywidgets.Layout(width="auto"))
        self.button.disabled = self.level >= len(LEVELS)
        self.button.on_click(lambda _: self.hint())
        return ipywidgets.VBox([self.header, self.hints_box, self.button])

    def _refresh(self) -> None:
        if self.widget is None:
            return
        self.header.value = self.header_html()
        self.hints_box.value = self.hints_html()
        self.button.description = self.button_text()
        self.button.disabled = self.level >= len(LEVELS)

    def text(self) -> str:
        lines = [f"Ticket from {self.ticket.reported_by}: \u201c{self.ticket.title}\u201d"]
        if self.closed:
            lines.append(f"closed: {self.ticket.fault}")
        lines.append(self.hints_text() if self.level else "hints: ticket.hint() gives the next one")
        return "\n".join(lines)

    def _repr_mimebundle_(self, **kwargs):
        if self.widget is None:
            return {"text/plain": self.text()}
        bundle = self.widget._repr_mimebundle_(**kwargs) or {}
        # Static renderings (nbconvert, a saved notebook without widget state): the report and opened hints.
        bundle["text/html"] = self.header_html() + self.hints_html()
        bundle["text/plain"] = self.text()
        return bundle

    def __repr__(self) -> str:
        return self.text()


def open_ticket(lab: Lab, ticket_id: str) -> TicketView:
    """Show a ticket (labkit/data/labs/tickets-*.yaml) with its Hint button; keep it to close it later."""
    return TicketView(lab, find_ticket(ticket_id))
