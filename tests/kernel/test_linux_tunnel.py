"""A real tunnel through the Linux ovpn driver, driven only by ovpnctl's LinuxBackend.

Topology (one pair of namespaces for the whole module, joined by veth 10.200.0.0/24):
the left namespace runs an MP server `ovpn-srv` (10.8.0.1/24), the right one a P2P client
`ovpn-cli` (10.8.0.2/24); both use peer id 1 over UDP port 1194. The tests run in file
order and build on each other (keys installed, then rotated), which keeps the suite
within its time budget on a TCG guest.
"""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from netns import NetnsPair, create_netns_pair, destroy_netns_pair, ip
from ovpn_fixtures import (
    ICMP_HEADERS,
    KEEPALIVE_PAYLOAD,
    OVERHEAD,
    KeyPair,
    Side,
    counters_delta,
    install,
)

from ovpnctl.endpoint import Endpoint
from ovpnctl.errors import KernelError
from ovpnctl.keys import Cipher, KeyInfo, KeySlot
from ovpnctl.linux.backend import LinuxBackend
from ovpnctl.model import DeleteReason, EventKind, Keepalive, Mode, PeerConfig, Traffic
from ovpnctl.sockets import open_udp_socket

SRV, CLI = "ovpn-srv", "ovpn-cli"
SRV_VPN, CLI_VPN = "10.8.0.1", "10.8.0.2"
PORT = 1194
PEER = 1


@dataclass
class Tunnel:
    pair: NetnsPair
    server: Side
    client: Side
    keys: KeyPair


@pytest.fixture(scope="module")
def tunnel(ovpn_module: None) -> Iterator[Tunnel]:
    pair = create_netns_pair("ovl")
    server, client = Side(pair.left.netns), Side(pair.right.netns)
    try:
        server.link(SRV, Mode.MULTIPOINT, f"{SRV_VPN}/24")
        client.link(CLI, Mode.P2P, f"{CLI_VPN}/24")
        server_sock = server.udp(f"{pair.left.ipv4.ip}:{PORT}")
        client_sock = client.udp(f"{pair.right.ipv4.ip}:{PORT}")
        keepalive = Keepalive(10, 60)
        server.add_peer(
            SRV,
            PeerConfig(
                PEER,
                Endpoint.parse(f"{pair.right.ipv4.ip}:{PORT}"),
                vpn_ipv4=ipaddress.IPv4Address(CLI_VPN),
                keepalive=keepalive,
            ),
            server_sock,
        )
        client.add_peer(
            CLI,
            PeerConfig(PEER, Endpoint.parse(f"{pair.left.ipv4.ip}:{PORT}"), keepalive=keepalive),
            client_sock,
        )
        del server_sock, client_sock  # the backends hold them now
        keys = KeyPair.generate(Cipher.AES_256_GCM)
        install(server, SRV, keys.for_a(PEER, 0, KeySlot.PRIMARY))
        install(client, CLI, keys.for_b(PEER, 0, KeySlot.PRIMARY))
        yield Tunnel(pair, server, client, keys)
    finally:
        server.close()
        client.close()
        destroy_netns_pair(pair)


def test_ping_both_ways_with_aes_256_gcm(tunnel: Tunnel) -> None:
    there = tunnel.client.ping(SRV_VPN, count=3)
    back = tunnel.server.ping(CLI_VPN, count=3)
    assert there.lossless, there.output
    assert back.lossless, back.output


def test_counters_move_by_inner_and_outer_sizes(tunnel: Tunnel) -> None:
    """VPN bytes are the inner IP packets; LINK bytes add 24 per packet. Kernel keepalives
    (16-byte inner payload) may appear in LINK only."""
    count, size = 5, 100
    inner = size + ICMP_HEADERS
    c0 = tunnel.client.peer_state(CLI, PEER, with_keys=False)
    s0 = tunnel.server.peer_state(SRV, PEER, with_keys=False)
    result = tunnel.client.ping(SRV_VPN, count=count, size=size)
    assert result.lossless, result.output
    c1 = tunnel.client.peer_state(CLI, PEER, with_keys=False)
    s1 = tunnel.server.peer_state(SRV, PEER, with_keys=False)

    expected_vpn = {
        "rx_packets": count, "tx_packets": count,
        "rx_bytes": count * inner, "tx_bytes": count * inner,
    }  # fmt: skip
    assert counters_delta(c0.vpn, c1.vpn) == expected_vpn
    assert counters_delta(s0.vpn, s1.vpn) == expected_vpn
    for before, after in ((c0, c1), (s0, s1)):
        vpn, link = counters_delta(before.vpn, after.vpn), counters_delta(before.link, after.link)
        for way in ("rx", "tx"):
            keepalives = link[f"{way}_packets"] - vpn[f"{way}_packets"]
            assert 0 <= keepalives <= 2, (way, link, vpn)
            assert link[f"{way}_bytes"] == (
                vpn[f"{way}_bytes"]
                + OVERHEAD * link[f"{way}_packets"]
                + KEEPALIVE_PAYLOAD * keepalives
            ), (way, link, vpn)


