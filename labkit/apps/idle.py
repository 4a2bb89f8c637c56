"""A container that runs no server (curl, sleep): the process just waits for SIGTERM.

Labs exec commands "in" such pods; the runtime does that itself, so all this process
has to do is exist, like `sleep infinity`, and leave promptly when the pod is deleted.
"""
from __future__ import annotations

from labkit.apps.common import hold_stop_signals, log, pod_name, wait_for_termination


def main() -> None:
    hold_stop_signals()  # from here on a SIGTERM is a clean exit 0, even before we wait
    log(f"idle container of pod {pod_name()} started")
    wait_for_termination()


if __name__ == "__main__":
    main()
