"""istioctl proxy-status's shape, from syncz rows (no mesh needed)."""
from __future__ import annotations

from labkit.backends.kube_proxy_status import parse_table
from labkit.durations import human_duration
from labkit.tools.proxy_status import proxy_status_frame, render_table
from labkit.xds.resources import CLUSTER, LISTENER, ROUTE, SECRET

NOW = 1_000_000.0


def row(name: str, namespace: str, **types) -> dict:
    return {"name": name, "namespace": namespace, "cluster": "Kubernetes", "istiod": "istiod", "version": "1.28.0",
            "types": {t: {"status": s, "last_updated": NOW - age if age is not None else None, "error": e}
                      for t, (s, age, e) in types.items()}}


ROWS = [
    row("productpage-v1-abc.default", "default", **{CLUSTER: ("SYNCED", 5, ""), LISTENER: ("SYNCED", 5, ""),
                                                    ROUTE: ("STALE", 130, "")}),
    row("httpbin-1.foo", "foo", **{CLUSTER: ("SYNCED", 1, ""), LISTENER: ("ERROR", 2, "duplicate matcher"),
                                   ROUTE: ("NOT SENT", None, "")}),
    row("istio-ingressgateway-1.istio-system", "istio-system",
        **{CLUSTER: ("SYNCED", 3700, ""), LISTENER: ("SYNCED", 3700, ""), SECRET: ("SYNCED", 59, "")}),
]


def test_human_duration_is_kubernetes_duration():
    assert [human_duration(s) for s in (-5, -0.5, 0, 59, 119, 120, 150, 600, 3599, 3600 * 3 + 60,
                                        3600 * 9, 3600 * 50, 86400 * 9, 86400 * 800)] == \
        ["<invalid>", "0s", "0s", "59s", "119s", "2m", "2m30s", "10m", "59m", "3h1m", "9h", "2d2h", "9d", "2y70d"]


def test_default_columns_and_subscribed_types_in_istioctls_order():
    frame = proxy_status_frame(ROWS, now=NOW)
    assert list(frame.columns) == ["NAME", "CLUSTER", "ISTIOD", "VERSION", "SUBSCRIBED TYPES"]
    assert list(frame["NAME"]) == sorted(r["name"] for r in ROWS)
    types = dict(zip(frame["NAME"], frame["SUBSCRIBED TYPES"]))
    # Core types first (CDS, LDS, EDS, RDS), others after; every status but IGNORED counts.
    assert types == {"httpbin-1.foo": "3 (CDS,LDS,RDS)", "istio-ingressgateway-1.istio-system": "3 (CDS,LDS,SDS)",
                     "productpage-v1-abc.default": "3 (CDS,LDS,RDS)"}


def test_verbose_has_a_column_per_type_with_status_and_age():
    frame = proxy_status_frame(ROWS, verbose=True, now=NOW)
    assert list(frame.columns) == ["NAME", "CLUSTER", "CDS", "ECDS", "EDS", "LDS", "RDS", "SDS", "ISTIOD", "VERSION"]
    by_name = {r["NAME"]: r for r in frame.to_dict("records")}
    assert by_name["httpbin-1.foo"]["LDS"] == "ERROR (2s)"
    assert by_name["httpbin-1.foo"]["RDS"] == "NOT SENT"
    assert by_name["httpbin-1.foo"]["EDS"] == "IGNORED"
    assert by_name["productpage-v1-abc.default"]["RDS"] == "STALE (2m10s)"
    assert by_name["istio-ingressgateway-1.istio-system"]["CDS"] == "SYNCED (61m)"
    assert by_name["productpage-v1-abc.default"]["SDS"] == "IGNORED"
    assert frame.attrs["errors"] == {"httpbin-1.foo": {"LDS": "duplicate matcher"}}


def test_namespace_filter_and_empty():
    assert list(proxy_status_frame(ROWS, namespace="foo", now=NOW)["NAME"]) == ["httpbin-1.foo"]
    assert proxy_status_frame([], now=NOW).empty


def test_text_is_tabwriter_padded_and_reads_back():
    frame = proxy_status_frame(ROWS, verbose=True, now=NOW)
    text = render_table(frame)
    lines = text.splitlines()
    assert lines[0].startswith("NAME" + " " * (len("istio-ingressgateway-1.istio-system") + 5 - 4) + "CLUSTER")
    assert lines[0].endswith("ISTIOD     VERSION")
    # The kube backend parses istioctl's real output the same way: a round trip keeps every cell.
    assert parse_table(text).equals(frame.astype(str))


def test_kube_backend_runs_istioctl_or_says_it_is_missing(tmp_path, monkeypatch):
    import pytest

    from labkit.backends.kube_proxy_status import istioctl_proxy_status
    from labkit.errors import LabkitError
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LabkitError, match="istioctl is not installed"):
        istioctl_proxy_status(None, False)
    # A stand-in istioctl that prints what Istio 1.28's prints, and the arguments it got.
    table = render_table(proxy_status_frame(ROWS, verbose=True, now=NOW))
    (tmp_path / "table.txt").write_text(table)
    fake = tmp_path / "istioctl"
    # PATH holds only tmp_path: the script uses shell builtins only.
    fake.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path}/args\n"
                    f"while IFS= read -r line; do echo \"$line\"; done < {tmp_path}/table.txt\n")
    fake.chmod(0o755)
    frame = istioctl_proxy_status("foo", True, context="kind-lab")
    assert (tmp_path / "args").read_text().split() == ["proxy-status", "-n", "foo", "-v", "1", "--context", "kind-lab"]
    assert frame.to_dict("records") == proxy_status_frame(ROWS, verbose=True, now=NOW).astype(str).to_dict("records")
