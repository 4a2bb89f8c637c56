"""The labs in a real browser: JupyterLab in headless Chromium (Debian's), driven by Playwright like a learner.

Lab 03 (the richest in widgets) runs top to bottom from the Run menu; then the DOM must show what a learner
is meant to see: each check's pass/fail list with its marks and colours, the Check buttons as live
ipywidgets in the right state, the traffic matrices coloured cell by cell. A click on Check re-runs the
check and re-renders its result in place. The learner version (`labkit release`) fails its first exercise
check with a hint; typing the solution into the exercise cell and clicking Check turns it green.
Issue 19: the live traffic chart turns red while STRICT is on and green again after, and a ticket's Hint
button opens its hints one level per click.

Every console error and uncaught exception in the page fails the test (BENIGN_CONSOLE_ERRORS in
browser_support lists the few ignored ones, each with its reason), and so does a request that tries to
leave the machine. Screenshots, the console log and the server's log go to artifacts/browser/.

Needs /usr/bin/chromium (scripts/install-browser.sh installs Debian's package) and the Python package
playwright (never `playwright install`: its downloaded browsers are not used). Without them the tests
skip, saying why; with LABKIT_REQUIRE_BROWSER=1 (CI) they fail instead.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from test_release import distinctive_solution_lines, lines_of
from graph_facts import rendered_layout_problems
from browser_support import (ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, ROOT, WIDGET_STATE, WIDGET_VIEW, ConsoleLog,
                             JupyterLabServer, NotebookPage, browser_unavailable, copy_notebook, processes_naming,
                             unsaved_widget_models, wait_until)

pytestmark = [pytest.mark.envoy, pytest.mark.timeout(240)]

LAB = "03-strict.ipynb"
GREEN, RED, GREY = "rgb(200, 230, 201)", "rgb(255, 205, 210)", "rgb(224, 224, 224)"  # labkit.widgets
PASS_COLOUR, FAIL_COLOUR = "rgb(27, 127, 59)", "rgb(176, 0, 32)"       # CheckResult.to_html
WIDGET_TROUBLE = ("Error displaying widget", "Loading widget", "Button(description=", "IntProgress(")


# --- fixtures ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def chromium():
    reason = browser_unavailable()
    if reason:
        if os.environ.get("LABKIT_REQUIRE_BROWSER", "").strip() not in ("", "0"):
            pytest.fail(f"LABKIT_REQUIRE_BROWSER is set but {reason}")
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="module")
def workspace(chromium, tmp_path_factory):
    """Copies to open (JupyterLab saves what it runs): the instructor lab, and the learner one from
    `labkit release` (what `make lab` serves: goals, skeletons and Show solution buttons)."""
    base = tmp_path_factory.mktemp("browser")
    root = base / "notebooks"
    copy_notebook(ROOT / "labs" / LAB, root)
    subprocess.run([sys.executable, "-m", "labkit.cli", "release", "--out", str(root / "learner")], cwd=ROOT,
                   check=True, capture_output=True, text=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*"):
        if old.is_file():
            old.unlink()
    return base


@pytest.fixture(scope="module")
def mesh_state():
    """Where the kernels' mesh lives: inside this test session's private state directory (conftest.py), so
    the mesh never meets a learner's own or another test's, and leftovers are easy to find."""
    session = os.environ.get("LABKIT_STATE_DIR")
    assert session, "the repository's conftest.py sets LABKIT_STATE_DIR for every test session"
    return Path(session) / "browser-test"


@pytest.fixture(scope="module")
def server(workspace, mesh_state):
    env = dict(os.environ, LABKIT_STATE_DIR=str(mesh_state))  # subnet and gateway ports: the session's
    lab = JupyterLabServer(workspace / "notebooks", workspace / "jupyter", env).start()
    try:
        yield lab
    finally:
        lab.stop()
        (ARTIFACTS / "jupyterlab.log").write_text(lab.log())
        left = lab.leftovers(marks=(str(mesh_state),))
        assert not left, "still running after JupyterLab stopped: " + "; ".join(
            f"{p.pid} {' '.join(p.cmdline())[:160]}" for p in left)


@pytest.fixture(scope="module")
def browser(chromium, workspace):
    """Debian's Chromium, headless, with a fresh profile (--user-data-dir), driven by Playwright."""
    from playwright.sync_api import sync_playwright
    profile = workspace / "chromium-profile"
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS,
            chromium_sandbox=False, viewport={"width": 1400, "height": 1000}, handle_sigint=False)
        context.set_default_timeout(30_000)
        try:
            yield context
        finally:
            context.close()
    wait_until(lambda: not processes_naming(str(profile)), 10, "Chromium to exit")


