"""Host-wide claims (labkit/runtime/claims.py) without Envoy: subnets and ports, taken, busy, released, reclaimed."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap

import pytest

from labkit.errors import LabkitError
from labkit.runtime.claims import HostClaims, claims_dir_status


@pytest.fixture
def claims_folder(tmp_path, monkeypatch):
    folder = tmp_path / "claims"
    monkeypatch.setenv("LABKIT_CLAIMS_DIR", str(folder))
    return folder


def test_two_meshes_never_get_the_same_subnet(claims_folder):
    first, second = HostClaims(), HostClaims()
    try:
        mine = first.claim_subnet(preferred=10)
        other = second.claim_subnet(preferred=mine)
        assert other != mine
        assert oct(claims_folder.stat().st_mode & 0o7777) == "0o1777"
        with pytest.raises(LabkitError, match=f"subnet {mine} .*claimed by another mesh .*pid {os.getpid()}"):
            HostClaims().claim_subnet(requested=mine)
        first.release()
        again = HostClaims()
        assert again.claim_subnet(requested=mine) == mine  # released: free for the next mesh
        again.release()
    finally:
        first.release()
        second.release()


def test_a_subnet_someone_listens_on_is_skipped(claims_folder):
    probe = HostClaims()
    subnet = probe.claim_subnet(preferred=10)
    probe.release()
    with socket.socket() as busy:
        busy.bind((f"127.{subnet}.1.1", 0))
        busy.listen()
        claims = HostClaims()
        try:
            assert claims.claim_subnet(preferred=subnet) != subnet
        finally:
            claims.release()
        with pytest.raises(LabkitError, match=f"subnet {subnet} .*in use: something listens on 127.{subnet}.1.1"):
            HostClaims().claim_subnet(requested=subnet)


def test_ports_fall_back_unless_explicit(claims_folder):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        claims = HostClaims()
        try:
            assert claims.claim_port("127.0.0.1", taken, explicit=False, what="gateway") != taken
            with pytest.raises(LabkitError, match=f"gateway port 127.0.0.1:{taken} is already in use "
                                                  r"\(by another program\)"):
                claims.claim_port("127.0.0.1", taken, explicit=True, what="gateway")
        finally:
            claims.release()
    holder, other = HostClaims(), HostClaims()
    try:
        port = holder.claim_port("127.0.0.1", taken, explicit=True, what="gateway")  # free again
        with pytest.raises(LabkitError, match=r"already in use \(by another mesh"):
            other.claim_port("127.0.0.1", port, explicit=True, what="gateway")
        assert other.claim_port("127.0.0.1", port, explicit=False, what="gateway") != port
    finally:
        holder.release()
        other.release()


def test_a_killed_owner_frees_its_claim(claims_folder):
    code = textwrap.dedent("""
        import sys, time
        from labkit.runtime.claims import HostClaims
        print(HostClaims().claim_subnet(preferred=10), flush=True)
        time.sleep(60)
    """)
    owner = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "LABKIT_CLAIMS_DIR": str(claims_folder)})
    try:
        subnet = int(owner.stdout.readline())
        with pytest.raises(LabkitError, match="claimed by another mesh"):
            HostClaims().claim_subnet(requested=subnet)
        owner.send_signal(signal.SIGKILL)
        owner.wait(10)
        claims = HostClaims()
        assert claims.claim_subnet(requested=subnet) == subnet  # the kernel dropped the dead owner's lock
        claims.release()
    finally:
        owner.kill()
        owner.wait(10)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the folder to another user")
def test_a_claims_folder_others_could_tamper_with_is_refused(claims_folder):
    claims_folder.mkdir(mode=0o777)
    os.chmod(claims_folder, 0o777)  # writable by all but not sticky: anyone could delete anyone's claim
    os.chown(claims_folder, 65534, 65534)  # and not ours to fix
    ok, detail = claims_dir_status()
    assert not ok and "must be mode 1777" in detail
    with pytest.raises(LabkitError, match="must be mode 1777"):
        HostClaims()
