"""Building blocks for the Linux backend's real-kernel tests (inside the QEMU guest).

`Side` is one end of a tunnel: a network namespace and an ovpnctl `LinuxBackend` that
lives in it. Every backend call runs in a thread switched into that namespace (netns.py
explains why), so the backend's netlink sockets, the UDP/TCP sockets it holds and the
interface names it resolves all belong to that namespace, while the test itself stays in
the guest's initial one. Only ovpnctl's library talks to the kernel here; `ip`, `ping`
and `sysctl` are run as programs.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netns import NetnsError, ip, netns_exec, run_in_netns

from ovpnctl.endpoint import Endpoint
from ovpnctl.keyfile import generate_material
from ovpnctl.keys import Cipher, KeyConfig, KeyDirection, KeySlot
from ovpnctl.linux.backend import LinuxBackend
from ovpnctl.model import Event, Mode
from ovpnctl.sockets import open_udp_socket

OVERHEAD = 24  # DATA_V2 header (4) + packet id (4) + AEAD tag (16), per the sheet
KEEPALIVE_PAYLOAD = 16  # OpenVPN's ping magic, the inner size of a kernel keepalive
ICMP_HEADERS = 28  # IPv4 (20) + ICMP echo (8)


class Side:
    """A namespace and the LinuxBackend that lives in it; attribute access forwards
    backend methods so that `side.add_peer(...)` runs inside the namespace."""

    def __init__(self, netns: str, **options: Any) -> None:
        self.netns = netns
        self.backend: LinuxBackend = run_in_netns(netns, lambda: LinuxBackend(**options))

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.backend, name)
        if not callable(attr):
            return attr

        def in_netns(*args: Any, **kwargs: Any) -> Any:
            return run_in_netns(self.netns, attr, *args, **kwargs)

        return in_netns

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return run_in_netns(self.netns, fn, *args, **kwargs)

    def close(self) -> None:
        self.run(self.backend.close)

    # -- sockets ---------------------------------------------------------------------------
    def udp(self, local: str) -> socket.socket:
        return self.run(open_udp_socket, Endpoint.parse(local))

    def tcp_listen(self, local: str) -> socket.socket:
        def listen() -> socket.socket:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(Endpoint.parse(local).sockaddr())
            sock.listen(1)
            return sock

        return self.run(listen)

    def tcp_connect(self, remote: str, local: str | None = None) -> socket.socket:
        def connect() -> socket.socket:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if local is not None:
                sock.bind(Endpoint.parse(local).sockaddr())
            sock.connect(Endpoint.parse(remote).sockaddr())
            return sock

        return self.run(connect)

    # -- links and tools --------------------------------------------------------------------
    def link(self, name: str, mode: Mode, address: str) -> str:
        """An ovpn link with an IPv4 address, IPv6 off (no stray router solicitations in
        the counters), up."""
        self.create_interface(name, mode)
        self.run(_write_sysctl, f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6", "1")
        ip("-n", self.netns, "addr", "add", address, "dev", name)
        self.start(name)
        return name

    def ping(self, target: str, *, count: int, size: int = 56, interval: float = 0.2) -> Ping:
        proc = netns_exec(
            self.netns,
            ["ping", "-n", "-q", "-c", str(count), "-s", str(size), "-i", str(interval),
             "-W", "2", target],
            check=False,
        )  # fmt: skip
        return Ping.parse(proc.stdout + proc.stderr)

    def ping_in_background(
        self, target: str, *, count: int, interval: float
    ) -> subprocess.Popen[str]:
        return subprocess.Popen(
            ["ip", "netns", "exec", self.netns, "ping", "-n", "-q", "-c", str(count),
             "-i", str(interval), "-W", "2", target],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip

    def wait_for_events(
        self,
        ifname: str | None,
        until: Callable[[list[Event]], bool],
        *,
        timeout: float,
    ) -> tuple[list[Event], float]:
        """Watch notifications until `until(events)` holds or `timeout` passes; return the
        events and the seconds it took."""
        started = time.monotonic()

        def watch() -> list[Event]:
            seen: list[Event] = []
            for ev in self.backend.watch_events(ifname, consume=True, timeout=timeout):
                seen.append(ev)
                if until(seen):
                    break
            return seen

        events = self.run(watch)
        return events, time.monotonic() - started


def _write_sysctl(path: str, value: str) -> None:
    """Inside the switched thread: /proc/sys/net follows the thread's namespace."""
    Path(path).write_text(value)


@dataclass(frozen=True)
class Ping:
    transmitted: int
    received: int
    output: str

    @classmethod
    def parse(cls, output: str) -> Ping:
        match = re.search(r"(\d+) packets transmitted, (\d+) received", output)
        if match is None:
            raise NetnsError(f"cannot read ping's summary: {output.strip()}")
        return cls(int(match[1]), int(match[2]), output)

    @property
    def lossless(self) -> bool:
        return self.transmitted > 0 and self.received == self.transmitted


@dataclass
class KeyPair:
    """Fresh material for both directions of one tunnel: side A encrypts with `a_to_b`."""

    cipher: Cipher
    a_to_b: bytearray
    b_to_a: bytearray

    @classmethod
    def generate(cls, cipher: Cipher) -> KeyPair:
        return cls(cipher, generate_material(cipher), generate_material(cipher))

    def _direction(self, material: bytearray) -> KeyDirection:
        return KeyDirection.from_material(self.cipher, bytearray(material))

    def for_a(self, peer_id: int, key_id: int, slot: KeySlot) -> KeyConfig:
        return KeyConfig(
            peer_id, key_id, slot, self._direction(self.a_to_b), self._direction(self.b_to_a)
        )

    def for_b(self, peer_id: int, key_id: int, slot: KeySlot) -> KeyConfig:
        return KeyConfig(
            peer_id, key_id, slot, self._direction(self.b_to_a), self._direction(self.a_to_b)
        )


def install(side: Side, ifname: str, key: KeyConfig) -> None:
    """Install and wipe: the caller of new_key owns the key material."""
    try:
        side.new_key(ifname, key)
    finally:
        key.wipe()


def counters_delta(before: Any, after: Any) -> dict[str, int]:
    """Field-wise difference of two Traffic values."""
    return {
        name: getattr(after, name) - getattr(before, name)
        for name in ("rx_packets", "tx_packets", "rx_bytes", "tx_bytes")
    }


def eventually(check: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return check()


def sides(*namespaces: str) -> Iterator[Side]:
    for name in namespaces:
        yield Side(name)
