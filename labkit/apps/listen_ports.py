"""Which ports an image's program listens on, decided as the image decides it, not by `containerPort`.

`containerPort` only documents a port on Kubernetes; a YAML that declares the wrong one still runs, and
traffic to it fails. Sources: kennethreitz/httpbin's CMD (gunicorn -b 0.0.0.0:80), Istio's helloworld
and bookinfo Dockerfiles (5000; 9080), tetratelabs' images (customers 3000, web-frontend 8080),
go-httpbin's `-port`/PORT (default 8080), nginx's `listen` directives, tcp-echo's first argument.
"""
from __future__ import annotations

import glob
import json
import os

from . import nginx_conf

FIXED: dict[str, tuple[int, ...]] = {
    "httpbin": (80,), "helloworld": (5000,), "productpage": (9080,), "details": (9080,), "reviews": (9080,),
    "ratings": (9080,), "customers": (3000,), "web_frontend": (8080,), "curl": (),
}
GO_HTTPBIN_FLAGS = {"port": "PORT", "host": "HOST", "https-cert-file": "HTTPS_CERT_FILE",
                    "https-key-file": "HTTPS_KEY_FILE"}


def go_httpbin_settings(args: list[str], env: dict[str, str]) -> dict[str, str]:
    """go-httpbin's settings from Go-style flags (-name value, -name=value, --name) over its env."""
    settings = {flag: env[var] for flag, var in GO_HTTPBIN_FLAGS.items() if env.get(var)}
    settings.setdefault("port", "8080")
    items = iter(args)
    for item in items:
        if not item.startswith("-"):
            continue
        name, sep, value = item.lstrip("-").partition("=")
        if name in GO_HTTPBIN_FLAGS:
            settings[name] = value if sep else next(items, "")
    return settings


def entrypoint_args(command: list[str] | None, args: list[str] | None) -> list[str]:
    """The arguments after the program (see common.command_line)."""
    if command is not None:
        return list(command[1:]) + list(args or [])
    return list(args or [])


def nginx_ports(root: str) -> tuple[int, ...]:
    def read(path: str) -> str | None:
        try:
            with open(os.path.join(root, path.lstrip("/")), encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return None

    def listed(pattern: str) -> list[str]:
        found = sorted(glob.glob(os.path.join(root, pattern.lstrip("/"))))
        return ["/" + os.path.relpath(p, root) for p in found]
    config = nginx_conf.load(read, listed)
    return tuple(sorted({listen.port for server in config.servers for listen in server.listens}))


def listen_ports(module: str, variant: str | None, command: list[str] | None, args: list[str] | None,
                 env: dict[str, str], root: str) -> tuple[int, ...] | None:
    """The ports the program will listen on; None when this cannot be told (then containerPorts count)."""
    try:
        if module == "httpbin" and variant == "go":
            return (int(go_httpbin_settings(entrypoint_args(command, args), env)["port"]),)
        if module == "web":
            return nginx_ports(root)
        if module == "tcp_echo":
            arguments = entrypoint_args(command, args)
            return tuple(int(p) for p in arguments[0].split(",")) if len(arguments) == 2 else ()
    except (ValueError, OSError, nginx_conf.ConfError):
        return None
    return FIXED.get(module)


def dumps(ports: tuple[int, ...] | None) -> str:
    return json.dumps(list(ports) if ports is not None else None)
