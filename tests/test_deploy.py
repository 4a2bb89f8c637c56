"""The workshop deploy recipes (issue 17): what this machine can run of them.

- JupyterHub (deploy/jupyterhub): the spawn path for real, when a JupyterHub is installed
  (LABKIT_HUB_VENV: a venv with jupyterhub and labkit, readable by every user; configurable-http-proxy on
  PATH) and we are root: two local users, the hub with our config, both servers spawned through its REST
  API, then lab 00 run as each learner with their server's environment, both meshes at once.
  Setting one up:  python3 -m venv /opt/labkit-hub-test && /opt/labkit-hub-test/bin/pip install jupyterhub -e .
                   && npm install -g configurable-http-proxy
- The pre-spawn hook alone (as root): the labs copied into a new user's home, theirs, 0700.
- Binder and the devcontainer: their files, where the tools read them (no Docker engine to build images).
"""
from __future__ import annotations

import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HUB_DIR = ROOT / "deploy" / "jupyterhub"
HUB_VENV = os.environ.get("LABKIT_HUB_VENV")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create local users")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def local_user(name: str) -> pwd.struct_passwd:
    """A fresh local user with a home, as `adduser` makes for a learner."""
    subprocess.run(["userdel", "-r", name], capture_output=True)
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", name], check=True, capture_output=True)
    return pwd.getpwnam(name)


def learner_labs(folder: Path) -> Path:
    out = folder / "learner-labs"
    subprocess.run([sys.executable, "-m", "labkit.cli", "release", "--source", str(ROOT / "labs"), "--out", str(out)],
                   check=True, capture_output=True, timeout=120)
    return out


# ---- JupyterHub --------------------------------------------------------------------------------------

@needs_root
def test_pre_spawn_hook_gives_each_learner_the_labs(tmp_path, monkeypatch):
    sys.path.insert(0, str(HUB_DIR))
    try:
        import labkit_hub
    finally:
        sys.path.remove(str(HUB_DIR))
    source = learner_labs(tmp_path)
    user = local_user("labkit-hub-cara")
    try:
        monkeypatch.setattr(labkit_hub, "LABS_SOURCE", source)
        spawner = type("Spawner", (), {"user": type("User", (), {"name": user.pw_name})(), "environment": {},
                                        "notebook_dir": ""})()
        labkit_hub.pre_spawn_hook(spawner)
        target = Path(user.pw_dir) / "istio-labs"
        assert spawner.notebook_dir == str(target)
        assert spawner.environment == {"LABKIT_CLASS_DIR": labkit_hub.CLASS_DIR, "LABKIT_LEARNER": user.pw_name}
        assert (target / "labs" / "00-welcome.ipynb").exists()
        assert target.stat().st_mode & 0o777 == 0o700
        assert {p.stat().st_uid for p in [target, *target.rglob("*")]} == {user.pw_uid}
        # A second spawn keeps the learner's work.
        (target / "labs" / "mine.txt").write_text("my notes")
        labkit_hub.pre_spawn_hook(spawner)
        assert (target / "labs" / "mine.txt").read_text() == "my notes"
    finally:
        subprocess.run(["userdel", "-r", user.pw_name], capture_output=True)


