"""Request builders against the if_ovpn golden vectors (real libnv output, OpenVPN's key order).

Each builder is fed the *model* values the golden case encodes (addresses, ports in host
order, key bytes) and must produce the same keys, types and values -- and, packed, the
same bytes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import pytest

from nvlist_ffi import NVList, codec, typed_json
from ovpnctl.endpoint import Endpoint
from ovpnctl.freebsd import commands, requests
from ovpnctl.keys import Cipher, KeyConfig, KeyDirection, KeySlot
from ovpnctl.model import Keepalive, Mode, PeerConfig

from .golden import case, ovpn_cases


def _key(cipher: Cipher, key_hex: str, iv_hex: str) -> KeyDirection:
    return KeyDirection(cipher, bytearray.fromhex(key_hex), bytearray.fromhex(iv_hex))


def _new_key(
    peer_id: int,
    key_id: int,
    slot: KeySlot,
    cipher: Cipher,
    *,
    enc: tuple[str, str],
    dec: tuple[str, str],
) -> NVList:
    return requests.new_key(
        KeyConfig(peer_id, key_id, slot, _key(cipher, *enc), _key(cipher, *dec))
    )


def _ep(text: str) -> Endpoint:
    return Endpoint.parse(text)


BUILT: dict[str, Callable[[], NVList]] = {
    "ovpn_new_peer_v4_client": lambda: requests.new_peer(
        PeerConfig(0, _ep("198.51.100.7:1194")), 7, "little"
    ),
    "ovpn_new_peer_v4_server": lambda: requests.new_peer(
        PeerConfig(
            3,
            _ep("198.51.100.23:50312"),
            local=_ep("203.0.113.1:0"),
            vpn_ipv4=ipaddress.IPv4Address("10.8.0.6"),
        ),
        12,
        "little",
    ),
    "ovpn_new_peer_v6": lambda: requests.new_peer(
        PeerConfig(
            17,
            _ep("[2001:db8:1::42]:1194"),
            local=_ep("[2001:db8::1]:0"),
            vpn_ipv4=ipaddress.IPv4Address("10.8.0.10"),
            vpn_ipv6=ipaddress.IPv6Address("fd00:8::1000"),
        ),
        9,
        "little",
    ),
    "ovpn_new_peer_v6_linklocal": lambda: requests.new_peer(
        PeerConfig(1, _ep("[fe80::1:2%2]:1194")), 5, "little"
    ),
    "ovpn_new_key_aes256gcm": lambda: _new_key(
        0,
        0,
        KeySlot.PRIMARY,
        Cipher.AES_256_GCM,
        enc=(
            "3c5ee908032db4c8fefda766ade798004a086eb19a3dc65c35671bd7259381c7",
            "111318f5c08df7a4",
        ),
        dec=(
            "22555c3f6a07c0a5d0e31080fb7119b351065dd33e3c3c1af5d0c9904510026f",
            "7024034fea383ce8",
        ),
    ),
    "ovpn_new_key_aes128gcm": lambda: _new_key(
        3,
        1,
        KeySlot.SECONDARY,
        Cipher.AES_128_GCM,
        enc=("85cbe398cc08e3393bffcbc5794bac1b", "6259f4ea04068864"),
        dec=("bd7bdae7cb6225e1d67bdb72dda2843c", "16149480ee0c0f40"),
    ),
    "ovpn_new_key_chacha": lambda: _new_key(
        17,
        2,
        KeySlot.PRIMARY,
        Cipher.CHACHA20_POLY1305,
        enc=(
            "6aec7a145e8fbf44aa723cb89214699ed153f55e20036637fda007fe2ad0492a",
            "cd3874c46bf94366",
        ),
        dec=(
            "465beefe2cee5b52f8ecaadfe2db7b11f07997419fbd82120be1b20add5938b5",
            "483aaa187c1068b1",
        ),
    ),
    "ovpn_new_key_none": lambda: requests.new_key(
        KeyConfig(1, 0, KeySlot.PRIMARY, KeyDirection(Cipher.NONE), KeyDirection(Cipher.NONE))
    ),
    "ovpn_swap_keys": lambda: requests.peer_only(3),
    "ovpn_del_key": lambda: requests.del_key(3, KeySlot.SECONDARY),
    "ovpn_set_peer": lambda: requests.set_peer(3, Keepalive(10, 60)),
    "ovpn_del_peer": lambda: requests.peer_only(17),
    "ovpn_set_ifmode_p2p": lambda: requests.set_ifmode(Mode.P2P),
    "ovpn_set_ifmode_subnet": lambda: requests.set_ifmode(Mode.MULTIPOINT),
}

# Commands OpenVPN sends without any nvlist (ifd_len 0); golden has the empty list a binding
# that always sends one would transmit.
NO_REQUEST = {
    "ovpn_req_start_vpn": "OVPN_START_VPN",
    "ovpn_req_get_stats": "OVPN_GET_STATS",
    "ovpn_req_get_peer_stats": "OVPN_GET_PEER_STATS",
}


def test_every_golden_request_is_covered() -> None:
    request_cases = {cid for cid, c in ovpn_cases().items() if "request" in c.tags}
    assert request_cases == set(BUILT) | set(NO_REQUEST)


@pytest.mark.parametrize("case_id", sorted(BUILT))
def test_builder_matches_golden_content(case_id: str) -> None:
    built = BUILT[case_id]()
    assert typed_json.to_obj(built) == case(case_id).obj


@pytest.mark.parametrize("case_id", sorted(BUILT))
def test_builder_matches_golden_bytes(case_id: str) -> None:
    assert codec.pack(BUILT[case_id]()) == case(case_id).data


@pytest.mark.parametrize("case_id", sorted(BUILT))
def test_builder_is_the_table_entry_for_the_command(case_id: str) -> None:
    command = commands.BY_NAME[case(case_id).command]
    assert command.build is not None
    assert command.direction is commands.Direction.SET


@pytest.mark.parametrize(("case_id", "name"), sorted(NO_REQUEST.items()))
def test_commands_without_request_send_nothing(case_id: str, name: str) -> None:
    assert commands.BY_NAME[name].build is None
    assert case(case_id).obj == {"type": "nvlist", "flags": 0, "items": []}


def test_sheet_worked_examples() -> None:
    """§7.1 / §7.3 / §7.4 hex, with the sheet's values (port 1194 -> 43524 on LE)."""
    peer = requests.new_peer(PeerConfig(1, _ep("192.0.2.1:1194")), 3, "little")
    assert codec.pack(peer).hex() == (
        "6c00000000000000000000de000000000000000507007000000000000000000000000000000072656d6f74"
        "65006c00000000000000000000b100000000000000030300080000000000000000000000000000006166"
        "000200000000000000070800040000000000000000000000000000006164647265737300c00002010305"
        "0008000000000000000000000000000000706f72740004aa000000000000ff0100000000000000000000"
        "000000000000000003030008000000000000000000000000000000666400030000000000000003070008"
        "000000000000000000000000000000706565726964000100000000000000"
    )
    assert len(codec.pack(requests.set_peer(1, Keepalive(10, 60)))) == 124
    assert (
        codec.pack(requests.del_key(1, KeySlot.SECONDARY))
        .hex()
        .endswith("706565726964000100000000000000")
    )
    assert len(codec.pack(requests.del_key(1, KeySlot.SECONDARY))) == 85


@pytest.mark.parametrize(
    ("port", "little", "big"), [(1194, 43524, 1194), (0, 0, 0), (1, 256, 1), (65535, 65535, 65535)]
)
def test_wire_port_is_htons_read_as_host_integer(port: int, little: int, big: int) -> None:
    assert requests.wire_port(port, "little") == little
    assert requests.wire_port(port, "big") == big
    assert requests.host_port(little, "little") == port


def test_freebsd_address_families_whatever_the_host() -> None:
    v6 = requests.sockaddr(_ep("[2001:db8::1]:1"), "little")
    assert v6["af"] == 28 and v6["scopeid"] == 0
    v4 = requests.sockaddr(_ep("192.0.2.1:1"), "little")
    assert v4["af"] == 2 and "scopeid" not in v4


def test_requests_are_flag_free_and_small() -> None:
    for build in BUILT.values():
        nvl = build()
        assert nvl.flags == 0
        assert len(codec.pack(nvl)) <= commands.MAX_REQUEST_SIZE
