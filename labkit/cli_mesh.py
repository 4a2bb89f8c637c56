"""`labkit up/down/status/apply/delete`: the local mesh from a terminal."""
from __future__ import annotations

import argparse
import signal
import threading

from .errors import LabkitError


def _lab(args: argparse.Namespace, start: bool = True):
    from .backends.local import LocalLab
    from .backends.local_state import default_state_dir
    directory = args.state_dir or default_state_dir()
    if start:
        return LocalLab.connect(state_dir=directory)
    return LocalLab(directory)


def _cmd_up(args: argparse.Namespace) -> int:
    lab = _lab(args, start=False)
    if lab.ownership.current() is not None:
        print(f"the mesh in {lab.state_dir} already runs (pid {lab.ownership.current()['pid']})")
        return 0
    lab.up()
    lab.wait_ready(timeout=args.timeout)
    print(f"mesh up: state {lab.state_dir}; gateway {lab.gateway_url(80)} and {lab.gateway_url(443)}")
    print(f"kubectl: export KUBECONFIG={lab.kubeconfig}")
    print("it runs while this command runs: Ctrl-C (or `labkit down`) stops every process")
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        while lab.running and not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    lab.down(keep=True)
    print("mesh stopped")
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    lab = _lab(args, start=False)
    lab.down(keep=args.keep)
    if not args.quiet:
        print("mesh stopped" + ("" if args.keep else f"; state {lab.state_dir} removed"))
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from .backends.local_state import read_status
    lab = _lab(args, start=False)
    owner = lab.ownership.current()
    print(f"state: {lab.state_dir}")
    print(f"mesh: {'running (pid %s)' % owner['pid'] if owner else 'not running'}")
    if owner:
        pods = lab.pods()
        print(pods.to_string(index=False) if len(pods) else "no pods")
        for warning in read_status(lab.state_dir).get("warnings", []):
            print(f"warning: {warning}")
    return 0


def _cmd_apply(args: argparse.Namespace) -> int:
    lab = _lab(args, start=False)
    for path in args.filename:
        for applied in lab.apply(path, namespace=args.namespace):
            print(applied)
    if lab.ownership.current() is None:
        print("(the mesh is not running: stored; `labkit up` acts on it)")
    return 0


def _cmd_delete(args: argparse.Namespace) -> int:
    lab = _lab(args, start=False)
    if args.filename:
        results = [r for path in args.filename for r in lab.delete(path, namespace=args.namespace,
                                                                    ignore_missing=args.ignore_not_found)]
    elif args.kind and args.name:
        results = lab.delete(args.kind, args.name, namespace=args.namespace, ignore_missing=args.ignore_not_found)
    else:
        raise LabkitError("give -f FILE, or KIND NAME")
    for result in results:
        print(result)
    return 0


def _cmd_proxy_status(args: argparse.Namespace) -> int:
    from .tools.proxy_status import render_table
    lab = _lab(args, start=False)
    frame = lab.proxy_status(args.namespace, verbose=args.verbosity > 0)
    print(render_table(frame), end="")  # exactly istioctl's table; Envoy's NACK details are in frame.attrs
    return 0


def _cmd_kubeconfig(args: argparse.Namespace) -> int:
    from .backends.local_state import default_state_dir
    from .kubeapi import kubeconfig_path
    state_dir = args.state_dir or default_state_dir()
    path = kubeconfig_path(state_dir).resolve()
    if not path.exists():
        raise LabkitError(f"no kubeconfig at {path}: the mesh is not running",
                          hint="start it (open a lab notebook, or `labkit up`), in this folder or with --state-dir")
    if args.user:
        # Another user of the same API (a workshop learner): only the RBAC bindings decide what it may do.
        from pathlib import Path

        from .kubeapi.kubeconfig import write_user_kubeconfig
        out = Path(args.out or Path(state_dir) / f"kubeconfig-{args.user}")
        path = write_user_kubeconfig(out, Path(state_dir), args.user, args.group).resolve()
    print(path)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    def common(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument("--state-dir", help="the mesh's state directory (default .labkit or $LABKIT_STATE_DIR)")
        return parser

    up = common(sub.add_parser("up", help="start the local mesh and keep it running in the foreground"))
    up.add_argument("--timeout", type=float, default=60)
    up.set_defaults(func=_cmd_up)
    down = common(sub.add_parser("down", help="stop the local mesh (and remove its state unless --keep)"))
    down.add_argument("--keep", action="store_true", help="keep resources and certificates for next time")
    down.add_argument("--quiet", action="store_true")
    down.set_defaults(func=_cmd_down)
    common(sub.add_parser("status", help="is the mesh running; its pods")).set_defaults(func=_cmd_status)
    apply = common(sub.add_parser("apply", help="kubectl apply -f, on the local mesh"))
    apply.add_argument("-f", "--filename", action="append", required=True)
    apply.add_argument("-n", "--namespace")
    apply.set_defaults(func=_cmd_apply)
    delete = common(sub.add_parser("delete", help="kubectl delete -f FILE, or KIND NAME"))
    delete.add_argument("kind", nargs="?")
    delete.add_argument("name", nargs="?")
    delete.add_argument("-f", "--filename", action="append")
    delete.add_argument("-n", "--namespace")
    delete.add_argument("--ignore-not-found", action="store_true")
    delete.set_defaults(func=_cmd_delete)
    status = common(sub.add_parser("proxy-status", help="istioctl proxy-status: is each proxy in sync with "
                                                        "the control plane"))
    status.add_argument("-n", "--namespace")
    status.add_argument("-v", "--verbosity", type=int, default=0, help="1: one column per xDS type")
    status.set_defaults(func=_cmd_proxy_status)
    kubeconfig = common(sub.add_parser("kubeconfig", help="print the path of the running mesh's kubeconfig "
                                                          "(export KUBECONFIG=$(labkit kubeconfig))"))
    kubeconfig.add_argument("--user", help="write a kubeconfig for this user instead (client certificate CN), "
                                           "e.g. a workshop learner; RBAC decides what it may do")
    kubeconfig.add_argument("--group", help="the user's group (certificate O), e.g. labkit-learners")
    kubeconfig.add_argument("--out", help="where to write the user's kubeconfig (default <state dir>/kubeconfig-USER)")
    kubeconfig.set_defaults(func=_cmd_kubeconfig)
