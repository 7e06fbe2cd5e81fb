"""Fixtures: a kernel model, a backend driving it, and real UDP sockets it knows about."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import pytest

from ovpnctl.freebsd.backend import FreeBSDBackend
from ovpnctl.keys import Cipher, KeyConfig, KeyDirection, KeySlot
from ovpnctl.model import Mode

from .kernel_model import KernelModel


@pytest.fixture
def kernel() -> KernelModel:
    return KernelModel()


@pytest.fixture
def backend(kernel: KernelModel) -> Iterator[FreeBSDBackend]:
    """A backend whose sleeps advance the model's clock instead of waiting."""
    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds
        kernel.advance_time(seconds)

    with FreeBSDBackend(transport=kernel, sleep=sleep, clock=lambda: clock[0]) as b:
        yield b


@pytest.fixture
def iface(backend: FreeBSDBackend) -> str:
    return backend.create_interface("ovpn0", Mode.P2P)


SocketFactory = Callable[..., socket.socket]


@pytest.fixture
def udp(kernel: KernelModel) -> Iterator[SocketFactory]:
    """Open real bound UDP sockets and register them in the model's descriptor table."""
    opened: list[socket.socket] = []

    def make(
        host: str = "127.0.0.1", *, v6only: bool = True, adopt: bool = True, **fake: object
    ) -> socket.socket:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        opened.append(sock)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(v6only))
        sock.bind((host, 0))
        if adopt:
            kernel.adopt(sock, **fake)
        return sock

    yield make
    for sock in opened:
        sock.close()


def key_config(
    peer_id: int = 1,
    *,
    key_id: int = 0,
    slot: KeySlot = KeySlot.PRIMARY,
    cipher: Cipher = Cipher.AES_256_GCM,
    fill: int = 0x11,
) -> KeyConfig:
    """A key pair with recognisable bytes (`fill` for encrypt, `fill + 1` for decrypt)."""

    def direction(byte: int) -> KeyDirection:
        if cipher is Cipher.NONE:
            return KeyDirection(cipher)
        return KeyDirection(cipher, bytearray([byte]) * cipher.key_length, bytearray([byte]) * 8)

    return KeyConfig(peer_id, key_id, slot, direction(fill), direction(fill + 1))
