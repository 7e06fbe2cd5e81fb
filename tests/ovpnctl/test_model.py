"""The typed model: validation on construction, and None meaning "the kernel cannot tell"."""

from __future__ import annotations

import ipaddress

import pytest

from ovpnctl.endpoint import Endpoint
from ovpnctl.errors import ValidationError
from ovpnctl.ids import KEEPALIVE_MAX
from ovpnctl.model import (
    CounterPair,
    DeleteReason,
    Event,
    EventKind,
    InterfaceState,
    Keepalive,
    Mode,
    PeerConfig,
    PeerState,
    Traffic,
)


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        ("p2p", Mode.P2P),
        ("NET30", Mode.P2P),
        ("point-to-point", Mode.P2P),
        ("mp", Mode.MULTIPOINT),
        (" subnet ", Mode.MULTIPOINT),
        ("server", Mode.MULTIPOINT),
    ],
)
def test_mode_parse(text: str, mode: Mode) -> None:
    assert Mode.parse(text) is mode


def test_mode_parse_error() -> None:
    with pytest.raises(ValidationError, match="choose p2p or mp"):
        Mode.parse("tap")


@pytest.mark.parametrize(
    ("interval", "timeout"), [(10, 60), (0, 0), (0, 60), (10, 0), (1, KEEPALIVE_MAX)]
)
def test_keepalive_accepted(interval: int, timeout: int) -> None:
    assert str(Keepalive(interval, timeout)) == f"{interval}/{timeout}"


@pytest.mark.parametrize(
    ("interval", "timeout", "message"),
    [
        (-1, 60, "keepalive interval -1 is out of range"),
        (10, KEEPALIVE_MAX + 1, f"keepalive timeout {KEEPALIVE_MAX + 1} is out of range"),
        (10, 10, "must be longer than the interval"),
        (60, 10, "must be longer than the interval"),
        (True, 10, "not an integer"),
        (1.5, 10, "not an integer"),
    ],
)
def test_keepalive_refused(interval: object, timeout: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Keepalive(interval, timeout)  # type: ignore[arg-type]


def ep(text: str) -> Endpoint:
    return Endpoint.parse(text)


def test_peer_config_accepts_the_usual_shapes() -> None:
    PeerConfig(1, ep("192.0.2.1:1194"))
    PeerConfig(2, ep("[::ffff:192.0.2.1]:1194"), local=ep("10.0.0.1:0"))  # mapped = IPv4
    PeerConfig(
        3,
        ep("[2001:db8::1]:1"),
        local=ep("[2001:db8::2]:0"),
        vpn_ipv4=ipaddress.IPv4Address("10.8.0.3"),
        vpn_ipv6=ipaddress.IPv6Address("fd00::3"),
        keepalive=Keepalive(10, 60),
    )
    PeerConfig(4, None)  # a connected TCP socket on Linux


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"peer_id": -1}, "peer id -1 is out of range"),
        ({"remote": ep("192.0.2.1:0")}, "port 0 cannot be a destination"),
        ({"local": ep("[2001:db8::2]:0")}, "are of different IP versions"),
        ({"vpn_ipv4": ipaddress.IPv6Address("fd00::1")}, "is not IPv4"),
        ({"vpn_ipv6": ipaddress.IPv4Address("10.0.0.1")}, "is not IPv6"),
    ],
)
def test_peer_config_refusals(kwargs: dict[str, object], message: str) -> None:
    values: dict[str, object] = {"peer_id": 1, "remote": ep("192.0.2.1:1194"), **kwargs}
    with pytest.raises(ValidationError, match=message):
        PeerConfig(**values)  # type: ignore[arg-type]


def test_unknown_is_none_not_zero() -> None:
    peer = PeerState(peer_id=1)
    assert peer.remote is None and peer.vpn is None and peer.link is None and peer.tx_id is None
    assert peer.keys == ()
    state = InterfaceState("ovpn0", "freebsd")
    assert state.mode is None and state.up is None and state.pending_events is None
    assert Traffic() == Traffic(0, 0, 0, 0)  # a reported zero is a real zero


def test_values_are_frozen() -> None:
    pair = CounterPair("data", 1, 2)
    assert pair.note is None
    with pytest.raises(AttributeError):
        pair.rx = 3  # type: ignore[misc]


def test_events() -> None:
    event = Event(EventKind.PEER_DELETED, "ovpn0", 3, reason=DeleteReason.EXPIRED)
    assert event.raw == {} and event.raw_type is None and event.final is None
    assert Event(EventKind.UNKNOWN, "ovpn0", None).raw is not event.raw  # no shared default
    assert {k.value for k in EventKind} >= {"peer-deleted", "rotate-key", "float", "unknown"}
    assert EventKind.PENDING.value == "pending"