@pytest.fixture
def console(request):
    log = ConsoleLog()
    yield log
    log.save(ARTIFACTS / f"console-{request.node.name}.log")


@pytest.fixture
def notebook(server, browser, console, mesh_state, request):
    """Open a notebook in a new tab; afterwards its kernel is shut down and its whole mesh gone."""
    pages = []

    def open_notebook(path: str) -> NotebookPage:
        page = browser.new_page()
        pages.append(page)
        console.attach(page)
        return NotebookPage(page, server, path, workspace=request.node.name.replace("_", "-"),
                            console=console).open()

    yield open_notebook
    for number, page in enumerate(pages):
        page.screenshot(path=ARTIFACTS / f"last-{request.node.name}-{number}.png")  # where it stopped
        page.close()
    server.shutdown_kernels()
    wait_until(lambda: not server.leftovers(marks=(str(mesh_state),)), 30, "the kernel's mesh to stop")


# --- what the notebook should show ------------------------------------------------------------------------
def cells(path: Path):
    return nbformat.read(path, as_version=4).cells


def index_of(notebook_cells, source: str, after: int = -1) -> int:
    return next(i for i, c in enumerate(notebook_cells) if i > after and c.source.strip() == source)


def first_exercise_check(notebook_cells) -> int:
    """The first `check(` cell after the first cell that had a solution (as tests/test_release.py)."""
    first = next(i for i, c in enumerate(notebook_cells) if c.cell_type == "code" and "TODO" in c.source)
    return next(i for i, c in enumerate(notebook_cells) if i > first and c.cell_type == "code"
                and c.source.startswith("check("))


def solution_of(instructor_cells, todo_cell_source: str) -> str:
    """What the learner has to write in place of a TODO: the instructor's lines between the markers."""
    todo = todo_cell_source.split("# TODO:", 1)[1].splitlines()[0].strip()   # a heredoc's EOF may follow
    for cell in instructor_cells:
        match = re.search(r"# BEGIN SOLUTION:\s*" + re.escape(todo) + r"\n(.*?)\n\s*# END SOLUTION", cell.source, re.S)
        if match:
            return match.group(1)
    raise AssertionError(f"no solution for {todo!r}")


def assert_check(view: dict, passed: bool, where: str) -> dict:
    """The cell shows one check result, passed or failed as expected, as a learner would see it."""
    assert len(view["checks"]) == 1, f"{where}: expected one check result, the cell shows:\n{view['text']}"
    result = view["checks"][0]
    assert result["visible"], f"{where}: the check result is not visible"
    assert result["title"].endswith(": passed" if passed else ": failed"), f"{where}: {result['title']}"
    assert result["titleColour"] == (PASS_COLOUR if passed else FAIL_COLOUR), f"{where}: {result}"
    assert result["items"], f"{where}: a check result with no items"
    for item in result["items"]:
        assert item["mark"] in ("\u2714", "\u2718"), f"{where}: {item}"
        ok = item["mark"] == "\u2714"
        assert item["markColour"] == (PASS_COLOUR if ok else FAIL_COLOUR), f"{where}: {item}"
        if ok:
            assert item["hint"] is None, f"{where}: a passed item with a hint: {item}"
    if passed:
        assert all(i["mark"] == "\u2714" for i in result["items"]), f"{where}: {result['items']}"
    else:
        failures = [i for i in result["items"] if i["mark"] == "\u2718"]
        assert failures, f"{where}: failed, yet no item is marked failed: {result['items']}"
        assert any(i["hint"] and i["hint"].startswith("hint: ") and len(i["hint"]) > 12 and i["hintVisible"]
                   for i in failures), f"{where}: no visible hint on the failed items: {failures}"
    assert len(view["buttons"]) == 1, f"{where}: expected one Check button, the cell shows:\n{view['text']}"
    button = view["buttons"][0]
    assert button["visible"] and button["text"] == "Check" and not button["disabled"], f"{where}: {button}"
    assert ("mod-success" if passed else "mod-danger") in button["classes"], f"{where}: {button}"
    return result


