"""The local mesh's data for the tools, from its state directory: works in the owner and in attached processes.

Resources come from the store; each proxy is reached through the admin address Envoy wrote into its
pod directory, and its access log is the file the builders point the access loggers at. Nothing here
needs the in-process `MeshRuntime`, so a second notebook or the CLI sees the same as the owner.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..constants import PROXY_CONTAINER
from ..envoy.common import ProxyPaths
from ..errors import LabkitError
from ..runtime.envoy_proc import EnvoyProcess
from .access import ToolAccess

if TYPE_CHECKING:  # the backend hands itself in; importing it at run time would make a cycle
    from ..backends.local import LocalLab

PROXY_DIR = PROXY_CONTAINER  # each container has its directory in the pod's
# Envoy writes access logs from a flush thread (every 200 ms here); `/reopen_logs` wakes it, and the
# lines are on disk about a millisecond after the admin call returns. One grace period covers all proxies.
FLUSH_GRACE_S = 0.05


class LocalAccess(ToolAccess):
    lab: LocalLab

    def objects(self) -> list[dict]:
        return self.lab.store.list()   # copies: what Store.snapshot() hands out is shared and read-only

    @property
    def subnet(self) -> int:
        return self.lab.settings.subnet

    def addresses(self):
        return None  # the model's addresses are the real ones here

    def _proxy_root(self, namespace: str, pod: str):
        return self.lab.pod_dir(namespace, pod) / PROXY_DIR

    def envoy(self, namespace: str, pod: str) -> EnvoyProcess:
        """A handle on a running proxy's admin API (only reads the admin address file; starts nothing)."""
        root = self._proxy_root(namespace, pod)
        handle = EnvoyProcess(f"{namespace}/{pod}", ProxyPaths(str(root)), node_id="", cluster="")
        if handle.admin_address is None:
            raise LabkitError(f"pod {namespace}/{pod} has no running proxy",
                              hint="only pods with a sidecar (lab.pods() column sidecar) and the gateway have one")
        return handle

    def config_dump(self, namespace: str, pod: str, *, include_eds: bool = False, why: str = "") -> dict:
        return self.envoy(namespace, pod).config_dump(include_eds=include_eds)  # the admin API's dump

    def access_log(self, namespace: str, pod: str) -> str:
        path = self._proxy_root(namespace, pod) / "access.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def access_logs(self, proxies: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
        for namespace, pod in proxies:
            try:
                self.envoy(namespace, pod).admin("/reopen_logs", method="POST", timeout=1)
            except (LabkitError, OSError):
                pass  # a stopped proxy: its file is complete already
        time.sleep(FLUSH_GRACE_S)
        return super().access_logs(proxies)
