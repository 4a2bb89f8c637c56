"""The ADS stream (state of the world): answer each proxy's requests, push its changes, track ACKs.

Protocol (envoy api/envoy/service/discovery/v3/discovery.proto and docs xds_protocol.rst): the proxy
sends one DiscoveryRequest per type; a response carries version_info and a nonce; the next request of
that type with that nonce ACKs it (version_info = the version) or NACKs it (error_detail set, version_info
= the last version it accepted). A request whose nonce is not the last one sent is stale and ignored,
as istiod does; an ACK that changes resource_names asks for those names.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import threading

import grpc
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

from .resources import CLUSTER, ENDPOINT, NAMED_TYPES, PUSH_ORDER
from .syncz import SYNCZ, client_config, is_istio_proxy
from .watch import ProxyState, Watch, now

log = logging.getLogger(__name__)
_PUSH = object()
_nonces = itertools.count(1)


class Registry:
    """Proxies known to the control plane; every field of a ProxyState is changed under `lock`."""

    def __init__(self):
        self.lock = threading.Condition()
        self.proxies: dict[str, ProxyState] = {}
        self.control_plane_id = "istiod"
        self.debug_token = ""       # for istioctl-style debug requests (syncz)


class AdsServicer(ads_pb2_grpc.AggregatedDiscoveryServiceServicer):
    def __init__(self, registry: Registry):
        self.registry = registry
        self._streams = itertools.count(1)

    async def StreamAggregatedResources(self, request_iterator, context):
        queue: asyncio.Queue = asyncio.Queue()
        loop = asyncio.get_running_loop()
        stream_id = next(self._streams)

        async def read() -> None:
            try:
                async for request in request_iterator:
                    queue.put_nowait(request)
            except (grpc.aio.AioRpcError, asyncio.CancelledError):
                pass
            finally:
                queue.put_nowait(None)

        reader = asyncio.ensure_future(read())
        state: ProxyState | None = None
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                if state is None and item.type_url == SYNCZ:
                    if not self._debug_allowed(context):
                        await context.abort(grpc.StatusCode.UNAUTHENTICATED, "debug requests need the mesh's token")
                    await context.write(self._syncz())
                    continue
                if state is None:
                    state = self._authenticate(item, context, stream_id, lambda: loop.call_soon_threadsafe(
                        queue.put_nowait, _PUSH))
                    if state is None:
                        await context.abort(grpc.StatusCode.UNAUTHENTICATED,
                                            f"node {item.node.id!r} is not a proxy of this mesh or its token is wrong")
                assert state is not None  # the first request authenticated (or the stream was aborted)
                for response in self._handle(state, item):
                    await context.write(response)
        finally:
            reader.cancel()
            if state is not None:
                with self.registry.lock:
                    if state.stream == stream_id:
                        state.forget_stream()
                        state.wake = None
                    self.registry.lock.notify_all()

    def _debug_allowed(self, context) -> bool:
        token = dict(context.invocation_metadata() or ()).get("authorization", "")
        return bool(self.registry.debug_token) and token == f"Bearer {self.registry.debug_token}"

    def _syncz(self):
        with self.registry.lock:
            resources = [client_config(state) for node_id, state in sorted(self.registry.proxies.items())
                         if state.stream and is_istio_proxy(node_id)]
        response = discovery_pb2.DiscoveryResponse(type_url=SYNCZ, nonce=f"{next(_nonces):x}", resources=resources)
        response.control_plane.identifier = self.registry.control_plane_id
        return response

    # -- one stream's logic (no I/O: returns the responses to send) -------------------------------
    def _authenticate(self, first, context, stream_id: int, wake) -> ProxyState | None:
        """Each proxy proves its node id with the token only its own bootstrap holds (istiod checks a
        service account token the same way); a second stream of the same node replaces the first."""
        token = dict(context.invocation_metadata() or ()).get("authorization", "")
        with self.registry.lock:
            state = self.registry.proxies.get(first.node.id)
            if state is None or token != f"Bearer {state.token}":
                return None
            state.forget_stream()
            state.stream, state.connected_at, state.wake = stream_id, now(), wake
            self.registry.lock.notify_all()
            return state

    def _handle(self, state: ProxyState, item) -> list:
        with self.registry.lock:
            if state.wake is None or state.stream == 0:
                return []  # replaced by a newer stream of the same proxy
            if item is _PUSH:
                out = []
                for type_url in PUSH_ORDER:
                    if type_url in state.watches:
                        # After new clusters, their endpoints again even when unchanged: an updated EDS
                        # cluster warms until it is sent its assignment (istiod's full push sends every
                        # watched type, CDS then EDS: pilot/pkg/xds/ads.go pushConnection).
                        forced = type_url == ENDPOINT and any(r.type_url == CLUSTER for r in out)
                        out.extend(self._respond(state, type_url, push=not forced))
            else:
                out = self._on_request(state, item)
            self.registry.lock.notify_all()
            return out

    def _on_request(self, state: ProxyState, request) -> list:
        type_url = request.type_url
        watch = state.watches.get(type_url)
        if watch is None:
            watch = state.watches[type_url] = Watch(type_url)
        names = set(request.resource_names) if type_url in NAMED_TYPES else None
        if request.response_nonce:
            if request.response_nonce != watch.sent_nonce:
                return []  # stale: answers an older response; a newer one is on its way
            if request.HasField("error_detail"):
                watch.error = request.error_detail.message or "rejected"
                watch.error_version = watch.sent_version
                log.warning("%s rejected %s version %s: %s", state.node_id, type_url, watch.sent_version,
                            watch.error)
                watch.names = names
                return []
            watch.acked_nonce, watch.acked_version, watch.error = request.response_nonce, request.version_info, ""
        watch.names = names
        changed_names = watch.sent_names is None or (names is not None and frozenset(names) != watch.sent_names)
        if not request.response_nonce or changed_names:
            return self._respond(state, type_url, push=False)
        return []

    def _respond(self, state: ProxyState, type_url: str, push: bool) -> list:
        watch = state.watches[type_url]
        snap = state.snapshot.types.get(type_url)
        if snap is None:
            return []
        if push and watch.sent_version == snap.version:
            return []  # the proxy already has this version
        if watch.names is not None and not watch.names and watch.sent_names is not None:
            return []  # unsubscribed from every resource of the type
        nonce = f"{next(_nonces):x}"
        watch.sent_version, watch.sent_nonce, watch.sent_at = snap.version, nonce, now()
        watch.sent_names = frozenset(watch.names) if watch.names is not None else frozenset()
        response = discovery_pb2.DiscoveryResponse(version_info=snap.version, type_url=type_url, nonce=nonce,
                                                   resources=snap.select(watch.names))
        response.control_plane.identifier = self.registry.control_plane_id
        return [response]