def matrix(view: dict, where: str) -> dict[tuple[str, str], tuple[str, str]]:
    assert len(view["tables"]) == 1, f"{where}: expected one table, the cell shows:\n{view['text']}"
    table = view["tables"][0]
    servers = table["head"][1:]
    return {(row["name"], server): (cell["text"], cell["background"])
            for row in table["rows"] for server, cell in zip(servers, row["cells"])}


def assert_matrix(view: dict, resets: set[tuple[str, str]], where: str) -> None:
    """3 x 3 clients by servers; the `resets` pairs red and reset (curl 56), every other one green 200."""
    shown = matrix(view, where)
    names = ("foo", "bar", "legacy")
    assert set(shown) == {(f"curl.{c}", f"httpbin.{s}") for c in names for s in names}, f"{where}: {shown}"
    for (client, server), (text, background) in shown.items():
        if (client.split(".")[1], server.split(".")[1]) in resets:
            assert text.startswith("reset") and background == RED, f"{where}: {client} -> {server}: {text} {background}"
        else:
            assert text == "200" and background == GREEN, f"{where}: {client} -> {server}: {text} {background}"


def assert_no_widget_trouble(page: NotebookPage, where: str) -> None:
    text = page.panel_text()
    for trouble in WIDGET_TROUBLE:
        assert trouble not in text, f"{where}: the notebook shows {trouble!r}"
    assert "Traceback" not in text, f"{where}: an error output:\n{text[text.index('Traceback') - 300:][:1500]}"


def assert_mesh_processes_found(server: JupyterLabServer, mesh_state: Path) -> None:
    """While a lab runs, the leftover search finds its kernel and the Envoy proxies of its mesh (else "no
    process is left" after the test would prove nothing)."""
    running = [" ".join(p.cmdline()) for p in server.leftovers(marks=(str(mesh_state),))]
    assert any("ipykernel" in cmd for cmd in running), running
    assert any("envoy" in cmd.split(" ", 1)[0] for cmd in running), running


def assert_console_clean(console: ConsoleLog, where: str) -> None:
    problems = console.problems()
    assert not problems, f"{where}: the page logged errors:\n" + "\n".join(problems)


# --- the tests --------------------------------------------------------------------------------------------
def test_the_saved_state_check_names_a_widget_the_outputs_show_but_the_state_lacks(tmp_path):
    """NotebookPage.reopen blames a "model not found" on saving only when this finds a model missing."""
    def saved(state_ids, shown_ids):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("w")])
        nb.cells[0].outputs = [nbformat.v4.new_output("display_data", data={WIDGET_VIEW: {"model_id": m}})
                               for m in shown_ids]
        nb.metadata["widgets"] = {WIDGET_STATE: {"state": {m: {} for m in state_ids}}}
        path = tmp_path / "saved.ipynb"
        nbformat.write(nb, path)
        return path
    assert unsaved_widget_models(saved(["a", "b", "layout"], ["a", "b"])) == []
    assert unsaved_widget_models(saved(["a"], ["a", "b"])) == ["b"]
    assert unsaved_widget_models(saved([], ["a"])) == ["a"]


