"""The ovpn link message: IFLA_INFO_KIND "ovpn" and IFLA_INFO_DATA holding IFLA_OVPN_MODE
as a u8 (sheet section 2: `05 00 01 00 00 00 00 00` for P2P, fifth byte 01 for MP)."""

from __future__ import annotations

import struct

import pytest

from ovpnctl.errors import ValidationError
from ovpnctl.linux.nla import iter_attrs
from ovpnctl.linux.rtnl import check_ifname, link_info, mode_from_info_data, newlink_message
from ovpnctl.model import Mode

IFLA_IFNAME = 3
IFLA_LINKINFO = 18
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
IFINFOMSG = 16  # family, pad, type, index, flags, change
NLMSG_HDRLEN = 16


def attrs_of(data: bytes, start: int = 0, end: int | None = None) -> dict[int, bytes]:
    return {t: bytes(data[o : o + n]) for t, o, n in iter_attrs(data, start, end)}


@pytest.mark.parametrize(("mode", "wire"), [(Mode.P2P, "0500010000000000"),
                                            (Mode.MULTIPOINT, "0500010001000000")])  # fmt: skip
def test_newlink_carries_kind_and_mode(mode: Mode, wire: str) -> None:
    msg = newlink_message("ovpn3", mode)
    msg.encode()
    data = bytes(msg.data)
    assert struct.unpack_from("=I", data)[0] == len(data)
    top = attrs_of(data, NLMSG_HDRLEN + IFINFOMSG)
    assert top[IFLA_IFNAME] == b"ovpn3\0"
    linkinfo = attrs_of(top[IFLA_LINKINFO])
    assert linkinfo[IFLA_INFO_KIND] == b"ovpn\0"
    # The IFLA_INFO_DATA payload is exactly the one IFLA_OVPN_MODE attribute.
    assert linkinfo[IFLA_INFO_DATA].hex() == wire


def test_reply_decodes_back_into_link_info() -> None:
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

    msg = newlink_message("ovpn3", Mode.MULTIPOINT)
    msg["index"] = 7
    msg["flags"] = 0x1 | 0x10
    msg["attrs"].append(("IFLA_MTU", 1416))
    msg.encode()
    back = ifinfmsg(msg.data)
    back.decode()
    info = link_info(back)
    assert (info.name, info.index, info.kind, info.mode, info.up, info.mtu) == (
        "ovpn3", 7, "ovpn", Mode.MULTIPOINT, True, 1416,
    )  # fmt: skip
    assert info.is_ovpn


@pytest.mark.parametrize("name", ["", "a" * 16, "a/b", "a b", "x:1", ".", ".."])
def test_names_the_kernel_would_refuse(name: str) -> None:
    with pytest.raises(ValidationError):
        check_ifname(name)


def test_longest_valid_name() -> None:
    assert check_ifname("a" * 15) == "a" * 15


def test_pyroute2_tables_are_left_alone() -> None:
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

    newlink_message("ovpn3", Mode.P2P).encode()
    assert "ovpn" not in ifinfmsg.ifinfo.data_map


def test_a_kind_registered_by_someone_else_gives_the_same_bytes() -> None:
    from pyroute2.netlink import nla
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

    class theirs(nla):  # type: ignore[misc]  # noqa: N801
        prefix = "IFLA_"
        nla_map = (("IFLA_OVPN_UNSPEC", "none"), ("IFLA_OVPN_MODE", "uint8"))

    plain = newlink_message("ovpn3", Mode.MULTIPOINT)
    plain.encode()
    ifinfmsg.ifinfo.register_link_kind(module={"ovpn": theirs})
    try:
        registered = newlink_message("ovpn3", Mode.MULTIPOINT)
        registered.encode()
        assert bytes(registered.data) == bytes(plain.data)
        back = ifinfmsg(registered.data)
        back.decode()
        assert link_info(back).mode is Mode.MULTIPOINT
    finally:
        ifinfmsg.ifinfo.unregister_link_kind("ovpn")


@pytest.mark.parametrize(("data", "mode"), [("05:00:01:00:00:00:00:00", Mode.P2P),
                                            ("05:00:01:00:01:00:00:00", Mode.MULTIPOINT),
                                            ("05:00:01:00:07:00:00:00", None),
                                            ("zz", None), (None, None)])  # fmt: skip
def test_mode_from_a_hex_dump(data: str | None, mode: Mode | None) -> None:
    assert mode_from_info_data(data) is mode
