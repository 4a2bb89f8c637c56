"""The learner's copies (labkit/learner_copies.py), the Show solution button (labkit/reveal.py) and the
prediction widget (labkit/predict.py): what they record, and that a learner's edits survive `make lab`."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from labkit import current, progress
from labkit.errors import LabkitError
from labkit.learner_copies import MANIFEST, release
from labkit.predict import Prediction, PredictionWidget, prediction
from labkit.reveal import SolutionReveal, instructor_dir, solution_text

LABS = Path(__file__).resolve().parent.parent / "labs"
FIRST_LAB_WITH_EXERCISES = "02-permissive"


@pytest.fixture
def labs_copy(tmp_path) -> Path:
    """Instructor notebooks the test may change, as an author would between two `make lab`s."""
    source = tmp_path / "labs"
    source.mkdir()
    for path in LABS.glob("[0-9][0-9]-*.ipynb"):
        shutil.copy(path, source / path.name)
    return source


@pytest.fixture
def fake_lab(tmp_path, monkeypatch):
    """What `reset_lab` leaves for the widgets: the current lab, with its state directory."""
    lab = SimpleNamespace(state_dir=tmp_path / "state", current_lab="02")
    lab.state_dir.mkdir()
    monkeypatch.setattr(current, "_current", None)
    current.use(lab)
    return lab


def change_first_markdown(path: Path, text: str) -> None:
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[0].source += text
    nbformat.write(notebook, path)


def test_make_lab_refreshes_untouched_copies_and_never_overwrites_the_learners(labs_copy, tmp_path):
    out = tmp_path / "learner"
    first = release(labs_copy, out)
    assert len(first.written) == len(list(labs_copy.glob("*.ipynb"))) and not first.kept
    assert json.loads((out / MANIFEST).read_text())["source"] == str(labs_copy.resolve())
    again = release(labs_copy, out)
    assert not again.written and not again.kept and len(again.unchanged) == len(first.written)

    # The learner works in 02 (types, runs, saves); the author then changes 02 and 03 (a `git pull`).
    mine = out / "02-permissive.ipynb"
    edited = nbformat.read(mine, as_version=4)
    edited.cells[1].source += "\nprint('my own line')"
    nbformat.write(edited, mine)
    before = mine.read_bytes()
    change_first_markdown(labs_copy / "02-permissive.ipynb", "\n\nA new sentence.")
    change_first_markdown(labs_copy / "03-strict.ipynb", "\n\nA new sentence.")
    report = release(labs_copy, out)
    assert [p.name for p in report.kept] == ["02-permissive.ipynb"]
    assert [p.name for p in report.written] == ["03-strict.ipynb"]
    assert mine.read_bytes() == before, "the learner's edits were overwritten"
    assert "A new sentence." in (out / "03-strict.ipynb").read_text()
    assert "kept your own copies" in report.summary() and "02-permissive.ipynb" in report.summary()

    # A copy the manifest does not know (made by hand, or by an older `make learner`) is the learner's too.
    stray = out / "06-destination-rule-tls.ipynb"
    stray.write_text(stray.read_text().replace("Lab 06", "Lab 06 (mine)"))
    manifest = json.loads((out / MANIFEST).read_text())
    del manifest["files"]["06-destination-rule-tls.ipynb"]
    (out / MANIFEST).write_text(json.dumps(manifest))
    assert "06-destination-rule-tls.ipynb" in [p.name for p in release(labs_copy, out).kept]
    # Deleting a copy gets the new version back.
    mine.unlink()
    assert "02-permissive.ipynb" in [p.name for p in release(labs_copy, out).written]
    assert "A new sentence." in mine.read_text()


def test_a_renamed_or_split_lab_retires_its_old_copy_and_moves_the_learners_work_aside(labs_copy, tmp_path):
    """After a `git pull` that renames labs (issue 19 split 04 into 04 and 05), `make lab` must not keep serving
    the old notebook beside the new ones; a copy the learner worked in is theirs, so it moves to old/."""
    out = tmp_path / "learner"
    (labs_copy / "03-strict.ipynb").rename(labs_copy / "03-old-strict.ipynb")
    (labs_copy / "02-permissive.ipynb").rename(labs_copy / "02-old-permissive.ipynb")
    release(labs_copy, out)
    mine = out / "02-old-permissive.ipynb"
    edited = nbformat.read(mine, as_version=4)
    edited.cells[1].source += "\nprint('my own line')"
    nbformat.write(edited, mine)
    (out / "my-notes.ipynb").write_text("{}")   # the learner's own notebook: never the release's business
    (labs_copy / "03-old-strict.ipynb").rename(labs_copy / "03-strict.ipynb")
    (labs_copy / "02-old-permissive.ipynb").rename(labs_copy / "02-permissive.ipynb")

    report = release(labs_copy, out)
    assert report.removed == ["03-old-strict.ipynb"]
    assert [p.relative_to(out).as_posix() for p in report.moved] == ["old/02-old-permissive.ipynb"]
    assert "my own line" in (out / "old" / "02-old-permissive.ipynb").read_text()
    served = sorted(p.name for p in out.glob("[0-9][0-9]-*.ipynb"))
    assert served == sorted(p.name for p in labs_copy.glob("[0-9][0-9]-*.ipynb"))
    assert (out / "my-notes.ipynb").exists()
    assert set(json.loads((out / MANIFEST).read_text())["files"]) == {p.name for p in labs_copy.glob("*.ipynb")}
    assert "moved your copies" in report.summary() and "removed untouched copies" in report.summary()
    # Nothing is left to retire the next time.
    again = release(labs_copy, out)
    assert again.removed == [] and again.moved == []


def test_release_without_labs_is_a_clear_error(tmp_path):
    with pytest.raises(LabkitError, match="no lab notebooks") as info:
        release(tmp_path / "nowhere", tmp_path / "out")
    assert info.value.hint


def test_show_solution_reads_the_instructor_notebook_and_records_the_reveal(labs_copy, tmp_path, fake_lab,
                                                                             monkeypatch):
    out = tmp_path / "learner"
    release(labs_copy, out)
    monkeypatch.delenv("LABKIT_LABS_DIR", raising=False)
    assert instructor_dir(out) == labs_copy.resolve()          # from the manifest beside the copies
    monkeypatch.chdir(out)
    text = solution_text(FIRST_LAB_WITH_EXERCISES, 1)
    assert "apiVersion:" in text and "BEGIN SOLUTION" not in text and "SKELETON" not in text
    assert text not in (out / f"{FIRST_LAB_WITH_EXERCISES}.ipynb").read_text()
    with pytest.raises(LabkitError, match="not a number 99"):
        solution_text(FIRST_LAB_WITH_EXERCISES, 99)

    reveal = SolutionReveal(FIRST_LAB_WITH_EXERCISES, 1)
    assert reveal.shown.value == "" and reveal.button.description == "Show solution"
    assert not progress.load(progress.path_for(fake_lab))["labs"]
    reveal.button.click()
    assert "apiVersion:" in reveal.shown.value and reveal.button.description == "Hide solution"
    revealed = progress.load(progress.path_for(fake_lab))["labs"]["02"]["revealed"]
    assert list(revealed) == [f"{FIRST_LAB_WITH_EXERCISES}#1"]
    assert progress.table(progress.load(progress.path_for(fake_lab))).loc["02", "solutions shown"] == 1
    reveal.button.click()
    assert reveal.shown.value == ""

    broken = SolutionReveal("99-missing", 1)
    broken.button.click()
    assert "no instructor notebook 99-missing.ipynb" in broken.shown.value and "hint:" in broken.shown.value


QUESTION = dict(key="strict-plaintext", question="What does `legacy` get?",
                choices=["HTTP 200", "a reset", "HTTP 403"], answer=1, explanation="STRICT resets plaintext.")


def test_the_explanation_keeps_the_labs_markdown_spans_and_escapes_the_rest():
    from labkit.predict import inline_html
    assert inline_html("curl's **own** sidecar: `503` <b>") == "curl&#x27;s <b>own</b> sidecar: <code>503</code> &lt;b&gt;"


def test_a_prediction_explains_only_after_an_answer_and_the_observation():
    prediction = Prediction(**QUESTION)
    assert not prediction.explained and "Pick one" in prediction.status_html()
    prediction.cells_run_since = 1          # the learner ran the observation first
    assert not prediction.explained          # no answer yet: nothing to explain
    prediction.chosen = 0
    assert prediction.explained and not prediction.correct
    assert "Not quite" in prediction.status_html() and "a reset" in prediction.status_html()
    with pytest.raises(LabkitError, match="answer 3"):
        Prediction(**dict(QUESTION, answer=3))
    with pytest.raises(LabkitError, match="two choices"):
        Prediction(**dict(QUESTION, choices=["only"], answer=0))


def test_the_prediction_widget_records_the_answer_and_waits_for_the_next_cell(fake_lab):
    from IPython.core.events import EventManager
    shell = SimpleNamespace(events=EventManager(None, ["post_run_cell"]))
    widget = PredictionWidget(Prediction(**QUESTION), shell)
    shell.events.trigger("post_run_cell", None)           # the asking cell itself finishes
    widget.lock.click()
    assert "Pick one of the choices first" in widget.status.value
    widget.choices.value = 1
    widget.lock.click()
    assert widget.choices.disabled and widget.lock.disabled
    assert "Now run the next cell" in widget.status.value and "STRICT resets" not in widget.status.value
    recorded = progress.load(progress.path_for(fake_lab))["labs"]["02"]["predictions"]["strict-plaintext"]
    assert recorded["choice"] == "a reset" and recorded["correct"] is True
    shell.events.trigger("post_run_cell", None)           # the observation
    assert "Right." in widget.status.value and "STRICT resets plaintext." in widget.status.value
    assert widget.cell_ran not in shell.events.callbacks["post_run_cell"], "still listening after explaining"
    row = progress.table(progress.load(progress.path_for(fake_lab))).loc["02"]
    assert row["predicted"] == "1/1 right" and row["solutions shown"] == ""


def test_a_learner_copy_asks_with_the_question_from_the_instructor_notebook(labs_copy, monkeypatch, capsys):
    monkeypatch.setenv("LABKIT_LABS_DIR", str(labs_copy))
    prediction("03-strict", "strict-plaintext")         # outside a kernel: the question and the choices
    shown = capsys.readouterr().out
    assert shown.startswith("Predict: legacy's curl has no sidecar") and "  3. No HTTP answer" in shown
    assert "filter chain" not in shown                   # the explanation waits for the observation
    with pytest.raises(LabkitError, match="has no prediction 'nothing-like-this'"):
        prediction("03-strict", "nothing-like-this")
