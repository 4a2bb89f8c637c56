"""Troubleshooting tickets: a problem as a user reports it, three hints, and the fault's name for afterwards.

Labs 13, 16 and 17 teach troubleshooting symptom first, as on call: the notebook shows the ticket in the
reporter's words ("the shop's page doesn't load over HTTPS"), the learner picks the tools, and help comes
only when asked, in three levels:

1. where to look (which tool, which log),
2. what's wrong (the diagnosis),
3. the fix.

The hints and the fault's name live here, in `labkit/data/labs/tickets-*.yaml`, not in the notebook, so
nothing a learner scrolls past gives the answer away; the fault is named once the ticket's check passes.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from importlib import resources

from .checks.result import CheckItem, CheckResult
from .errors import LabkitError
from .resources.loader import load_documents

LEVELS = ("where to look", "what's wrong", "the fix")
TICKET_FILES = ("tickets-asset-management.yaml", "tickets-shop.yaml")
WITHHELD = "not shown for a ticket: the Hint button above gives help in three steps"


@dataclass(frozen=True)
class Ticket:
    id: str
    title: str            # the symptom in the reporter's words; never the cause
    reported_by: str
    hints: tuple[str, str, str]   # one per LEVELS
    fault: str            # what was wrong, shown once the ticket's check passes
    giveaways: tuple[str, ...] = ()   # words that name the fault: no notebook text before the check uses them


def _read(item: dict, source: str) -> Ticket:
    missing = [key for key in ("id", "title", "reported_by", "hints", "fault") if not item.get(key)]
    if missing:
        raise LabkitError(f"a ticket in {source} has no {', '.join(missing)}", field=missing[0])
    if len(item["hints"]) != len(LEVELS):
        raise LabkitError(f"ticket {item['id']} has {len(item['hints'])} hints, needs {len(LEVELS)} "
                          f"({', '.join(LEVELS)})", name=item["id"], field="hints")
    return Ticket(item["id"], item["title"], item["reported_by"], tuple(item["hints"]), item["fault"],
                  tuple(item.get("giveaways") or ()))


@functools.cache
def all_tickets() -> dict[str, Ticket]:
    found: dict[str, Ticket] = {}
    for name in TICKET_FILES:
        text = resources.files("labkit.data").joinpath("labs").joinpath(name).read_text()
        for doc in load_documents(text):
            for item in doc.get("tickets") or []:
                ticket = _read(item, name)
                if ticket.id in found:
                    raise LabkitError(f"ticket {ticket.id} is defined twice", name=ticket.id, field="id")
                found[ticket.id] = ticket
    return found


def ticket(ticket_id: str) -> Ticket:
    tickets = all_tickets()
    if ticket_id not in tickets:
        raise LabkitError(f"no ticket {ticket_id!r}", name=ticket_id, field="id",
                          hint=f"the tickets are: {', '.join(sorted(tickets))}")
    return tickets[ticket_id]


def withhold_hints(result: CheckResult) -> CheckResult:
    """A failed ticket check without its items' hints: a check's hint names the likely cause, which is
    what the learner is meant to find (or ask the ticket's hints for)."""
    if result.passed:
        return result
    items = [item if item.ok or not item.hint else CheckItem(item.label, item.ok, item.detail, WITHHELD)
             for item in result.items]
    return dataclasses.replace(result, items=items)


def closing_note(ticket: Ticket) -> str:
    return f"Ticket closed. What was wrong: {ticket.fault}"
