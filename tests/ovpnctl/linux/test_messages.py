"""Requests and replies of the ovpn family, byte for byte.

The expected bytes are written out by hand from the Linux netlink sheet (attribute ids in
sections 3.2-3.5, byte order in section 11: ports and IPv4 addresses in network order,
ids/keepalive/slot/cipher/ifindex in host (little-endian) order, NLA_F_NESTED = 0x8000
on every nest), so a wrong table entry or byte order fails here, without a kernel.
"""

from __future__ import annotations

import ipaddress

import pytest

from ovpnctl.endpoint import Endpoint
from ovpnctl.errors import ProtocolError
from ovpnctl.keys import Cipher, KeyConfig, KeyDirection, KeyInfo, KeySlot
from ovpnctl.linux import messages
from ovpnctl.linux.genl import PEER, Cmd, decode_genl, encode_genl
from ovpnctl.model import DeleteReason, EventKind, Keepalive, PeerConfig, Traffic


def wire(request: messages.Request) -> str:
    return bytes(encode_genl(request.cmd, request.items)).hex()


def h(*parts: str) -> str:
    return "".join(parts).replace(" ", "")


GENL_PEER_NEW = "01010000"  # cmd 1, version 1, reserved 0
IFINDEX_5 = "08000100 05000000"


def test_peer_new_udp_multipoint() -> None:
    peer = PeerConfig(
        peer_id=10,
        remote=Endpoint.parse("192.0.2.1:1194"),
        vpn_ipv4=ipaddress.IPv4Address("10.8.0.2"),
        keepalive=Keepalive(10, 60),
    )
    assert wire(messages.peer_new(5, peer, 7)) == h(
        GENL_PEER_NEW,
        IFINDEX_5,
        "3c00 0280",  # OVPN_A_PEER, nested, 60 bytes
        "08000100 0a000000",  # ID 10
        "08000200 c0000201",  # REMOTE_IPV4 192.0.2.1
        "06000500 04aa0000",  # REMOTE_PORT 1194 (be16) + padding
        "08000600 07000000",  # SOCKET fd 7
        "08000800 0a080002",  # VPN_IPV4 10.8.0.2
        "08000d00 0a000000",  # KEEPALIVE_INTERVAL 10
        "08000e00 3c000000",  # KEEPALIVE_TIMEOUT 60
    )


def test_peer_new_ipv6_remote_with_scope_and_local_address() -> None:
    peer = PeerConfig(
        peer_id=1,
        remote=Endpoint.parse("[fe80::2%3]:1194"),
        local=Endpoint.parse("[fe80::1]:1194"),
    )
    assert wire(messages.peer_new(5, peer, 3)) == h(
        GENL_PEER_NEW,
        IFINDEX_5,
        "4c00 0280",
        "08000100 01000000",
        "14000300 fe800000000000000000000000000002",  # REMOTE_IPV6
        "08000400 03000000",  # REMOTE_IPV6_SCOPE_ID 3
        "06000500 04aa0000",
        "08000600 03000000",
        "14000b00 fe800000000000000000000000000001",  # LOCAL_IPV6 (no LOCAL_PORT: not accepted)
    )


def test_v4_mapped_remote_goes_out_as_ipv4() -> None:
    peer = PeerConfig(peer_id=1, remote=Endpoint.parse("[::ffff:192.0.2.9]:1194"))
    assert "08000200c0000209" in wire(messages.peer_new(5, peer, 3))


def test_peer_new_tcp_has_no_remote_and_tx_id_is_attribute_24() -> None:
    peer = PeerConfig(peer_id=100, remote=None)
    assert wire(messages.peer_new(5, peer, 4, tx_id=7)) == h(
        GENL_PEER_NEW,
        IFINDEX_5,
        "1c00 0280",
        "08000100 64000000",
        "08000600 04000000",
        "08001800 07000000",  # TX_ID (24) = 7
    )


def test_peer_set_never_carries_a_socket() -> None:
    peer = PeerConfig(peer_id=10, remote=Endpoint.parse("192.0.2.1:1195"))
    assert wire(messages.peer_set(5, peer)) == h(
        "02010000",
        IFINDEX_5,
        "1c00 0280",
        "08000100 0a000000",
        "08000200 c0000201",
        "06000500 04ab0000",
    )


def test_keepalive_update_sends_both_values() -> None:
    assert wire(messages.peer_set_keepalive(5, 10, Keepalive(1, 3))) == h(
        "02010000", IFINDEX_5, "1c00 0280", "08000100 0a000000", "08000d00 01000000",
        "08000e00 03000000",
    )  # fmt: skip


def test_peer_get_do_takes_only_the_id_and_dump_only_the_ifindex() -> None:
    one = messages.peer_get(5, 10)
    assert not one.dump
    assert wire(one) == h("03010000", IFINDEX_5, "0c00 0280", "08000100 0a000000")
    every = messages.peer_get(5, None)
    assert every.dump
    assert wire(every) == h("03010000", IFINDEX_5)


