"""Many learners' meshes on one host (issue 17), each in its own folder as a workshop VM runs them.

Every mesh claims its loopback subnet and host ports host-wide (labkit/runtime/claims.py): all become
ready, `ss -ltn` shows no address:port bound twice, each learner's traffic (in the mesh, through the
gateway, through a NodePort) reaches only that learner's httpbin, a killed mesh's claim is reclaimed, and
taking a subnet or port another mesh holds is a clear LabkitError. One learner runs under another uid
when the tests run as root (the test creates that user), and cannot read the others' state.
"""
from __future__ import annotations

import collections
import json
import os
import pwd
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

import labkit
from labkit.errors import LabkitError

from isolation_worker import python_for_user

pytestmark = pytest.mark.envoy

WORKER = Path(__file__).with_name("isolation_worker.py")
OTHER_USER = "labkit-iso-learner"
from mesh_scenarios import HTTPBIN_GATEWAY_HOST as GATEWAY_HOST  # the host the worker routes


def learner_env(state_dir: Path) -> dict:
    """A learner's kernel environment: nothing pinned (no subnet, no ports), so labkit claims them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABKIT_") or k == "LABKIT_CLAIMS_DIR"}
    env.update({"LABKIT_STATE_DIR": str(state_dir), "LABKIT_NONINTERACTIVE": "1", "PYTHONDONTWRITEBYTECODE": "1"})
    return env


class Learner:
    """A worker process that owns one mesh in its own folder (optionally as another user)."""

    def __init__(self, folder: Path, user: pwd.struct_passwd | None = None):
        self.folder, self.user = folder, user
        self.state_dir = folder / ".labkit"
        self.stderr_path = folder / "worker.stderr"  # removed with the folder
        self.stderr = open(self.stderr_path, "w")
        ids = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []} if user else {}
        try:
            python, extra_env = interpreter_for(user) if user else (sys.executable, {})
        except BaseException:  # (a skip) leave no folder behind
            self.stderr.close()
            subprocess.run(["rm", "-rf", str(folder)], check=False)
            raise
        self.proc = subprocess.Popen([python, str(WORKER)], env={**learner_env(self.state_dir), **extra_env},
                                     cwd=folder,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True,
                                     **ids)
        self.info: dict = {}

    def ready(self) -> dict:
        if not self.info:
            line = self.proc.stdout.readline()
            if not line:
                self.proc.wait(10)
                raise AssertionError(f"learner in {self.folder} exited {self.proc.returncode}: "
                                     + self.stderr_path.read_text()[-2000:])
            self.info = json.loads(line)
        return self.info

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.stderr.close()


def learner_folder(user: pwd.struct_passwd | None = None) -> Path:
    """A folder in /tmp (every user can reach it, unlike pytest's 0700 tmp tree), owned by the learner."""
    folder = Path(tempfile.mkdtemp(prefix="labkit-iso-"))
    if user:
        os.chown(folder, user.pw_uid, user.pw_gid)
    return folder


def other_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(OTHER_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", OTHER_USER],
                       check=True, capture_output=True)
        return pwd.getpwnam(OTHER_USER)


def interpreter_for(user: pwd.struct_passwd) -> tuple[str, dict]:
    found = python_for_user(user.pw_uid, user.pw_gid)
    if found is None:
        pytest.skip(f"no Python with labkit that user {user.pw_name} may run")
    return found


@pytest.fixture(scope="module")
def fleet():
    learners: list[Learner] = []
    yield learners
    for learner in learners:
        learner.stop()
    for learner in learners:
        subprocess.run(["rm", "-rf", str(learner.folder)], check=False)


def start(fleet: list[Learner], count: int, user: pwd.struct_passwd | None = None) -> None:
    """Start `count` more learners at once (like a class opening its notebooks) and wait for all."""
    fresh = [Learner(learner_folder(user), user) for _ in range(count)]
    fleet.extend(fresh)
    for learner in fresh:
        info = learner.ready()
        assert "error" not in info, info["error"]


def listening() -> collections.Counter:
    """address:port → how many listening sockets `ss -ltn` shows on it."""
    out = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True, check=True).stdout
    return collections.Counter(line.split()[3] for line in out.splitlines() if line.strip())


def host_port(url: str) -> str:
    return url.split("://", 1)[1]


