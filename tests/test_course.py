"""The learner-facing framework: reset_lab, the Check widget's raising rule, progress, %%apply/%%delete."""
from __future__ import annotations

from pathlib import Path

import pytest

from labkit import progress, session
from labkit.checks.result import CheckResult, checker
from labkit.errors import LabkitError
from labkit.labs import LABS, lab_info, start_resources
from labkit.display.colours import outcome_colour
from labkit.widgets import check, interactive


# -- results and the checker decorator (no mesh) ----------------------------------------------------------
class FakeLab:
    backend, running = "fake", True

    def __init__(self, state_dir):
        self.state_dir = state_dir
        self.current_lab = "03"


@checker(lambda lab, ok: f"always {'passes' if ok else 'fails'}", settle=False)
def always(result: CheckResult, lab, ok: bool) -> None:
    result.add("the item", ok, "detail", "the hint")


@checker(lambda lab: "raises a lab error", settle=False)
def broken(result: CheckResult, lab) -> None:
    raise LabkitError("no curl here", hint="deploy curl")


def test_a_result_without_items_does_not_pass():
    assert not CheckResult("empty").passed


def test_report_and_assertion_carry_the_details():
    result = always(None, False)
    assert result.title == "always fails" and not result.passed
    with pytest.raises(AssertionError) as info:
        result.assert_passed()
    assert "[FAIL] the item: detail" in str(info.value) and "hint: the hint" in str(info.value)
    assert "&#10008;" in result.to_html() and "hint: the hint" in result.to_html()


def test_a_lab_error_becomes_a_failed_item():
    result = broken(None)
    assert result.failures[0].detail == "no curl here" and result.failures[0].hint == "deploy curl"


def test_check_raises_only_when_nobody_is_looking(tmp_path, monkeypatch, capsys):
    lab = FakeLab(tmp_path)
    monkeypatch.setenv("LABKIT_NONINTERACTIVE", "1")
    assert not interactive()
    with pytest.raises(AssertionError, match="always fails"):
        check(always, lab, False)
    check(always, lab, True)
    monkeypatch.setenv("LABKIT_NONINTERACTIVE", "0")
    assert interactive()
    check(always, lab, False)                      # shown, not raised
    with pytest.raises(AssertionError):
        check(always, lab, False, raise_on_fail=True)
    assert "FAIL: always fails" in capsys.readouterr().out


def test_without_the_variable_a_script_is_not_interactive(monkeypatch):
    monkeypatch.delenv("LABKIT_NONINTERACTIVE", raising=False)
    assert not interactive()  # no kernel here


