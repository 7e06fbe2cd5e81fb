"""Network namespaces and veth links for the real-kernel tests (inside the QEMU guest).

Tests build their own topology: the guest has only `lo`, and every test that
touches links works in namespaces it created, so nothing leaks between tests
and teardown is one `ip netns del`.

How code runs "inside" a namespace, and why this way:

* `setns(CLONE_NEWNET)` moves only the calling *thread*.  A socket (netlink,
  UDP, TCP) belongs for its whole life to the namespace of the thread that
  created it, whichever thread uses it later.
* `run_in_netns(name, fn)` therefore calls `fn` in a short-lived thread that
  has entered the namespace; the test's own thread never switches, so a
  failing test cannot leave the session stranded in a dead namespace.  `fn`
  may return sockets it created; they stay in `name`.
* pyroute2 0.9 opens its netlink socket lazily, per thread, on first use, so a
  pyroute2 object must be created *and used* inside `fn` (or be given
  pyroute2's own `netns=NAME`).
* `/proc/self/...` and `/sys/class/net` keep showing the main thread's
  namespace while a helper thread is switched; ask netlink, not those files.
* `netns_exec(name, argv)` runs a program through `ip netns exec`, for tools
  (ping, ip) and for work that must happen in another process.

Python 3.11 has no `os.setns`, hence ctypes.  Everything here needs root.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import subprocess
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from ipaddress import IPv4Interface, IPv6Interface
from pathlib import Path
from threading import Thread
from typing import TypeVar

CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/run/netns")  # where `ip netns add` pins named namespaces
COMMAND_TIMEOUT = 60.0

T = TypeVar("T")

_libc = ctypes.CDLL(None, use_errno=True)
_names = itertools.count()


class NetnsError(RuntimeError):
    """A namespace or link operation failed; the message carries the tool's stderr."""


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns(CLONE_NEWNET): {os.strerror(err)}")


def ip(*args: str) -> str:
    """Run iproute2's `ip` and return its stdout; raise NetnsError with its stderr on failure."""
    proc = subprocess.run(
        ["ip", *args], capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
    )
    if proc.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def unique_netns_name(tag: str) -> str:
    """A namespace name unused in this guest: tag, test process id and a counter."""
    return f"{tag}-{os.getpid()}-{next(_names)}"


def create_netns(name: str) -> None:
    """Create a named namespace with `lo` up (the kernel creates it down)."""
    ip("netns", "add", name)
    try:
        ip("-n", name, "link", "set", "lo", "up")
    except NetnsError:
        delete_netns(name)
        raise


def delete_netns(name: str) -> None:
    """Delete a named namespace; links inside it (veth ends, ovpn links) go with it."""
    ip("netns", "del", name)


@contextmanager
def entered_netns(name: str) -> Iterator[None]:
    """Switch the calling thread into namespace `name` for the block, then back.

    Prefer run_in_netns(); use this only for short blocks in a thread you own.
    """
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(NETNS_DIR / name, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(home)


def run_in_netns(name: str, fn: Callable[..., T], /, *args: object, **kwargs: object) -> T:
    """Call fn(*args, **kwargs) in a thread inside namespace `name`; return or re-raise."""
    outcome: list[T] = []
    failure: list[BaseException] = []

    def body() -> None:
        try:
            with entered_netns(name):
                outcome.append(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)

    worker = Thread(target=body, name=f"netns:{name}")
    worker.start()
    worker.join()
    if failure:
        raise failure[0]
    return outcome[0]


def netns_exec(
    name: str, argv: Sequence[str], *, check: bool = True, timeout: float = COMMAND_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run a program inside namespace `name` (ip netns exec); output captured as text."""
    proc = subprocess.run(
        ["ip", "netns", "exec", name, *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise NetnsError(
            f"in {name}: {' '.join(argv)} exited {proc.returncode}: "
            f"{proc.stdout.strip()} {proc.stderr.strip()}".strip()
        )
    return proc


@dataclass(frozen=True)
class VethEnd:
    """One end of the veth link: its namespace, interface name and addresses."""

    netns: str
    ifname: str
    ipv4: IPv4Interface
    ipv6: IPv6Interface


@dataclass(frozen=True)
class NetnsPair:
    """Two namespaces joined by one veth link, addressed on both families."""

    left: VethEnd
    right: VethEnd

    @property
    def namespaces(self) -> tuple[str, str]:
        return self.left.netns, self.right.netns


# Each pair lives in its own namespaces, so every pair can use the same addresses.
LEFT = ("veth-left", IPv4Interface("10.200.0.1/24"), IPv6Interface("fd00:200::1/64"))
RIGHT = ("veth-right", IPv4Interface("10.200.0.2/24"), IPv6Interface("fd00:200::2/64"))


def create_netns_pair(tag: str = "ovt") -> NetnsPair:
    """Create two namespaces joined by a veth pair, up, with IPv4 and IPv6 addresses.

    IPv6 addresses skip duplicate address detection so they are usable at once.
    Anything created before a failure is removed again.
    """
    pair = NetnsPair(
        VethEnd(unique_netns_name(tag), *LEFT),
        VethEnd(unique_netns_name(tag), *RIGHT),
    )
    created: list[str] = []
    try:
        for name in pair.namespaces:
            create_netns(name)
            created.append(name)
        left, right = pair.left, pair.right
        ip("link", "add", left.ifname, "netns", left.netns, "type", "veth",
           "peer", "name", right.ifname, "netns", right.netns)  # fmt: skip
        for end in (left, right):
            ip("-n", end.netns, "addr", "add", str(end.ipv4), "dev", end.ifname)
            ip("-n", end.netns, "addr", "add", str(end.ipv6), "dev", end.ifname, "nodad")
            ip("-n", end.netns, "link", "set", end.ifname, "up")
    except BaseException:
        for name in created:
            delete_netns(name)
        raise
    return pair


def destroy_netns_pair(pair: NetnsPair) -> None:
    """Delete both namespaces (and with them the veth link); report every failure."""
    errors = []
    for name in pair.namespaces:
        try:
            delete_netns(name)
        except NetnsError as exc:
            errors.append(str(exc))
    if errors:
        raise NetnsError("; ".join(errors))
