"""Symptom-first troubleshooting (issue 19 item 2): tickets in the reporter's words, hints in three levels
recorded in progress, check hints withheld until the ticket is closed, and the fault named only then."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from labkit import progress
from labkit.checks.result import CheckResult, checker
from labkit.errors import LabkitError
from labkit.release import strip_solutions
from labkit.ticket_widget import open_ticket
from labkit.tickets import LEVELS, WITHHELD, all_tickets, ticket, withhold_hints

LAB = "08"   # a lab that exists before and after the labs' renumbering; tickets do not care which

# Words that name a fault's cause; a ticket's title is the symptom, so it uses none of them.
CAUSE_WORDS = ("credentialname", "secret", "destinationrule", "disable", "principal", "service account",
               "selector", "sidecar", "injection", "peerauthentication", "authorizationpolicy", "strict",
               "label", "rbac")


class FakeLab:
    backend, running = "fake", True

    def __init__(self, state_dir):
        self.state_dir = state_dir
        self.current_lab = LAB


@checker(lambda lab, ok: f"the shop answers over HTTPS ({'fixed' if ok else 'broken'})", settle=False)
def shop_answers(result: CheckResult, lab, ok: bool) -> None:
    result.add("curl https://shop.local.test/ gets 200", ok, "" if ok else "TLS failure (35)",
               "the Gateway's credentialName names no Secret")


def test_every_ticket_has_three_hints_and_a_fault_and_its_title_names_no_cause():
    tickets = all_tickets()
    assert {"shop-https", "backend-plaintext", "shop-upstream", "shop-denied", "asset-forbidden",
            "asset-refused", "asset-unavailable"} <= set(tickets)
    for found in tickets.values():
        assert len(found.hints) == len(LEVELS) and all(len(h) > 40 for h in found.hints), found.id
        assert found.fault and found.reported_by
        named = [w for w in CAUSE_WORDS if w in found.title.lower()]
        assert not named, f"ticket {found.id}'s title names its cause: {named}"


def test_an_unknown_ticket_is_a_clear_error():
    with pytest.raises(LabkitError) as raised:
        ticket("shop-htps")
    assert raised.value.field == "id" and "shop-https" in raised.value.hint


def test_hints_open_one_level_at_a_time_and_are_recorded(tmp_path):
    lab = FakeLab(tmp_path)
    progress.started(lab, LAB)
    view = open_ticket(lab, "shop-https")
    assert view.level == 0 and "Hint 1 of 3: where to look" == view.button_text()
    assert "credential" not in view.text().lower()      # nothing of the answer before a hint is asked for
    first = view.hint()
    assert first.startswith("hint 1 (where to look):")
    second = view.hint()
    assert second.startswith("hint 2 (what's wrong):") and "credentialName" in second
    assert progress.hint_level(lab, LAB, "shop-https") == 2
    view.hint()
    assert view.hint().count("hint ") == 3 and view.button_text() == "No more hints"
    assert progress.hint_level(lab, LAB, "shop-https") == 3
    # A notebook run again shows the levels already opened; the progress table counts them.
    assert open_ticket(lab, "shop-https").level == 3
    table = progress.table(progress.load(tmp_path / progress.FILE_NAME))
    assert table.loc[LAB, "hints"] == 3
    assert progress.hints_of(progress.load(tmp_path / progress.FILE_NAME), LAB) == {"shop-https": 3}


def test_a_new_start_of_the_lab_starts_the_hints_afresh(tmp_path):
    lab = FakeLab(tmp_path)
    progress.started(lab, LAB)
    open_ticket(lab, "shop-denied").hint()
    assert progress.hint_level(lab, LAB, "shop-denied") == 1
    progress.started(lab, LAB)
    assert progress.hint_level(lab, LAB, "shop-denied") == 0


def test_a_failing_ticket_check_withholds_its_hints_and_names_no_fault(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_NONINTERACTIVE", "1")
    lab = FakeLab(tmp_path)
    progress.started(lab, LAB)
    view = open_ticket(lab, "shop-https")
    with pytest.raises(AssertionError) as raised:
        view.check(shop_answers, lab, False)
    report = str(raised.value)
    assert "FAIL: the shop answers over HTTPS (broken)" in report and "TLS failure (35)" in report
    assert "credentialName" not in report and WITHHELD in report
    assert not view.closed and "closed" not in view.text()
    steps = progress.steps_of(progress.load(tmp_path / progress.FILE_NAME), LAB)
    assert steps["the shop answers over HTTPS (broken)"]["passed"] is False


def test_a_passing_ticket_check_closes_the_ticket_and_names_the_fault(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_NONINTERACTIVE", "1")
    lab = FakeLab(tmp_path)
    progress.started(lab, LAB)
    view = open_ticket(lab, "shop-https")
    view.check(shop_answers, lab, True)
    assert view.closed and "closed: the Gateway's credentialName said shop-credentials" in view.text()
    steps = progress.steps_of(progress.load(tmp_path / progress.FILE_NAME), LAB)
    assert steps["the shop answers over HTTPS (fixed)"]["passed"] is True


def test_withholding_keeps_what_was_observed():
    result = CheckResult("t")
    result.add("ok item", True)
    result.add("bad item", False, "reset (56)", "STRICT resets plaintext")
    hidden = withhold_hints(result)
    assert [(i.label, i.ok, i.detail) for i in hidden.items] == [(i.label, i.ok, i.detail) for i in result.items]
    assert hidden.items[1].hint == WITHHELD and result.items[1].hint == "STRICT resets plaintext"


# --- the notebooks that use tickets -------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parent.parent
TICKET_LABS = [p for p in sorted((ROOT / "labs").glob("[0-9][0-9]-*.ipynb")) if "open_ticket(" in p.read_text()]
OPENED = re.compile(r'^(\w+) = open_ticket\(lab, "([\w-]+)"\)', re.M)


def visible_text(cell) -> str:
    """What a learner reads of a cell before running anything: Markdown, and comments of code outside the
    solution blocks (the learner copy drops those; their TODO lines are checked by tests/test_release.py)."""
    if cell.cell_type == "markdown":
        return cell.source
    stripped, _ = strip_solutions(cell.source)
    comments = [line[line.index("#"):] for line in stripped.splitlines() if "#" in line]
    return "\n".join(comment for comment in comments if not comment.startswith("# TODO:"))


def test_the_ticket_labs_are_found():
    assert {p.name[:2] for p in TICKET_LABS} >= {"13", "16", "17"}, TICKET_LABS


@pytest.mark.parametrize("path", TICKET_LABS, ids=lambda p: p.stem)
def test_no_text_before_a_tickets_check_names_its_fault(path):
    cells = nbformat.read(path, as_version=4).cells
    opened = [(i, m.group(1), m.group(2)) for i, c in enumerate(cells) for m in OPENED.finditer(c.source)]
    assert opened, f"{path.name}: no open_ticket(...) cell"
    for index, variable, ticket_id in opened:
        found = ticket(ticket_id)
        assert found.giveaways, f"ticket {ticket_id} lists no giveaways, so this test would prove nothing"
        closing = next((i for i, c in enumerate(cells) if i > index and c.source.startswith(f"{variable}.check(")),
                       None)
        assert closing is not None, f"{path.name}: ticket {ticket_id} is opened but never checked"
        for i in range(closing):
            text = visible_text(cells[i]).lower()
            named = [word for word in found.giveaways if word.lower() in text]
            assert not named, f"{path.name} cell {i} names ticket {ticket_id}'s fault before its check: {named}"
        headings = [line for c in cells[index - 1:closing] if c.cell_type == "markdown"
                    for line in c.source.splitlines() if line.startswith("#")]
        assert all(re.fullmatch(r"#+ Ticket \d+", h) for h in headings), headings


def test_the_giveaway_test_catches_a_named_fault():
    """The test above fails on what lab 12 used to do: a heading and a YAML comment naming the fault."""
    cell = nbformat.v4.new_code_cell('principals: ["cluster.local/ns/istio-system/sa/istio-ingressgateway"]'
                                     '   # the wrong service account')
    assert "wrong service account" in visible_text(cell)
    heading = nbformat.v4.new_markdown_cell("### 1. 403 Forbidden: the wrong service account")
    assert any(w in visible_text(heading) for w in ticket("asset-forbidden").giveaways)
    solution = nbformat.v4.new_code_cell("# BEGIN SOLUTION: fix it\n# the wrong service account\n# END SOLUTION")
    assert "wrong service account" not in visible_text(solution)
