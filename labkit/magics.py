"""`%%apply` and `%%delete`: a cell holds exactly the YAML a learner would give kubectl.

    %%apply -n foo          ≈  kubectl apply -n foo -f - <<EOF ... EOF   (then waits for new pods)
    %%delete -n foo         ≈  kubectl delete -n foo -f - <<EOF ... EOF

Each shows what changed as a small table (kind, name, namespace, action). `${NAME}` in the YAML is
replaced by the notebook variable (or environment variable) NAME, as `envsubst` would before kubectl:
that is how a file path made in Python (a CA certificate) gets into a DestinationRule.
"""
from __future__ import annotations

import os
import re

import yaml
from IPython.core.magic import Magics, cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

from . import session
from .errors import LabkitError

ACTION_COLOURS = {"created": "#c8e6c9", "configured": "#bbdefb", "unchanged": "", "deleted": "#ffcdd2"}
# Applying these starts or replaces pods; the cell waits for them as `kubectl rollout status` would.
POD_KINDS = ("Deployment", "Namespace")


_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand(text: str, variables: dict) -> str:
    """Replace ${NAME} outside comments (a learner notebook's TODO may mention a variable not set yet)."""
    def value(match: re.Match) -> str:
        name = match.group(1)
        if name in variables:
            return str(variables[name])
        if name in os.environ:
            return os.environ[name]
        raise LabkitError(f"${{{name}}} is not defined", hint=f"set it in a code cell first ({name} = ...)")
    return "\n".join(line if line.lstrip().startswith("#") else _VARIABLE.sub(value, line)
                     for line in text.split("\n"))


def has_documents(text: str) -> bool:
    """False for a cell with only comments (a learner notebook's TODO), so it is a no-op, not an error."""
    try:
        return any(doc for doc in yaml.safe_load_all(text))
    except yaml.YAMLError:
        return True  # let apply report the YAML error with its position


def changes_table(applied):
    import pandas as pd
    frame = pd.DataFrame([{"kind": a.kind, "name": a.name, "namespace": a.namespace or "", "action": a.action}
                          for a in applied], columns=["kind", "name", "namespace", "action"])
    return frame.style.map(lambda v: f"background-color: {ACTION_COLOURS.get(v, '')}", subset=["action"]).hide(
        axis="index")


def _ready(cell: str, verb: str) -> bool:
    """A learner's cell holding only the TODO comment is not an error: say what to do instead."""
    if has_documents(cell):
        return True
    print(f"Nothing to {verb} yet: write the YAML in this cell (see the TODO), then run it again.")
    return False


@magics_class
class LabMagics(Magics):
    def _user_ns(self) -> dict:
        """The notebook's variables, for ${NAME} in a cell (a registered magic always has a shell)."""
        assert self.shell is not None
        return self.shell.user_ns

    @magic_arguments()
    @argument("-n", "--namespace", help="namespace for documents that name none (kubectl -n)")
    @argument("--no-wait", action="store_true", help="do not wait for new or restarted pods to be ready")
    @cell_magic
    def apply(self, line: str, cell: str):
        """Create or update the resources in the cell on the current lab (kubectl apply -f -)."""
        args = parse_argstring(self.apply, line)
        if not _ready(cell, "apply"):
            return
        lab = session.current()
        applied = lab.apply(expand(cell, self._user_ns()), namespace=args.namespace)
        display(changes_table(applied))
        if not args.no_wait and any(a.kind in POD_KINDS and a.action != "unchanged" for a in applied):
            lab.wait_ready(timeout=60)

    @magic_arguments()
    @argument("-n", "--namespace", help="namespace for documents that name none (kubectl -n)")
    @argument("--ignore-not-found", action="store_true", help="do not fail on resources that do not exist")
    @cell_magic
    def delete(self, line: str, cell: str):
        """Delete the resources named in the cell from the current lab (kubectl delete -f -)."""
        args = parse_argstring(self.delete, line)
        if not _ready(cell, "delete"):
            return
        deleted = session.current().delete(expand(cell, self._user_ns()), namespace=args.namespace,
                                           ignore_missing=args.ignore_not_found)
        display(changes_table(deleted))


def load_ipython_extension(ipython) -> None:
    ipython.register_magics(LabMagics)
