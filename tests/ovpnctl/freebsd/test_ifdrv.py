"""Struct layouts and ioctl numbers against the numbers printed in the spec sheet (§1.3, §2)."""

from __future__ import annotations

import struct

import pytest

from ovpnctl.errors import ValidationError
from ovpnctl.freebsd import ifdrv
from ovpnctl.freebsd.commands import BY_NAME, COMMANDS

LP64 = ("amd64", "aarch64")
ILP32 = ("i386", "armv7")

# The sheet's values, copied literally so a formula error cannot cancel itself out.
SHEET_IOCTLS = {
    "amd64": {
        "SIOCSDRVSPEC": 0x8028697B,
        "SIOCGDRVSPEC": 0xC028697B,
        "SIOCIFCREATE2": 0xC020697C,
        "SIOCIFDESTROY": 0x80206979,
        "SIOCIFGCLONERS": 0xC0106978,
    },
    "i386": {
        "SIOCSDRVSPEC": 0x801C697B,
        "SIOCGDRVSPEC": 0xC01C697B,
        "SIOCIFCREATE2": 0xC020697C,
        "SIOCIFDESTROY": 0x80206979,
        "SIOCIFGCLONERS": 0xC00C6978,
    },
}
SHEET_DECIMAL = {"amd64": (2150132091, 3223873915), "i386": (2149345659, 3223087483)}
SHEET_COMMANDS = {
    "OVPN_NEW_PEER": (0x20004401, 536888321),
    "OVPN_DEL_PEER": (0x20004402, 536888322),
    "OVPN_GET_STATS": (0x20004403, 536888323),
    "OVPN_NEW_KEY": (0x20004404, 536888324),
    "OVPN_SWAP_KEYS": (0x20004405, 536888325),
    "OVPN_DEL_KEY": (0x20004406, 536888326),
    "OVPN_SET_PEER": (0x20004407, 536888327),
    "OVPN_START_VPN": (0x20004408, 536888328),
    "OVPN_POLL_PKT": (0x2000440A, 536888330),
    "OVPN_GET_PKT": (0x2000440B, 536888331),
    "OVPN_SET_IFMODE": (0x2000440C, 536888332),
    "OVPN_GET_PEER_STATS": (0x2000440D, 536888333),
}
GET_COMMANDS = {"OVPN_GET_STATS", "OVPN_POLL_PKT", "OVPN_GET_PKT", "OVPN_GET_PEER_STATS"}


@pytest.mark.parametrize("abi", LP64 + ILP32)
def test_ioctl_numbers_match_the_sheet(abi: str) -> None:
    expected = SHEET_IOCTLS["amd64" if abi in LP64 else "i386"]
    for name, number in expected.items():
        assert ifdrv.ABIS[abi].ioctl(name) == number, name
    set_dec, get_dec = SHEET_DECIMAL["amd64" if abi in LP64 else "i386"]
    assert ifdrv.ABIS[abi].ioctl("SIOCSDRVSPEC") == set_dec
    assert ifdrv.ABIS[abi].ioctl("SIOCGDRVSPEC") == get_dec


def test_other_socket_ioctls_follow_sockio_h() -> None:
    amd64 = ifdrv.ABIS["amd64"]
    assert amd64.ioctl("SIOCGIFFLAGS") == 0xC0206911  # _IOWR('i', 17, struct ifreq)
    assert amd64.ioctl("SIOCGIFMTU") == 0xC0206933  # _IOWR('i', 51, struct ifreq)
    assert amd64.ioctl("SIOCGIFGMEMB") == 0xC028698A  # _IOWR('i', 138, 40-byte ifgroupreq)
    assert ifdrv.ABIS["i386"].ioctl("SIOCGIFGMEMB") == 0xC024698A  # 36 bytes on ILP32


