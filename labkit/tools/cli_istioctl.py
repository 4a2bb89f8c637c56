"""`labkit istioctl ARGS`: istioctl's commands on the lab's mesh (labkit/tools/istioctl.py)."""
from __future__ import annotations

import argparse
from pathlib import Path


def _cmd_istioctl(args: argparse.Namespace) -> int:
    import os
    import sys

    from ..contract import Lab
    from .istioctl import run
    lab: Lab | None
    backend = (os.environ.get("LABKIT_BACKEND") or "local").lower()
    if backend in ("kube", "kubernetes", "k8s"):
        import labkit
        lab = labkit.connect("kube")
    else:
        from ..backends.local import LocalLab
        from ..backends.local_state import default_state_dir
        local = LocalLab(Path(args.state_dir or default_state_dir()))
        lab = local if local.running else None   # attach to the running mesh; never start one here
    code, out, err = run(lab, args.args)
    sys.stdout.write(out)
    sys.stderr.write(err)
    return code


def register(sub) -> None:
    istioctl = sub.add_parser("istioctl", help="istioctl's commands on this mesh: proxy-config, x describe pod, "
                                               "analyze, version (the real istioctl on the kube backend)")
    istioctl.add_argument("--state-dir", help="the local mesh's state directory (default: ./.labkit)")
    istioctl.add_argument("args", nargs=argparse.REMAINDER)
    istioctl.set_defaults(func=_cmd_istioctl)
