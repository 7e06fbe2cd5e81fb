"""The typed model every backend speaks: interfaces, peers, keepalive, counters, events.

Like wireguard-tools' three structs, these are plain values; a field that a kernel cannot
report is `None` ("unknown"), never a made-up zero, so `show`, `showconf` and config diffs
stay exact on both kernels (FreeBSD cannot read back a peer's addresses; Linux can).
Validation happens on construction: an invalid value never reaches a backend.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ovpnctl.endpoint import Endpoint, IPAddress
from ovpnctl.errors import ValidationError
from ovpnctl.ids import KEEPALIVE_MAX, check_peer_id
from ovpnctl.keys import KeyInfo


class Mode(enum.Enum):
    """Interface mode. FreeBSD: p2p = IFF_POINTOPOINT, mp = IFF_BROADCAST ("subnet").
    Linux: OVPN_MODE_P2P / OVPN_MODE_MP."""

    P2P = "p2p"
    MULTIPOINT = "mp"

    @classmethod
    def parse(cls, text: str) -> Mode:
        wanted = text.strip().lower()
        if wanted in ("p2p", "net30", "point-to-point"):
            return cls.P2P
        if wanted in ("mp", "subnet", "multipoint", "server"):
            return cls.MULTIPOINT
        raise ValidationError(f"unknown mode {text!r}; choose p2p or mp (alias subnet)")


class Transport(enum.Enum):
    UDP = "udp"
    TCP = "tcp"  # Linux only; FreeBSD refuses TCP sockets (EPROTOTYPE)


@dataclass(frozen=True, slots=True)
class Keepalive:
    """Send a ping after `interval` idle seconds; drop the peer after `timeout` silent ones."""

    interval: int
    timeout: int

    def __post_init__(self) -> None:
        for name, value in (("interval", self.interval), ("timeout", self.timeout)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValidationError(f"keepalive {name} {value!r} is not an integer")
            if not 0 <= value <= KEEPALIVE_MAX:
                raise ValidationError(
                    f"keepalive {name} {value} is out of range (0-{KEEPALIVE_MAX} seconds)"
                )
        if self.interval and self.timeout and self.timeout <= self.interval:
            raise ValidationError(
                f"keepalive timeout ({self.timeout}s) must be longer than the interval "
                f"({self.interval}s), or the peer is dropped between two pings"
            )

    def __str__(self) -> str:
        return f"{self.interval}/{self.timeout}"


@dataclass(frozen=True, slots=True)
class PeerConfig:
    """What a new peer needs. `remote` is None only for a connected TCP socket (Linux)."""

    peer_id: int
    remote: Endpoint | None
    local: Endpoint | None = None
    vpn_ipv4: IPAddress | None = None
    vpn_ipv6: IPAddress | None = None
    keepalive: Keepalive | None = None

    def __post_init__(self) -> None:
        check_peer_id(self.peer_id)
        if self.vpn_ipv4 is not None and self.vpn_ipv4.version != 4:
            raise ValidationError(f"vpn IPv4 address {self.vpn_ipv4} is not IPv4")
        if self.vpn_ipv6 is not None and self.vpn_ipv6.version != 6:
            raise ValidationError(f"vpn IPv6 address {self.vpn_ipv6} is not IPv6")
        if self.remote is not None and self.remote.port == 0:
            raise ValidationError(f"remote {self.remote}: port 0 cannot be a destination")
        if (
            self.remote is not None
            and self.local is not None
            and self.remote.unmapped().family != self.local.unmapped().family
        ):
            raise ValidationError(
                f"local {self.local} and remote {self.remote} are of different IP versions"
            )


@dataclass(frozen=True, slots=True)
class Traffic:
    """Packet and byte counters in both directions.

    FreeBSD per-peer counters and Linux VPN_* counters are plaintext (inner) traffic;
    Linux LINK_* counters are the encrypted transport payload.
    """

    rx_packets: int = 0
    tx_packets: int = 0
    rx_bytes: int = 0
    tx_bytes: int = 0


@dataclass(frozen=True, slots=True)
class PeerState:
    """A peer as read back from a kernel; None where that kernel cannot tell."""

    peer_id: int
    remote: Endpoint | None = None
    local: Endpoint | None = None
    vpn_ipv4: IPAddress | None = None
    vpn_ipv6: IPAddress | None = None
    keepalive: Keepalive | None = None
    vpn: Traffic | None = None
    link: Traffic | None = None
    keys: tuple[KeyInfo, ...] = ()
    tx_id: int | None = None


@dataclass(frozen=True, slots=True)
class CounterPair:
    """One named in/out counter of an interface (FreeBSD OVPN_GET_STATS)."""

    name: str
    rx: int
    tx: int
    note: str | None = None  # e.g. the kernel's known "out = in" defect


@dataclass(frozen=True, slots=True)
class InterfaceState:
    name: str
    backend: str
    mode: Mode | None = None
    up: bool | None = None
    ifindex: int | None = None
    mtu: int | None = None
    counters: tuple[CounterPair, ...] = ()
    peers: tuple[PeerState, ...] = ()
    pending_events: int | None = None


class EventKind(enum.Enum):
    PEER_DELETED = "peer-deleted"
    ROTATE_KEY = "rotate-key"  # FreeBSD: 2**31 packets sent; Linux KEY_SWAP_NTF: key exhausted
    FLOAT = "float"  # peer's transport address changed
    PENDING = "pending"  # FreeBSD: notifications queued but not read (raw["pending"] = count)
    UNKNOWN = "unknown"


class DeleteReason(enum.Enum):
    """Why a peer went away. FreeBSD knows REQUESTED and TIMEOUT; Linux all five."""

    REQUESTED = "requested"  # FreeBSD REQUESTED (0) / Linux USERSPACE (1)
    EXPIRED = "expired"  # FreeBSD TIMEOUT (1) / Linux EXPIRED (2)
    TEARDOWN = "teardown"  # Linux: link deleted or P2P peer replaced
    TRANSPORT_ERROR = "transport-error"
    TRANSPORT_DISCONNECT = "transport-disconnect"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Event:
    """A kernel notification. Unknown kinds keep their raw type and payload."""

    kind: EventKind
    interface: str
    peer_id: int | None
    reason: DeleteReason | None = None
    final: Traffic | None = None  # FreeBSD DEL_PEER carries the peer's last counters
    address: Endpoint | None = None  # FLOAT: the new remote
    key_id: int | None = None  # Linux KEY_SWAP_NTF
    raw_type: int | None = None
    raw: dict[str, object] = field(default_factory=dict)
