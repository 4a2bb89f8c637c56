"""Predict, then observe: a multiple-choice question before a key observation.

    predict("strict-plaintext", "What does legacy's curl get from httpbin.foo now?",
            ["HTTP 200", "a reset (curl exit 56)", "HTTP 403"], answer=1,
            explanation="STRICT accepts only mutual TLS: ...")

The learner picks a choice and locks it in (recorded in progress: `predictions`). The explanation appears
only once the answer is locked in and the learner has run a later cell, the observation below it, so it
confirms what they saw instead of telling them what to expect. Unattended runs (nbval) print the question.
A learner copy holds `prediction("NN-name", key)` instead, which reads the arguments from the full notebook.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import re
from html import escape
from typing import Any

from . import current, progress
from .errors import LabkitError
from .kernel import kernel_shell
from .release import prediction_arguments
from .reveal import instructor_notebook

def inline_html(text: str) -> str:
    """Plain words with `code` and **bold** spans, as the labs' markdown writes them."""
    html = re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(text))
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", html)


# The prediction shown last under each key: re-running its cell replaces it (and its cell-run hook).
SHOWN: dict[str, "PredictionWidget"] = {}


@dataclass
class Prediction:
    """What the learner chose and whether they have observed since: decides when the explanation shows."""
    key: str
    question: str
    choices: list[str]
    answer: int
    explanation: str
    chosen: int | None = None
    cells_run_since: int = field(default=0)   # cells the learner ran after the one that asked

    def __post_init__(self) -> None:
        if len(self.choices) < 2:
            raise LabkitError(f"prediction {self.key!r} needs at least two choices", field="choices")
        if not 0 <= self.answer < len(self.choices):
            raise LabkitError(f"prediction {self.key!r}: answer {self.answer} is not the index of a choice "
                              f"(0 to {len(self.choices) - 1})", field="answer")

    @property
    def locked(self) -> bool:
        return self.chosen is not None

    @property
    def correct(self) -> bool:
        return self.chosen == self.answer

    @property
    def explained(self) -> bool:
        """The explanation shows after both: an answer locked in, and the observation run."""
        return self.locked and self.cells_run_since > 0

    def lock_in(self, choice: int) -> None:
        if not 0 <= choice < len(self.choices):
            raise LabkitError(f"choice {choice} is not one of the {len(self.choices)} choices", field="choice")
        self.chosen = choice
        lab = current.get()
        if lab is not None:
            progress.record_prediction(lab, lab.current_lab, self.key, self.choices[choice], self.correct)

    def status_html(self) -> str:
        if not self.locked:
            return "<i>Pick one and lock it in, then run the next cell to see what really happens.</i>"
        assert self.chosen is not None
        picked = f"Your prediction: <b>{inline_html(self.choices[self.chosen])}</b>."
        if not self.explained:
            return picked + " Now run the next cell and compare."
        verdict = ("<b style='color:#1b7f3b'>\u2714 Right.</b>" if self.correct else
                   f"<b style='color:#b00020'>\u2718 Not quite:</b> it is <b>{inline_html(self.choices[self.answer])}</b>.")
        return f"{picked} {verdict}<div class='labkit-explanation'>{inline_html(self.explanation)}</div>"


class PredictionWidget:
    """The question, the choices (radio buttons), Lock in, and the status line that ends in the explanation."""

    def __init__(self, prediction: Prediction, shell: Any):
        import ipywidgets
        self.prediction, self.shell = prediction, shell
        self.choices = ipywidgets.RadioButtons(options=[(text, i) for i, text in enumerate(prediction.choices)],
                                               value=None, layout={"width": "max-content"})
        self.lock = ipywidgets.Button(description="Lock in", icon="lock", tooltip="record your prediction")
        self.status = ipywidgets.HTML(prediction.status_html())
        self.box = ipywidgets.VBox([ipywidgets.HTML(f"<b>Predict:</b> {inline_html(prediction.question)}"),
                                    self.choices, self.lock, self.status])
        self.box.add_class("labkit-prediction")
        self.lock.on_click(lambda _: self.lock_in())
        self.asking_cell_done = False
        shell.events.register("post_run_cell", self.cell_ran)

    def lock_in(self) -> None:
        if self.choices.value is None:
            self.status.value = "<i>Pick one of the choices first.</i>"
            return
        self.prediction.lock_in(self.choices.value)
        self.choices.disabled = self.lock.disabled = True
        self.refresh()

    def cell_ran(self, _result=None) -> None:
        # The first run to finish is the cell that asked the question itself.
        if not self.asking_cell_done:
            self.asking_cell_done = True
            return
        self.prediction.cells_run_since += 1
        self.refresh()

    def refresh(self) -> None:
        self.status.value = self.prediction.status_html()
        if self.prediction.explained:
            self.forget()

    def forget(self) -> None:
        """Stop listening to cell runs (nothing changes any more, or a re-run replaced this widget)."""
        try:
            self.shell.events.unregister("post_run_cell", self.cell_ran)
        except ValueError:
            pass


def predict(key: str, question: str, choices: list[str], answer: int, explanation: str) -> None:
    """Ask before an observation; see the module's docstring. Returns nothing: a returned object would be
    shown under the cell, answer and all."""
    prediction = Prediction(key, question, list(choices), answer, explanation)
    shell = kernel_shell()
    if shell is None:
        print(f"Predict: {question}\n" + "\n".join(f"  {i + 1}. {c}" for i, c in enumerate(prediction.choices)))
        return
    from IPython.display import display
    if key in SHOWN:
        SHOWN[key].forget()
    SHOWN[key] = widget = PredictionWidget(prediction, shell)
    display(widget.box)


def prediction(notebook_stem: str, key: str) -> None:
    """A learner copy's prediction: the question, choices, answer and explanation come from the instructor
    notebook, so the copy's source does not give the answer away (labkit/release.py writes this call)."""
    predict(**prediction_arguments(instructor_notebook(notebook_stem), key, f"{notebook_stem}.ipynb"))
