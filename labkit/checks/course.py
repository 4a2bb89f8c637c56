"""The end-of-lab check: every step of the lab has passed (as recorded in the progress file)."""
from __future__ import annotations

from ..contract import Lab
from .. import progress
from ..labs import lab_info
from .result import CheckResult, checker


@checker(lambda lab, lab_id: f"lab {lab_info(lab_id).id} is complete", settle=False)
def lab_complete(result: CheckResult, lab: Lab, lab_id: str) -> None:
    info = lab_info(lab_id)
    steps = progress.steps_of(progress.load(progress.path_for(lab)), info.id)
    for title in info.steps:
        entry = steps.get(title)
        state = "passed" if entry and entry["passed"] else "failed last time" if entry else "not run yet"
        result.add(title, bool(entry and entry["passed"]), state,
                   "run the step's Check cell again once it is fixed" if entry else
                   "run the notebook's cells in order; each Check records its step")
