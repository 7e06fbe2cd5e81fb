"""Write a `TunnelConfig` back out as TOML (or JSON) that `load_config` reads unchanged.

`showconf` uses this to print the running state as a file an operator can keep, edit and
re-apply, so the output must round-trip: every value is written in the exact form the
validator accepts, key paths are absolute, and defaults are written out explicitly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import tomli_w

from ovpnctl.config.schema import KeySpec, PeerSpec, TcpRole, TunnelConfig, remote_text
from ovpnctl.keys import Cipher


def config_to_data(config: TunnelConfig) -> dict[str, Any]:
    """The config as plain data in the file schema (keys in documentation order)."""
    interface: dict[str, Any] = {
        "name": config.interface,
        "mode": config.mode.value,
        "transport": config.transport.value,
    }
    if config.listen:
        interface["listen"] = [str(endpoint) for endpoint in config.listen]
    if config.addresses:
        interface["address"] = [str(address) for address in config.addresses]
    interface["readd_on_timeout"] = config.readd_on_timeout
    data: dict[str, Any] = {"interface": interface}
    if config.peers:
        data["peer"] = [_peer_data(peer, len(config.listen)) for peer in config.peers]
    return data


def _peer_data(peer: PeerSpec, listen_count: int) -> dict[str, Any]:
    out: dict[str, Any] = {"id": peer.peer_id, "remote": remote_text(peer.remote)}
    if peer.tcp is not None:
        out["tcp"] = peer.tcp.value
    if peer.listen is not None and (listen_count > 1 or peer.tcp is TcpRole.CONNECT):
        out["listen"] = str(peer.listen)
    if peer.local is not None:
        out["local"] = str(peer.local)
    if peer.vpn_ipv4 is not None:
        out["vpn_ipv4"] = str(peer.vpn_ipv4)
    if peer.vpn_ipv6 is not None:
        out["vpn_ipv6"] = str(peer.vpn_ipv6)
    if peer.routes:
        out["routes"] = [str(route) for route in peer.routes]
    if peer.keepalive is not None:
        out["keepalive"] = {
            "interval": peer.keepalive.interval,
            "timeout": peer.keepalive.timeout,
        }
    if peer.key is not None:
        out["key"] = _key_data(peer.key)
    if peer.secondary_key is not None:
        out["secondary_key"] = _key_data(peer.secondary_key)
    return out


def _key_data(key: KeySpec) -> dict[str, Any]:
    out: dict[str, Any] = {"id": key.key_id, "cipher": key.cipher.value}
    if key.cipher is not Cipher.NONE:
        out["encrypt"] = key.encrypt
        out["decrypt"] = key.decrypt
    return out


def dumps_toml(data: dict[str, Any], *, comments: Iterable[str] = ()) -> str:
    """TOML text with `comments` as a leading `#` block."""
    header = "".join(f"# {line}\n" if line else "#\n" for line in comments)
    body = tomli_w.dumps(data)
    return f"{header}\n{body}" if header else body


def dumps_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2) + "\n"
