"""`labkit progress` and `labkit release`: the course side of the command line."""
from __future__ import annotations

import argparse


def _cmd_progress(args: argparse.Namespace) -> int:
    from .progress import print_table
    print(print_table(args.state_dir))
    return 0


def _cmd_release(args: argparse.Namespace) -> int:
    from .release import release
    for path in release(args.source, args.out):
        print(f"wrote {path}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    progress = sub.add_parser("progress", help="which labs and steps are done (passing checks)")
    progress.add_argument("--state-dir", help="the mesh's state directory (default .labkit, labs/.labkit "
                                              "or $LABKIT_STATE_DIR)")
    progress.set_defaults(func=_cmd_progress)
    release = sub.add_parser("release", help="generate learner notebooks (solutions replaced by TODOs)")
    release.add_argument("--source", default="labs", help="folder of the instructor notebooks (default labs)")
    release.add_argument("--out", help="output folder (default SOURCE/learner)")
    release.set_defaults(func=_cmd_release)
