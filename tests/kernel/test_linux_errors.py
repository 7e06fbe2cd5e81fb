"""Every documented bad input (the sheet's section 4.1 catalogue, plus what ovpnctl
refuses before the kernel sees it) gives its one-line message, on the real driver.

One namespace for the module: an MP link with peer 10 (and a key), a P2P link, a second
P2P link, all on loopback sockets.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from netns import create_netns, delete_netns, unique_netns_name
from ovpn_fixtures import KeyPair, Side, install

from ovpnctl.endpoint import Endpoint
from ovpnctl.errors import ExitCode, KernelError, OvpnError, UsageError, ValidationError
from ovpnctl.keys import Cipher, KeyConfig, KeyDirection, KeyInfo, KeySlot
from ovpnctl.model import DeleteReason, Keepalive, Mode, PeerConfig

MP, P2P, TWO = "ovpn-mp", "ovpn-p2p", "ovpn-two"
REMOTE = Endpoint.parse("127.0.0.1:2999")


@dataclass
class Bench:
    side: Side
    sock: socket.socket  # the MP link's UDP socket


@pytest.fixture(scope="module")
def bench(ovpn_module: None) -> Iterator[Bench]:
    name = unique_netns_name("ove")
    create_netns(name)
    side = Side(name)
    try:
        side.link(MP, Mode.MULTIPOINT, "10.8.0.1/24")
        side.link(P2P, Mode.P2P, "10.9.0.1/24")
        side.link(TWO, Mode.P2P, "10.10.0.1/24")
        sock = side.udp("127.0.0.1:2000")
        side.add_peer(MP, PeerConfig(10, REMOTE, vpn_ipv4=ipaddress.IPv4Address("10.8.0.10")), sock)
        install(side, MP, KeyPair.generate(Cipher.AES_256_GCM).for_a(10, 0, KeySlot.PRIMARY))
        yield Bench(side, sock)
    finally:
        side.close()
        delete_netns(name)


def key_for(peer_id: int, cipher: Cipher = Cipher.AES_256_GCM, key_id: int = 1) -> KeyConfig:
    return KeyPair.generate(cipher).for_a(peer_id, key_id, KeySlot.SECONDARY)


def fails(call: Callable[[], Any]) -> OvpnError:
    with pytest.raises(OvpnError) as info:
        call()
    assert "\n" not in info.value.message
    return info.value


# -- the kernel refuses; ovpnctl explains ------------------------------------------------------

UNKNOWN_PEER = [
    ("del_peer", lambda s: s.del_peer(MP, 999), "ovpn-mp has no peer 999"),
    ("peer_state", lambda s: s.peer_state(MP, 999), "ovpn-mp has no peer 999"),
    ("update_peer", lambda s: s.update_peer(MP, PeerConfig(999, REMOTE)),
     "ovpn-mp has no peer 999"),
    ("set_keepalive", lambda s: s.set_keepalive(MP, 999, Keepalive(1, 3)),
     "ovpn-mp has no peer 999"),
    ("new_key", lambda s: s.new_key(MP, key_for(999)),
     "ovpn-mp has no peer 999 to install a key for; add the peer first"),
    ("swap_keys", lambda s: s.swap_keys(MP, 999), "ovpn-mp has no peer 999"),
    ("del_key", lambda s: s.del_key(MP, 999, KeySlot.SECONDARY), "ovpn-mp has no peer 999"),
    ("key_info", lambda s: s.key_info(MP, 999), "ovpn-mp has no peer 999"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("what", "call", "message"), UNKNOWN_PEER, ids=[c[0] for c in UNKNOWN_PEER]
)
def test_unknown_peer_id(bench: Bench, what: str, call: Any, message: str) -> None:
    err = fails(lambda: call(bench.side))
    assert isinstance(err, KernelError)
    assert (err.message, err.errno, err.exit_code) == (message, 2, ExitCode.NOINPUT)


def test_duplicate_peer_id_on_multipoint(bench: Bench) -> None:
    peer = PeerConfig(10, REMOTE, vpn_ipv4=ipaddress.IPv4Address("10.8.0.11"))
    err = fails(lambda: bench.side.add_peer(MP, peer, bench.sock))
    assert isinstance(err, KernelError)
    assert err.message == "ovpn-mp already has a peer 10; delete it first"
    assert (err.errno, err.exit_code) == (17, ExitCode.DATAERR)


def test_multipoint_peer_without_vpn_address(bench: Bench) -> None:
    err = fails(lambda: bench.side.add_peer(MP, PeerConfig(11, REMOTE), bench.sock))
    assert err.message == (
        "ovpn-mp is multipoint: peer 11 needs a VPN address (IPv4 or IPv6) so that packets can "
        "be routed to it"
    )


def test_point_to_point_peer_with_vpn_address(bench: Bench) -> None:
    sock = bench.side.udp("127.0.0.1:2001")
    peer = PeerConfig(12, REMOTE, vpn_ipv4=ipaddress.IPv4Address("10.9.0.2"))
    err = fails(lambda: bench.side.add_peer(P2P, peer, sock))
    assert err.message == "ovpn-p2p refused peer 12: unexpected VPN IP in P2P mode"
    assert err.exit_code == ExitCode.DATAERR


def test_socket_already_used_by_another_ovpn_link(bench: Bench) -> None:
    err = fails(lambda: bench.side.add_peer(TWO, PeerConfig(13, REMOTE), bench.sock))
    assert err.message == (
        "ovpn-two refused peer 13: the UDP socket already carries another ovpn interface (or "
        "another UDP tunnel); use a socket of its own"
    )


def test_not_an_ovpn_interface(bench: Bench) -> None:
    err = fails(lambda: bench.side.del_peer("lo", 1))
    assert err.message == "OVPN_CMD_PEER_DEL: lo is not an ovpn interface"
    assert err.exit_code == ExitCode.USAGE


def test_no_such_interface(bench: Bench) -> None:
    err = fails(lambda: bench.side.del_peer("nope0", 1))
    assert err.message == "there is no interface named nope0 in this network namespace"
    assert err.exit_code == ExitCode.NOINPUT
    err = fails(lambda: bench.side.start("nope0"))
    assert err.message == "cannot bring nope0 up: there is no interface named nope0"


def test_interface_name_taken(bench: Bench) -> None:
    err = fails(lambda: bench.side.create_interface(MP, Mode.P2P))
    assert err.message == "cannot create ovpn-mp: an interface of that name already exists"
    assert err.exit_code == ExitCode.DATAERR


def test_refuses_to_destroy_a_foreign_interface(bench: Bench) -> None:
    err = fails(lambda: bench.side.destroy_interface("lo"))
    assert isinstance(err, UsageError)
    assert err.message == "cannot destroy lo: lo is not an ovpn interface"


def test_mode_is_fixed_at_creation(bench: Bench) -> None:
    bench.side.set_mode(MP, Mode.MULTIPOINT)  # already so: accepted
    err = fails(lambda: bench.side.set_mode(MP, Mode.P2P))
    assert isinstance(err, UsageError)
    assert err.message == (
        "cannot set ovpn-mp to p2p mode: Linux fixes an ovpn interface's mode when it is "
        "created; destroy ovpn-mp and create it again in p2p mode"
    )


def test_tx_id_needs_a_kernel_that_has_it(bench: Bench) -> None:
    sock = bench.side.udp("127.0.0.1:2002")
    peer = PeerConfig(15, REMOTE, vpn_ipv4=ipaddress.IPv4Address("10.8.0.15"))
    if bench.side.features.tx_id:
        bench.side.add_peer(MP, peer, sock, tx_id=99)
        assert bench.side.peer_state(MP, 15).tx_id == 99
        bench.side.del_peer(MP, 15)
        return
    err = fails(lambda: bench.side.add_peer(MP, peer, sock, tx_id=99))
    assert isinstance(err, UsageError)
    assert err.message == (
        "peer 15: this kernel's ovpn driver has no TX_ID attribute, so the id on outgoing "
        "packets is always the peer id (asymmetric ids need a newer kernel)"
    )


# -- what the kernel would accept or misreport is refused first --------------------------------


def test_bad_key_length(bench: Bench) -> None:
    with pytest.raises(ValidationError) as info:
        KeyDirection(Cipher.AES_256_GCM, bytearray(16), bytearray(8))
    assert info.value.message == "AES-256-GCM needs a 32-byte key, got 16 bytes"
    mangled = key_for(10)
    mangled.encrypt.key = bytearray(31)
    err = fails(lambda: bench.side.new_key(MP, mangled))
    assert err.message == "peer 10: AES-256-GCM needs a 32-byte key and an 8-byte IV per direction"


def test_none_cipher(bench: Bench) -> None:
    none = KeyConfig(10, 1, KeySlot.SECONDARY, KeyDirection(Cipher.NONE), KeyDirection(Cipher.NONE))
    err = fails(lambda: bench.side.new_key(MP, none))
    assert err.message == (
        "peer 10: cipher none cannot be installed; the Linux ovpn driver offloads AES-GCM and "
        "ChaCha20-Poly1305 only"
    )


def test_missing_keepalive_partner(bench: Bench) -> None:
    err = fails(lambda: bench.side.set_keepalive(MP, 10, Keepalive(5, 0)))
    assert err.message == (
        "peer 10: keepalive interval and timeout go together; set both (got 5/0), or both to 0 "
        "to switch it off"
    )


def test_closed_socket(bench: Bench) -> None:
    sock = bench.side.udp("127.0.0.1:2003")
    sock.close()
    err = fails(lambda: bench.side.add_peer(P2P, PeerConfig(16, REMOTE), sock))
    assert err.message == "peer 16: the socket is closed"


def test_not_an_ip_socket(bench: Bench) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        err = fails(lambda: bench.side.add_peer(P2P, PeerConfig(17, REMOTE), sock))
        assert err.message == f"peer 17: descriptor {sock.fileno()} is not an IPv4/IPv6 socket"


def test_unbound_udp_socket(bench: Bench) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        err = fails(lambda: bench.side.add_peer(P2P, PeerConfig(18, REMOTE), sock))
    assert err.message == (
        "peer 18: the UDP socket is not bound to a port; bind it before adding the peer "
        "(otherwise the kernel sends from a random port)"
    )


def test_udp_peer_without_remote(bench: Bench) -> None:
    sock = bench.side.udp("127.0.0.1:2004")
    err = fails(lambda: bench.side.add_peer(P2P, PeerConfig(19, None), sock))
    assert err.message == "peer 19: a UDP peer needs a remote address"


def test_unconnected_tcp_socket(bench: Bench) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        err = fails(lambda: bench.side.add_peer(P2P, PeerConfig(20, None), sock))
    assert err.message == (
        "peer 20: the TCP socket is not connected; connect (or accept) it before adding the peer"
    )


def test_peer_id_out_of_range(bench: Bench) -> None:
    err = fails(lambda: bench.side.del_peer(MP, 0x1000000))
    assert err.message == "peer id 16777216 is out of range (0-16777215)"


# -- what the sheet documents as accepted ------------------------------------------------------


def test_empty_slots_are_not_errors(bench: Bench) -> None:
    side = bench.side
    assert side.key_info(MP, 10) == (KeyInfo(10, KeySlot.PRIMARY, 0, Cipher.AES_256_GCM),)
    side.del_key(MP, 10, KeySlot.SECONDARY)  # deleting an empty slot succeeds
    side.swap_keys(MP, 10)  # swapping with an empty secondary succeeds ...
    assert side.key_info(MP, 10) == (KeyInfo(10, KeySlot.SECONDARY, 0, Cipher.AES_256_GCM),)
    side.swap_keys(MP, 10)  # ... and swapping back restores the primary
    assert side.key_info(MP, 10) == (KeyInfo(10, KeySlot.PRIMARY, 0, Cipher.AES_256_GCM),)


def test_aes_128_gcm_reads_back_as_installed(bench: Bench) -> None:
    install(bench.side, MP, key_for(10, Cipher.AES_128_GCM, key_id=2))
    assert bench.side.key_info(MP, 10) == (
        KeyInfo(10, KeySlot.PRIMARY, 0, Cipher.AES_256_GCM),
        KeyInfo(10, KeySlot.SECONDARY, 2, Cipher.AES_128_GCM),
    )
    bench.side.del_key(MP, 10, KeySlot.SECONDARY)


def test_lost_events_are_reported_not_swallowed(bench: Bench) -> None:
    """A listener with a tiny buffer, then a burst: deleting a link with 200 peers sends
    200 notifications at once. The overflow surfaces once as "events were lost"; what
    did arrive is still delivered afterwards."""
    side = bench.side
    small = Side(side.netns, event_buffer=4096)
    try:
        name = small.link("ovpn-burst", Mode.MULTIPOINT, "10.20.0.1/16")
        sock = small.udp("127.0.0.1:2100")
        for peer_id in range(1, 201):
            vpn = ipaddress.IPv4Address(0x0A140000 + peer_id + 1)
            small.add_peer(name, PeerConfig(peer_id, REMOTE, vpn_ipv4=vpn), sock)
        small.destroy_interface(name)
        err = fails(lambda: small.consume_events(name))
        assert isinstance(err, KernelError)
        assert err.message == (
            "events were lost: the kernel dropped notifications because the listener's "
            "receive buffer overflowed; re-read the peers (ovpnctl show) to resynchronise"
        )
        assert (err.errno, err.exit_code) == (105, ExitCode.TEMPFAIL)
        delivered = small.consume_events(name)
        assert 0 < len(delivered) < 200
        assert {e.reason for e in delivered} == {DeleteReason.TEARDOWN}
    finally:
        small.close()
