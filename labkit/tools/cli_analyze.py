"""`labkit analyze`: istioctl-analyze-style messages on YAML files, or on the local mesh's resources."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import LabkitError


def _cmd_analyze(args: argparse.Namespace) -> int:
    if args.filename:
        from .analyze import analyze_files
        report = analyze_files(args.filename)
    else:
        from ..backends.local import LocalLab
        from ..backends.local_state import default_state_dir
        state = Path(args.state_dir or default_state_dir())
        if not (state / "store.json").exists():
            raise LabkitError(f"no local mesh state in {state}",
                              hint="run it where the labs run (or pass --state-dir), or analyze files: -f FILE")
        # Attach without starting anything: the store is readable whether or not the mesh runs.
        report = LocalLab(state).analyze()
    if args.output == "json":
        print(json.dumps(report.frame.to_dict("records"), indent=1))
    else:
        print(report)
    return report.exit_code


def register(sub) -> None:
    parser = sub.add_parser("analyze", help="check resources like `istioctl analyze` (exit 1 on errors)",
                            description="Without -f, analyzes the local mesh's stored resources. Codes IST* are "
                                        "istioctl's; LAB* are labkit's own checks.")
    parser.add_argument("-f", "--filename", action="extend", nargs="+", metavar="FILE",
                        help="YAML files or folders to analyze alone, without a running mesh")
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text")
    parser.add_argument("--state-dir", help="the local mesh's state directory (default: ./.labkit)")
    parser.set_defaults(func=_cmd_analyze)
