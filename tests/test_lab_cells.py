"""Issue 21 item 9: small things a learner saw in labs 08 and 16–17, tested by running the cells' own commands."""
from __future__ import annotations

import http.server
import json
import re
import subprocess
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LABS = sorted((ROOT / "labs").glob("0*.ipynb"))


def cell(lab: str, start: str) -> str:
    """The source of the first code cell of labs/<lab> containing `start`."""
    nb = json.loads((ROOT / "labs" / lab).read_text())
    return next("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code" and start in "".join(c["source"]))


def shell_line(source: str, **variables) -> str:
    """The cell's `!` line as IPython expands it ({NAME} from the notebook, {{ }} escapes)."""
    from IPython.core.interactiveshell import InteractiveShell
    line = next(line for line in source.splitlines() if line.startswith("!"))[1:]
    shell = InteractiveShell.instance()
    shell.user_ns.update(variables)
    return shell.var_expand(line)


@pytest.fixture
def not_found_server():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):                                   # what Envoy answers without a route: 404, no body
            self.send_response(404)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


def test_lab06_first_curl_shows_the_status_of_a_404(not_found_server):
    command = shell_line(cell("08-https-edge.ipynb", "http://local.test:{INGRESS_PORT}/"),
                         INGRESS_HOST="127.0.0.1", INGRESS_PORT=not_found_server)
    out = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=20, executable="/bin/bash")
    assert "HTTP status 404" in out.stdout, (command, out.stdout, out.stderr)


def test_lab06_log_cell_shows_only_what_istio_prints():
    """istiod names the missing secret; the gateway's Envoy only says its SDS fetch timed out (as on a cluster)."""
    source = cell("08-https-edge.ipynb", 'lab.logs("istio-system", "istiod")')
    istiod = "\n".join([
        "2026-11-30T08:01:30.000000Z\tinfo\tads\tPush debounce stable",
        "2026-11-30T08:01:32.360165Z\twarn\tads\tfailed to fetch key and certificate for kubernetes://wrong-secret: "
        "secret istio-system/wrong-secret not found"])
    gateway = "\n".join([
        "2026-11-30T08:01:31.000000Z\tinfo\tEnvoy proxy is ready",
        "2026-11-30T08:01:32.400000Z\twarning\tenvoy config external/envoy/source/extensions/config_subscription/"
        "grpc/grpc_subscription_impl.cc:138\tgRPC config: initial fetch timed out for "
        "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret\tthread=15"])

    class Lab:
        def logs(self, namespace, target, *args, **kwargs):
            return istiod if target == "istiod" else gateway

    printed = []
    exec(source, {"lab": Lab(), "print": printed.append})
    assert printed[0].count("\n") == 0 and "failed to fetch key and certificate for kubernetes://wrong-secret" in printed[0]
    assert "initial fetch timed out" in printed[1] and "Envoy proxy is ready" not in printed[1]


def test_lab10_greps_show_the_customers_and_the_error_not_the_css():
    from labkit.apps.web_frontend import PAGE, CustomersUnavailable, render_error, render_table
    pages = {"table": PAGE.format(content=render_table([{"name": "Jewel Schaefer", "city": "Boston"}])),
             "error": PAGE.format(content=render_error(CustomersUnavailable("Request failed with status code 503")))}
    for lab, start in (("16-capstone.ipynb", '<td>|class="error"\' | head -3'),
                       ("17-capstone-part-2.ipynb", "upstream' | head -3")):
        source = cell(lab, start)
        pattern = re.search(r"grep -E '([^']+)'", source).group(1)
        for kind, page in pages.items():
            shown = [line for line in page.splitlines() if re.search(pattern, line)]
            assert shown, f"{pattern!r} shows nothing of the {kind} page"
            assert not any("{" in line for line in shown), f"{pattern!r} shows CSS: {shown}"


@pytest.mark.parametrize("lab", LABS, ids=lambda p: p.name)
def test_no_cell_ends_with_a_bare_apply_list(lab):
    """`lab.apply(...)` as a cell's last line prints [AppliedObject(...)]; %%apply or changes_table shows a table."""
    nb = json.loads(lab.read_text())
    for index, c in enumerate(nb["cells"]):
        lines = "".join(c["source"]).rstrip().splitlines()
        if c["cell_type"] == "code" and lines:
            assert not re.match(r"lab\.(apply|delete)\(", lines[-1]), f"{lab.name} cell {index}: {lines[-1]}"
