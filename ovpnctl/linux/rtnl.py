"""ovpn links over rtnetlink: create (with the mode), delete, up, list.

pyroute2's `ifinfmsg` encodes and decodes the link messages; it does not know the
`ovpn` link kind, so the kind's IFLA_INFO_DATA (one u8, IFLA_OVPN_MODE) is built with
ovpnctl's own attribute codec and handed to pyroute2 as opaque bytes. Messages are built
explicitly (not through `IPRoute.link()`'s keyword guessing) so tests can check their
bytes without a kernel.
"""

from __future__ import annotations

import errno
import os
import socket
from dataclasses import dataclass, field
from typing import Any

from ovpnctl.errors import (
    BackendUnavailableError,
    ExitCode,
    KernelError,
    ProtocolError,
    ValidationError,
)
from ovpnctl.linux.nla import Attr, AttrSet, Kind, decode_attrs, encode_attrs
from ovpnctl.linux.nlsock import (
    NETLINK_ROUTE,
    NLMSG_HDRLEN,
    NLMSGHDR,
    Message,
    NetlinkRequestError,
    NetlinkSocket,
)
from ovpnctl.model import Mode

LINK_KIND = "ovpn"
IFLA_OVPN_MODE = 1
OVPN_MODE: dict[Mode, int] = {Mode.P2P: 0, Mode.MULTIPOINT: 1}  # enum ovpn_mode
MODE_BY_VALUE = {value: mode for mode, value in OVPN_MODE.items()}
IFNAMSIZ = 16
IFF_UP = 0x1

RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_GETLINK = 18
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400

STATS64_COUNTERS = (  # (CounterPair name, rx field, tx field) from IFLA_STATS64
    ("packets", "rx_packets", "tx_packets"),
    ("bytes", "rx_bytes", "tx_bytes"),
    ("errors", "rx_errors", "tx_errors"),
    ("dropped", "rx_dropped", "tx_dropped"),
)


def check_ifname(name: str) -> str:
    """The kernel's dev_valid_name(): refuse what it would refuse, before asking it."""
    if not name or len(name.encode()) >= IFNAMSIZ:
        raise ValidationError(f"interface name {name!r} must be 1-{IFNAMSIZ - 1} bytes long")
    if name in (".", "..") or any(c in "/:" or c.isspace() for c in name):
        raise ValidationError(
            f"interface name {name!r} may not contain '/', ':' or whitespace, nor be '.' or '..'"
        )
    return name


@dataclass(frozen=True, slots=True)
class LinkInfo:
    name: str
    index: int
    kind: str | None
    mode: Mode | None
    up: bool
    mtu: int | None
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def is_ovpn(self) -> bool:
        return self.kind == LINK_KIND


# IFLA_INFO_DATA of kind "ovpn": the attribute set, encoded with our own codec.
OVPN_LINK_DATA = AttrSet("ovpn_link", (Attr(IFLA_OVPN_MODE, "IFLA_OVPN_MODE", Kind.U8),))


def _ovpn_kind_known_to_pyroute2() -> bool:
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg  # noqa: PLC0415

    return LINK_KIND in ifinfmsg.ifinfo.data_map


def info_data(mode: Mode) -> Any:
    """IFLA_INFO_DATA for pyroute2's ifinfmsg.

    pyroute2 0.9.7 has no ovpn kind, so it carries IFLA_INFO_DATA as opaque bytes: we
    encode IFLA_OVPN_MODE ourselves. Registering a kind in pyroute2 would change a
    process-wide table other code relies on (and may unregister), so this module never
    does; if someone else registered one, their nested form is used instead.
    """
    if _ovpn_kind_known_to_pyroute2():
        return {"attrs": [("IFLA_OVPN_MODE", OVPN_MODE[mode])]}
    return bytes(encode_attrs(OVPN_LINK_DATA, [("IFLA_OVPN_MODE", OVPN_MODE[mode])]))


def mode_from_info_data(data: Any) -> Mode | None:
    """The mode from a decoded IFLA_INFO_DATA: a hex dump (kind unknown to pyroute2) or
    a nested message (kind registered by someone)."""
    if data is None:
        return None
    if hasattr(data, "get_attr"):
        value = data.get_attr("IFLA_OVPN_MODE")
    else:
        try:
            raw = bytes.fromhex(str(data).replace(":", ""))
            value = decode_attrs(OVPN_LINK_DATA, raw).get("IFLA_OVPN_MODE")
        except (ValueError, ProtocolError):
            return None
    return MODE_BY_VALUE.get(value) if value is not None else None


def newlink_record(name: str, mode: Mode) -> dict[str, Any]:
    """The dry-run view of `newlink_message`."""
    return {
        "netlink": "rtnl",
        "command": "RTM_NEWLINK",
        "interface": name,
        "attrs": {
            "IFLA_IFNAME": name,
            "IFLA_LINKINFO": {
                "IFLA_INFO_KIND": LINK_KIND,
                "IFLA_INFO_DATA": {"IFLA_OVPN_MODE": OVPN_MODE[mode]},
            },
        },
    }


def newlink_message(name: str, mode: Mode) -> Any:
    """RTM_NEWLINK for an ovpn link of the given mode, as a pyroute2 ifinfmsg."""
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg  # noqa: PLC0415

    msg = ifinfmsg()
    msg["family"] = socket.AF_UNSPEC
    msg["attrs"] = [
        ("IFLA_IFNAME", check_ifname(name)),
        (
            "IFLA_LINKINFO",
            {
                "attrs": [
                    ("IFLA_INFO_KIND", LINK_KIND),
                    ("IFLA_INFO_DATA", info_data(mode)),
                ]
            },
        ),
    ]
    return msg


