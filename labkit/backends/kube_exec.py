"""`kubectl exec` over the Kubernetes exec websocket, with the real exit code.

The API server sends the command's end on the error channel (3) as a `Status`::

    {"metadata": {}, "status": "Success"}
    {"status": "Failure", "reason": "NonZeroExitCode",
     "message": "command terminated with non-zero exit code: error executing command [sh -c exit 56], exit code 56",
     "details": {"causes": [{"reason": "ExitCode", "message": "56"}]}}

A failure to start the command (binary not in the image) has no ExitCode cause; it is reported
as 127 ("not found") or 126, like a shell would.
"""
from __future__ import annotations

import json
import re
import time
from typing import Any

import yaml

from .base import ExecResult

ERROR_CHANNEL = 3
TIMEOUT_EXIT_CODE = 124  # as coreutils `timeout`
LOST_EXIT_CODE = 255     # the stream ended without a status (connection lost)

_EXIT_RE = re.compile(r"exit code:?\s*(-?\d+)", re.IGNORECASE)


def parse_exec_status(status: Any) -> tuple[int, str]:
    """(exit code, message) from the error channel's Status (JSON/YAML text or dict).

    Empty text means the channel sent nothing: reported as (LOST_EXIT_CODE, message).
    """
    if status is None or (isinstance(status, (str, bytes)) and not status.strip()):
        return LOST_EXIT_CODE, "the exec stream ended without an exit status"
    if isinstance(status, bytes):
        status = status.decode("utf-8", "replace")
    if isinstance(status, str):
        text = status.strip()
        try:
            data = json.loads(text)
        except ValueError:
            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError:
                data = None
        if not isinstance(data, dict):
            m = _EXIT_RE.search(text)
            return (int(m.group(1)), text) if m else (126, text)
        status = data
    if not isinstance(status, dict):
        return 126, repr(status)
    state = status.get("status")
    message = str(status.get("message") or "")
    if state == "Success":
        return 0, ""
    for cause in (status.get("details") or {}).get("causes") or []:
        if isinstance(cause, dict) and cause.get("reason") == "ExitCode":
            try:
                return int(str(cause.get("message")).strip()), message
            except ValueError:
                pass
    m = _EXIT_RE.search(message)
    if m:
        return int(m.group(1)), message
    lowered = message.lower()
    if "not found" in lowered or "no such file" in lowered:
        return 127, message
    return 126, message or json.dumps(status)


def run_exec(core_api, namespace: str, pod: str, container: str | None, command: list[str],
             timeout: float = 30) -> ExecResult:
    """Run `command` in the pod's container; stdout, stderr and exit code collected separately."""
    from kubernetes.stream import stream

    kwargs: dict[str, Any] = dict(command=list(command), stderr=True, stdin=False, stdout=True,
                                  tty=False, _preload_content=False)
    if container:
        kwargs["container"] = container
    # kubernetes.stream.stream swaps the ApiClient's `request` for a WebSocket one while it runs, so any other
    # call on the same client meanwhile (the live traffic widget's thread execs while a cell lists pods) would
    # be sent as a WebSocket handshake ("Handshake status 200 OK"). Each exec gets a client of its own.
    exec_api = type(core_api)(type(core_api.api_client)(core_api.api_client.configuration))
    resp = stream(exec_api.connect_get_namespaced_pod_exec, pod, namespace, **kwargs)
    out: list[str] = []
    err: list[str] = []
    status_text = ""
    deadline = time.monotonic() + max(float(timeout), 0.1)
    timed_out = False
    try:
        while resp.is_open():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            resp.update(timeout=min(1.0, remaining))
            if resp.peek_stdout():
                out.append(resp.read_stdout())
            if resp.peek_stderr():
                err.append(resp.read_stderr())
            if resp.peek_channel(ERROR_CHANNEL):
                status_text += resp.read_channel(ERROR_CHANNEL)
        # whatever arrived together with the close
        rest_out = resp.read_stdout(timeout=0) if hasattr(resp, "read_stdout") else ""
        rest_err = resp.read_stderr(timeout=0) if hasattr(resp, "read_stderr") else ""
        out.append(rest_out or "")
        err.append(rest_err or "")
        status_text += resp.read_channel(ERROR_CHANNEL) or ""
    finally:
        if not timed_out:  # a graceful close waits for the server's answer: not for a hung command
            try:
                resp.close()
            except Exception:  # noqa: BLE001 - closing a dead socket is not the learner's problem
                pass
        # WebSocket.close() returns early once the server's close frame was answered, leaving the
        # socket open: shut it down, or every exec leaks a file descriptor
        sock = getattr(resp, "sock", None)
        if sock is not None:
            try:
                sock.shutdown()
            except Exception:  # noqa: BLE001
                pass
    stdout, stderr = "".join(out), "".join(err)
    if timed_out:
        note = f"labkit: command did not finish within {timeout:g}s"
        return ExecResult(TIMEOUT_EXIT_CODE, stdout, (stderr + ("\n" if stderr else "") + note),
                          list(command))
    code, message = parse_exec_status(status_text)
    if code != 0 and message and code in (126, 127, LOST_EXIT_CODE) and message not in stderr:
        stderr = stderr + ("\n" if stderr and not stderr.endswith("\n") else "") + message
    return ExecResult(code, stdout, stderr, list(command))