def test_lab_runs_in_jupyterlab_and_its_validators_render(workspace, notebook, console, server, mesh_state):
    started = time.monotonic()
    source = cells(workspace / "notebooks" / LAB)
    page = notebook(LAB)
    page.run_all()
    ran = time.monotonic() - started
    page.screenshot("lab03-after-run-all")

    executed = [page.read(i)["prompt"] for i, c in enumerate(source) if c.cell_type == "code"]
    if not all(re.fullmatch(r"\[\d+\]:", p) for p in executed):
        # Run All stops at a cell that raised: show what that cell printed, not only the prompts.
        ran = [i for i, c in enumerate(source) if c.cell_type == "code" and re.fullmatch(r"\[\d+\]:", page.read(i)["prompt"])]
        last = page.read(ran[-1])["text"][-3000:] if ran else "(no cell ran)"
        raise AssertionError(f"cells not run: {executed}\nthe last cell that ran printed:\n{last}")
    assert_no_widget_trouble(page, "after Run All")

    # Every check in the lab passes, as the solutions are in; the results are lists, the buttons widgets.
    checks = [i for i, c in enumerate(source) if c.cell_type == "code" and c.source.startswith("check(")]
    assert len(checks) >= 6, checks
    for index in checks:
        assert_check(page.read(index), passed=True, where=f"cell {index} ({source[index].source})")
    first = checks[0]
    page.screenshot("lab03-check-passed", first)
    assert len(page.read(first)["checks"][0]["items"]) >= 3

    # Check runs the check again, on the mesh as it is now, and renders the result anew in place. At the
    # end of the lab the policies are deleted again: the first check now fails, with its hint, in red.
    now = page.click_check(first)
    assert_check(now, passed=False, where=f"cell {first} clicked after the lab deleted its policy")
    page.screenshot("lab03-check-clicked-now-fails", first)
    all_200 = index_of(source, "check(checks.traffic_matrix_matches, lab)")
    assert_check(page.click_check(all_200), passed=True, where=f"cell {all_200} clicked")
    page.screenshot("lab03-check-clicked-still-passes", all_200)

    # The traffic matrices, cell by cell: STRICT in foo resets legacy -> foo; mesh-wide also legacy -> bar.
    foo_only = index_of(source, "traffic_matrix(lab)")
    assert_matrix(page.read(foo_only), {("legacy", "foo")}, f"cell {foo_only} (STRICT in foo)")
    page.screenshot("lab03-traffic-matrix-strict-foo", foo_only)
    # Issue 20: the same calls as a graph, laid out readably (checked on the boxes the browser drew):
    # legacy's sidecar-less curl is `unknown`, its call into STRICT foo red, the sidecars' calls locked.
    graph = index_of(source, "lab.graph()")
    page.screenshot("lab03-graph-strict-foo", graph)
    drawn = page.graph_layout(graph)
    assert len(drawn) == 1 and rendered_layout_problems(drawn[0]) == [], f"cell {graph}: {drawn}"
    edges = {e["name"]: e for e in drawn[0]["edges"]}
    assert "reset" in edges["unknown → foo/httpbin"]["labels"][0]["words"], edges
    assert edges["foo/curl → bar/httpbin"]["locks"] == 1 and edges["foo/curl → legacy/httpbin"]["locks"] == 0
    assert not any(name.startswith("legacy/") for name in edges), list(edges)
    mesh_wide = index_of(source, "traffic_matrix(lab)", after=foo_only)
    assert_matrix(page.read(mesh_wide), {("legacy", "foo"), ("legacy", "bar")}, f"cell {mesh_wide} (mesh-wide)")
    page.screenshot("lab03-traffic-matrix-mesh-wide", mesh_wide)

    # The pods table: READY 2/2 (with a sidecar, in foo) green, 1/1 (without one, in legacy) grey.
    pods = index_of(source, 'pods_table(lab, ["foo", "legacy"])')
    table = page.read(pods)["tables"]
    assert len(table) == 1 and table[0]["head"][:3] == ["", "namespace", "pod"], f"cell {pods}: {table}"
    ready = {row["cells"][1]["text"]: row["cells"][2]["text"] for row in table[0]["rows"]}
    colours = {row["cells"][2]["text"]: {c["background"] for c in row["cells"]} for row in table[0]["rows"]}
    assert sorted(ready.values()) == ["1/1", "1/1", "2/2", "2/2"], f"cell {pods}: {ready}"
    assert colours == {"2/2": {GREEN}, "1/1": {GREY}}, f"cell {pods}: {colours}"

    # Progress: the lab's last check lists every step above as passed.
    last = checks[-1]
    assert "lab 03 is complete" in page.read(last)["checks"][0]["title"]
    assert_console_clean(console, "lab 03")
    print(f"lab 03 ran in JupyterLab in {ran:.1f}s")

    # A learner comes back another day: the notebook was saved, its kernel is gone, the page is reloaded.
    # The saved results still show, and the widgets render from the state saved with the notebook.
    widgets = server.lab_setting("@jupyter-widgets/jupyterlab-manager:plugin")
    assert widgets.get("saveState"), (
        "JupyterLab does not save widget state with notebooks, so a reopened lab shows 'Error displaying "
        "widget: model not found' under every check: labkit's settings (jupyter-config/lab/settings/"
        "overrides.d/labkit.json5) are not installed in this environment (pip install -e . installs them)")
    titles = {i: [c["title"] for c in page.read(i)["checks"]] for i in checks}
    page.save()
    assert_mesh_processes_found(server, mesh_state)
    server.shutdown_kernels()
    page.reopen(workspace / "notebooks" / LAB)
    page.screenshot("lab03-reopened")
    assert_no_widget_trouble(page, "reopened after the kernel went away")
    assert {i: [c["title"] for c in page.read(i)["checks"]] for i in checks} == titles
    reopened = page.read(first)["buttons"]
    assert len(reopened) == 1 and reopened[0]["text"] == "Check" and reopened[0]["visible"], reopened
    page.screenshot("lab03-reopened-check", first)
    assert_console_clean(console, "lab 03 reopened")


