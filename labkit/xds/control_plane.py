"""The mesh owner's xDS server: a gRPC (ADS) endpoint on the mesh's own loopback address, run by one
thread with its own event loop, stopped with the owner.

The runtime hands it each proxy's configuration (the pure translator's dicts); it versions them per
type, pushes only what changed to the proxy that changed, and tells the runtime when a proxy has
ACKed, or quotes Envoy's error when it NACKed.
"""
from __future__ import annotations

import asyncio
import collections
import secrets
import threading
import time

import grpc
from envoy.service.discovery.v3 import ads_pb2_grpc

from ..errors import LabkitError
from .resources import CLUSTER, LISTENER, SECRET, SHORT_NAMES, Encoder
from .server import AdsServicer, Registry
from .snapshot import Snapshot, build_snapshot, build_type
from .watch import ProxyState

ISTIOD_PORT = 15010  # istiod's plaintext xDS port; another free port when it is taken on this address


class ControlPlane:
    def __init__(self, host: str = "127.0.0.1", port: int = ISTIOD_PORT):
        self.host, self.wanted_port = host, port
        self.port = 0
        self.registry = Registry()
        self.registry.debug_token = secrets.token_urlsafe(24)
        self.encoder = Encoder()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.pushes = 0   # proxy snapshots that changed (and were pushed): what a change cost in proxies
        # (node id, short names of the types that changed) per push, newest last: which proxy got what.
        self.push_log: collections.deque[tuple[str, frozenset[str]]] = collections.deque(maxlen=10000)

    # -- lifecycle --------------------------------------------------------------------------------
    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    @property
    def debug_token(self) -> str:
        """What a debug client (proxy-status) presents; the owner keeps it in a private file."""
        return self.registry.debug_token

    def start(self) -> "ControlPlane":
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="labkit-xds", daemon=True)
        self._thread.start()
        ready.wait(timeout=15)
        if self._error is not None or not self.port:
            raise LabkitError(f"the xDS server could not listen on {self.host}: {self._error or 'timeout'}")
        return self

    def _run(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._serve(ready))
        except BaseException as exc:  # reported by start()
            self._error = exc
            ready.set()
        finally:
            self._loop.close()

    async def _serve(self, ready: threading.Event) -> None:
        self._stopped = asyncio.Event()
        # Proxies send keepalives; a config of some hundred kB must fit one message.
        server = grpc.aio.server(options=[("grpc.max_send_message_length", 64 << 20),
                                          ("grpc.so_reuseport", 0)])
        ads_pb2_grpc.add_AggregatedDiscoveryServiceServicer_to_server(AdsServicer(self.registry), server)
        port = 0
        for candidate in (self.wanted_port, 0):
            try:
                port = server.add_insecure_port(f"{self.host}:{candidate}")
            except RuntimeError:
                port = 0
            if port:
                break
        if not port:
            raise OSError(f"no port free on {self.host}")
        self.port = port
        await server.start()
        ready.set()
        await self._stopped.wait()
        await server.stop(grace=0.2)

    def stop(self) -> None:
        loop, stopped = self._loop, self._stopped
        if loop is not None and stopped is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stopped.set)
            except RuntimeError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self.registry.lock:
            self.registry.proxies.clear()

    # -- proxies ----------------------------------------------------------------------------------
    def register(self, node_id: str) -> str:
        """A proxy this control plane serves; returns its token (kept by the proxy's bootstrap only)."""
        with self.registry.lock:
            state = self.registry.proxies.get(node_id)
            if state is None:
                state = self.registry.proxies[node_id] = ProxyState(node_id, secrets.token_urlsafe(24))
            return state.token

    def forget(self, node_id: str) -> None:
        with self.registry.lock:
            self.registry.proxies.pop(node_id, None)

    def set_config(self, node_id: str, listeners: list[dict], clusters: list[dict], routes: list[dict],
                   secrets_: list[dict], listener_suffix: str = "", endpoints: list[dict] | None = None
                   ) -> dict[str, str]:
        """Replace one proxy's snapshot; pushes the types whose version changed. Returns the versions."""
        return self._replace(node_id, build_snapshot(self.encoder, listeners, clusters, routes, secrets_,
                                                     listener_suffix, endpoints))

    def set_secrets(self, node_id: str, secrets_: list[dict]) -> dict[str, str]:
        """Replace only the proxy's secrets (a certificate rotation): pushed over SDS alone."""
        with self.registry.lock:
            current = self.registry.proxies[node_id].snapshot
        snapshot = Snapshot(types={**current.types, SECRET: build_type(self.encoder, secrets_)},
                            required=current.required)
        return self._replace(node_id, snapshot)

    def _replace(self, node_id: str, snapshot: Snapshot) -> dict[str, str]:
        with self.registry.lock:
            state = self.registry.proxies[node_id]
            changed = {t for t, snap in snapshot.types.items() if snap.version != state.snapshot.version(t)}
            state.snapshot = snapshot
            wake = state.wake
            self.registry.lock.notify_all()
        if changed:
            self.pushes += 1
            self.push_log.append((node_id, frozenset(SHORT_NAMES[t] for t in changed)))
            if wake is not None:
                wake()
        return {SHORT_NAMES[t]: snap.version for t, snap in snapshot.types.items()}

    def config_bytes(self, node_id: str) -> int:
        """Serialized size of everything the proxy is served (its LDS, CDS, RDS and SDS)."""
        with self.registry.lock:
            state = self.registry.proxies.get(node_id)
            if state is None:
                return 0
            return sum(packed.ByteSize() for snap in state.snapshot.types.values()
                       for _, packed in snap.resources.values())

    def rejected(self, node_id: str) -> bool:
        with self.registry.lock:
            state = self.registry.proxies.get(node_id)
            return bool(state and any(w.error for w in state.watches.values()))

    def has_config(self, node_id: str) -> bool:
        """Whether the proxy is connected and has accepted listeners and clusters at least once."""
        with self.registry.lock:
            state = self.registry.proxies.get(node_id)
            if state is None or not state.stream:
                return False
            return all(state.watches.get(t) is not None and state.watches[t].acked_version
                       for t in (LISTENER, CLUSTER))

    def connected(self, node_id: str) -> bool:
        with self.registry.lock:
            state = self.registry.proxies.get(node_id)
            return bool(state and state.stream)

    def wait_synced(self, node_id: str, timeout: float = 10.0, alive=lambda: True) -> None:
        """Until the proxy has ACKed its current snapshot. A NACK raises with Envoy's own words."""
        deadline = time.monotonic() + timeout
        with self.registry.lock:
            while True:
                state = self.registry.proxies.get(node_id)
                if state is None:
                    raise LabkitError(f"proxy {node_id} is not served by this control plane")
                lag = state.out_of_sync()
                if lag is None:
                    return
                if lag[0] == "error":
                    raise LabkitError(f"Envoy {node_id} rejected its configuration ({lag[1]})",
                                      hint="the proxy keeps serving its previous configuration; "
                                           "fix or delete the resource you applied last")
                left = deadline - time.monotonic()
                if left <= 0 or not alive():
                    raise LabkitError(f"Envoy {node_id} did not take its new configuration: "
                                      f"{SHORT_NAMES.get(lag[0], lag[0])} {lag[1]}")
                self.registry.lock.wait(min(left, 0.25))

    def status(self) -> list[dict]:
        """Per proxy and per type: what istiod's syncz reports (see watch.py)."""
        rows = []
        with self.registry.lock:
            for node_id, state in sorted(self.registry.proxies.items()):
                types = {}
                for type_url, watch in state.watches.items():
                    types[SHORT_NAMES.get(type_url, type_url)] = {
                        "status": watch.status, "sent_at": watch.sent_at, "error": watch.error,
                        "version": watch.sent_version, "acked_version": watch.acked_version}
                rows.append({"node_id": node_id, "connected": bool(state.stream), "types": types})
        return rows
