"""Dry runs: exact records, placeholders, hidden keys, and no ioctl machinery at all."""

from __future__ import annotations

import json
import socket
import sys
from typing import Any

import pytest

from nvlist_ffi import typed_json
from ovpnctl.backend import get_backend
from ovpnctl.endpoint import Endpoint
from ovpnctl.errors import UsageError
from ovpnctl.freebsd.backend import FD_PLACEHOLDER, FreeBSDBackend
from ovpnctl.keys import Cipher, KeyConfig, KeyDirection, KeySlot
from ovpnctl.model import Keepalive, Mode, PeerConfig

from .conftest import key_config
from .golden import case


def record(command: str, golden_id: str, **extra: Any) -> dict[str, Any]:
    golden = case(golden_id)
    return {
        "ioctl": "SIOCSDRVSPEC",
        "interface": "ovpn0",
        "command": command,
        "request": golden.obj,
        "hex": golden.data.hex(),
        **extra,
    }


def test_a_whole_session_is_recorded_exactly() -> None:
    backend = FreeBSDBackend(dry_run=True)
    assert backend.create_interface("ovpn0", Mode.MULTIPOINT) == "ovpn0"
    backend.add_peer("ovpn0", PeerConfig(0, Endpoint.parse("198.51.100.7:1194")), None)
    backend.set_keepalive("ovpn0", 3, Keepalive(10, 60))
    backend.swap_keys("ovpn0", 3)
    backend.del_key("ovpn0", 3, KeySlot.SECONDARY)
    backend.del_peer("ovpn0", 17)
    backend.start("ovpn0")
    backend.destroy_interface("ovpn0")

    peer_request_obj = typed_json.to_obj(case("ovpn_new_peer_v4_client").nvlist)
    peer_request_obj["items"][1] = ["fd", {"type": "number", "value": FD_PLACEHOLDER}]
    golden_hex = case("ovpn_new_peer_v4_client").data.hex()
    fd_7, fd_placeholder = "666400" + "0700000000000000", "666400" + "ffffffff00000000"
    assert golden_hex.count(fd_7) == 1
    expected_peer_hex = golden_hex.replace(fd_7, fd_placeholder)
    assert backend.planned_calls == [
        {"ioctl": "SIOCIFCREATE2", "interface": "ovpn0"},
        record("OVPN_SET_IFMODE", "ovpn_set_ifmode_subnet"),
        {
            "ioctl": "SIOCSDRVSPEC",
            "interface": "ovpn0",
            "command": "OVPN_NEW_PEER",
            "request": peer_request_obj,
            "hex": expected_peer_hex,
            "placeholders": {"fd": "socket opened at run time"},
        },
        record("OVPN_SET_PEER", "ovpn_set_peer"),
        record("OVPN_SWAP_KEYS", "ovpn_swap_keys"),
        record("OVPN_DEL_KEY", "ovpn_del_key"),
        record("OVPN_DEL_PEER", "ovpn_del_peer"),
        {
            "ioctl": "SIOCSDRVSPEC",
            "interface": "ovpn0",
            "command": "OVPN_START_VPN",
            "request": None,
            "hex": "",
        },
        {"ioctl": "SIOCIFDESTROY", "interface": "ovpn0"},
    ]
    json.dumps(backend.planned_calls)  # JSON-ready as is


def test_fd_placeholder_is_minus_one_to_the_kernel() -> None:
    assert FD_PLACEHOLDER == 0xFFFFFFFF
    assert FD_PLACEHOLDER - (1 << 32) == -1


