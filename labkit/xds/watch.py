"""What each proxy asked for, was sent and accepted, per xDS type: the ACK/NACK bookkeeping.

Statuses follow istiod's (pilot/pkg/xds/statusgen.go debugSyncStatus): ERROR when the last response of
the type was rejected, NOT SENT before any response, SYNCED when the last nonce sent was ACKed, else
STALE; istioctl proxy-status prints them with the age of the last send.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from .resources import NAMED_TYPES
from .snapshot import Snapshot

SYNCED, STALE, NOT_SENT, ERROR = "SYNCED", "STALE", "NOT SENT", "ERROR"


@dataclass
class Watch:
    """One xDS type on one proxy's stream."""
    type_url: str
    names: set[str] | None = None            # None: wildcard (LDS, CDS)
    sent_version: str = ""
    sent_nonce: str = ""
    sent_names: frozenset | None = None
    sent_at: float = 0.0                      # wall clock, for the age istioctl shows
    acked_nonce: str = ""
    acked_version: str = ""
    error: str = ""                          # Envoy's error_detail of the last NACK
    error_version: str = ""                  # the version it rejected

    @property
    def status(self) -> str:
        if self.error:
            return ERROR
        if not self.sent_nonce:
            return NOT_SENT
        return SYNCED if self.acked_nonce == self.sent_nonce else STALE


@dataclass
class ProxyState:
    node_id: str
    token: str
    snapshot: Snapshot = field(default_factory=Snapshot)
    stream: int = 0                          # id of the live stream, 0 when disconnected
    connected_at: float = 0.0
    watches: dict[str, Watch] = field(default_factory=dict)
    wake = None                              # set by the stream: called when the snapshot changes

    def out_of_sync(self) -> tuple[str, str] | None:
        """None when the proxy runs its snapshot; else (type, why). A NACK of the current version is
        ("error", detail)."""
        if not self.stream:
            return "stream", "not connected"
        for type_url, snap in self.snapshot.types.items():
            watch = self.watches.get(type_url)
            required = self.snapshot.required.get(type_url, set())
            if type_url in NAMED_TYPES:
                if not required:
                    continue  # nothing references it: Envoy does not subscribe
                if watch is None or not required <= (watch.names or set()):
                    return type_url, "not yet subscribed"
            elif watch is None:
                return type_url, "not yet subscribed"
            if watch.error and watch.error_version == snap.version:
                return "error", f"{type_url.rsplit('.', 1)[-1]}: {watch.error}"
            if watch.acked_version != snap.version or watch.sent_names is None \
                    or (watch.names is not None and watch.sent_names != frozenset(watch.names)):
                return type_url, "not yet acknowledged"
        return None

    def forget_stream(self) -> None:
        self.stream = 0
        self.watches = {}


def now() -> float:
    return time.time()
