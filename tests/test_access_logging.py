"""Access logging as a real install decides it (issue 13): the mesh config in ConfigMap istio-system/istio
and the Telemetry API; Istio's TEXT and JSON formats exactly; the tools read both."""
from __future__ import annotations

import json
import time

import pytest

from labkit.model.access_logging import (CLIENT, ISTIO_JSON_FORMAT, ISTIO_TEXT_FORMAT, SERVER, access_logs,
                                         text_formats)
from labkit.tools.access_log_format import TextFormat, compile_formats, parse_line

from mesh_scenarios import curl_code, deploy_migration
from tools_fixtures import migration, model_of


def mesh_config(body: str) -> str:
    indented = "\n".join("    " + line for line in body.strip().splitlines())
    return (f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: istio, namespace: istio-system}}\n"
            f"data:\n  mesh: |\n{indented}\n")


def telemetry(name: str, namespace: str, body: str, selector: str = "") -> str:
    return (f"apiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata: {{name: {name}, namespace: {namespace}}}\n"
            f"spec:\n{selector}  accessLogging:\n{body}")


def logs_of(*extra: str, namespace: str = "foo", app: str = "httpbin", mode: str = SERVER):
    model = model_of(migration(*extra))
    pod = next(p for p in model.pods if p.namespace == namespace and p.labels.get("app") == app)
    return access_logs(model, pod, mode)


def test_no_mesh_config_means_no_access_log():
    assert logs_of() == [] and logs_of(mesh_config("accessLogFile: ''")) == []


def test_access_log_file_gives_istios_text_format_or_json_fields():
    [text] = logs_of(mesh_config("accessLogFile: /dev/stdout"))
    assert text.path == "/dev/stdout" and text.text == ISTIO_TEXT_FORMAT and text.json_fields is None
    [js] = logs_of(mesh_config("accessLogFile: /dev/stdout\naccessLogEncoding: JSON"))
    assert js.json_fields == ISTIO_JSON_FORMAT and "upstream_tls" not in js.json_fields
    [custom] = logs_of(mesh_config('accessLogFile: /dev/stdout\naccessLogFormat: "%START_TIME% %RESPONSE_CODE%"'))
    assert custom.text == "%START_TIME% %RESPONSE_CODE%\n"
    [custom_json] = logs_of(mesh_config(
        'accessLogFile: /dev/stdout\naccessLogEncoding: JSON\naccessLogFormat: \'{"code": "%RESPONSE_CODE%"}\''))
    assert custom_json.json_fields == {"code": "%RESPONSE_CODE%"}


ENVOY = "  - providers: [{name: envoy}]\n"


def test_telemetry_turns_logging_on_and_off_per_scope():
    on_mesh = telemetry("mesh-default", "istio-system", ENVOY)
    assert [log.text for log in logs_of(mesh_config("accessLogFile: ''"), on_mesh)] == [ISTIO_TEXT_FORMAT]
    off_foo = telemetry("quiet", "foo", "  - disabled: true\n")
    assert logs_of(mesh_config("accessLogFile: ''"), on_mesh, off_foo) == []
    assert len(logs_of(mesh_config("accessLogFile: ''"), on_mesh, off_foo, namespace="bar")) == 1
    # A workload's own Telemetry beats its namespace's.
    on_httpbin = telemetry("loud", "foo", ENVOY, selector="  selector: {matchLabels: {app: httpbin}}\n")
    assert len(logs_of(mesh_config("accessLogFile: ''"), on_mesh, off_foo, on_httpbin)) == 1
    assert logs_of(mesh_config("accessLogFile: ''"), on_mesh, off_foo, on_httpbin, app="curl") == []
    # match.mode: only the client side logs.
    client_only = telemetry("clients", "istio-system", "  - providers: [{name: envoy}]\n    match: {mode: CLIENT}\n")
    assert logs_of(mesh_config("accessLogFile: ''"), client_only, mode=SERVER) == []
    assert len(logs_of(mesh_config("accessLogFile: ''"), client_only, mode=CLIENT)) == 1


def test_builtin_envoy_provider_takes_the_mesh_encoding_and_other_providers_their_own():
    json_mesh = mesh_config("""
accessLogEncoding: JSON
extensionProviders:
- name: short-text
  envoyFileAccessLog:
    path: /dev/stdout
    logFormat: {text: "%RESPONSE_CODE% %DOWNSTREAM_PEER_URI_SAN%"}
""")
    [log] = logs_of(json_mesh, telemetry("mesh-default", "istio-system", ENVOY))
    assert log.json_fields == ISTIO_JSON_FORMAT
    [log] = logs_of(json_mesh, telemetry("mesh-default", "istio-system", "  - providers: [{name: short-text}]\n"))
    assert log.text == "%RESPONSE_CODE% %DOWNSTREAM_PEER_URI_SAN%\n"
    assert log.text in text_formats(model_of(migration(json_mesh)))


