"""The CLI answers and finds the real Envoy."""
import subprocess
import sys

from labkit.envoy_binary import envoy_path, envoy_version


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "labkit.cli", *args], capture_output=True, text=True, timeout=60)


def test_envoy_binary_runs():
    out = subprocess.run([envoy_path(), "--version"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0
    major, minor = (int(x) for x in envoy_version().split(".")[:2])
    assert (major, minor) >= (1, 37)


def test_cli_version_names_envoy():
    out = run_cli("version")
    assert out.returncode == 0
    assert out.stdout.startswith("labkit 0.1.0 (envoy 1.")


def test_cli_help_lists_commands():
    out = run_cli("--help")
    assert out.returncode == 0
    assert "doctor" in out.stdout and "version" in out.stdout


def test_doctor_passes_here_and_fails_on_missing_envoy(tmp_path):
    assert run_cli("doctor").returncode == 0
    env_bad = {"LABKIT_ENVOY": str(tmp_path / "no-envoy"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "labkit.cli", "doctor"], capture_output=True, text=True,
                         timeout=60, env=env_bad)
    assert out.returncode == 1
    assert "[FAIL] envoy" in out.stdout and "fix:" in out.stdout


def test_doctor_kube_fails_without_a_cluster_and_says_how_to_fix(tmp_path):
    import os
    env = dict(os.environ, KUBECONFIG=str(tmp_path / "missing-kubeconfig"), HOME=str(tmp_path))
    out = subprocess.run([sys.executable, "-m", "labkit.cli", "doctor", "--backend", "kube"], capture_output=True,
                         text=True, timeout=60, env=env)
    assert out.returncode == 1
    assert "[FAIL] kubeconfig" in out.stdout and "kind create cluster" in out.stdout