def run_cell(page: NotebookPage, index: int) -> None:
    """Click into the cell's editor and run it (Ctrl+Enter), as a learner would."""
    page.cell(index).locator(".cm-content").click()
    page.run_selected_cell()


def progress_of(mesh_state: Path, lab_id: str) -> dict:
    return json.loads((mesh_state / "progress.json").read_text())["labs"].get(lab_id, {})


def test_learner_lab_hides_solutions_reveals_on_demand_records_predictions_and_fails_until_solved(
        workspace, notebook, console, server, mesh_state):
    """Issue 19: the notebook `make lab` serves. No solution text shows; the first exercise's check fails with
    a hint; Show solution reveals the instructor's lines and progress notes it; a prediction records the
    answer and explains only after the observation ran; the typed solution turns the check green."""
    learner = cells(workspace / "notebooks" / "learner" / LAB)
    instructor_notebook = nbformat.read(workspace / "notebooks" / LAB, as_version=4)
    instructor = instructor_notebook.cells
    lab_id = LAB[:2]
    exercise_check = first_exercise_check(learner)
    exercise = max(i for i in range(exercise_check) if "TODO" in learner[i].source)
    reveal = exercise + 1
    assert learner[reveal].source.startswith("reveal_solution("), learner[reveal].source
    asks = [i for i, c in enumerate(learner) if c.cell_type == "code" and c.source.startswith("prediction(")]
    assert asks, f"learner {LAB} has no prediction"

    page = notebook(f"learner/{LAB}")
    page.run_all()
    # Nothing the learner sees holds a line of any solution (the skeleton's blanks are not answers).
    secret = distinctive_solution_lines(instructor_notebook)
    assert secret and not (secret & lines_of(page.panel_text())), sorted(secret & lines_of(page.panel_text()))
    view = page.read(exercise_check)
    failed = assert_check(view, passed=False, where=f"learner cell {exercise_check}")
    page.screenshot("learner-lab03-first-exercise-fails", exercise_check)
    assert "Traceback" not in view["text"] and "AssertionError" not in view["text"], \
        "in JupyterLab a failed check is shown, not raised:\n" + view["text"]

    # Check again without doing anything: still failing, still with the hint.
    again = page.click_check(exercise_check)
    assert assert_check(again, passed=False, where="after clicking Check")["items"] == failed["items"]

    # Show solution: the instructor's lines appear under the button, and progress notes the reveal.
    solution = solution_of(instructor, learner[exercise].source)
    assert "revealed" not in progress_of(mesh_state, lab_id)
    page.cell(reveal).locator("button.jupyter-button", has_text="Show solution").click()
    shown = page.cell(reveal).locator("pre.labkit-solution")
    shown.wait_for()
    assert shown.inner_text().strip() == solution.strip()
    page.screenshot("learner-lab03-solution-revealed", reveal)
    assert wait_until(lambda: progress_of(mesh_state, lab_id).get("revealed"), 10, "the reveal in progress")

    # Predict, then observe: asked again (a fresh widget), answered, explained only after the next cell runs.
    ask = asks[0]
    run_cell(page, ask)
    widget = page.cell(ask).locator(".labkit-prediction")
    widget.locator(".widget-radio-box label").first.click()
    widget.locator("button.jupyter-button", has_text="Lock in").click()
    page.page.wait_for_function("(cell) => cell.innerText.includes('Your prediction')",
                                arg=page.cell(ask).element_handle())
    assert "Now run the next cell" in page.read(ask)["text"]
    assert page.cell(ask).locator(".labkit-explanation").count() == 0, "explained before the observation ran"
    predicted = progress_of(mesh_state, lab_id)["predictions"]
    assert len(predicted) == 1 and next(iter(predicted.values()))["choice"], predicted
    run_cell(page, ask + 1)
    page.cell(ask).locator(".labkit-explanation").wait_for()
    page.screenshot("learner-lab03-prediction-explained", ask)

    # The learner types the solution under the TODO, runs the cell, and clicks Check: it passes.
    # Under the TODO line, as a learner would: in a `kubectl apply -f - <<EOF` cell, above the closing EOF.
    source_lines = learner[exercise].source.splitlines()
    below = len(source_lines) - 1 - next(i for i, line in enumerate(source_lines) if "# TODO:" in line)
    page.type_at_end_of_cell(exercise, solution, lines_up=below)
    typed = page.cell_source(exercise)
    assert "mode: STRICT" in typed, typed
    page.run_selected_cell()
    page.screenshot("learner-lab03-exercise-typed", exercise)
    solved = page.click_check(exercise_check)
    assert_check(solved, passed=True, where="after solving the exercise and clicking Check")
    page.screenshot("learner-lab03-first-exercise-solved", exercise_check)
    assert_console_clean(console, "learner lab 03")
    assert_mesh_processes_found(server, mesh_state)