LINE = ('[2026-11-30T08:00:00.123Z] "GET /ip HTTP/1.1" 200 - via_upstream - "-" 0 31 2 1 "-" "curl/8.16.0" '
        '"7c1f3e4a-1111-2222-3333-444455556666" "httpbin.foo:8000" "127.10.3.2:8080" inbound|8080|| '
        '127.0.0.6:43211 127.10.3.1:8080 127.10.5.1:50022 outbound_.8000_._.httpbin.foo.svc.cluster.local default')


def test_text_lines_parse_into_istios_json_field_names():
    fields = parse_line(LINE, compile_formats([ISTIO_TEXT_FORMAT]))
    assert fields["method"] == "GET" and fields["path"] == "/ip" and fields["response_code"] == "200"
    assert fields["response_flags"] is None and fields["user_agent"] == "curl/8.16.0"
    assert fields["upstream_cluster"] == "inbound|8080||" and fields["authority"] == "httpbin.foo:8000"
    assert fields["requested_server_name"] == "outbound_.8000_._.httpbin.foo.svc.cluster.local"
    assert fields["route_name"] == "default"
    assert set(fields) == set(ISTIO_JSON_FORMAT)    # the TEXT and JSON defaults carry the same fields
    assert parse_line("2026-11-30T08:00:00Z\twarning\tenvoy config ...", compile_formats([ISTIO_TEXT_FORMAT])) is None
    assert TextFormat("%RESPONSE_CODE% %DOWNSTREAM_PEER_URI_SAN%").parse("503 -") == {
        "response_code": "503", "downstream_peer_uri_san": None}


# ---- live: what the proxies really write ------------------------------------------------------------

@pytest.fixture(scope="module")
def mesh(lab):
    deploy_migration(lab)
    return lab


def _call_and_log(mesh) -> list[str]:
    assert curl_code(mesh, "foo", "http://httpbin.bar:8000/ip") == ("200", 0)
    time.sleep(0.5)   # Envoy flushes access logs every 200 ms here
    return [line for line in mesh.logs("bar", "httpbin", container="istio-proxy").splitlines()
            if "/ip" in line]


@pytest.mark.envoy
def test_default_mesh_logs_istio_text_and_the_tools_read_it(mesh):
    since = time.time()
    lines = _call_and_log(mesh)
    assert lines and lines[-1].startswith("[") and '"GET /ip HTTP/1.1" 200' in lines[-1]
    seen = mesh.evidence(since=since)
    edge = seen.edge("foo/curl", "bar/httpbin")
    assert edge is not None and edge["codes"] == "200×1" and edge["mtls"] is True   # lent by the server's line
    assert edge["client_identities"] == []    # no peer identity in Istio's default format
    server_rows = seen.hops[(seen.hops.side == "server") & (seen.hops.destination == "bar/httpbin")]
    assert server_rows.mtls.tolist()[-1] is True    # the Istio SNI in the TEXT line says mTLS


@pytest.mark.envoy
def test_json_encoding_and_telemetry_switch_logging(mesh):
    from labkit.backends.local import system_objects
    mesh.apply(mesh_config("accessLogFile: /dev/stdout\naccessLogEncoding: JSON"))
    try:
        # A pooled connection that opened before the change drains on the old listener (as in Envoy on a
        # cluster); the next connections log in JSON.
        json_lines = []
        for _ in range(5):
            json_lines = [line for line in _call_and_log(mesh) if line.startswith("{")]
            if json_lines:
                break
        line = json.loads(json_lines[-1])
        assert set(line) == set(ISTIO_JSON_FORMAT) and line["response_code"] == 200
        mesh.apply(telemetry("quiet", "bar", "  - disabled: true\n"))
        logged = True
        for attempt in range(10):   # until the pooled connection of the old listener has drained
            path = f"/anything/quiet-{attempt}"
            assert curl_code(mesh, "foo", f"http://httpbin.bar:8000{path}") == ("200", 0)
            time.sleep(0.5)
            logged = path in mesh.logs("bar", "httpbin", container="istio-proxy")
            if not logged:
                break
        assert not logged
    finally:
        mesh.delete("Telemetry", "quiet", namespace="bar", ignore_missing=True)
        mesh.apply([o for o in system_objects() if o["kind"] == "ConfigMap"])