def test_command_table_matches_the_sheet() -> None:
    assert {c.name for c in COMMANDS} == set(SHEET_COMMANDS)
    for name, (hex_value, dec_value) in SHEET_COMMANDS.items():
        assert BY_NAME[name].number == hex_value == dec_value
        expected = "SIOCGDRVSPEC" if name in GET_COMMANDS else "SIOCSDRVSPEC"
        assert BY_NAME[name].direction.value == expected


@pytest.mark.parametrize(
    ("abi", "size"), [("amd64", 40), ("aarch64", 40), ("i386", 28), ("armv7", 28)]
)
def test_ifdrv_layout(abi: str, size: int) -> None:
    layout = ifdrv.ABIS[abi]
    assert layout.ifdrv_size == size
    word = 8 if size == 40 else 4
    packed = ifdrv.pack_ifdrv(
        layout, "ovpn0", 0x20004401, 241, 0x1122334455667788 % (1 << (8 * word))
    )
    assert len(packed) == size
    assert packed[:16] == b"ovpn0" + b"\0" * 11
    little = "<" + ("Q" if word == 8 else "I")
    assert struct.unpack_from(little, packed, 16)[0] == 0x20004401  # ifd_cmd at 16
    assert struct.unpack_from(little, packed, 16 + word)[0] == 241  # ifd_len at 24 / 20
    assert struct.unpack_from(little, packed, 16 + 2 * word)[0] == 0x1122334455667788 % (
        1 << (8 * word)
    )  # ifd_data at 32 / 24
    assert ifdrv.unpack_ifdrv(layout, packed)[1:3] == (0x20004401, 241)


def test_host_abi_matches_the_interpreter() -> None:
    assert ifdrv.host_abi().word == struct.calcsize("P")


def test_ifreq_fields() -> None:
    ifr = ifdrv.pack_ifreq("ovpn12")
    assert len(ifr) == 32
    assert ifdrv.ifreq_name(ifr) == "ovpn12"
    struct.pack_into("=HH", ifr, 16, 0x8051, 0x0002)
    assert ifdrv.ifreq_flags(ifr) == 0x28051
    struct.pack_into("=i", ifr, 16, 1428)
    assert ifdrv.ifreq_int(ifr) == 1428


@pytest.mark.parametrize("abi", ["amd64", "i386"])
def test_ifgroupreq_layout(abi: str) -> None:
    layout = ifdrv.ABIS[abi]
    req = ifdrv.pack_ifgroupreq(layout, "openvpn", 48, 0xABCD)
    assert len(req) == (40 if abi == "amd64" else 36)
    assert ifdrv.ifgroupreq_len(layout, req) == 48
    offset = 24 if abi == "amd64" else 20  # the union is pointer-aligned
    assert int.from_bytes(req[offset : offset + layout.word], "little") == 0xABCD
    names = b"ovpn0".ljust(16, b"\0") + b"\0" * 16 + b"tun0".ljust(16, b"\0")
    assert ifdrv.split_names(names, 3) == ["ovpn0", "tun0"]


@pytest.mark.parametrize("name", ["ovpn", "ovpn0", "ovpn12", "ovpnc1", "ovpnfoo", "ovpn32767"])
def test_clone_names_accepted(name: str) -> None:
    assert ifdrv.check_clone_name(name) == name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("openvpn0", "must start with 'ovpn'"),
        ("tun0", "must start with 'ovpn'"),
        ("ovpn01", "without leading zeros"),
        ("ovpn1a", "without leading zeros"),
        ("ovpn32768", "exceeds 32767"),
        ("ovpn_very_long_", "leaves no room"),
        ("ovpn0123456789012", "at most 15"),
        ("ovpn 0", "characters FreeBSD refuses"),
        ("", "empty"),
    ],
)
def test_clone_names_refused(name: str, why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        ifdrv.check_clone_name(name)


def test_ifname_fits_ifnamsiz_including_nul() -> None:
    assert ifdrv.check_ifname("a" * 15)
    with pytest.raises(ValidationError, match="at most 15"):
        ifdrv.check_ifname("a" * 16)
    assert len(ifdrv.encode_ifname("a" * 15)) == 16