def assert_isolated(learners: list[Learner]) -> None:
    infos = [learner.ready() for learner in learners]
    subnets = [i["subnet"] for i in infos]
    assert len(set(subnets)) == len(subnets), subnets
    for key in ("gateway_http", "gateway_https", "node_url"):
        values = [host_port(i[key]) for i in infos]
        assert len(set(values)) == len(values), (key, values)

    bound = listening()
    ours = {a: n for a, n in bound.items() if any(a.startswith(f"127.{s}.") for s in subnets)
            or a in {host_port(i[k]) for i in infos for k in ("gateway_http", "gateway_https", "node_url")}}
    twice = {a: n for a, n in ours.items() if n > 1}
    assert not twice, f"bound more than once: {twice}"
    for info in infos:
        for key in ("gateway_http", "node_url"):  # (the gateway binds 8443 only for a Gateway server on 443)
            assert host_port(info[key]) in ours, (key, info)
        assert any(a.startswith(ip + ":") for ip in info["pod_ips"] for a in ours), info

    labs = [labkit.connect(state_dir=learner.state_dir) for learner in learners]  # attach, as the CLI does
    tags = {}
    for index, (lab, info) in enumerate(zip(labs, infos)):
        tag = f"learner{index}-{uuid.uuid4().hex[:8]}"
        tags[index] = [f"{tag}-mesh", f"{tag}-gateway", f"{tag}-nodeport"]
        inside = lab.exec("foo", "curl", ["curl", "-sS", "--max-time", "10",
                                          f"http://httpbin.foo:8000/get?tag={tags[index][0]}"])
        assert inside.exit_code == 0 and tags[index][0] in inside.stdout, inside
        for url, sent in ((info["gateway_http"], tags[index][1]), (info["node_url"], tags[index][2])):
            outside = subprocess.run(["curl", "-sS", "--max-time", "10", "-H", f"Host: {GATEWAY_HOST}",
                                      f"{url}/get?tag={sent}"], capture_output=True, text=True)
            assert outside.returncode == 0 and sent in outside.stdout, (url, outside.stdout, outside.stderr)
    # Each request shows in its own learner's httpbin log and in nobody else's.
    deadline = time.monotonic() + 10
    while True:
        logs = [lab.logs("foo", "httpbin") for lab in labs]
        missing = [(i, t) for i, ts in tags.items() for t in ts if t not in logs[i]]
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not missing, f"requests that did not reach their own learner's httpbin: {missing}"
    strays = [(t, j) for i, ts in tags.items() for t in ts for j, log in enumerate(logs) if j != i and t in log]
    assert not strays, f"requests that reached another learner's httpbin: {strays}"


def test_two_meshes_in_two_folders(fleet):
    start(fleet, 2)
    assert_isolated(fleet[:2])


def test_five_meshes_one_under_another_uid(fleet):
    if os.geteuid() != 0:
        pytest.skip("needs root to create a second user (useradd) and run a learner as that uid")
    user = other_user()
    if len(fleet) < 4:
        start(fleet, 4 - len(fleet))
    start(fleet, 1, user)
    assert_isolated(fleet)

    # Another user sees none of a learner's state: folders 0700, the CA key and logs out of reach.
    for learner in fleet:
        assert learner.state_dir.stat().st_mode & 0o077 == 0, learner.state_dir
    victim = fleet[0].state_dir
    key = next(victim.glob("ca/*key*"))
    for attempt in (["cat", str(key)], ["ls", str(victim / "pods")]):
        peek = subprocess.run(attempt, user=user.pw_uid, group=user.pw_gid, extra_groups=[], capture_output=True,
                              text=True, cwd="/")
        assert peek.returncode != 0 and "Permission denied" in peek.stderr, (attempt, peek.stdout, peek.stderr)
    assert fleet[-1].state_dir.stat().st_uid == user.pw_uid  # that learner's mesh ran as that user


def test_a_taken_subnet_or_port_is_a_clear_error(fleet, tmp_path):
    if not fleet:
        start(fleet, 1)
    holder = fleet[0].ready()
    before = held_claims()
    with pytest.raises(LabkitError, match=f"subnet {holder['subnet']} .*claimed by another mesh"):
        labkit.connect(state_dir=tmp_path / "a", subnet=holder["subnet"])
    taken = int(holder["gateway_http"].rsplit(":", 1)[1])
    with pytest.raises(LabkitError, match=f"gateway port 127.0.0.1:{taken} is already in use"):
        labkit.connect(state_dir=tmp_path / "b", gateway_http_port=taken)
    # The failed attempts gave back what they had claimed (the subnet of the second one) and started nothing.
    assert held_claims() == before
    assert not (tmp_path / "b" / "owner.json").exists() and not (tmp_path / "b" / "pods").exists()


def held_claims() -> set[str]:
    """Claim files this process holds open (and so locked)."""
    from labkit.runtime.claims import claims_dir
    folder = str(claims_dir())
    links = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            links.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue
    return {link for link in links if link.startswith(folder)}


def test_a_killed_mesh_claim_is_reclaimed(tmp_path):
    victim = Learner(learner_folder())
    try:
        subnet = victim.ready()["subnet"]
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait(10)
        # Its claim is free at once (the kernel drops the flock), and only taken once its Envoys are gone.
        lab = labkit.connect(state_dir=tmp_path / "next", subnet=subnet)
        try:
            assert lab.settings.subnet == subnet
            lab.wait_ready(timeout=60)
        finally:
            lab.down()
    finally:
        victim.stop()
        subprocess.run(["rm", "-rf", str(victim.folder)], check=False)