def test_peer_configuration_reads_back(tunnel: Tunnel) -> None:
    pair = tunnel.pair
    server = tunnel.server.peer_state(SRV, PEER)
    assert server.remote == Endpoint.parse(f"{pair.right.ipv4.ip}:{PORT}")
    assert server.local == Endpoint.parse(f"{pair.left.ipv4.ip}:{PORT}")  # learned from traffic
    assert server.vpn_ipv4 == ipaddress.IPv4Address(CLI_VPN)
    assert server.vpn_ipv6 is None
    assert server.keepalive == Keepalive(10, 60)
    assert server.keys == (KeyInfo(PEER, KeySlot.PRIMARY, 0, Cipher.AES_256_GCM),)
    assert isinstance(server.vpn, Traffic) and isinstance(server.link, Traffic)
    if tunnel.server.features.tx_id:
        assert server.tx_id == PEER  # newer kernels: defaults to the peer id
    else:
        assert server.tx_id is None  # 6.17 cannot tell
    client = tunnel.client.peer_state(CLI, PEER)
    assert client.remote == Endpoint.parse(f"{pair.left.ipv4.ip}:{PORT}")
    assert client.vpn_ipv4 is None


def test_interface_state_and_listing(tunnel: Tunnel) -> None:
    state = tunnel.server.state(SRV)
    assert (state.name, state.backend, state.mode, state.up, state.mtu) == (
        SRV, "linux", Mode.MULTIPOINT, True, 1416
    )  # fmt: skip
    assert [p.peer_id for p in state.peers] == [PEER]
    assert {c.name for c in state.counters} >= {"packets", "bytes"}
    assert tunnel.server.interfaces() == [SRV]  # the veth end is not an ovpn link
    assert tunnel.client.state(CLI).mode is Mode.P2P


def test_the_backend_holds_the_peer_sockets(tunnel: Tunnel) -> None:
    held = tunnel.server.held_sockets
    assert list(held) == [(SRV, PEER)]
    assert held[(SRV, PEER)].getsockname() == (str(tunnel.pair.left.ipv4.ip), PORT)


def test_rotation_to_chacha20_poly1305_loses_no_packet(tunnel: Tunnel) -> None:
    """New key into the secondary slot on both ends, swap one end, then the other, delete
    the old key: all under 20 pings a second."""
    server, client = tunnel.server, tunnel.client
    fresh = KeyPair.generate(Cipher.CHACHA20_POLY1305)
    pinger = client.ping_in_background(SRV_VPN, count=60, interval=0.05)
    try:
        time.sleep(0.4)
        install(server, SRV, fresh.for_a(PEER, 1, KeySlot.SECONDARY))
        install(client, CLI, fresh.for_b(PEER, 1, KeySlot.SECONDARY))
        server.swap_keys(SRV, PEER)
        time.sleep(0.3)
        client.swap_keys(CLI, PEER)
        time.sleep(0.3)
        server.del_key(SRV, PEER, KeySlot.SECONDARY)
        client.del_key(CLI, PEER, KeySlot.SECONDARY)
        output, _ = pinger.communicate(timeout=60)
    finally:
        if pinger.poll() is None:
            pinger.kill()
    assert " 60 received, 0% packet loss" in output, output
    chacha = (KeyInfo(PEER, KeySlot.PRIMARY, 1, Cipher.CHACHA20_POLY1305),)
    assert server.key_info(SRV, PEER) == chacha
    assert client.key_info(CLI, PEER) == chacha
    back = server.ping(CLI_VPN, count=3)
    assert back.lossless, back.output