def test_check_records_progress_under_the_current_lab(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_NONINTERACTIVE", "0")
    lab = FakeLab(tmp_path)
    check(always, lab, True)
    check(always, lab, False)
    steps = progress.steps_of(progress.load(tmp_path / progress.FILE_NAME), "03")
    assert steps["always passes"]["passed"] and not steps["always fails"]["passed"]


def test_matrix_colours():
    assert "#c8e6c9" in outcome_colour("200")
    assert "#ffcdd2" in outcome_colour("reset (56)")
    assert "#ffe0b2" in outcome_colour("403")
    assert "#e0e0e0" in outcome_colour("503")


# -- the catalogue and progress ----------------------------------------------------------------------------
def test_every_lab_is_listed_and_each_has_a_start():
    # Every notebook labs/NN-*.ipynb has its LabInfo and the reverse, in order (splits renumber the labs,
    # so the ids are read from the notebooks rather than listed here).
    notebooks = sorted(p.name for p in (Path(__file__).resolve().parent.parent / "labs").glob("[0-9][0-9]-*.ipynb"))
    assert [info.notebook for info in LABS] == notebooks
    assert all(info.notebook.startswith(info.id + "-") for info in LABS)
    assert all(info.start is not None for info in LABS)
    assert lab_info("3") is lab_info("03")
    kinds = {doc["kind"] for doc in start_resources("03")}
    assert kinds >= {"Namespace", "Deployment", "Service", "ServiceAccount"}
    with pytest.raises(LabkitError, match="no lab"):
        lab_info("42")


def test_progress_table_and_cli(tmp_path, capsys):
    from labkit.cli import main
    lab = FakeLab(tmp_path)
    progress.started(lab, "00")
    for step in lab_info("00").steps:
        progress.record(lab, "00", step, True)
    progress.record(lab, "01", lab_info("01").steps[0], True)
    table = progress.table(progress.load(tmp_path / progress.FILE_NAME))
    steps_00 = len(lab_info("00").steps)
    assert table.loc["00", "done"] and table.loc["00", "steps"] == f"{steps_00}/{steps_00}"
    assert table.loc["01", "steps"] == f"1/{len(lab_info('01').steps)}" and not table.loc["01", "done"]
    assert main(["progress", "--state-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Welcome and environment check" in out and "yes" in out


# -- against a real mesh: reset_lab and the magics ---------------------------------------------------------
NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata: {name: magic}\n"
POLICY = """
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default}
spec: {mtls: {mode: ${MODE}}}
"""


@pytest.fixture(scope="module")
def shell(lab):
    # One shell class for the whole session: other tests make InteractiveShell.instance() too, and a
    # TerminalInteractiveShell (IPython's globalipapp) cannot sit beside it.
    from IPython.core.interactiveshell import InteractiveShell
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "labkit")
    session.use(lab)
    yield ip
    session.use(None)


@pytest.mark.envoy
def test_reset_lab_brings_the_lab_start_and_records_it(lab):
    lab.apply(NAMESPACE)
    lab.reset_lab("02")
    assert lab.current_lab == "02" and session.current() is lab
    assert not lab.get("Namespace", "magic")
    pods = lab.pods()
    assert set(pods.namespace) == {"foo", "bar", "legacy", "istio-system"} and (pods.status == "Running").all()
    assert "02" in progress.load(progress.path_for(lab))["labs"]
    lab.reset_lab("01")
    assert set(lab.pods().namespace) == {"istio-system"}


@pytest.mark.envoy
def test_apply_and_delete_magics(shell, lab, capsys):
    shell.run_cell_magic("apply", "", NAMESPACE)
    shell.user_ns["MODE"] = "STRICT"
    shell.run_cell_magic("apply", "-n magic", POLICY)
    (policy,) = lab.get("PeerAuthentication", "default", namespace="magic")
    assert policy["spec"]["mtls"]["mode"] == "STRICT"
    shell.run_cell_magic("delete", "-n magic", POLICY)
    assert not lab.get("PeerAuthentication", namespace="magic")
    shell.run_cell_magic("apply", "", "# TODO: write the YAML\n")
    assert "Nothing to apply yet" in capsys.readouterr().out
    with pytest.raises(LabkitError, match=r"\$\{UNSET_NAME\} is not defined"):
        shell.run_cell_magic("apply", "", "metadata: {name: ${UNSET_NAME}}\n")
    shell.run_cell_magic("delete", "", NAMESPACE)
    assert not lab.get("Namespace", "magic")


def test_a_kernel_run_by_a_headless_runner_is_not_interactive(monkeypatch):
    """Without LABKIT_NONINTERACTIVE, a kernel started by pytest/nbclient still knows nobody is looking."""
    import nbformat
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell, new_notebook
    monkeypatch.delenv("LABKIT_NONINTERACTIVE", raising=False)
    notebook = new_notebook(cells=[new_code_cell("from labkit.widgets import interactive\nprint(interactive())")])
    NotebookClient(notebook, kernel_name="python3", timeout=60).execute()
    assert notebook.cells[0].outputs[0].text.strip() == "False"
    assert nbformat.validate(notebook) is None


@pytest.mark.parametrize("cmdline, headless", [
    (["/venv/bin/python", "-m", "pytest", "labs", "--nbval-lax"], True),
    (["/usr/bin/python3", "/venv/bin/pytest", "tests"], True),
    (["/venv/bin/python", "/venv/bin/jupyter-nbconvert", "--execute", "x.ipynb"], True),
    (["papermill", "in.ipynb", "out.ipynb"], True),
    (["/home/me/pytest-projects/.venv/bin/python", "-m", "jupyter", "lab"], False),
    (["/venv/bin/python", "/venv/bin/jupyter-lab", "--notebook-dir=/work/nbconvert-notes"], False),
])
def test_headless_runner_detection_looks_at_program_names(cmdline, headless):
    from labkit.widgets import _is_headless_runner
    assert _is_headless_runner(cmdline) is headless


# -- issue 21: a re-check of an earlier step, a LabkitError in a notebook ---------------------------------
@checker(lambda lab, outcome: "the step", settle=False)
def step(result: CheckResult, lab, outcome: dict) -> None:
    result.add("STRICT rejects plaintext", outcome["ok"], "curl 56", "apply the PeerAuthentication")


def test_a_failing_recheck_of_a_passed_step_keeps_the_pass_and_says_the_mesh_moved_on(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_NONINTERACTIVE", "0")
    lab, outcome = FakeLab(tmp_path), {"ok": False}
    progress.started(lab, "03")
    check(step, lab, outcome)                                        # not done yet: a plain failure
    steps = progress.steps_of(progress.load(tmp_path / progress.FILE_NAME), "03")
    assert steps["the step"]["passed"] is False

    outcome["ok"] = True
    check(step, lab, outcome)                                        # done: the pass and what it proved
    outcome["ok"] = False                                            # a later step changes the mesh
    from labkit.widgets import CheckWidget
    widget = CheckWidget(step, (lab, outcome), {})
    result = widget.run()
    assert not result.passed
    assert "moved on" in result.note and "STRICT rejects plaintext: curl 56" in result.note
    assert "note: " in result.report() and "moved on" in result.to_html()
    entry = progress.steps_of(progress.load(tmp_path / progress.FILE_NAME), "03")["the step"]
    assert entry["passed"] is True and entry["proved"] == ["STRICT rejects plaintext: curl 56"]
    assert entry["rechecked"]["passed"] is False

    progress.started(lab, "03")                                      # the lab starts afresh (reset_lab)
    again = CheckWidget(step, (lab, outcome), {}).run()
    assert not again.passed and not again.note                       # a new attempt: no stale "moved on"


def test_a_labkit_error_in_a_notebook_shows_message_and_hint_not_the_stack(capsys):
    from IPython.core.interactiveshell import InteractiveShell
    from labkit.notebook_errors import install
    shell = InteractiveShell.instance()
    install(shell)
    install(shell)                                                   # idempotent
    shell.user_ns["LabkitError"] = LabkitError
    code = ("def deep():\n    raise LabkitError(\"unknown field 'to'\", kind='AuthorizationPolicy', name='p',"
            " namespace='assets', field='spec.rules[0].from[0].to', hint='known fields here: source')\n"
            "def deeper():\n    deep()\ndeeper()\n")
    outcome = shell.run_cell(code)
    assert isinstance(outcome.error_in_exec, LabkitError)           # the cell still fails (Run All stops)
    shown = capsys.readouterr().out
    assert "unknown field 'to'" in shown and "hint: known fields here: source" in shown
    assert "deeper()" not in shown and "Traceback" not in shown
    other = shell.run_cell("1/0")
    assert "ZeroDivisionError" in capsys.readouterr().out and isinstance(other.error_in_exec, ZeroDivisionError)


def test_the_check_result_widget_renders_anew_on_every_run():
    """Issue 21 item 2: the result lives in a widget (its model in the kernel), so a notebook reopened while its
    kernel runs shows the latest click; a click whose result equals the last one still re-renders."""
    from IPython.core.interactiveshell import InteractiveShell
    from labkit.widgets import result_view_class
    display = InteractiveShell.instance().display_formatter   # as in a Jupyter kernel: HTML too (IPython's test
    saved = display.active_types, display.formatters["text/html"].enabled       # shell may render text only)
    display.active_types, display.formatters["text/html"].enabled = [*display.active_types, "text/html"], True
    try:
        view = result_view_class()()
        changes = []
        view.observe(lambda change: changes.append(change), names="outputs")
        result = always(None, True)
        view.show(result)
        view.show(always(None, True))
        assert len(changes) == 2
        bundle = view._repr_mimebundle_()
        assert "application/vnd.jupyter.widget-view+json" in bundle
        assert bundle["text/html"] == result.to_html() and bundle["text/plain"] == result.report()
    finally:
        display.active_types, display.formatters["text/html"].enabled = saved
