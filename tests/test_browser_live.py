"""Issue 19 in a real browser: the live traffic chart updates while a policy flips, and a ticket's Hint button
opens its hints one level at a time (recorded in progress).

JupyterLab in Debian's headless Chromium, driven by Playwright as in tests/test_browser.py (whose fixtures
this module uses: the server, the browser, the console log that fails on page errors, and the check that no
process outlives the kernel). The notebook is written here, cell by cell as a learner would run them:
start the traffic, apply STRICT in foo, delete it, stop.
"""
from __future__ import annotations

import json
import time

import nbformat
import pytest

from browser_support import NotebookPage, wait_until
from test_browser import (assert_console_clean, assert_no_widget_trouble, browser, chromium, console,  # noqa: F401
                          mesh_state, notebook, server, workspace)

pytestmark = [pytest.mark.envoy, pytest.mark.timeout(300)]

NOTEBOOK = "live-traffic.ipynb"
CELLS = [
    "from labkit.notebook import *\n%load_ext labkit\n\nlab = labkit.connect()\nlab.reset_lab(\"02\")",
    "traffic = live_traffic(lab, [(\"foo\", \"httpbin.foo:8000\"), (\"legacy\", \"httpbin.foo:8000\")], every=0.5)\n"
    "traffic",
    "%%apply -n foo\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: default\n"
    "spec:\n  mtls:\n    mode: STRICT",
    "%%delete -n foo\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: default",
    "ticket = open_ticket(lab, \"asset-forbidden\")\nticket",
]
START, TRAFFIC, STRICT_ON, STRICT_OFF, TICKET = range(len(CELLS))

# The chart's ticks as drawn: per row (route), the kinds in time order (labkit/display/traffic_chart.py).
_TICKS = r"""
(cell) => {
  const svg = cell.querySelector('svg.labkit-traffic-chart');
  if (!svg) return null;
  const rows = {};
  for (const r of svg.querySelectorAll('rect[data-kind]')) {
    (rows[r.dataset.route] = rows[r.dataset.route] || []).push(r.dataset.kind);
  }
  return rows;
}
"""


def run_cell(page: NotebookPage, index: int) -> None:
    page.cell(index).locator(".cm-content").click()
    page.run_selected_cell()


def ticks(page: NotebookPage) -> dict[str, list[str]]:
    return page.cell(TRAFFIC).evaluate(_TICKS) or {}


def wait_for_row(page: NotebookPage, row: str, predicate, what: str, timeout: float = 60) -> dict:
    wait_until(lambda: predicate(ticks(page).get(row, [])), timeout, what, interval=0.5)
    return ticks(page)


def test_live_traffic_chart_follows_strict_on_and_off_and_hints_open_by_level(workspace, notebook, console,
                                                                              server, mesh_state):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, workspace / "notebooks" / NOTEBOOK)

    page = notebook(NOTEBOOK)
    run_cell(page, START)
    run_cell(page, TRAFFIC)
    assert_no_widget_trouble(page, "live traffic started")

    # Both rows fill with green ticks: PERMISSIVE takes plaintext from legacy and mTLS from foo.
    wait_for_row(page, "1", lambda kinds: kinds.count("200") >= 3, "legacy's requests to answer 200")
    page.screenshot("live-traffic-permissive", TRAFFIC)

    # STRICT in foo: legacy's row turns red (reset) while the cell that applied it is long finished.
    run_cell(page, STRICT_ON)
    seen = wait_for_row(page, "1", lambda kinds: kinds[-3:] == ["reset"] * 3, "legacy's requests to be reset")
    assert set(seen["0"][-3:]) == {"200"}, f"foo's sidecar speaks mTLS and keeps getting 200: {seen}"
    page.screenshot("live-traffic-strict", TRAFFIC)

    # Policy deleted: green again, the red ticks still on the chart to the left.
    run_cell(page, STRICT_OFF)
    seen = wait_for_row(page, "1", lambda kinds: kinds[-3:] == ["200"] * 3, "legacy's requests to answer again")
    assert "reset" in seen["1"], seen
    legend = page.cell(TRAFFIC).locator(".labkit-traffic-legend").inner_text()
    assert "reset" in legend and "200" in legend, legend
    page.screenshot("live-traffic-strict-off", TRAFFIC)

    # Stop: the button says so, and no more ticks arrive.
    page.cell(TRAFFIC).locator("button.jupyter-button", has_text="Stop").click()
    wait_until(lambda: "Stopped" in page.read(TRAFFIC)["text"] or any(
        b["text"] == "Stopped" for b in page.read(TRAFFIC)["buttons"]), 20, "the Stop button to say Stopped")
    drawn = sum(len(kinds) for kinds in ticks(page).values())
    time.sleep(2)
    assert sum(len(kinds) for kinds in ticks(page).values()) <= drawn, "ticks kept coming after Stop"

    # A ticket: the report, no hint shown until asked; each click opens the next level, recorded in progress.
    run_cell(page, TICKET)
    shown = page.read(TICKET)
    assert "403 Forbidden" in shown["text"] and "where to look:" not in shown["text"], shown["text"]
    page.cell(TICKET).locator("button.jupyter-button", has_text="Hint 1 of 3").click()
    wait_until(lambda: "where to look:" in page.read(TICKET)["text"], 20, "the first hint")
    assert "what's wrong:" not in page.read(TICKET)["text"]
    page.cell(TICKET).locator("button.jupyter-button", has_text="Hint 2 of 3").click()
    wait_until(lambda: "what's wrong:" in page.read(TICKET)["text"], 20, "the second hint")
    page.screenshot("ticket-two-hints", TICKET)
    recorded = json.loads((mesh_state / "progress.json").read_text())
    assert recorded["labs"]["02"]["hints"]["asset-forbidden"]["level"] == 2, recorded["labs"]["02"]
    assert_console_clean(console, "live traffic and ticket")