def test_keepalive_and_addresses_change_on_a_live_peer(tunnel: Tunnel) -> None:
    server = tunnel.server
    server.set_keepalive(SRV, PEER, Keepalive(20, 120))
    assert server.peer_state(SRV, PEER, with_keys=False).keepalive == Keepalive(20, 120)
    server.update_peer(
        SRV,
        PeerConfig(
            PEER,
            None,
            vpn_ipv4=ipaddress.IPv4Address(CLI_VPN),
            vpn_ipv6=ipaddress.IPv6Address("fd00:8::2"),
            keepalive=Keepalive(10, 60),
        ),
    )
    state = server.peer_state(SRV, PEER, with_keys=False)
    assert state.vpn_ipv6 == ipaddress.IPv6Address("fd00:8::2")
    assert state.keepalive == Keepalive(10, 60)
    assert server.ping(CLI_VPN, count=2).lossless


def test_peer_delete_is_notified_to_the_requester(tunnel: Tunnel) -> None:
    server, pair = tunnel.server, tunnel.pair
    sock = server.udp(f"{pair.left.ipv4.ip}:1200")
    extra = PeerConfig(
        2, Endpoint.parse(f"{pair.right.ipv4.ip}:1200"), vpn_ipv4=ipaddress.IPv4Address("10.8.0.3")
    )
    server.add_peer(SRV, extra, sock)
    assert (SRV, 2) in server.held_sockets
    server.del_peer(SRV, 2)
    assert (SRV, 2) not in server.held_sockets
    events = server.consume_events(SRV)
    assert [(e.kind, e.peer_id, e.reason) for e in events] == [
        (EventKind.PEER_DELETED, 2, DeleteReason.REQUESTED)
    ]


def test_closing_the_socket_removes_the_peer(tunnel: Tunnel) -> None:
    """Linux keeps no reference to the socket: the peer dies with its last descriptor."""
    server, pair = tunnel.server, tunnel.pair
    sock = server.udp(f"{pair.left.ipv4.ip}:1201")
    peer = PeerConfig(
        3, Endpoint.parse(f"{pair.right.ipv4.ip}:1201"), vpn_ipv4=ipaddress.IPv4Address("10.8.0.4")
    )
    server.add_peer(SRV, peer, sock)
    released = server.forget_socket(SRV, 3)
    assert released is sock
    del released
    sock.close()
    events, _ = server.wait_for_events(SRV, lambda evs: len(evs) >= 1, timeout=5)
    assert [(e.kind, e.peer_id, e.reason) for e in events] == [
        (EventKind.PEER_DELETED, 3, DeleteReason.TRANSPORT_DISCONNECT)
    ]
    with pytest.raises(KernelError) as info:
        server.peer_state(SRV, 3)
    assert info.value.message == f"{SRV} has no peer 3"


def test_a_process_that_exits_drops_its_peers(tunnel: Tunnel) -> None:
    """What the class docstring promises: a one-shot process that adds a peer and exits
    takes the peer with it (TRANSPORT_DISCONNECT), seen by a listener in the namespace."""
    server, pair = tunnel.server, tunnel.pair

    def one_shot() -> int:
        pid = os.fork()
        if pid == 0:  # the child: its own backend and socket, then exit
            code = 1
            try:
                child = LinuxBackend()
                sock = open_udp_socket(Endpoint.parse(f"{pair.left.ipv4.ip}:1202"))
                child.add_peer(
                    SRV,
                    PeerConfig(
                        4,
                        Endpoint.parse(f"{pair.right.ipv4.ip}:1202"),
                        vpn_ipv4=ipaddress.IPv4Address("10.8.0.5"),
                    ),
                    sock,
                )
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)

    assert server.run(one_shot) == 0
    events, _ = server.wait_for_events(SRV, lambda evs: len(evs) >= 1, timeout=5)
    assert [(e.kind, e.peer_id, e.reason) for e in events] == [
        (EventKind.PEER_DELETED, 4, DeleteReason.TRANSPORT_DISCONNECT)
    ]