def test_peer_del() -> None:
    assert wire(messages.peer_del(5, 10)) == h(
        "04010000", IFINDEX_5, "0c00 0280", "08000100 0a000000"
    )


def direction(cipher: Cipher, key_byte: int, iv_byte: int) -> KeyDirection:
    return KeyDirection(cipher, bytearray([key_byte]) * cipher.key_length, bytearray([iv_byte]) * 8)


def test_key_new_chacha_in_the_secondary_slot() -> None:
    cipher = Cipher.CHACHA20_POLY1305
    key = KeyConfig(
        10, 3, KeySlot.SECONDARY, direction(cipher, 0xAA, 0x11), direction(cipher, 0xBB, 0x22)
    )
    expected = h(
        "06010000",
        IFINDEX_5,
        "8c00 0380",  # OVPN_A_KEYCONF, nested, 140 bytes
        "08000100 0a000000",  # PEER_ID 10
        "08000200 01000000",  # SLOT secondary
        "08000300 03000000",  # KEY_ID 3
        "08000400 02000000",  # CIPHER_ALG chacha20-poly1305
        "3400 0580", "24000100", "aa" * 32, "0c000200", "11" * 8,  # ENCRYPT_DIR
        "3400 0680", "24000100", "bb" * 32, "0c000200", "22" * 8,  # DECRYPT_DIR
    )  # fmt: skip
    assert wire(messages.key_new(5, key)) == expected


@pytest.mark.parametrize(
    ("cipher", "alg"),
    [(Cipher.AES_128_GCM, 1), (Cipher.AES_192_GCM, 1), (Cipher.AES_256_GCM, 1)],
)
def test_every_aes_gcm_size_is_cipher_alg_1(cipher: Cipher, alg: int) -> None:
    key = KeyConfig(1, 0, KeySlot.PRIMARY, direction(cipher, 1, 2), direction(cipher, 3, 4))
    assert f"08000400{alg:02x}000000" in wire(messages.key_new(5, key))


def test_key_get_swap_del() -> None:
    assert wire(messages.key_get(5, 1, KeySlot.SECONDARY)) == h(
        "07010000", IFINDEX_5, "1400 0380", "08000100 01000000", "08000200 01000000"
    )
    assert wire(messages.key_swap(5, 1)) == h(
        "08010000", IFINDEX_5, "0c00 0380", "08000100 01000000"
    )
    assert wire(messages.key_del(5, 1, KeySlot.PRIMARY)) == h(
        "0a010000", IFINDEX_5, "1400 0380", "08000100 01000000", "08000200 00000000"
    )


# -- replies and notifications -------------------------------------------------------------


def genl(cmd: int, *attrs: str) -> bytes:
    return bytes.fromhex(h(f"{cmd:02x}010000", *attrs))


PEER_GET_REPLY = genl(
    3,
    "8800 0280",
    "08000100 0a000000",  # ID 10
    "08000200 c0000201",  # REMOTE_IPV4
    "06000500 04aa0000",  # REMOTE_PORT 1194
    "08000800 0a080002",  # VPN_IPV4
    "08000a00 c0000202",  # LOCAL_IPV4 192.0.2.2
    "06000c00 04aa0000",  # LOCAL_PORT 1194
    "08000d00 0a000000",  # KEEPALIVE 10 / 60
    "08000e00 3c000000",
    "08001000 54000000",  # VPN_RX_BYTES 84 (4-byte uint)
    "08001100 a8000000",  # VPN_TX_BYTES 168
    "08001200 01000000",  # VPN_RX_PACKETS 1
    "08001300 02000000",  # VPN_TX_PACKETS 2
    "0c001400 0000000001000000",  # LINK_RX_BYTES 2**32 (8-byte uint)
    "08001500 d8000000",  # LINK_TX_BYTES 216
    "08001600 01000000",
    "08001700 02000000",
)


def test_peer_get_reply_becomes_a_peer_state() -> None:
    cmd, attrs = decode_genl(PEER_GET_REPLY)
    assert cmd == Cmd.PEER_GET
    keys = (KeyInfo(10, KeySlot.PRIMARY, 0, Cipher.AES_256_GCM),)
    state = messages.peer_state(messages.peer_values(PEER_GET_REPLY), keys)
    # The fast by-id reader and the generic decoder agree on every attribute.
    by_id = messages.peer_values(PEER_GET_REPLY)
    for name, value in attrs["OVPN_A_PEER"].items():
        assert by_id[PEER[name].id] == value, name
    assert state.peer_id == 10
    assert state.remote == Endpoint.parse("192.0.2.1:1194")
    assert state.local == Endpoint.parse("192.0.2.2:1194")
    assert state.vpn_ipv4 == ipaddress.IPv4Address("10.8.0.2")
    assert state.vpn_ipv6 is None
    assert state.keepalive == Keepalive(10, 60)
    assert state.vpn == Traffic(rx_packets=1, tx_packets=2, rx_bytes=84, tx_bytes=168)
    assert state.link == Traffic(rx_packets=1, tx_packets=2, rx_bytes=1 << 32, tx_bytes=216)
    assert state.keys == keys
    assert state.tx_id is None  # 6.17 does not report it: unknown, not a guess


