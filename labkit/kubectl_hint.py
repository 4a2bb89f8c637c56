"""A pasted `!kubectl ...` that cannot reach a cluster says what to run instead, not 20 lines of
"connection refused localhost:8080".

The labs show the kubectl command beside each step. Where kubectl has a cluster (the kube backend, or the
local mesh once it serves the Kubernetes API) it runs as it would in a terminal. Where it fails, the cell
shows kubectl's first error line and the lab's equivalent of the command (`lab.label_namespace(...)`,
`lab.restart(...)`, a `%%apply` cell, ...). Installed on `import labkit` inside a Jupyter kernel, by wrapping
the shell's `system` (what IPython runs for a `!` line); every other command is left alone.
"""
from __future__ import annotations

import shlex
import subprocess

_NAMESPACED = {"-n", "--namespace"}


def _namespace(args: list[str]) -> str:
    for i, arg in enumerate(args):
        if arg in _NAMESPACED and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--namespace="):
            return arg.split("=", 1)[1]
    return "default"


def _positional(args: list[str]) -> list[str]:
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in _NAMESPACED or arg in ("-c", "--container", "--tail", "-l", "--selector"):
            skip = True
        elif not arg.startswith("-"):
            out.append(arg)
    return out


def lab_equivalent(command: str) -> str:
    """What to run in a notebook cell instead of this kubectl command (the lab API, or a magic)."""
    try:
        args = shlex.split(command)[1:]
    except ValueError:
        return "the lab API (see the table at the top of lab 08)"
    words, ns = _positional(args), _namespace(args)
    verb = words[0] if words else ""
    if verb == "label" and len(words) >= 3 and words[1] in ("namespace", "ns"):
        labels = dict(w.split("=", 1) for w in words[3:] if "=" in w)
        return f'lab.label_namespace("{words[2]}", {labels!r})'
    if verb == "rollout" and len(words) >= 3 and words[1] == "restart":
        return f'lab.restart("{ns}", "{words[2].split("/")[-1]}")'
    if verb in ("apply", "create"):
        return "a %%apply cell holding the YAML (%%apply -n NAMESPACE), or lab.apply(...)"
    if verb == "delete" and len(words) >= 3:
        return f'lab.delete("{words[1]}", "{words[2]}", namespace="{ns}")'
    if verb == "get" and len(words) >= 2 and words[1] in ("pods", "pod", "po"):
        return f'pods_table(lab, ["{ns}"])'
    if verb == "get" and len(words) >= 2:
        return f'lab.get("{words[1]}", namespace="{ns}")'
    if verb == "logs" and len(words) >= 2:
        container = args[args.index("-c") + 1] if "-c" in args[:-1] else None
        extra = f', container="{container}"' if container else ""
        return f'print(lab.logs("{ns}", "{words[1].split("/")[-1]}"{extra}))'
    if verb == "exec" and "--" in args:
        target = _positional(args[:args.index("--")])[1:2] or ["POD"]
        return f'lab.exec("{ns}", "{target[0].split("/")[-1]}", {args[args.index("--") + 1:]!r})'
    if verb == "wait":
        return f'lab.wait_ready("{ns}")'
    return "the lab API (see the table at the top of lab 08)"


def explain_failure(command: str, stderr: str) -> str:
    first = next((line.strip() for line in stderr.splitlines() if line.strip()), "no output")
    return (f"kubectl could not do it here: {first}\n"
            "  hint: kubectl needs a Kubernetes API server, and this lab's mesh has none it can reach. "
            f"Run instead, in a code cell:\n    {lab_equivalent(command)}")


def run(shell_system, command: str):
    """Run a `!` command: kubectl with its output, or its failure explained; anything else unchanged."""
    if not command.lstrip().startswith("kubectl "):
        return shell_system(command)
    done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=60)
    print(done.stdout, end="")
    if done.returncode != 0:
        print(explain_failure(command, done.stderr))
    return None


def install(shell) -> None:
    """Wrap the shell's `!` runner once (idempotent)."""
    if shell is None or getattr(shell.system, "labkit_kubectl_hint", False):
        return
    original = shell.system

    def system(cmd):
        return run(original, cmd)

    system.labkit_kubectl_hint = True
    shell.system = system