def test_keys_are_hidden_unless_asked() -> None:
    hidden = FreeBSDBackend(dry_run=True)
    hidden.new_key("ovpn0", key_config(cipher=Cipher.CHACHA20_POLY1305, fill=0x5A))
    new_key, start = hidden.planned_calls
    assert start["command"] == "OVPN_START_VPN"
    assert "5a5a" not in new_key["hex"] and "5b5b" not in new_key["hex"]
    assert new_key["placeholders"] == {
        "encrypt.key": "key material, hidden (zeros of the real length)",
        "encrypt.iv": "implicit IV, hidden (zeros of the real length)",
        "decrypt.key": "key material, hidden (zeros of the real length)",
        "decrypt.iv": "implicit IV, hidden (zeros of the real length)",
    }
    assert len(new_key["hex"]) == 2 * 508  # same size as a real CHACHA20 request

    shown = FreeBSDBackend(dry_run=True, show_keys=True, start_after_new_key=False)
    key = key_config(cipher=Cipher.CHACHA20_POLY1305, fill=0x5A)
    shown.new_key("ovpn0", key)
    (only,) = shown.planned_calls
    assert "placeholders" not in only
    assert "5a" * 32 in only["hex"] and "5b" * 8 in only["hex"]
    assert key.encrypt.key == bytearray([0x5A] * 32)  # the caller's key is untouched


def test_golden_key_request_through_the_dry_run() -> None:
    backend = FreeBSDBackend(dry_run=True, show_keys=True, start_after_new_key=False)
    golden = case("ovpn_new_key_aes128gcm").nvlist
    enc, dec = golden["encrypt"], golden["decrypt"]
    key = KeyConfig(
        3,
        1,
        KeySlot.SECONDARY,
        KeyDirection(Cipher.AES_128_GCM, bytearray(enc["key"]), bytearray(enc["iv"])),  # type: ignore[index]
        KeyDirection(Cipher.AES_128_GCM, bytearray(dec["key"]), bytearray(dec["iv"])),  # type: ignore[index]
    )
    backend.new_key("ovpn0", key)
    assert backend.planned_calls == [record("OVPN_NEW_KEY", "ovpn_new_key_aes128gcm")]


def test_auto_named_interface_is_a_placeholder() -> None:
    backend = FreeBSDBackend(dry_run=True)
    assert backend.create_interface(None, Mode.P2P) == "ovpn"
    assert backend.planned_calls[0] == {
        "ioctl": "SIOCIFCREATE2",
        "interface": "ovpn",
        "placeholders": {"interface": "the kernel appends the first free unit number"},
    }


def test_dry_run_with_a_real_socket_uses_its_descriptor() -> None:
    backend = FreeBSDBackend(dry_run=True)
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(("::", 0))
        backend.add_peer("ovpn0", PeerConfig(1, Endpoint.parse("192.0.2.1:1194")), sock)
        (only,) = backend.planned_calls
        items = dict(only["request"]["items"])
        assert items["fd"] == {"type": "number", "value": sock.fileno()}
        remote = dict(items["remote"]["items"])
        assert remote["af"]["value"] == 28  # FreeBSD AF_INET6, even on Linux
        assert remote["address"]["hex"] == "00000000000000000000ffffc0000201"
        assert "placeholders" not in only


def test_dry_run_reads_nothing() -> None:
    backend = FreeBSDBackend(dry_run=True)
    assert backend.interfaces() == []
    for call in (
        lambda: backend.state("ovpn0"),
        lambda: backend.pending_events("ovpn0"),
        lambda: backend.consume_events("ovpn0"),
        lambda: list(backend.watch_events("ovpn0", consume=False, timeout=0)),
    ):
        with pytest.raises(UsageError, match="a dry run cannot"):
            call()
    assert backend.planned_calls == []


def test_dry_run_needs_no_ioctl_support(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "fcntl", None)  # any `import fcntl` now fails
    monkeypatch.setattr("sys.platform", "linux")
    backend = get_backend("freebsd", dry_run=True)
    assert isinstance(backend, FreeBSDBackend)
    backend.create_interface("ovpn0", Mode.P2P)
    backend.new_key("ovpn0", key_config())
    assert [c.get("command", c["ioctl"]) for c in backend.planned_calls] == [
        "SIOCIFCREATE2",
        "OVPN_SET_IFMODE",
        "OVPN_NEW_KEY",
        "OVPN_START_VPN",
    ]
