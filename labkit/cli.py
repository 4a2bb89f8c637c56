"""The `labkit` command line."""
from __future__ import annotations

import argparse
import sys

from . import __version__
from .errors import LabkitError


def _cmd_version(args: argparse.Namespace) -> int:
    from .envoy_binary import envoy_version
    try:
        envoy = envoy_version()
    except LabkitError:
        envoy = "not found"
    print(f"labkit {__version__} (envoy {envoy})")
    return 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    import os

    from .backends.doctors import doctor
    lines = doctor(args.backend or os.environ.get("LABKIT_BACKEND") or "local")
    failed = [line for line in lines if not line.ok]
    if not args.quiet or failed:
        for line in lines:
            mark = "ok  " if line.ok else "FAIL"
            print(f"[{mark}] {line.check}: {line.detail}" + (f"\n       fix: {line.fix}" if line.fix else ""))
    return 1 if failed else 0


def _cmd_workshop_rbac(args: argparse.Namespace) -> int:
    from .workshop_rbac import workshop_yaml
    print(workshop_yaml(args.learners, with_roles=not args.bindings_only), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labkit", description="Istio mTLS and gateway labs: local mesh tools")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("version", help="print labkit and Envoy versions").set_defaults(func=_cmd_version)
    doctor = sub.add_parser("doctor", help="check the tools the labs need (local: Envoy, curl, openssl, loopback; "
                                           "kube: kubeconfig, API, Istio, gateway, injection, kubectl/istioctl)")
    doctor.add_argument("--quiet", action="store_true", help="print only on failure")
    doctor.add_argument("--backend", choices=("local", "kube"), help="default: $LABKIT_BACKEND or local")
    doctor.set_defaults(func=_cmd_doctor)
    rbac = sub.add_parser("workshop-rbac", help="the RBAC of a shared workshop cluster: the learner roles, and per "
                                                "learner their namespaces and RoleBindings (| kubectl apply -f -)")
    rbac.add_argument("learners", nargs="+", help="user names (each learner's namespace prefix too)")
    rbac.add_argument("--bindings-only", action="store_true", help="leave out the shared roles")
    rbac.set_defaults(func=_cmd_workshop_rbac)
    from . import cli_mesh
    cli_mesh.register(sub)
    from . import cli_course
    cli_course.register(sub)
    from .tools import cli_analyze
    cli_analyze.register(sub)
    from .tools import cli_istioctl
    cli_istioctl.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except LabkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
