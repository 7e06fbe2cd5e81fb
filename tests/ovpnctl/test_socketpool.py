"""The socket pool: UDP sockets per listen address, TCP connections offered, taken, dropped."""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator

import pytest

from ovpnctl.endpoint import Endpoint
from ovpnctl.errors import KernelError
from ovpnctl.socketpool import SocketPool


@pytest.fixture
def opened() -> list[socket.socket]:
    """Every socket the pool reported through `on_open`."""
    return []


@pytest.fixture
def pool(opened: list[socket.socket]) -> Iterator[SocketPool]:
    p = SocketPool(holds_tunnel=True, on_open=opened.append)
    yield p
    p.close()


@pytest.fixture
def pairs() -> Iterator[list[socket.socket]]:
    """Connected stream sockets standing in for TCP connections; closed afterwards."""
    made: list[socket.socket] = []
    yield made
    for sock in made:
        sock.close()


def connection(pairs: list[socket.socket]) -> socket.socket:
    """One end of a connected pair (the other end is kept to see the close)."""
    ours, theirs = socket.socketpair()
    pairs += [ours, theirs]
    return ours


def closed(sock: socket.socket) -> bool:
    return sock.fileno() == -1


def test_an_offered_connection_waits_until_taken(
    pool: SocketPool, pairs: list[socket.socket], opened: list[socket.socket]
) -> None:
    sock = connection(pairs)
    pool.offer_tcp("ovpn0", 1, sock)
    assert opened == [sock]
    assert pool.tcp_ready("ovpn0", 1) is sock
    assert pool.tcp_ready("ovpn0", 2) is None
    assert pool.tcp_ready("ovpn1", 1) is None
    assert pool.tcp_peers("ovpn0") == set()  # waiting is not in use
    assert pool.take_tcp("ovpn0", 1) is sock
    assert pool.tcp_ready("ovpn0", 1) is None
    assert pool.tcp_peers("ovpn0") == {1}
    assert pool.tcp_peers("ovpn1") == set()
    assert not closed(sock)


def test_a_newer_offer_replaces_the_waiting_one(
    pool: SocketPool, pairs: list[socket.socket]
) -> None:
    old, new = connection(pairs), connection(pairs)
    pool.offer_tcp("ovpn0", 1, old)
    pool.offer_tcp("ovpn0", 1, new)
    assert closed(old)
    assert pool.tcp_ready("ovpn0", 1) is new
    assert pool.sockets() == [new]


def test_an_offer_leaves_the_connection_in_use_alone(
    pool: SocketPool, pairs: list[socket.socket]
) -> None:
    in_use, waiting = connection(pairs), connection(pairs)
    pool.offer_tcp("ovpn0", 1, in_use)
    pool.take_tcp("ovpn0", 1)
    pool.offer_tcp("ovpn0", 1, waiting)
    assert not closed(in_use)
    assert pool.tcp_peers("ovpn0") == {1}
    assert pool.tcp_ready("ovpn0", 1) is waiting
    # Taking the newer one replaces the connection the peer rides on.
    assert pool.take_tcp("ovpn0", 1) is waiting
    assert pool.sockets() == [waiting]


def test_taking_a_missing_connection_is_enotconn(pool: SocketPool) -> None:
    with pytest.raises(KernelError) as info:
        pool.take_tcp("ovpn0", 7)
    assert info.value.errno == errno.ENOTCONN
    assert info.value.command == "add_peer"
    assert info.value.message == "peer 7: its TCP connection is gone (closed before it was added)"


def test_a_connection_is_taken_once(pool: SocketPool, pairs: list[socket.socket]) -> None:
    pool.offer_tcp("ovpn0", 1, connection(pairs))
    pool.take_tcp("ovpn0", 1)
    with pytest.raises(KernelError) as info:
        pool.take_tcp("ovpn0", 1)
    assert info.value.errno == errno.ENOTCONN


def test_drop_closes_the_connection_in_use_and_the_waiting_one(
    pool: SocketPool, pairs: list[socket.socket]
) -> None:
    in_use, waiting, other = connection(pairs), connection(pairs), connection(pairs)
    pool.offer_tcp("ovpn0", 1, in_use)
    pool.take_tcp("ovpn0", 1)
    pool.offer_tcp("ovpn0", 1, waiting)
    pool.offer_tcp("ovpn1", 1, other)  # same id on another interface
    pool.drop_tcp("ovpn0", 1)
    assert closed(in_use) and closed(waiting)
    assert not closed(other)
    assert pool.tcp_peers("ovpn0") == set()
    assert pool.tcp_ready("ovpn0", 1) is None
    assert pool.tcp_ready("ovpn1", 1) is other
    pool.drop_tcp("ovpn0", 1)  # nothing left: not an error
    pool.drop_tcp("ovpn9", 3)


def test_drop_sends_the_far_end_an_eof(pool: SocketPool, pairs: list[socket.socket]) -> None:
    ours, theirs = socket.socketpair()
    pairs += [ours, theirs]
    pool.offer_tcp("ovpn0", 1, ours)
    pool.drop_tcp("ovpn0", 1)
    theirs.settimeout(5)
    assert theirs.recv(1) == b""


def test_sockets_lists_udp_in_use_and_waiting(
    pool: SocketPool, pairs: list[socket.socket], opened: list[socket.socket]
) -> None:
    udp = pool.udp(Endpoint.parse("127.0.0.1:0"))
    in_use, waiting = connection(pairs), connection(pairs)
    pool.offer_tcp("ovpn0", 1, in_use)
    pool.take_tcp("ovpn0", 1)
    pool.offer_tcp("ovpn0", 2, waiting)
    assert pool.sockets() == [udp, in_use, waiting]
    assert opened == [udp, in_use, waiting]


def test_close_closes_every_socket(pool: SocketPool, pairs: list[socket.socket]) -> None:
    udp = pool.udp(Endpoint.parse("127.0.0.1:0"))
    in_use, waiting = connection(pairs), connection(pairs)
    pool.offer_tcp("ovpn0", 1, in_use)
    pool.take_tcp("ovpn0", 1)
    pool.offer_tcp("ovpn0", 2, waiting)
    pool.close()
    assert closed(udp) and closed(in_use) and closed(waiting)
    assert pool.sockets() == []
    assert pool.tcp_peers("ovpn0") == set()
    assert pool.tcp_ready("ovpn0", 2) is None
    assert not pool.has_udp(Endpoint.parse("127.0.0.1:0"))


def test_udp_sockets_are_shared_per_listen_and_closed_when_unused(pool: SocketPool) -> None:
    first = Endpoint.parse("127.0.0.1:0")
    second = Endpoint.parse("[::1]:0")
    a = pool.udp(first)
    assert pool.udp(first) is a
    assert pool.has_udp(first) and not pool.has_udp(second)
    b = pool.udp(second)
    assert b.family == socket.AF_INET6
    pool.close_unused({second})
    assert closed(a) and not closed(b)
    assert not pool.has_udp(first) and pool.has_udp(second)
