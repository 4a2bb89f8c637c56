"""`labkit istioctl …` and `%istioctl …`: the istioctl commands the seeds use, with istioctl's output layout.

istioctl is on no package registry the labs can use, so on the local mesh these commands run on
labkit's own tools (proxy-config on the proxies' real Envoy config_dump, describe and analyze on
the mesh model). Layouts follow istioctl's source (istioctl/pkg/writer/envoy/configdump: tabwriter
with 5 spaces of padding, upper-case headers). On the kube backend the real istioctl runs when it
is installed.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
from contextlib import redirect_stdout
from pathlib import Path

from ..errors import LabkitError
from ..model.deployments import PROXY_IMAGE
from .certs_view import dump_secrets
from .proxy_config import cluster_rows, endpoint_rows, listener_rows, normalise_kind, route_rows

ISTIO_VERSION = PROXY_IMAGE.rsplit(":", 1)[1]
KIND_NAMES = {"c": "clusters", "cluster": "clusters", "clusters": "clusters", "l": "listeners",
              "listener": "listeners", "listeners": "listeners", "r": "routes", "route": "routes",
              "routes": "routes", "ep": "endpoints", "endpoint": "endpoints", "endpoints": "endpoints",
              "s": "secrets", "secret": "secrets", "secrets": "secrets"}


def tabular(header: list[str], rows: list[list]) -> str:
    """Go's tabwriter.NewWriter(w, 0, 8, 5, ' ', 0) as istioctl uses it: each column but the last padded
    to its widest cell plus 5 spaces."""
    table = [header] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = []
    for row in table:
        cells = [cell.ljust(widths[i] + 5) for i, cell in enumerate(row[:-1])] + [row[-1]]
        lines.append("".join(cells))
    return "\n".join(lines)


def _dash(value) -> str:
    return "-" if value in (None, "") else str(value)


def _clusters(items: list[dict]) -> str:
    rows = sorted(cluster_rows(items), key=lambda r: (r["fqdn"] if r["direction"] else r["cluster"],
                                                       str(r["port"]), r["subset"], r["direction"]))
    return tabular(["SERVICE FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE", "DESTINATION RULE"],
                   [[r["fqdn"] if r["direction"] else r["cluster"], _dash(r["port"]), _dash(r["subset"]),
                     _dash(r["direction"]), r["type"] or "EDS", ""] for r in rows])


def _listeners(items: list[dict]) -> str:
    return tabular(["ADDRESSES", "PORT", "MATCH", "DESTINATION"],
                   [[r["address"], r["port"], r["match"] or "ALL", r["destination"]] for r in listener_rows(items)])


def _route_match(text: str) -> str:
    kind, _, value = text.partition(" ")
    if kind == "prefix":
        return "/*" if value == "/" else f"{value}*"
    return value or text


def _routes(items: list[dict]) -> str:
    rows = list(dict.fromkeys((r["route"], r["virtual_host"], r["domains"], _route_match(r["match"]))
                              for r in route_rows(items)))   # a route config inlined in two listeners shows once
    return tabular(["NAME", "VHOST NAME", "DOMAINS", "MATCH", "VIRTUAL SERVICE"], [[*r, ""] for r in rows])


def _endpoints(items: list[dict]) -> str:
    return tabular(["ENDPOINT", "STATUS", "OUTLIER CHECK", "CLUSTER"],
                   [[r["endpoint"], "HEALTHY", "OK", r["cluster"]] for r in endpoint_rows(items)])


def _secrets(dump: dict) -> str:
    from ..certs import inspect
    rows = []
    for name, secret in sorted(dump_secrets(dump).items()):
        pem, kind = (secret["cert"], "Cert Chain") if secret["cert"] else (secret["ca"], "CA")
        status = "ACTIVE" if secret["state"] == "active" else "WARMING"
        if not pem:
            rows.append([name, kind, status, "false", "", "", ""])
            continue
        leaf = inspect(pem)[0]
        valid = not leaf["expired"] and not leaf["not_yet_valid"]
        rows.append([name, kind, status, str(valid).lower(), leaf["serial"].replace(":", "").lower(),
                     f"{leaf['not_after']:%Y-%m-%dT%H:%M:%SZ}", f"{leaf['not_before']:%Y-%m-%dT%H:%M:%SZ}"])
    return tabular(["RESOURCE NAME", "TYPE", "STATUS", "VALID CERT", "SERIAL NUMBER", "NOT AFTER", "NOT BEFORE"],
                   rows)


def _split_target(target: str, namespace: str | None) -> tuple[str, str]:
    """istioctl's `[<type>/]<name>[.<namespace>]`."""
    kind, _, name = target.rpartition("/")
    if "." in name:
        name, _, namespace = name.partition(".")
    return (f"{kind}/{name}" if kind else name), namespace or "default"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="istioctl", add_help=True)
    parser.add_argument("-n", "--namespace")
    parser.add_argument("-i", "--istioNamespace", default="istio-system")
    sub = parser.add_subparsers(dest="command", required=True)
    version = sub.add_parser("version")
    version.add_argument("--remote", default="true")
    version.add_argument("-o", "--output")
    for name in ("proxy-config", "pc"):
        pc = sub.add_parser(name)
        pc.add_argument("kind")
        pc.add_argument("target")
        pc.add_argument("-n", "--namespace", dest="sub_namespace")
        pc.add_argument("-o", "--output", choices=("short", "json", "yaml"), default="short")
        pc.set_defaults(command="proxy-config")
    for name in ("x", "experimental"):
        x = sub.add_parser(name)
        xsub = x.add_subparsers(dest="xcommand", required=True)
        describe = xsub.add_parser("describe")
        describe.add_argument("what", choices=("pod", "po"))
        describe.add_argument("target")
        describe.add_argument("-n", "--namespace", dest="sub_namespace")
        x.set_defaults(command="x")
    analyze = sub.add_parser("analyze")
    analyze.add_argument("files", nargs="*")
    analyze.add_argument("-A", "--all-namespaces", action="store_true")
    analyze.add_argument("-n", "--namespace", dest="sub_namespace")
    analyze.add_argument("-R", "--recursive", action="store_true")
    analyze.add_argument("--use-kube", default="true")
    analyze.add_argument("-o", "--output", default="log")
    sub.add_parser("proxy-status")
    sub.add_parser("ps").set_defaults(command="proxy-status")
    return parser


