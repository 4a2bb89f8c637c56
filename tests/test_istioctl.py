"""`labkit istioctl` / `%istioctl`: istioctl's commands and output layout on the local mesh."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from kubectl_support import DATA

pytestmark = pytest.mark.envoy


@pytest.fixture(scope="module")
def mesh(lab):
    lab.apply(DATA / "workloads.yaml")
    lab.apply(DATA / "pa-strict.yaml")
    lab.wait_ready("foo")
    return lab


def istioctl(lab, *argv):
    from labkit.tools.istioctl import run
    return run(lab, list(argv))


def test_proxy_config_tables_have_istioctl_columns(mesh):
    code, out, _ = istioctl(mesh, "proxy-config", "cluster", "deploy/sleep", "-n", "foo")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["SERVICE", "FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE", "DESTINATION",
                                              "RULE"]
    assert any(line.split()[:4] == ["httpbin.foo.svc.cluster.local", "8000", "-", "outbound"] for line in lines)
    code, out, _ = istioctl(mesh, "pc", "endpoint", "sleep.foo")
    assert code == 0 and out.splitlines()[0].split() == ["ENDPOINT", "STATUS", "OUTLIER", "CHECK", "CLUSTER"]
    assert "outbound|8000||httpbin.foo.svc.cluster.local" in out
    code, out, _ = istioctl(mesh, "pc", "secret", "deploy/httpbin", "-n", "foo")
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert rows["default"][1:5] == ["Cert", "Chain", "ACTIVE", "true"]
    assert rows["ROOTCA"][1:4] == ["CA", "ACTIVE", "true"]
    code, out, _ = istioctl(mesh, "pc", "listener", "deploy/sleep", "-n", "foo", "-o", "json")
    assert code == 0 and all("name" in listener for listener in json.loads(out))
    code, out, _ = istioctl(mesh, "pc", "route", "deploy/sleep", "-n", "foo")
    assert out.splitlines()[0].split()[:3] == ["NAME", "VHOST", "NAME"] and "httpbin.foo.svc.cluster.local:8000" in out


def test_describe_version_and_errors(mesh):
    code, out, _ = istioctl(mesh, "x", "describe", "pod", "deploy/httpbin", "-n", "foo")
    assert code == 0 and out.startswith("Pod: httpbin-") and "Workload mTLS mode: STRICT" in out
    code, out, _ = istioctl(mesh, "version")
    assert code == 0 and out.splitlines()[0].startswith("client version: 1.") and "proxies)" in out
    code, out, err = istioctl(mesh, "pc", "cluster", "deploy/nope", "-n", "foo")
    assert code == 1 and err.startswith("Error: ") and out == ""


def test_analyze_namespaces_and_files(mesh, tmp_path):
    code, out, _ = istioctl(mesh, "analyze", "-A")
    assert (code, out) == (0, "\u2714 No validation issues found when analyzing all namespaces.\n")
    code, out, _ = istioctl(mesh, "analyze", "-n", "foo")
    assert out == "\u2714 No validation issues found when analyzing namespace: foo.\n"
    folder = tmp_path / "policies" / "nested"
    folder.mkdir(parents=True)
    (folder / "bad.yaml").write_text((DATA / "pa-invalid-mode.yaml").read_text())
    code, out, err = istioctl(mesh, "analyze", "--use-kube=false", str(tmp_path / "policies"))
    assert code == 0, "without -R a folder's subfolders are not read"
    code, out, err = istioctl(mesh, "analyze", "--use-kube=false", "-R", str(tmp_path / "policies"))
    assert code == 79 and out.startswith("Error [IST0106] (PeerAuthentication foo/default)")
    assert err.startswith("Error: Analyzers found issues")


def test_cli_runs_beside_the_mesh(mesh):
    done = subprocess.run([sys.executable, "-m", "labkit.cli", "istioctl", "--state-dir", str(mesh.state_dir),
                           "proxy-config", "cluster", "deploy/sleep", "-n", "foo"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("SERVICE FQDN"), done.stderr


def test_istioctl_line_magic(mesh, capsys):
    from IPython.core.interactiveshell import InteractiveShell

    from labkit import session
    from labkit.magics import load_ipython_extension
    shell = InteractiveShell.instance()
    load_ipython_extension(shell)
    session.use(mesh)
    shell.run_line_magic("istioctl", "x describe pod deploy/sleep -n foo")
    assert capsys.readouterr().out.startswith("Pod: sleep-")
    shell.run_line_magic("istioctl", "pc cluster deploy/nope -n foo")
    captured = capsys.readouterr()
    assert captured.err.startswith("Error: ") and "(istioctl exit status 1)" in captured.out