def hub_request(url: str, token: str, method: str = "GET", body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
            return response.status, json.loads(text) if text else {}
    except urllib.error.HTTPError as exc:
        return exc.code, {"error": exc.read().decode()}
    except urllib.error.URLError as exc:  # not listening yet
        return 0, {"error": str(exc)}


@needs_root
@pytest.mark.envoy
@pytest.mark.skipif(not HUB_VENV or not Path(HUB_VENV, "bin", "jupyterhub").exists()
                    or not shutil.which("configurable-http-proxy"),
                    reason="no JupyterHub to run: set LABKIT_HUB_VENV to a venv with jupyterhub and labkit "
                           "(and install configurable-http-proxy), see this file's docstring")
def test_hub_spawns_each_learner_with_labs_and_own_mesh():
    work = Path(tempfile.mkdtemp(prefix="labkit-hub-"))
    os.chmod(work, 0o755)
    names = ["labkit-hub-ann", "labkit-hub-bob"]
    users = [local_user(n) for n in names]
    hub = None
    try:
        source = learner_labs(work)
        subprocess.run(["chmod", "-R", "a+rX", str(source)], check=True)
        class_dir = work / "class"
        subprocess.run(["sh", str(ROOT / "deploy" / "class-folder.sh"), str(class_dir)], check=True, capture_output=True)
        token = secrets.token_hex(16)
        port = free_port()
        config = work / "test_config.py"
        config.write_text(f"""
c = get_config()
load_subconfig({str(HUB_DIR / 'jupyterhub_config.py')!r})
c.JupyterHub.bind_url = "http://127.0.0.1:{port}"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{free_port()}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{free_port()}"
c.JupyterHub.services = [{{"name": "labkit-test", "api_token": "{token}"}}]
c.JupyterHub.load_roles = [{{"name": "labkit-test", "services": ["labkit-test"],
                             "scopes": ["admin:users", "admin:servers"]}}]
""")
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("LABKIT_")},
               "LABKIT_HUB_STATE": str(work), "LABKIT_VENV": HUB_VENV, "LABKIT_LABS_SOURCE": str(source),
               "LABKIT_CLASS_DIR": str(class_dir), "LABKIT_LEARNERS": ",".join(names)}
        hub_log = open(work / "hub.log", "w")
        hub = subprocess.Popen([f"{HUB_VENV}/bin/jupyterhub", "-f", str(config)], cwd=work, env=env,
                               stdout=hub_log, stderr=subprocess.STDOUT)
        api = f"http://127.0.0.1:{port}/hub/api"
        deadline = time.monotonic() + 60
        while hub_request(f"{api}/", token)[0] != 200:
            assert hub.poll() is None and time.monotonic() < deadline, (work / "hub.log").read_text()[-3000:]
            time.sleep(0.5)
        for name in names:
            assert hub_request(f"{api}/users/{name}", token, "POST")[0] in (201, 409)
            status, body = hub_request(f"{api}/users/{name}/server", token, "POST")
            assert status in (201, 202), body
        deadline = time.monotonic() + 120
        while not all((hub_request(f"{api}/users/{n}", token)[1].get("servers", {}).get("", {}) or {}).get("ready")
                      for n in names):
            assert time.monotonic() < deadline, (work / "hub.log").read_text()[-3000:]
            time.sleep(1)

        # Each server runs as its learner, in their own copy of the labs, with the class settings.
        import psutil
        servers = {}
        for proc in psutil.process_iter(["username", "cmdline"]):
            if proc.info["username"] in names and any("jupyterhub-singleuser" in a for a in proc.info["cmdline"] or []):
                servers[proc.info["username"]] = proc
        assert set(servers) == set(names)
        for user in users:
            server_env = servers[user.pw_name].environ()
            labs = Path(user.pw_dir) / "istio-labs" / "labs"
            assert (labs / "00-welcome.ipynb").stat().st_uid == user.pw_uid
            assert server_env["LABKIT_CLASS_DIR"] == str(class_dir) and server_env["JUPYTERHUB_USER"] == user.pw_name

        # Lab 00 as each learner, at the same time, in their server's environment: a mesh each.
        def run_lab00(user):
            labs = Path(user.pw_dir) / "istio-labs" / "labs"
            return subprocess.run([f"{HUB_VENV}/bin/jupyter", "nbconvert", "--to", "notebook", "--execute",
                                   "--ExecutePreprocessor.timeout=300", "--output-dir", str(Path(user.pw_dir)),
                                   "00-welcome.ipynb"], cwd=labs, env=servers[user.pw_name].environ(),
                                  user=user.pw_uid, group=user.pw_gid, extra_groups=[], capture_output=True,
                                  text=True, timeout=600)
        with ThreadPoolExecutor(len(users)) as pool:
            results = list(pool.map(run_lab00, users))
        for user, result in zip(users, results):
            assert result.returncode == 0, (user.pw_name, result.stderr[-3000:])
        subnets = [json.loads((Path(u.pw_dir) / "istio-labs" / "labs" / ".labkit" / "settings.json").read_text())
                   ["subnet"] for u in users]
        assert len(set(subnets)) == len(subnets), subnets
        from labkit.classroom import class_table, read_class
        frame = class_table(read_class(class_dir))
        assert set(frame.index) == set(names) and set(frame["lab"]) == {"00"}, frame
        assert all(frame["step"] == "done"), frame  # lab 00's checks all passed, for both
    finally:
        if hub is not None:
            hub.terminate()
            try:
                hub.wait(30)
            except subprocess.TimeoutExpired:
                hub.kill()
        import psutil
        for proc in psutil.process_iter(["username"]):
            if proc.info["username"] in names:  # only the processes of the users this test created, by pid
                try:
                    proc.kill()
                except psutil.NoSuchProcess:
                    pass
        for name in names:
            subprocess.run(["userdel", "-r", name], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


# ---- Binder and devcontainer ---------------------------------------------------------------------------

def test_binder_files_where_repo2docker_reads_them():
    binder = ROOT / "binder"
    env = yaml.safe_load((binder / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    assert set((binder / "apt.txt").read_text().split()) >= {"curl", "openssl"}
    for script in ("postBuild", "start"):
        path = binder / script
        assert os.access(path, os.X_OK), path
        assert subprocess.run(["bash", "-n", str(path)]).returncode == 0
    assert "pip install --no-cache-dir -e ." in (binder / "postBuild").read_text()
    assert (binder / "start").read_text().rstrip().endswith('exec "$@"')  # repo2docker's contract for start
    repo2docker = shutil.which("jupyter-repo2docker") or shutil.which("repo2docker")
    if repo2docker is None:
        pytest.skip("jupyter-repo2docker is not installed: the Dockerfile was not rendered")
    out = subprocess.run([repo2docker, "--no-build", "--debug", "--no-run", str(ROOT)], capture_output=True,
                         text=True, timeout=300)
    dockerfile = out.stdout + out.stderr
    assert re.search(r"apt-get install --yes --no-install-recommends curl openssl", dockerfile), dockerfile[-3000:]
    assert '--file "binder/environment.yml"' in dockerfile and "RUN ./binder/postBuild" in dockerfile
    assert "binder/start" in dockerfile


def test_devcontainer_definition():
    text = (ROOT / ".devcontainer" / "devcontainer.json").read_text()
    config = json.loads(re.sub(r"^\s*//.*$", "", text, flags=re.M))  # JSON with comments
    assert config["image"].startswith("mcr.microsoft.com/devcontainers/python:3.11")
    assert "make install" in config["postCreateCommand"] and "curl" in config["postCreateCommand"]
    assert 8888 in config["forwardPorts"]