def link_info(msg: Any) -> LinkInfo:
    """A pyroute2 RTM_NEWLINK reply as a LinkInfo."""
    kind = None
    mode = None
    linkinfo = msg.get_attr("IFLA_LINKINFO")
    if linkinfo is not None:
        kind = linkinfo.get_attr("IFLA_INFO_KIND")
        if kind == LINK_KIND:
            mode = mode_from_info_data(linkinfo.get_attr("IFLA_INFO_DATA"))
    stats: dict[str, int] = {}
    raw_stats = msg.get_attr("IFLA_STATS64")
    if raw_stats is not None:
        for _name, rx, tx in STATS64_COUNTERS:
            stats[rx] = int(raw_stats[rx])
            stats[tx] = int(raw_stats[tx])
    return LinkInfo(
        name=msg.get_attr("IFLA_IFNAME"),
        index=int(msg["index"]),
        kind=kind,
        mode=mode,
        up=bool(msg["flags"] & IFF_UP),
        mtu=msg.get_attr("IFLA_MTU"),
        stats=stats,
    )


def _encode(msg: Any) -> bytes:
    """The payload of a pyroute2 message: what follows the 16-byte netlink header."""
    msg.encode()
    return bytes(msg.data[NLMSG_HDRLEN:])


def _decode(reply: Message) -> Any:
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg  # noqa: PLC0415

    header = NLMSGHDR.pack(NLMSG_HDRLEN + len(reply.payload), reply.type, reply.flags, 0, 0)
    msg = ifinfmsg(header + reply.payload)
    msg.decode()
    return msg


class Links:
    """An rtnetlink socket in the network namespace of the thread that created it.

    pyroute2 encodes and decodes the messages; the socket is our own `NetlinkSocket`
    (pyroute2 0.9's sync IPRoute opens its socket lazily in whichever thread first uses
    it, which puts it in the wrong namespace for a caller that switched namespaces
    around the backend's creation, and its `nlm_request` fails outright in 0.9.7)."""

    def __init__(self) -> None:
        self.sock = NetlinkSocket(NETLINK_ROUTE)

    def close(self) -> None:
        self.sock.close()

    def _call(
        self, what: str, msg: Any, msg_type: int, *, flags: int = 0, dump: bool = False
    ) -> list[Any]:
        try:
            replies = self.sock.request(msg_type, _encode(msg), dump=dump, extra_flags=flags)
        except NetlinkRequestError as exc:
            raise self._explain(what, exc.errno, exc.ext.message or "") from None
        return [_decode(reply) for reply in replies]

    @staticmethod
    def _explain(what: str, err: int, text: str) -> KernelError | BackendUnavailableError:
        if err == errno.EPERM:
            return KernelError(
                f"{what}: permission denied; managing links needs CAP_NET_ADMIN (root)",
                errno=err,
                exit_code=ExitCode.NOPERM,
            )
        if err == errno.EEXIST:
            return KernelError(
                f"{what}: an interface of that name already exists",
                errno=err,
                exit_code=ExitCode.DATAERR,
            )
        if err == errno.ENODEV:
            return KernelError(f"{what}: no such interface", errno=err, exit_code=ExitCode.NOINPUT)
        if err == errno.EOPNOTSUPP:
            return BackendUnavailableError(
                f"{what}: the kernel does not know the ovpn link type (run `modprobe ovpn`; "
                "it needs Linux 6.16 or newer)"
            )
        return KernelError(f"{what}: {text or os.strerror(err)}", errno=err)

    def create(self, name: str, mode: Mode) -> None:
        self._call(
            f"cannot create {name}",
            newlink_message(name, mode),
            RTM_NEWLINK,
            flags=NLM_F_CREATE | NLM_F_EXCL,
        )

    def delete(self, name: str, index: int) -> None:
        from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg  # noqa: PLC0415

        msg = ifinfmsg()
        msg["index"] = index
        self._call(f"cannot destroy {name}", msg, RTM_DELLINK)

    def set_up(self, name: str, index: int) -> None:
        from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg  # noqa: PLC0415

        msg = ifinfmsg()
        msg["index"] = index
        msg["flags"] = IFF_UP
        msg["change"] = IFF_UP
        self._call(f"cannot bring {name} up", msg, RTM_NEWLINK)

    def get(self, name: str) -> LinkInfo | None:
        """The link called `name`, or None if there is none."""
        from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg  # noqa: PLC0415

        msg = ifinfmsg()
        msg["attrs"] = [("IFLA_IFNAME", check_ifname(name))]
        try:
            replies = self.sock.request(RTM_GETLINK, _encode(msg))
        except NetlinkRequestError as exc:
            if exc.errno == errno.ENODEV:
                return None
            raise self._explain(f"cannot read {name}", exc.errno, exc.ext.message or "") from None
        return link_info(_decode(replies[0])) if replies else None

    def dump(self) -> list[LinkInfo]:
        from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg  # noqa: PLC0415

        return [
            link_info(msg)
            for msg in self._call("cannot list links", ifinfmsg(), RTM_GETLINK, dump=True)
        ]