# --- issue 21: lab 15 (the troubleshooting toolbox) as a learner sees it ---------------------------------------
TOOLBOX = "15-troubleshoot-toolbox.ipynb"
BAD_POLICY = ('lab.apply({"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy", "metadata": '
              '{"name": "bad", "namespace": "backend"}, "spec": {"rules": [{"from": [{"to": [{"operation": '
              '{"methods": ["GET"]}}]}]}]}})')
# What ticket 1 of lab 16 fixes: the mesh moves on, and lab 15's first check (the shop's TLS failure) no longer holds.
FIX_GATEWAY = ('lab.apply({"apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": {"name": '
               '"shop-gateway", "namespace": "istio-system"}, "spec": {"selector": {"istio": "ingressgateway"}, '
               '"servers": [{"port": {"number": 443, "name": "https", "protocol": "HTTPS"}, "hosts": '
               '["shop.local.test"], "tls": {"mode": "SIMPLE", "credentialName": "shop-credential"}}]}})')


def starts(notebook_cells, prefix: str, after: int = -1) -> int:
    return next(i for i, c in enumerate(notebook_cells) if i > after and c.source.startswith(prefix))


def assert_fits(page: NotebookPage, index: int, where: str) -> None:
    """Nothing in the cell's outputs is wider than the notebook pane (no sideways scrolling to find a column)."""
    for out in page.overflow(index):
        assert out["content"] <= out["visible"] + 2 and out["widest"] <= out["visible"] + 2, \
            f"{where}: an output is {max(out['content'], out['widest'])} px wide in a {out['visible']} px pane: {out}"