def test_tcp_peer_reads_back_without_endpoints_and_with_tx_id() -> None:
    reply = genl(3, "1c00 0280", "08000100 64000000", "06000c00 04aa0000", "08001800 07000000")
    state = messages.peer_state(messages.peer_values(reply))
    assert state.remote is None
    assert state.local is None
    assert state.vpn is None and state.link is None
    assert state.tx_id == 7


def test_keepalive_the_model_would_refuse_still_reads_back() -> None:
    reply = genl(3, "1c00 0280", "08000100 01000000", "08000d00 05000000", "08000e00 05000000")
    state = messages.peer_state(messages.peer_values(reply))
    assert state.keepalive is not None
    assert (state.keepalive.interval, state.keepalive.timeout) == (5, 5)


@pytest.mark.parametrize(
    "reply",
    [
        genl(3, "08000100 05000000"),  # no peer nest at all
        genl(3, "0c00 0280", "08000200 c0000201"),  # a nest without the peer id
    ],
)
def test_a_reply_without_a_peer_is_a_protocol_error(reply: bytes) -> None:
    with pytest.raises(ProtocolError, match="reply has no peer"):
        messages.peer_values(reply)


def test_key_get_reply() -> None:
    _, attrs = decode_genl(genl(7, "2400 0380", "08000100 0a000000", "08000200 01000000",
                                "08000300 05000000", "08000400 02000000"))  # fmt: skip
    assert messages.key_info(attrs["OVPN_A_KEYCONF"]) == KeyInfo(
        10, KeySlot.SECONDARY, 5, Cipher.CHACHA20_POLY1305
    )


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (0, DeleteReason.TEARDOWN),
        (1, DeleteReason.REQUESTED),
        (2, DeleteReason.EXPIRED),
        (3, DeleteReason.TRANSPORT_ERROR),
        (4, DeleteReason.TRANSPORT_DISCONNECT),
        (9, DeleteReason.UNKNOWN),
    ],
)
def test_peer_del_notification_reasons(code: int, reason: DeleteReason) -> None:
    cmd, attrs = decode_genl(genl(5, IFINDEX_5, "1400 0280", f"08000f00 {code:02x}000000",
                                  "08000100 0a000000"))  # fmt: skip
    ev = messages.event(cmd, attrs, "ovpn0")
    assert ev.kind is EventKind.PEER_DELETED
    assert (ev.interface, ev.peer_id, ev.reason) == ("ovpn0", 10, reason)
    assert ev.raw == {
        "OVPN_A_IFINDEX": 5,
        "OVPN_A_PEER": {"OVPN_A_PEER_DEL_REASON": code, "OVPN_A_PEER_ID": 10},
    }


def test_key_swap_notification_with_two_byte_key_id() -> None:
    cmd, attrs = decode_genl(genl(9, IFINDEX_5, "1400 0380", "08000100 0a000000",
                                  "06000300 03000000"))  # fmt: skip
    ev = messages.event(cmd, attrs, "ovpn0")
    assert (ev.kind, ev.peer_id, ev.key_id) == (EventKind.ROTATE_KEY, 10, 3)


def test_float_notification_carries_the_new_address() -> None:
    cmd, attrs = decode_genl(genl(11, IFINDEX_5, "3000 0280", "08000100 0a000000",
                                  "14000300 20010db8000000000000000000000007",
                                  "08000400 02000000", "06000500 04aa0000"))  # fmt: skip
    ev = messages.event(cmd, attrs, "ovpn0")
    assert ev.kind is EventKind.FLOAT
    assert ev.address == Endpoint(ipaddress.IPv6Address("2001:db8::7"), 1194, 2)


def test_unknown_notification_keeps_its_number_and_payload() -> None:
    cmd, attrs = decode_genl(genl(42, IFINDEX_5))
    ev = messages.event(cmd, attrs, "ovpn0")
    assert (ev.kind, ev.raw_type, ev.raw) == (EventKind.UNKNOWN, 42, {"OVPN_A_IFINDEX": 5})


def test_v4_mapped_local_goes_out_as_ipv4_and_unspecified_local_not_at_all() -> None:
    mapped = PeerConfig(
        1, Endpoint.parse("[::ffff:192.0.2.9]:1194"), local=Endpoint.parse("[::ffff:192.0.2.2]:0")
    )
    assert wire(messages.peer_new(5, mapped, 3)).endswith(h("08000a00 c0000202"))
    for text in ("0.0.0.0:0", "[::ffff:0.0.0.0]:0"):
        unspecified = PeerConfig(1, Endpoint.parse("192.0.2.9:1194"), local=Endpoint.parse(text))
        assert "0a00" not in wire(messages.peer_new(5, unspecified, 3))[-16:]
        assert wire(messages.peer_new(5, unspecified, 3)).endswith(h("08000600 03000000"))
