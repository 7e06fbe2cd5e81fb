"""OpenVPN over TCP through the Linux ovpn driver: a P2P link in each namespace, the
transport a TCP connection that userspace connects and accepts before handing it over."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from netns import NetnsPair, create_netns_pair, destroy_netns_pair
from ovpn_fixtures import ICMP_HEADERS, OVERHEAD, KeyPair, Side, counters_delta, install

from ovpnctl.keys import Cipher, KeyInfo, KeySlot
from ovpnctl.model import DeleteReason, EventKind, Mode, PeerConfig

LEFT, RIGHT = "ovpn-tl", "ovpn-tr"
PEER = 5


@dataclass
class TcpTunnel:
    pair: NetnsPair
    left: Side
    right: Side


@pytest.fixture(scope="module")
def tcp(ovpn_module: None) -> Iterator[TcpTunnel]:
    pair = create_netns_pair("ovt")
    left, right = Side(pair.left.netns), Side(pair.right.netns)
    try:
        left.link(LEFT, Mode.P2P, "10.11.0.1/24")
        right.link(RIGHT, Mode.P2P, "10.11.0.2/24")
        listener = left.tcp_listen(f"{pair.left.ipv4.ip}:1443")
        client = right.tcp_connect(f"{pair.left.ipv4.ip}:1443")
        accepted, _ = listener.accept()
        listener.close()
        left.add_peer(LEFT, PeerConfig(PEER, None), accepted)
        right.add_peer(RIGHT, PeerConfig(PEER, None), client)
        del accepted, client
        keys = KeyPair.generate(Cipher.CHACHA20_POLY1305)
        install(left, LEFT, keys.for_a(PEER, 0, KeySlot.PRIMARY))
        install(right, RIGHT, keys.for_b(PEER, 0, KeySlot.PRIMARY))
        yield TcpTunnel(pair, left, right)
    finally:
        left.close()
        right.close()
        destroy_netns_pair(pair)


def test_ping_over_tcp_both_ways(tcp: TcpTunnel) -> None:
    assert tcp.right.ping("10.11.0.1", count=3).lossless
    assert tcp.left.ping("10.11.0.2", count=3).lossless


def test_tcp_peer_reads_back_without_endpoints(tcp: TcpTunnel) -> None:
    state = tcp.left.peer_state(LEFT, PEER)
    assert state.remote is None  # the kernel reports no remote for a TCP peer
    assert state.keys == (KeyInfo(PEER, KeySlot.PRIMARY, 0, Cipher.CHACHA20_POLY1305),)


def test_tcp_counters_exclude_the_length_prefix(tcp: TcpTunnel) -> None:
    count, size = 4, 200
    before = tcp.right.peer_state(RIGHT, PEER, with_keys=False)
    assert tcp.right.ping("10.11.0.1", count=count, size=size).lossless
    after = tcp.right.peer_state(RIGHT, PEER, with_keys=False)
    vpn, link = counters_delta(before.vpn, after.vpn), counters_delta(before.link, after.link)
    inner = size + ICMP_HEADERS
    assert vpn == {"rx_packets": count, "tx_packets": count,
                   "rx_bytes": count * inner, "tx_bytes": count * inner}  # fmt: skip
    assert link == {"rx_packets": count, "tx_packets": count,
                    "rx_bytes": count * (inner + OVERHEAD),
                    "tx_bytes": count * (inner + OVERHEAD)}  # fmt: skip


def test_closing_one_end_removes_only_that_peer(tcp: TcpTunnel) -> None:
    sock = tcp.left.forget_socket(LEFT, PEER)
    assert sock is not None
    tcp.left.consume_events(LEFT)
    sock.close()
    del sock
    events, _ = tcp.left.wait_for_events(LEFT, lambda evs: len(evs) >= 1, timeout=5)
    assert [(e.kind, e.peer_id, e.reason) for e in events] == [
        (EventKind.PEER_DELETED, PEER, DeleteReason.TRANSPORT_DISCONNECT)
    ]
    # The far end is not told (sheet 6.1): its peer stays until it is deleted or expires.
    assert [p.peer_id for p in tcp.right.peer_states(RIGHT, with_keys=False)] == [PEER]