def _files(paths: list[str], recursive: bool) -> list[Path]:
    out: list[Path] = []
    for text in paths:
        path = Path(text)
        if not path.exists():
            raise LabkitError(f'Error: open {text}: no such file or directory')
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            out += sorted(p for p in path.glob(pattern) if p.suffix in (".yaml", ".yml", ".json") and p.is_file())
        else:
            out.append(path)
    return out


def _analyze(lab, args) -> tuple[int, str]:
    from ..resources.loader import load_documents
    from ..resources.schema import KINDS
    from ..resources.store import key_of
    from .analyze import analyze_documents
    namespace = args.sub_namespace or args.namespace
    use_kube = str(args.use_kube).lower() not in ("false", "0", "no")
    if args.files:
        docs = [d for p in _files(args.files, args.recursive) for d in load_documents(p)]
        if use_kube and lab is not None:
            given = {(d.get("kind"), (d.get("metadata") or {}).get("namespace", ""), (d.get("metadata") or {})
                      .get("name")) for d in docs}
            stored = [o for kind in KINDS for o in lab.get(kind)]
            docs = [o for o in stored if key_of(o) not in given] + docs
        report = analyze_documents(docs)
    else:
        if lab is None or not use_kube:
            raise LabkitError("no files to analyze", hint="give files or folders, or run beside a running mesh")
        report = lab.analyze()
    messages = [m for m in report if args.all_namespaces or args.files and not namespace
                or m.namespace in ("", namespace or "default")]
    where = ("all namespaces" if args.all_namespaces or (args.files and not namespace)
             else f"namespace: {namespace or 'default'}")
    if not messages:
        return 0, f"\u2714 No validation issues found when analyzing {where}."
    return 0, "\n".join(str(m) for m in messages)


def _version(lab) -> str:
    lines = [f"client version: {ISTIO_VERSION}"]
    if lab is not None:
        proxies = sum(1 for p in lab.mesh_model().pods if p.sidecar or getattr(p, "is_gateway", False))
        lines += [f"control plane version: {ISTIO_VERSION}", f"data plane version: {ISTIO_VERSION} ({proxies} proxies)"]
    return "\n".join(lines)


def run(lab, argv: list[str]) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of `istioctl ARGV` on `lab` (None: no running mesh)."""
    if lab is not None and getattr(lab, "backend", "") == "kube" and shutil.which("istioctl"):
        done = subprocess.run(["istioctl", *argv], capture_output=True, text=True, env=dict(os.environ))
        return done.returncode, done.stdout, done.stderr
    parser = _parser()
    err = io.StringIO()
    try:
        with redirect_stdout(err):
            args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0), err.getvalue(), ""
    try:
        if args.command == "version":
            return 0, _version(lab) + "\n", ""
        if args.command == "analyze":
            code, text = _analyze(lab, args)
            if any(line.startswith("Error [") for line in text.splitlines()):
                # istioctl exits 79 when analyzers report errors (pkg/cmd exit codes).
                where = text and ("all namespaces" if args.all_namespaces else
                                  f"namespace: {args.sub_namespace or args.namespace or 'default'}")
                return 79, text + "\n", f"Error: Analyzers found issues when analyzing {where}.\n"
            return code, text + "\n", ""
        if lab is None:
            raise LabkitError("the mesh is not running", hint="open a lab notebook or run `labkit up` first")
        if args.command == "proxy-status":
            # lab.proxy_status() (labkit/tools/proxy_status.py) prints istioctl's layout itself.
            if not hasattr(lab, "proxy_status"):
                raise LabkitError("proxy-status is not available in this build of labkit")
            return 0, f"{lab.proxy_status()}\n", ""
        target, namespace = _split_target(args.target, args.sub_namespace or args.namespace)
        if args.command == "x":
            return 0, lab.describe(namespace, target).text() + "\n", ""
        kind = KIND_NAMES.get(args.kind.lower()) or normalise_kind(args.kind)
        view = lab.proxy_config(namespace, target, kind)
        if args.output in ("json", "yaml"):
            items = view.items if kind != "secrets" else view.dump
            if args.output == "yaml":
                import yaml
                return 0, yaml.safe_dump(items, sort_keys=False), ""
            return 0, json.dumps(items, indent=4) + "\n", ""
        render = {"clusters": _clusters, "listeners": _listeners, "routes": _routes,
                  "endpoints": _endpoints}.get(kind)
        return 0, (render(view.items) if render else _secrets(view.dump)) + "\n", ""
    except LabkitError as exc:
        return 1, "", f"Error: {exc}\n"
