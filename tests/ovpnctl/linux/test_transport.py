"""A peer's socket is checked from its own state before its descriptor is sent."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from ovpnctl.endpoint import Endpoint
from ovpnctl.errors import ValidationError
from ovpnctl.linux.backend import LinuxBackend
from ovpnctl.linux.transport import check_peer_for_socket, inspect_socket
from ovpnctl.model import PeerConfig, Transport

IPPROTO_UDPLITE = 136

REMOTE4 = Endpoint.parse("192.0.2.1:1194")
REMOTE6 = Endpoint.parse("[2001:db8::1]:1194")


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    yield opened
    for s in opened:
        s.close()


def make(opened: list[socket.socket], family: int, kind: int) -> socket.socket:
    s = socket.socket(family, kind)
    opened.append(s)
    return s


def refused(sock: socket.socket, peer: PeerConfig) -> str:
    with pytest.raises(ValidationError) as info:
        LinuxBackend(dry_run=True).add_peer("ovpn0", peer, sock)
    return info.value.message


def test_bound_udp_socket_is_accepted(sockets: list[socket.socket]) -> None:
    s = make(sockets, socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    info = inspect_socket(s, 1)
    assert info.transport is Transport.UDP
    assert info.local == Endpoint.parse(f"127.0.0.1:{s.getsockname()[1]}")
    assert check_peer_for_socket(PeerConfig(1, REMOTE4), info) == PeerConfig(1, REMOTE4)


def test_closed_socket(sockets: list[socket.socket]) -> None:
    s = make(sockets, socket.AF_INET, socket.SOCK_DGRAM)
    s.close()
    assert refused(s, PeerConfig(1, REMOTE4)) == "peer 1: the socket is closed"


def test_unix_socket(sockets: list[socket.socket]) -> None:
    s = make(sockets, socket.AF_UNIX, socket.SOCK_DGRAM)
    assert refused(s, PeerConfig(1, REMOTE4)) == (
        f"peer 1: descriptor {s.fileno()} is not an IPv4/IPv6 socket"
    )


def test_udplite_socket_is_neither_udp_nor_tcp(sockets: list[socket.socket]) -> None:
    # A datagram socket of another protocol: SOCK_DGRAM alone does not make it UDP.
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, IPPROTO_UDPLITE)
    sockets.append(s)
    s.bind(("127.0.0.1", 0))
    assert refused(s, PeerConfig(1, REMOTE4)) == (
        f"peer 1: descriptor {s.fileno()} is neither a UDP nor a TCP socket; the ovpn driver "
        "carries OpenVPN over UDP or TCP only"
    )


def test_unbound_udp_socket(sockets: list[socket.socket]) -> None:
    s = make(sockets, socket.AF_INET, socket.SOCK_DGRAM)
    assert refused(s, PeerConfig(1, REMOTE4)) == (
        "peer 1: the UDP socket is not bound to a port; bind it before adding the peer "
        "(otherwise the kernel sends from a random port)"
    )


def test_udp_peer_needs_a_remote(sockets: list[socket.socket]) -> None:
    s = make(sockets, socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    assert refused(s, PeerConfig(1, None)) == "peer 1: a UDP peer needs a remote address"


def test_ipv4_socket_cannot_reach_an_ipv6_remote(sockets: list[socket.socket]) -> None:
    s = make(sockets, socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    assert refused(s, PeerConfig(1, REMOTE6)) == (
        f"peer 1: the remote [2001:db8::1]:1194 is IPv6 but the socket (bound to "
        f"127.0.0.1:{port}) is IPv4"
    )


def test_v6only_socket_cannot_reach_an_ipv4_remote(sockets: list[socket.socket]) -> None:
    s = make(sockets, socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind(("::1", 0))
    assert "is IPv4 but the socket" in refused(s, PeerConfig(1, REMOTE4))


def test_dual_stack_socket_takes_an_ipv4_remote(sockets: list[socket.socket]) -> None:
    s = make(sockets, socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", 0))
    b = LinuxBackend(dry_run=True)
    b.add_peer("ovpn0", PeerConfig(1, REMOTE4), s)
    assert b.planned_calls[0]["attrs"]["OVPN_A_PEER"]["OVPN_A_PEER_REMOTE_IPV4"] == "192.0.2.1"


def test_local_port_must_be_the_bound_port(sockets: list[socket.socket]) -> None:
    s = make(sockets, socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    other = 1 if port != 1 else 2
    local = Endpoint.parse(f"127.0.0.1:{other}")
    assert refused(s, PeerConfig(1, REMOTE4, local=local)) == (
        f"peer 1: local port {other} differs from the port the socket is bound to ({port}); "
        "the kernel sends from the socket's port"
    )


def test_unconnected_tcp_socket(sockets: list[socket.socket]) -> None:
    s = make(sockets, socket.AF_INET, socket.SOCK_STREAM)
    assert refused(s, PeerConfig(1, None)) == (
        "peer 1: the TCP socket is not connected; connect (or accept) it before adding the peer"
    )


def test_connected_tcp_socket_drops_a_matching_remote(sockets: list[socket.socket]) -> None:
    listener = make(sockets, socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    client = make(sockets, socket.AF_INET, socket.SOCK_STREAM)
    client.connect(listener.getsockname())
    server_side, _ = listener.accept()
    sockets.append(server_side)
    there = Endpoint.parse("{}:{}".format(*listener.getsockname()))
    b = LinuxBackend(dry_run=True)
    b.add_peer("ovpn0", PeerConfig(1, there), client)
    nest = b.planned_calls[0]["attrs"]["OVPN_A_PEER"]
    assert nest == {"OVPN_A_PEER_ID": 1, "OVPN_A_PEER_SOCKET": client.fileno()}
    elsewhere = Endpoint.parse("127.0.0.1:1")
    assert refused(client, PeerConfig(1, elsewhere)) == (
        f"peer 1: the remote 127.0.0.1:1 differs from the address the TCP socket is connected "
        f"to ({there})"
    )
