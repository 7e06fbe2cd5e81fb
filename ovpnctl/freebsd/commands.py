"""The one table of if_ovpn commands: number, direction, request builder, reply parser,
expected reply size and what each errno means, in the order the kernel checks.

Everything else (backend, dry-run records, the kernel model in tests, docs) reads this
table instead of repeating a number or a key name.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nvlist_ffi import NVList
from ovpnctl.errors import ExitCode
from ovpnctl.freebsd import replies, requests
from ovpnctl.freebsd.errors import Explanation
from ovpnctl.freebsd.ifdrv import ovpn_command

MAX_REQUEST_SIZE = 4096  # OVPN_MAX_REQUEST_SIZE: larger SET requests get E2BIG
NOTIFICATION_BUFFER = 4096  # GET_PKT loses the notification on ENOSPC: never retry
GET_STATS_REPLY_SIZE = 910
POLL_PKT_REPLY_SIZE = 54
EMPTY_NVLIST_SIZE = 19


def peer_stats_reply_size(peers: int) -> int:
    """Exact OVPN_GET_PEER_STATS reply size for `peers` peers (19 when there are none)."""
    return EMPTY_NVLIST_SIZE if peers == 0 else 44 + 325 * peers


class Direction(enum.Enum):
    """Which socket ioctl carries the command; the other one gets ENOTSUP."""

    SET = "SIOCSDRVSPEC"
    GET = "SIOCGDRVSPEC"


@dataclass(frozen=True, slots=True)
class OvpnCommand:
    name: str
    n: int  # the number in _IO('D', n)
    direction: Direction
    build: Callable[..., NVList] | None  # None: sent with ifd_len 0
    parse: Callable[..., Any] | None  # None: no reply
    reply_size: Callable[[int], int] | None  # expected reply bytes, given a peer count
    grows: bool  # on ENOSPC, double the buffer and retry (False: the reply is lost)
    errors: tuple[Explanation, ...]  # command-specific meanings, in kernel check order

    @property
    def number(self) -> int:
        """The `ifd_cmd` value."""
        return ovpn_command(self.n)


def _no_peer(what: str) -> Explanation:
    return Explanation("ENOENT", f"{{ifname}} has no peer {{peer_id}}{what}", ExitCode.NOINPUT)


_NEW_PEER_ERRORS = (
    Explanation(
        "EINVAL",
        "{ifname} refused peer {peer_id}: a required field is malformed, the UDP socket is "
        "not bound, or local and remote differ in address family (toward a dual-stack "
        "IPv6 socket an IPv4 remote must be written ::ffff:a.b.c.d)",
        ExitCode.DATAERR,
    ),
    Explanation(
        "EBADF",
        "{ifname} refused peer {peer_id}: descriptor {fd} is not open in this process",
        ExitCode.SOFTWARE,
    ),
    Explanation(
        "ENOTSOCK",
        "{ifname} refused peer {peer_id}: descriptor {fd} is not a socket",
        ExitCode.SOFTWARE,
    ),
    Explanation(
        "ENOTCAPABLE",
        "{ifname} refused peer {peer_id}: descriptor {fd} lacks CAP_CONNECT (capability mode)",
        ExitCode.NOPERM,
    ),
    Explanation(
        "EHOSTUNREACH",
        "{ifname} refused peer {peer_id}: no route to {remote} to pick an IPv6 source "
        "address (a link-local remote needs its %interface scope)",
        ExitCode.DATAERR,
    ),
    Explanation(
        "EADDRNOTAVAIL",
        "{ifname} refused peer {peer_id}: no usable IPv6 source address toward {remote}",
        ExitCode.DATAERR,
    ),
    Explanation(
        "EEXIST",
        "{ifname} already has a peer {peer_id}; delete it first (FreeBSD does not replace peers)",
        ExitCode.DATAERR,
    ),
    Explanation(
        "EPROTOTYPE",
        "{ifname} refused peer {peer_id}: the socket is not UDP (FreeBSD offloads UDP only)",
        ExitCode.DATAERR,
    ),
    Explanation(
        "EBUSY",
        "{ifname} refused peer {peer_id}: the interface already uses a different UDP "
        "socket for its other peers (one socket per interface), or this socket already "
        "belongs to another ovpn interface",
        ExitCode.DATAERR,
        usage=True,
    ),
)

_NEW_KEY_ERRORS = (
    Explanation(
        "EINVAL",
        "{ifname} refused the {cipher} key for peer {peer_id}: malformed request, bad "
        "slot, or a {key_len}-byte key the crypto layer cannot use with this cipher",
        ExitCode.DATAERR,
    ),
    Explanation(
        "E2BIG",
        "{ifname} refused the key for peer {peer_id}: the key is longer than 32 bytes or "
        "the implicit IV is not 8 bytes",
        ExitCode.DATAERR,
    ),
    Explanation(
        "EOPNOTSUPP",
        "{ifname} refused the key for peer {peer_id}: the kernel's crypto layer does not "
        "support {cipher} with a {key_len}-byte key",
        ExitCode.UNAVAILABLE,
    ),
    _no_peer(" to install a key for; add the peer first"),
)

_SWAP_KEYS_ERRORS = (
    _no_peer(""),
    Explanation(
        "ENOLINK",
        "cannot swap the keys of peer {peer_id} on {ifname}: the secondary slot holds no "
        "complete key; install one into the secondary slot first",
        ExitCode.USAGE,
        usage=True,
    ),
)

_SET_IFMODE_ERRORS = (
    Explanation(
        "EBUSY",
        "cannot set {ifname} to {mode} mode: the interface is already up; the mode can "
        "only be chosen before it is brought up (destroy and re-create it)",
        ExitCode.USAGE,
        usage=True,
    ),
    Explanation("EINVAL", "{ifname} refused {mode} mode (ifmode {ifmode})", ExitCode.SOFTWARE),
)

_GET_PKT_ERRORS = (
    Explanation(
        "ENOSPC",
        "{ifname}: a notification did not fit the {size}-byte buffer; the kernel dropped it",
        ExitCode.PROTOCOL,
    ),
)

COMMANDS: tuple[OvpnCommand, ...] = (
    OvpnCommand(
        "OVPN_NEW_PEER", 1, Direction.SET, requests.new_peer, None, None, False,
        _NEW_PEER_ERRORS,
    ),
    OvpnCommand(
        "OVPN_DEL_PEER", 2, Direction.SET, requests.peer_only, None, None, False,
        (_no_peer(""),),
    ),
    OvpnCommand(
        "OVPN_GET_STATS", 3, Direction.GET, None, replies.stats,
        lambda _peers: GET_STATS_REPLY_SIZE, True, (),
    ),
    OvpnCommand(
        "OVPN_NEW_KEY", 4, Direction.SET, requests.new_key, None, None, False,
        _NEW_KEY_ERRORS,
    ),
    OvpnCommand(
        "OVPN_SWAP_KEYS", 5, Direction.SET, requests.peer_only, None, None, False,
        _SWAP_KEYS_ERRORS,
    ),
    OvpnCommand(
        "OVPN_DEL_KEY", 6, Direction.SET, requests.del_key, None, None, False,
        (_no_peer(""),),
    ),
    OvpnCommand(
        "OVPN_SET_PEER", 7, Direction.SET, requests.set_peer, None, None, False,
        (_no_peer(""),),
    ),
    OvpnCommand("OVPN_START_VPN", 8, Direction.SET, None, None, None, False, ()),
    # 9 was OVPN_SEND_PKT: commented out of the kernel header; the kernel answers ENOTSUP.
    OvpnCommand(
        "OVPN_POLL_PKT", 10, Direction.GET, None, replies.pending,
        lambda _peers: POLL_PKT_REPLY_SIZE, True, (),
    ),
    OvpnCommand(
        "OVPN_GET_PKT", 11, Direction.GET, None, replies.notification,
        lambda _peers: NOTIFICATION_BUFFER, False, _GET_PKT_ERRORS,
    ),
    OvpnCommand(
        "OVPN_SET_IFMODE", 12, Direction.SET, requests.set_ifmode, None, None, False,
        _SET_IFMODE_ERRORS,
    ),
    OvpnCommand(
        "OVPN_GET_PEER_STATS", 13, Direction.GET, None, replies.peer_stats,
        peer_stats_reply_size, True, (),
    ),
)  # fmt: skip

BY_NAME: dict[str, OvpnCommand] = {c.name: c for c in COMMANDS}
BY_NUMBER: dict[int, OvpnCommand] = {c.number: c for c in COMMANDS}

NEW_PEER = BY_NAME["OVPN_NEW_PEER"]
DEL_PEER = BY_NAME["OVPN_DEL_PEER"]
GET_STATS = BY_NAME["OVPN_GET_STATS"]
NEW_KEY = BY_NAME["OVPN_NEW_KEY"]
SWAP_KEYS = BY_NAME["OVPN_SWAP_KEYS"]
DEL_KEY = BY_NAME["OVPN_DEL_KEY"]
SET_PEER = BY_NAME["OVPN_SET_PEER"]
START_VPN = BY_NAME["OVPN_START_VPN"]
POLL_PKT = BY_NAME["OVPN_POLL_PKT"]
GET_PKT = BY_NAME["OVPN_GET_PKT"]
SET_IFMODE = BY_NAME["OVPN_SET_IFMODE"]
GET_PEER_STATS = BY_NAME["OVPN_GET_PEER_STATS"]


def command_name(number: int) -> str:
    """The OVPN_* name of an `ifd_cmd` value (hex for unknown ones)."""
    command = BY_NUMBER.get(number)
    return command.name if command else f"{number:#x}"