def test_lab15_fits_the_pane_shows_errors_briefly_and_rechecks_after_reopening(workspace, notebook, console, server,
                                                                               mesh_state):
    copy_notebook(ROOT / "labs" / TOOLBOX, workspace / "notebooks")
    source = cells(workspace / "notebooks" / TOOLBOX)
    news = server.lab_setting("@jupyterlab/apputils-extension:notification")
    assert news.get("fetchNews") == "false", f"JupyterLab would ask about its news on first open: {news}"
    page = notebook(TOOLBOX)
    page.run_all(timeout=240)
    executed = [page.read(i)["prompt"] for i, c in enumerate(source) if c.cell_type == "code"]
    assert all(re.fullmatch(r"\[\d+\]:", p) for p in executed), f"cells not run: {executed}"
    assert "official Jupyter news" not in page.page.inner_text("body")

    # Item 4: the tables and graphs the text talks about fit the pane, values whole (no "...").
    clusters = starts(source, 'lab.proxy_config("shop", "web-frontend", "clusters")')
    certificates = starts(source, 'lab.certs("shop", "web-frontend")')
    access = starts(source, 'lab.exec("shop", "web-frontend"')
    graphs = [i for i, c in enumerate(source) if c.source.startswith("lab.graph(")]
    for index in [clusters, certificates, access, *graphs]:
        page.screenshot(f"lab15-fits-{index}", index)
        assert_fits(page, index, f"cell {index} ({source[index].source.splitlines()[0]})")
    # Issue 20: the graphs' layout facts, on the boxes the browser drew (labels apart, every edge labelled,
    # padlocks on exactly the mTLS edges); the screenshots are the artifacts lab15-graph-N.png.
    assert graphs, "lab 15 has no lab.graph() cell"
    for index in graphs:
        page.screenshot(f"lab15-graph-{index}", index)
        drawn = page.graph_layout(index)
        assert len(drawn) == 1 and drawn[0]["edges"], f"cell {index}: no graph with edges drawn: {drawn}"
        assert rendered_layout_problems(drawn[0]) == [], f"cell {index}: {rendered_layout_problems(drawn[0])}"
    assert "TLS" in " ".join(page.read(clusters)["tables"][0]["head"]).upper()
    assert "spiffe://cluster.local/ns/shop/sa/web-frontend" in page.read(certificates)["text"]
    assert "caller" in page.read(access)["tables"][0]["head"]

    # Item 5: a LabkitError reads as its message and hint; the traceback is one click away.
    policy = starts(source, "lab.analyze()")
    page.type_at_end_of_cell(policy, BAD_POLICY)
    page.run_selected_cell()
    shown = page.read(policy)["text"]
    page.screenshot("lab15-labkit-error", policy)
    assert "unknown field 'to'" in shown and "hint:" in shown, shown
    assert "Traceback" not in shown and "schema.py" not in shown and len(shown.splitlines()) < 12, shown
    page.cell(policy).locator("details summary").first.click()
    assert "schema.py" in page.read(policy)["text"]

    # Items 2 and 3: the shop's gateway fixed (as lab 16's ticket 1 does), saved, reopened while its kernel runs;
    # the first check (the shop's TLS failure, now fixed) is clicked again: its result re-renders in place,
    # failed, and says the mesh moved on.
    fix = starts(source, "lab.evidence()")
    page.type_at_end_of_cell(fix, FIX_GATEWAY)
    page.run_selected_cell()
    first = starts(source, "check(")
    assert page.read(first)["checks"][0]["title"].endswith(": passed")
    page.save()
    page.reopen(workspace / "notebooks" / TOOLBOX)
    assert_no_widget_trouble(page, "reopened with the kernel running")
    again = page.click_check(first)
    page.screenshot("lab15-recheck-after-reopen", first)
    assert len(again["checks"]) == 1 and again["checks"][0]["title"].endswith(": failed"), again["text"]
    assert "moved on" in again["text"], again["text"]
    assert "mod-danger" in again["buttons"][0]["classes"], again["buttons"]
    assert_console_clean(console, "lab 15")


# --- issue 19 items 2 and 4: live traffic while a policy flips, a ticket's hints ------------------------------
# A notebook written here, run cell by cell as a learner would: start the traffic, apply STRICT in foo, delete
# it, stop; then a ticket whose Hint button opens one level per click (recorded in progress).
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


def ticks(page: NotebookPage) -> dict[str, list[str]]:
    return page.cell(TRAFFIC).evaluate(_TICKS) or {}


def wait_for_row(page: NotebookPage, row: str, predicate, what: str, timeout: float = 60) -> dict:
    wait_until(lambda: predicate(ticks(page).get(row, [])), timeout, what, interval=0.5)
    return ticks(page)


@pytest.mark.timeout(300)
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
    recorded = progress_of(mesh_state, "02")
    assert recorded["hints"]["asset-forbidden"]["level"] == 2, recorded
    assert_console_clean(console, "live traffic and ticket")
