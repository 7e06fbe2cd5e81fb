"""Opening data-channel sockets and vetting one before a kernel sees its descriptor."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest

from ovpnctl.endpoint import Endpoint
from ovpnctl.errors import KernelError, ValidationError
from ovpnctl.sockets import check_peer_socket, endpoints_for_socket, open_udp_socket


@pytest.fixture
def opened() -> Iterator[list[socket.socket]]:
    socks: list[socket.socket] = []
    yield socks
    for s in socks:
        s.close()


def ep(text: str) -> Endpoint:
    return Endpoint.parse(text)


def test_open_ipv4(opened: list[socket.socket]) -> None:
    sock = open_udp_socket(ep("127.0.0.1:0"))
    opened.append(sock)
    info = check_peer_socket(sock)
    assert info.family == socket.AF_INET and info.ip_version == 4
    assert info.local.address == ep("127.0.0.1:1").address and info.local.port > 0
    assert info.v6only is None and info.fd == sock.fileno()


def test_open_ipv6_is_v6only_unless_dual_stack(opened: list[socket.socket]) -> None:
    v6 = open_udp_socket(ep("[::1]:0"))
    dual = open_udp_socket(ep("[::]:0"), dual_stack=True)
    opened += [v6, dual]
    assert check_peer_socket(v6).v6only is True
    assert check_peer_socket(dual).v6only is False


def test_mapped_local_opens_an_ipv4_socket(opened: list[socket.socket]) -> None:
    sock = open_udp_socket(ep("[::ffff:127.0.0.1]:0"))
    opened.append(sock)
    assert sock.family == socket.AF_INET


def test_dual_stack_needs_the_wildcard() -> None:
    with pytest.raises(ValidationError, match=r"dual-stack socket must be bound to \[::\]"):
        open_udp_socket(ep("[::1]:0"), dual_stack=True)
    with pytest.raises(ValidationError, match="dual-stack"):
        open_udp_socket(ep("0.0.0.0:0"), dual_stack=True)


def test_bind_failure_names_the_address(opened: list[socket.socket]) -> None:
    first = open_udp_socket(ep("127.0.0.1:0"))
    opened.append(first)
    taken = Endpoint(ep("127.0.0.1:1").address, first.getsockname()[1])
    with pytest.raises(KernelError, match=re.escape(f"cannot bind a UDP socket to {taken}: ")):
        open_udp_socket(taken)
    with pytest.raises(KernelError, match=r"cannot bind a UDP socket to 192\.0\.2\.99:0"):
        open_udp_socket(ep("192.0.2.99:0"))  # not a local address


def test_refusals(opened: list[socket.socket]) -> None:
    unbound = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    tcp.bind(("::1", 0))
    unix_a, unix_b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    closed.close()
    opened += [unbound, tcp, unix_a, unix_b]
    with pytest.raises(ValidationError, match=r"descriptor \d+ is not bound to a port"):
        check_peer_socket(unbound)
    with pytest.raises(ValidationError, match="not a UDP socket; FreeBSD offloads UDP"):
        check_peer_socket(tcp)
    with pytest.raises(ValidationError, match=r"not an IPv4/IPv6 socket.*would crash FreeBSD"):
        check_peer_socket(unix_a)
    with pytest.raises(ValidationError, match="socket is closed"):
        check_peer_socket(closed)


def test_a_socket_adopted_from_a_bare_descriptor(opened: list[socket.socket]) -> None:
    """Python's idea of the family can be wrong for adopted fds; the sockname is not."""
    unix_a, unix_b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    opened += [unix_a, unix_b]
    disguised = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, 0, fileno=unix_a.fileno())
    try:
        with pytest.raises(ValidationError, match="not an IPv4/IPv6 socket"):
            check_peer_socket(disguised)
    finally:
        disguised.detach()


def test_other_datagram_protocols_are_not_udp(opened: list[socket.socket]) -> None:
    proto = 136  # IPPROTO_UDPLITE on Linux and FreeBSD
    try:
        other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, proto)
    except OSError as exc:
        pytest.skip(f"UDP-Lite sockets are not available on this host ({exc.strerror})")
    opened.append(other)
    other.bind(("127.0.0.1", 0))
    with pytest.raises(ValidationError, match=f"protocol {proto}, not UDP"):
        check_peer_socket(other)


def test_endpoints_for_each_socket_kind(opened: list[socket.socket]) -> None:
    v4 = check_peer_socket(_open(opened, "127.0.0.1:0"))
    v6 = check_peer_socket(_open(opened, "[::1]:0"))
    dual = check_peer_socket(_open(opened, "[::]:0", dual_stack=True))
    remote4, mapped = ep("192.0.2.1:1194"), ep("[::ffff:192.0.2.1]:1194")
    remote6 = ep("[2001:db8::1]:1194")

    assert endpoints_for_socket(v4, remote4, None) == (remote4, None)
    assert endpoints_for_socket(v4, mapped, ep("[::ffff:10.0.0.1]:0")) == (
        remote4,
        ep("10.0.0.1:0"),
    )
    with pytest.raises(ValidationError, match="is IPv6 but the socket"):
        endpoints_for_socket(v4, remote6, None)

    assert endpoints_for_socket(dual, remote4, ep("10.0.0.1:0")) == (
        mapped,
        ep("[::ffff:10.0.0.1]:0"),
    )
    assert endpoints_for_socket(dual, remote6, None) == (remote6, None)
    with pytest.raises(ValidationError, match="is IPv6-only"):
        endpoints_for_socket(v6, remote4, None)
    with pytest.raises(ValidationError, match="is IPv6-only"):
        endpoints_for_socket(v6, mapped, None)  # mapped needs a dual-stack socket too
    assert endpoints_for_socket(v6, remote6, ep("[::1]:0")) == (remote6, ep("[::1]:0"))


def _open(opened: list[socket.socket], text: str, *, dual_stack: bool = False) -> socket.socket:
    sock = open_udp_socket(ep(text), dual_stack=dual_stack)
    opened.append(sock)
    return sock
