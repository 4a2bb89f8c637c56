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

    def records() -> list[dict]:
        if args.cluster:
            # A shared cluster: every learner's ConfigMap (labkit/backends/kube_progress.py).
            from .backends.kube_progress import cluster_class
            return cluster_class(args.context, args.kubeconfig, args.prefix)
        return read_class(args.dir)
    if args.json:
        import json
        print(json.dumps(records(), indent=1))
        return 0
    while True:
        text = render_text(records=records())
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
    klass.add_argument("--cluster", action="store_true",
                       help="read a shared cluster's learners (their labkit-progress ConfigMaps) instead of a folder")
    klass.add_argument("--context", help="with --cluster: the kubeconfig context (default: the current one)")
    klass.add_argument("--kubeconfig", help="with --cluster: the kubeconfig file (default $KUBECONFIG)")
    klass.add_argument("--prefix", action="append", metavar="PREFIX",
                       help="with --cluster: only this learner's namespace prefix (repeatable; default all)")
    klass.set_defaults(func=_cmd_class)
