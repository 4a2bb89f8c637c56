"""Incremental push is sound: a proxy left out of a change's scope would have been built exactly as
before (hypothesis over the translator's resource space), and the scope is narrow where Istio's is."""
from __future__ import annotations

import dataclasses
import json
import os
import tempfile

from hypothesis import HealthCheck, given, settings, strategies as st

from labkit.backends.local import system_objects
from labkit.envoy.common import ProxyPaths
from labkit.envoy.proxy import GatewaySettings, build_proxy_config
from labkit.errors import LabkitError
from labkit.model.deployments import reconcile_pods
from labkit.model.mesh import build_model
from labkit.model.push_scope import keep_client_view, pods_to_recompute
from labkit.resources.store import Store
from mesh_scenarios import strict
from labkit.resources.loader import load_documents
from test_translator_properties import (BASE, any_resource, authorization_policy, gateway,
                                        peer_authentication)


def models(shared: list[dict], change: list[dict]):
    """(model before, model after) of one store: `shared` applied, then `change` (no new pods)."""
    with tempfile.TemporaryDirectory() as state:
        store = Store(state)
        store.apply(system_objects(), system=True)
        for doc in [*BASE, *shared]:
            try:
                store.apply([doc])
            except LabkitError:
                pass
        create, delete = reconcile_pods(store.snapshot()[1])
        store.apply(create, system=True)
        store.delete(delete, ignore_missing=True)
        before = build_model(store.snapshot()[1], 10)
        for doc in change:
            try:
                store.apply([doc])
            except LabkitError:
                pass
        return before, build_model(store.snapshot()[1], 10)


def config(model, pod) -> str:
    try:
        built = build_proxy_config(model, pod, ProxyPaths(f"/state/{pod.name}"), GatewaySettings())
    except LabkitError as exc:
        return f"error: {exc}"
    return json.dumps([built.listeners, built.clusters, built.routes, built.sds, built.warnings])


@settings(max_examples=int(os.environ.get("LABKIT_HYPOTHESIS_EXAMPLES", "60")), deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(shared=st.lists(any_resource, max_size=6),
       change=st.lists(st.one_of(peer_authentication, authorization_policy, gateway), min_size=1, max_size=2))
def test_proxies_out_of_scope_keep_their_config(shared, change):
    before, after = models(shared, change)
    scope = pods_to_recompute(before, after)
    if scope is None:
        return
    for pod in after.pods:
        if (pod.sidecar or pod.is_gateway) and pod.uid not in scope:
            assert config(before, pod) == config(after, pod), pod.name
    # What the old model translated for clients, handed on to the new one, builds every proxy as a fresh
    # translation of the new model does.
    proxies = [p for p in after.pods if p.sidecar or p.is_gateway]
    for pod in before.pods:
        if pod.sidecar or pod.is_gateway:
            config(before, pod)
    fresh = dataclasses.replace(after, memo={}, client_view={}, _endpoints={}, _by_namespace={})
    keep_client_view(before, after)
    for pod in proxies:
        assert config(after, pod) == config(fresh, pod), pod.name


def _httpbin_foo(model) -> set[str]:
    return {p.uid for p in model.pods if p.labels.get("app") == "httpbin" and p.namespace == "foo"}


def test_scope_is_narrow_where_istios_is():
    workload_pa = strict("foo", name="one", selector={"app": "httpbin"})
    allow_nothing = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n" \
                    "metadata: {name: deny, namespace: foo}\nspec: {selector: {matchLabels: {app: httpbin}}}\n"
    for change in (workload_pa, allow_nothing):
        before, after = models([], load_documents(change))
        assert _httpbin_foo(after) and pods_to_recompute(before, after) == _httpbin_foo(after)
    # What clients see changes: every proxy.
    before, after = models([], load_documents(strict("foo", mode="DISABLE")))
    assert pods_to_recompute(before, after) is None
    service = "apiVersion: v1\nkind: Service\nmetadata: {name: extra, namespace: foo}\n" \
              "spec: {selector: {app: extra}, ports: [{port: 80}]}\n"
    before, after = models([], load_documents(service))
    assert pods_to_recompute(before, after) is None
    # The same workload's policy in another namespace (bar has no httpbin): no proxy, not foo's httpbin.
    before, after = models([], load_documents(strict("bar", name="one", selector={"app": "httpbin"})))
    assert _httpbin_foo(after) and pods_to_recompute(before, after) == set()
    # No change, nothing to do.
    before, after = models([], [])
    assert pods_to_recompute(before, after) == set()
