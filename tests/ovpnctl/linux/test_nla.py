"""The attribute codec, byte for byte against the netlink TLV layout (len u16, type u16,
payload, padding to 4), with the ovpn family's own tables."""

from __future__ import annotations

import ipaddress

import pytest

from ovpnctl.errors import ProtocolError
from ovpnctl.linux.genl import KEYCONF, OVPN, PEER
from ovpnctl.linux.nla import (
    NLA_F_NESTED,
    Placeholder,
    decode_attrs,
    encode_attrs,
    iter_attrs,
    render_decoded,
    render_items,
)


def test_u32_is_host_order_and_be16_is_network_order() -> None:
    data = encode_attrs(PEER, [("OVPN_A_PEER_ID", 0x0A0B0C), ("OVPN_A_PEER_REMOTE_PORT", 1194)])
    assert bytes(data) == bytes.fromhex("08000100 0c0b0a00 06000500 04aa0000")


def test_addresses_are_raw_network_order_bytes() -> None:
    data = encode_attrs(
        PEER,
        [
            ("OVPN_A_PEER_REMOTE_IPV4", ipaddress.IPv4Address("192.0.2.1")),
            ("OVPN_A_PEER_VPN_IPV6", ipaddress.IPv6Address("fd00::1")),
        ],
    )
    assert bytes(data) == bytes.fromhex(
        "08000200 c0000201 14000900 fd000000000000000000000000000001"
    )


def test_every_nest_carries_nla_f_nested() -> None:
    items = [
        ("OVPN_A_KEYCONF", [
            ("OVPN_A_KEYCONF_PEER_ID", 1),
            ("OVPN_A_KEYCONF_ENCRYPT_DIR", [("OVPN_A_KEYDIR_NONCE_TAIL", bytes(8))]),
        ]),
    ]  # fmt: skip
    data = encode_attrs(OVPN, items)
    outer = list(iter_attrs(data))
    assert int.from_bytes(data[2:4], "little") == 3 | NLA_F_NESTED
    (_atype, poff, plen) = outer[0]
    inner = list(iter_attrs(data, poff, poff + plen))
    assert [t for t, _, _ in inner] == [1, 5]
    _, dir_off, _ = inner[1]
    assert int.from_bytes(data[dir_off - 2 : dir_off], "little") == 5 | NLA_F_NESTED


@pytest.mark.parametrize(
    ("payload", "value"),
    [
        (bytes.fromhex("2a000000"), 42),
        (bytes.fromhex("0000000001000000"), 1 << 32),
    ],
)
def test_uint_counters_are_decoded_by_length(payload: bytes, value: int) -> None:
    tlv = (4 + len(payload)).to_bytes(2, "little") + (16).to_bytes(2, "little") + payload
    assert decode_attrs(PEER, tlv) == {"OVPN_A_PEER_VPN_RX_BYTES": value}


def test_uint_encodes_in_eight_bytes_only_when_needed() -> None:
    small = encode_attrs(PEER, [("OVPN_A_PEER_VPN_RX_BYTES", 0xFFFFFFFF)])
    large = encode_attrs(PEER, [("OVPN_A_PEER_VPN_RX_BYTES", 0x100000000)])
    assert len(small) == 8
    assert len(large) == 12


def test_two_byte_key_id_of_the_swap_notification_is_accepted() -> None:
    # KEY_SWAP_NTF: the kernel puts KEY_ID with a u16 put (length 6, padded to 8).
    tlv = bytes.fromhex("06000300 05000000")
    assert decode_attrs(KEYCONF, tlv) == {"OVPN_A_KEYCONF_KEY_ID": 5}


def test_unknown_attributes_are_kept_not_fatal() -> None:
    tlv = bytes.fromhex("08006300 01020304")
    assert decode_attrs(PEER, tlv) == {"UNKNOWN_99": bytes.fromhex("01020304")}


@pytest.mark.parametrize(
    "data",
    [
        bytes.fromhex("0200 0100"),  # length below the header size
        bytes.fromhex("0c000100 01000000"),  # length beyond the buffer
    ],
)
def test_malformed_attributes_raise_protocol_error(data: bytes) -> None:
    with pytest.raises(ProtocolError, match="malformed netlink attribute"):
        decode_attrs(PEER, data)


def test_wrong_payload_size_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match=r"OVPN_A_PEER_ID has 2 bytes, which is not a u32"):
        decode_attrs(PEER, bytes.fromhex("06000100 01000000"))


def test_rendering_hides_secrets_and_shows_placeholders() -> None:
    items = [
        ("OVPN_A_IFINDEX", Placeholder("<ifindex of ovpn0>")),
        ("OVPN_A_KEYCONF", [
            ("OVPN_A_KEYCONF_ENCRYPT_DIR", [
                ("OVPN_A_KEYDIR_CIPHER_KEY", bytearray(b"k" * 32)),
                ("OVPN_A_KEYDIR_NONCE_TAIL", bytearray(b"n" * 8)),
            ]),
        ]),
    ]  # fmt: skip
    assert render_items(OVPN, items) == {
        "OVPN_A_IFINDEX": "<ifindex of ovpn0>",
        "OVPN_A_KEYCONF": {
            "OVPN_A_KEYCONF_ENCRYPT_DIR": {
                "OVPN_A_KEYDIR_CIPHER_KEY": "<32 bytes hidden>",
                "OVPN_A_KEYDIR_NONCE_TAIL": "<8 bytes hidden>",
            }
        },
    }
    shown = render_items(OVPN, items, show_secrets=True)
    assert shown["OVPN_A_KEYCONF"]["OVPN_A_KEYCONF_ENCRYPT_DIR"]["OVPN_A_KEYDIR_NONCE_TAIL"] == (
        "6e" * 8
    )


def test_placeholder_encodes_as_zero() -> None:
    assert bytes(encode_attrs(OVPN, [("OVPN_A_IFINDEX", Placeholder("x"))])) == bytes.fromhex(
        "08000100 00000000"
    )


def test_render_decoded_turns_addresses_into_text() -> None:
    decoded = decode_attrs(PEER, bytes.fromhex("08000200 0a000001"))
    assert render_decoded(PEER, decoded) == {"OVPN_A_PEER_REMOTE_IPV4": "10.0.0.1"}


def test_encoding_a_wrong_value_is_a_protocol_error_not_a_crash() -> None:
    with pytest.raises(ProtocolError, match="cannot encode OVPN_A_PEER_ID"):
        encode_attrs(PEER, [("OVPN_A_PEER_ID", -1)])
    with pytest.raises(ProtocolError, match="is not IPv4"):
        encode_attrs(PEER, [("OVPN_A_PEER_REMOTE_IPV4", ipaddress.IPv6Address("::1"))])
