"""Workshop prefixing at run time (issue 15, defect 1): what checks and notebooks send into pods and read back,
mapped in one place (labkit/backends/kube_prefix.py: map_command / unmap_text)."""
from __future__ import annotations

from labkit.backends.kube_prefix import NamespaceMap

LAB = {"foo", "bar", "backend"}
ALICE = NamespaceMap("alice")


def test_check_targets_host_headers_and_spiffe_ids_in_commands_are_mapped():
    sent = ALICE.map_command(["curl", "-sS", "-H", "Host: httpbin.bar", "http://httpbin.bar:8000/headers",
                              "--resolve", "httpbin.example.com:443:10.0.0.1"], LAB)
    assert sent == ["curl", "-sS", "-H", "Host: httpbin.alice-bar", "http://httpbin.alice-bar:8000/headers",
                    "--resolve", "httpbin.example.com:443:10.0.0.1"]
    script = ALICE.map_command(["sh", "-c", "openssl s_client -connect httpbin.foo.svc.cluster.local:8000 | "
                                "grep spiffe://cluster.local/ns/foo/sa/sleep; curl customers.backend/"], LAB)[2]
    assert script == ("openssl s_client -connect httpbin.alice-foo.svc.cluster.local:8000 | "
                      "grep spiffe://cluster.local/ns/alice-foo/sa/sleep; curl customers.alice-backend/")


def test_what_is_not_a_lab_namespace_is_left_alone():
    kept = ["curl", "http://httpbin.example.com/", "httpbin.foo.example.com", "10.1.2.3", "istiod.istio-system.svc:15012",
            "http://httpbin.other:8000/", "cluster.local"]
    assert ALICE.map_command(kept, LAB) == kept
    assert NamespaceMap(None).map_command(["curl", "http://httpbin.bar:8000/"], LAB) == ["curl", "http://httpbin.bar:8000/"]


def test_output_reads_with_the_lab_names():
    xfcc = "By=spiffe://cluster.local/ns/alice-foo/sa/httpbin;URI=spiffe://cluster.local/ns/alice-bar/sa/sleep"
    assert ALICE.unmap_text(xfcc) == "By=spiffe://cluster.local/ns/foo/sa/httpbin;URI=spiffe://cluster.local/ns/bar/sa/sleep"
    log = '"GET /ip" 200 outbound|8000||httpbin.alice-foo.svc.cluster.local malice-x bob-foo'
    assert ALICE.unmap_text(log) == '"GET /ip" 200 outbound|8000||httpbin.foo.svc.cluster.local malice-x bob-foo'
    assert ALICE.unmap_json({"name": "outbound|8000||httpbin.alice-foo.svc.cluster.local", "n": [1, "alice-bar"]}) == \
        {"name": "outbound|8000||httpbin.foo.svc.cluster.local", "n": [1, "bar"]}
    # A round trip: the lab's expected SPIFFE id equals what the learner's pod reports, read back.
    expected = "spiffe://cluster.local/ns/foo/sa/sleep"
    assert ALICE.unmap_text(ALICE.map_command([expected], LAB)[0]) == expected
