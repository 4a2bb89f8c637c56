"""Host-wide claims: which mesh owns which loopback subnet and host port, across users and folders.

Many meshes can run on one host (a workshop VM where every learner's notebook starts its own). Linux
routes all of 127.0.0.0/8 to loopback and does not separate users there, so two meshes on the same
addresses would bind the same sockets (or fail to). Every mesh owner therefore claims what it binds in
one directory shared by every user (`claims_dir()`, sticky and world-writable like /tmp): one file per
subnet or port, locked with flock(2) for as long as the owner lives.

- Atomic: flock on a file is granted to one open file at a time, host-wide, whatever the user.
- Safe reclaim: the kernel drops the lock when its owner dies, even on SIGKILL; a free lock is only
  taken when nothing listens on the addresses any more (the dead owner's Envoys die with it through
  PDEATHSIG a moment later), so a reclaimed subnet never shares a socket with leftovers.
- The files hold no learner data: the owner's pid and uid, for the error messages.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import LabkitError

SUBNETS = range(1, 255)
#: How long an explicitly requested subnet may still show a dead mesh's listeners before we give up.
LEFTOVER_WAIT_SECONDS = 3.0


def claims_dir() -> Path:
    """One directory for every user of the host: LABKIT_CLAIMS_DIR, else /run/lock/labkit-claims (a tmpfs
    meant for lock files, not hidden by systemd's PrivateTmp as /tmp can be), else /tmp/labkit-claims."""
    configured = os.environ.get("LABKIT_CLAIMS_DIR")
    if configured:
        return Path(configured)
    run_lock = Path("/run/lock")
    try:
        info = run_lock.stat()
        if info.st_mode & stat.S_ISVTX and info.st_mode & 0o002:
            return run_lock / "labkit-claims"
    except OSError:
        pass
    return Path("/tmp/labkit-claims")


def _prepare(directory: Path) -> None:
    try:
        directory.mkdir(mode=0o777, parents=True)
        os.chmod(directory, 0o1777)  # mkdir's mode passes through the umask
    except FileExistsError:
        pass
    except OSError as exc:
        raise LabkitError(f"cannot create the host-wide claims directory {directory}: {exc}",
                          hint="create it once as root: install -d -m 1777 " + str(directory))
    info = os.lstat(directory)
    if not stat.S_ISDIR(info.st_mode):
        raise LabkitError(f"{directory} is not a directory", hint="remove it; labkit recreates it")
    wanted = stat.S_ISVTX | 0o777
    if info.st_mode & wanted != wanted:
        if info.st_uid == os.geteuid():
            os.chmod(directory, 0o1777)
        else:
            # Without the sticky bit any user could delete another mesh's claim; without write access
            # a second user could not claim at all. Either way isolation would not hold: say so.
            raise LabkitError(f"the claims directory {directory} must be mode 1777 (sticky, writable by all), "
                              f"it is {oct(info.st_mode & 0o7777)}",
                              hint=f"as root: chmod 1777 {directory} (or set LABKIT_CLAIMS_DIR)")


def claims_dir_status() -> tuple[bool, str]:
    """Whether this user can claim addresses (for `labkit doctor`): the folder exists or can be made, shared."""
    directory = claims_dir()
    try:
        _prepare(directory)
    except LabkitError as exc:
        return False, exc.message
    return True, f"{directory} (sticky, shared by all users)"


def listening_addresses() -> set[tuple[str, int]]:
    """Every IPv4 (ip, port) in LISTEN state on this host's network namespace, any user (/proc/net/tcp)."""
    found: set[tuple[str, int]] = set()
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return found
    for line in lines:
        fields = line.split()
        if len(fields) < 4 or fields[3] != "0A":  # 0A = TCP_LISTEN
            continue
        hex_ip, hex_port = fields[1].split(":")
        ip = socket.inet_ntoa(int(hex_ip, 16).to_bytes(4, "little"))
        found.add((ip, int(hex_port, 16)))
    return found


def subnet_listeners(subnet: int) -> list[str]:
    prefix = f"127.{subnet}."
    return sorted(f"{ip}:{port}" for ip, port in listening_addresses() if ip.startswith(prefix))


def port_bindable(ip: str, port: int) -> bool:
    """Whether a listener could bind ip:port now (as Envoy does: SO_REUSEADDR, no SO_REUSEPORT)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((ip, port))
        except OSError:
            return False
    return True


@dataclass
class HostClaims:
    """The claims one mesh owner holds; released when it stops (or, by the kernel, when it dies)."""
    directory: Path = field(default_factory=claims_dir)
    subnet: int | None = None
    ports: dict[int, int] = field(default_factory=dict)  # port → lock fd
    _subnet_fd: int | None = None

    def __post_init__(self) -> None:
        _prepare(self.directory)

    # -- locks ------------------------------------------------------------------------------------
    def _lock(self, name: str) -> int | None:
        """An flock'd descriptor on the claim file `name`, or None while another live process holds it."""
        path = self.directory / name
        flags = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o644)
            os.fchmod(fd, 0o644)
        except FileExistsError:
            try:
                fd = os.open(path, flags)
            except PermissionError:
                # Another user's claim file: reading is enough to lock it (flock needs no write access).
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return None
            raise
        info = os.fstat(fd)
        if info.st_uid == os.geteuid() and stat.S_ISREG(info.st_mode):
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps({"pid": os.getpid(), "uid": os.geteuid(), "since": time.time()}).encode(), 0)
        return fd

    def holder(self, name: str) -> str:
        """Who holds a claim, as far as its file says (for error messages)."""
        try:
            data = json.loads((self.directory / name).read_text() or "{}")
        except (OSError, ValueError):
            return "another mesh"
        return f"another mesh (last recorded: pid {data.get('pid', '?')}, uid {data.get('uid', '?')})"

    # -- subnets ----------------------------------------------------------------------------------
    def claim_subnet(self, requested: int | None = None, preferred: int | None = None) -> int:
        """Claim `requested` (or fail), else the first free subnet starting at `preferred`."""
        if self.subnet is not None:
            return self.subnet
        if requested is not None:
            outcome = self._try_subnet(requested, wait=LEFTOVER_WAIT_SECONDS)
            if outcome != "claimed":
                raise LabkitError(self._subnet_taken(requested, outcome),
                                  hint="leave the subnet unset (labkit picks a free one), or stop that mesh "
                                       "(`labkit down` in its folder)")
            return requested
        order = list(SUBNETS)
        start = order.index(preferred) if preferred is not None and preferred in SUBNETS else 0
        for subnet in order[start:] + order[:start]:
            if self._try_subnet(subnet, wait=0) == "claimed":
                return subnet
        raise LabkitError(f"no free loopback subnet: all {len(SUBNETS)} of 127.1-254.0.0/16 are claimed by other "
                          "meshes or in use", hint="stop meshes that are no longer needed (`labkit down`)")

    def _subnet_taken(self, subnet: int, outcome: str) -> str:
        listeners = subnet_listeners(subnet)
        if outcome == "busy" and listeners:
            shown = ", ".join(listeners[:3]) + (" ..." if len(listeners) > 3 else "")
            return f"subnet {subnet} (127.{subnet}.0.0/16) is in use: something listens on {shown}"
        return f"subnet {subnet} (127.{subnet}.0.0/16) is claimed by {self.holder(f'subnet-{subnet}')}"

    def _try_subnet(self, subnet: int, wait: float) -> str:
        """"claimed", "held" (another mesh's claim) or "busy" (free claim, but something listens there)."""
        fd = self._lock(f"subnet-{subnet}")
        if fd is None:
            return "held"
        deadline = time.monotonic() + wait
        while subnet_listeners(subnet):
            # A mesh that died a moment ago (its Envoys still exiting), or a program that does not claim.
            if time.monotonic() >= deadline:
                os.close(fd)
                return "busy"
            time.sleep(0.1)
        self.subnet, self._subnet_fd = subnet, fd
        return "claimed"

    # -- host ports -------------------------------------------------------------------------------
    def claim_port(self, ip: str, preferred: int, *, explicit: bool, what: str,
                   candidates: range | None = None) -> int:
        """Claim a host port: `preferred` when free, else (unless `explicit`) the next free one in
        `candidates` (default: the thousand ports above `preferred`)."""
        # A port this mesh already holds (the gateway's, another nodePort's fallback) is not free either.
        outcome = "held" if preferred in self.ports else self._try_port(ip, preferred)
        if outcome == "claimed":
            return preferred
        if explicit:
            by = self.holder(f"port-{preferred}") if outcome == "held" else "another program"
            raise LabkitError(f"{what} port {ip}:{preferred} is already in use (by {by})",
                              hint="stop what uses it (`ss -ltnp`), or leave the port unset so labkit picks a free "
                                   "one, or choose another: labkit.connect(gateway_http_port=..., "
                                   "gateway_https_port=...) / LABKIT_GATEWAY_HTTP_PORT")
        pool = list(candidates) if candidates is not None else list(range(preferred + 1, preferred + 1000))
        if preferred in pool:  # scan upward from the preferred port, wrapping around the pool
            at = pool.index(preferred)
            pool = pool[at + 1:] + pool[:at]
        for port in pool:
            if port not in self.ports and self._try_port(ip, port) == "claimed":
                return port
        raise LabkitError(f"no free host port for the {what} near {preferred}",
                          hint="stop meshes that are no longer needed (`labkit down`)")

    def _try_port(self, ip: str, port: int) -> str:
        """"claimed", "held" (another mesh's claim) or "busy" (bound by something that does not claim)."""
        fd = self._lock(f"port-{port}")
        if fd is None:
            return "held"
        if not port_bindable(ip, port):
            os.close(fd)
            return "busy"
        self.ports[port] = fd
        return "claimed"

    def release_port(self, port: int) -> None:
        fd = self.ports.pop(port, None)
        if fd is not None:
            os.close(fd)

    def release(self) -> None:
        """Give everything back (the files stay: removing one could race with a new claimant's lock)."""
        for port in list(self.ports):
            self.release_port(port)
        if self._subnet_fd is not None:
            os.close(self._subnet_fd)
            self._subnet_fd, self.subnet = None, None
