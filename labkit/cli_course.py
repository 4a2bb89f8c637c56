"""`labkit progress`, `labkit release` and `labkit class`: the course side of the command line."""
from __future__ import annotations

import argparse


def _cmd_progress(args: argparse.Namespace) -> int:
    from .progress import print_table
    print(print_table(args.state_dir))
    return 0


def _cmd_release(args: argparse.Namespace) -> int:
    from .learner_copies import release
    print(release(args.source, args.out).summary())
    return 0


def _cmd_class(args: argparse.Namespace) -> int:
    import time

    from .classroom import read_class, render_text
    if args.json:
        import json
        print(json.dumps(read_class(args.dir), indent=1))
        return 0
    while True:
        text = render_text(args.dir)
        if not args.watch:
            print(text)
            return 0
        print("\033[2J\033[H" + time.strftime("%H:%M:%S ") + text, flush=True)  # clear, redraw
        time.sleep(args.watch)


def register(sub: argparse._SubParsersAction) -> None:
    progress = sub.add_parser("progress", help="which labs and steps are done (passing checks)")
    progress.add_argument("--state-dir", help="the mesh's state directory (default .labkit, labs/.labkit "
                                              "or $LABKIT_STATE_DIR)")
    progress.set_defaults(func=_cmd_progress)
    release = sub.add_parser("release", help="write the learner notebooks (solutions behind a Show solution button); copies you changed are kept")
    release.add_argument("--source", default="labs", help="folder of the instructor notebooks (default labs)")
    release.add_argument("--out", help="output folder (default SOURCE/learner)")
    release.set_defaults(func=_cmd_release)
    klass = sub.add_parser("class", help="instructor view: every learner's lab, step, passing checks, who is stuck")
    klass.add_argument("--dir", help="the class folder learners publish to (default $LABKIT_CLASS_DIR)")
    klass.add_argument("--watch", type=float, metavar="SECONDS", help="redraw every SECONDS until Ctrl-C")
    klass.add_argument("--json", action="store_true", help="the learners' records as JSON")
    klass.set_defaults(func=_cmd_class)
