"""Rendering of model values a FreeBSD kernel never produces (Linux: addresses, keys,
link counters), checked directly on the typed model."""

from __future__ import annotations

import io
import ipaddress

from rich.console import Console

from ovpnctl.cli import render_json, render_table
from ovpnctl.endpoint import Endpoint
from ovpnctl.keys import Cipher, KeyInfo, KeySlot
from ovpnctl.model import (
    DeleteReason,
    Event,
    EventKind,
    InterfaceState,
    Keepalive,
    Mode,
    PeerState,
    Traffic,
)

LINUX_CAPS = frozenset({"read-peer-config", "read-keys", "event-multicast"})

PEER = PeerState(
    peer_id=7,
    remote=Endpoint.parse("[2001:db8::7]:1194"),
    local=Endpoint.parse("[2001:db8::1]:1194"),
    vpn_ipv4=ipaddress.IPv4Address("10.8.0.7"),
    vpn_ipv6=None,
    keepalive=Keepalive(10, 60),
    vpn=Traffic(1, 2, 100, 200),
    link=Traffic(1, 2, 124, 248),
    keys=(KeyInfo(7, KeySlot.PRIMARY, 3, Cipher.CHACHA20_POLY1305),),
    tx_id=7,
)
STATE = InterfaceState("tun-ovpn", "linux", Mode.MULTIPOINT, True, 12, 1416, (), (PEER,), None)


def render(func: object, *args: object) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, highlight=False, color_system=None)
    func(console, *args)  # type: ignore[operator]
    return buffer.getvalue()


def test_json_of_a_fully_known_peer() -> None:
    document = render_json.show_document([STATE], "linux", LINUX_CAPS)
    (iface,) = document["interfaces"]
    assert iface["pending_events"] is None
    assert iface["peers"] == [
        {
            "peer_id": 7,
            "remote": {"address": "2001:db8::7", "port": 1194, "scope_id": 0},
            "local": {"address": "2001:db8::1", "port": 1194, "scope_id": 0},
            "vpn_ipv4": "10.8.0.7",
            "vpn_ipv6": None,
            "keepalive": {"interval": 10, "timeout": 60},
            "vpn": {"rx_packets": 1, "tx_packets": 2, "rx_bytes": 100, "tx_bytes": 200},
            "link": {"rx_packets": 1, "tx_packets": 2, "rx_bytes": 124, "tx_bytes": 248},
            "keys": [{"slot": "primary", "key_id": 3, "cipher": "CHACHA20-POLY1305"}],
            "tx_id": 7,
        }
    ]


def test_keys_are_an_empty_list_when_readable_and_none_installed() -> None:
    bare = PeerState(peer_id=1)
    assert render_json.peer(bare, keys_readable=True)["keys"] == []
    assert render_json.peer(bare, keys_readable=False)["keys"] is None


def test_table_of_a_fully_known_peer() -> None:
    out = render(render_table.interfaces, [STATE], "linux", LINUX_CAPS)
    assert "[2001:db8::7]:1194" in out
    assert "10/60" in out
    assert "primary id 3 CHACHA20-POLY1305" in out
    assert "1 pkt / 124 B" in out  # link counters shown when the kernel has them
    assert "linux: not set for any peer: vpn ipv6" in out
    assert "not reported" not in out


def test_event_lines() -> None:
    event = Event(
        EventKind.FLOAT, "ovpn0", 3, address=Endpoint.parse("198.51.100.9:40000"), raw_type=2
    )
    assert render(render_table.event, event) == "ovpn0 peer 3 float address 198.51.100.9:40000\n"
    deleted = Event(EventKind.PEER_DELETED, "ovpn0", 3, reason=DeleteReason.TRANSPORT_ERROR)
    assert render_json.event(deleted)["reason"] == "transport-error"
    unknown = Event(EventKind.UNKNOWN, "ovpn0", 3, raw_type=9, raw={"blob": b"\x01\x02"})
    assert render_json.event(unknown)["raw"] == {"blob": {"hex": "0102"}}
    assert render(render_table.event, unknown) == "ovpn0 peer 3 unknown (raw type 9)\n"


def test_secret_detection_covers_both_backends() -> None:
    freebsd = {"request": {"type": "nvlist", "flags": 0, "items": [
        ["encrypt", {"type": "nvlist", "flags": 0, "items": [
            ["key", {"type": "binary", "hex": "aabb"}],
            ["iv", {"type": "binary", "hex": "ccdd"}],
        ]}],
    ]}}  # fmt: skip
    linux = {"attrs": {"OVPN_A_KEYCONF": {"OVPN_A_KEYCONF_ENCRYPT_DIR": {
        "OVPN_A_KEYDIR_CIPHER_KEY": "aabb", "OVPN_A_KEYDIR_NONCE_TAIL": "<8 bytes hidden>",
    }}}}  # fmt: skip
    assert render_json.carries_keys(freebsd) and render_json.carries_keys(linux)
    assert not render_json.carries_keys({"request": {"type": "nvlist", "items": [
        ["keyid", {"type": "number", "value": 1}]]}})  # fmt: skip
    hidden = render_json.hide_keys(freebsd)
    assert "aabb" not in str(hidden) and "ccdd" not in str(hidden)
    assert hidden["request"]["items"][0][1]["items"][0][1] == {"type": "binary", "hex": "0000"}
    hidden_linux = render_json.hide_keys(linux)["attrs"]["OVPN_A_KEYCONF"]
    assert hidden_linux["OVPN_A_KEYCONF_ENCRYPT_DIR"] == {
        "OVPN_A_KEYDIR_CIPHER_KEY": "0000",
        "OVPN_A_KEYDIR_NONCE_TAIL": "<8 bytes hidden>",
    }