def test_keepalive_expiry_is_notified_as_expired(tunnel: Tunnel) -> None:
    """A second P2P tunnel with keepalive 1/3: once the far end's peer is gone, the near
    end drops its peer after about 3 seconds of silence."""
    server, client, pair = tunnel.server, tunnel.client, tunnel.pair
    near, far = "ovpn-ka", "ovpn-ka"
    server.link(near, Mode.P2P, "10.9.0.1/24")
    client.link(far, Mode.P2P, "10.9.0.2/24")
    keepalive = Keepalive(1, 3)
    server.add_peer(
        near,
        PeerConfig(7, Endpoint.parse(f"{pair.right.ipv4.ip}:1195"), keepalive=keepalive),
        server.udp(f"{pair.left.ipv4.ip}:1195"),
    )
    client.add_peer(
        far,
        PeerConfig(7, Endpoint.parse(f"{pair.left.ipv4.ip}:1195"), keepalive=keepalive),
        client.udp(f"{pair.right.ipv4.ip}:1195"),
    )
    keys = KeyPair.generate(Cipher.AES_256_GCM)
    install(server, near, keys.for_a(7, 0, KeySlot.PRIMARY))
    install(client, far, keys.for_b(7, 0, KeySlot.PRIMARY))
    assert server.ping("10.9.0.2", count=2).lossless
    server.consume_events(near)  # start from an empty queue
    client.del_peer(far, 7)
    events, waited = server.wait_for_events(near, lambda evs: len(evs) >= 1, timeout=8)
    assert [(e.kind, e.peer_id, e.reason) for e in events] == [
        (EventKind.PEER_DELETED, 7, DeleteReason.EXPIRED)
    ]
    assert 1.5 <= waited <= 6.0, waited
    assert (near, 7) not in server.held_sockets  # the event released the socket


def test_destroying_the_interface_tears_its_peers_down(tunnel: Tunnel) -> None:
    server, pair = tunnel.server, tunnel.pair
    name = server.link("ovpn-td", Mode.P2P, "10.10.0.1/24")
    server.add_peer(
        name,
        PeerConfig(9, Endpoint.parse(f"{pair.right.ipv4.ip}:1196")),
        server.udp(f"{pair.left.ipv4.ip}:1196"),
    )
    server.consume_events(name)
    server.destroy_interface(name)
    assert name not in server.interfaces()
    events, _ = server.wait_for_events(name, lambda evs: len(evs) >= 1, timeout=5)
    assert [(e.kind, e.peer_id, e.reason) for e in events] == [
        (EventKind.PEER_DELETED, 9, DeleteReason.TEARDOWN)
    ]


def test_remote_float_is_followed_and_notified_where_the_kernel_can(tunnel: Tunnel) -> None:
    """The client moves its source address (PEER_SET with a new local address on a
    socket bound to 0.0.0.0); the server follows the authenticated packets to the new
    address. Kernels with PEER_FLOAT_NTF say so; 6.17 floats silently (sheet section 5)."""
    server, client, pair = tunnel.server, tunnel.client, tunnel.pair
    name = "ovpn-fl"
    server.link(name, Mode.P2P, "10.12.0.1/24")
    client.link(name, Mode.P2P, "10.12.0.2/24")
    far = Endpoint.parse(f"{pair.left.ipv4.ip}:1197")
    server.add_peer(
        name, PeerConfig(8, Endpoint.parse(f"{pair.right.ipv4.ip}:1197")),
        server.udp(f"{pair.left.ipv4.ip}:1197"),
    )  # fmt: skip
    local = Endpoint.parse(f"{pair.right.ipv4.ip}:0")
    client.add_peer(name, PeerConfig(8, far, local=local), client.udp("0.0.0.0:1197"))
    keys = KeyPair.generate(Cipher.AES_256_GCM)
    install(server, name, keys.for_a(8, 0, KeySlot.PRIMARY))
    install(client, name, keys.for_b(8, 0, KeySlot.PRIMARY))
    assert client.ping("10.12.0.1", count=2).lossless
    server.consume_events(name)

    moved = "10.200.0.3"
    ip("-n", pair.right.netns, "addr", "add", f"{moved}/24", "dev", pair.right.ifname)
    client.update_peer(name, PeerConfig(8, far, local=Endpoint.parse(f"{moved}:0")))
    assert client.ping("10.12.0.1", count=2).lossless
    assert server.peer_state(name, 8).remote == Endpoint.parse(f"{moved}:1197")
    if server.features.float_notifications:
        events, _ = server.wait_for_events(name, lambda evs: len(evs) >= 1, timeout=5)
        assert [(e.kind, e.peer_id, e.address) for e in events] == [
            (EventKind.FLOAT, 8, Endpoint.parse(f"{moved}:1197"))
        ]
    else:
        assert server.consume_events(name) == []
