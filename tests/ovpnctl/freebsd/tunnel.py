"""A two-ended tunnel, as steps any FreeBSDBackend can run: shared by the kernel-model test
(both ends in one process) and the real-FreeBSD jail test (each end in its own VNET jail,
one step per process, see tests/freebsd/jail_side.py).

Keys are derived deterministically from the key id and the direction, so both ends build
mirrored pairs (A's encrypt == B's decrypt) without exchanging anything.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
from dataclasses import dataclass
from typing import Any

from ovpnctl.endpoint import Endpoint
from ovpnctl.freebsd.backend import FreeBSDBackend
from ovpnctl.keys import Cipher, KeyConfig, KeyDirection, KeySlot
from ovpnctl.model import Keepalive, Mode, PeerConfig
from ovpnctl.sockets import open_udp_socket

CIPHER = Cipher.AES_256_GCM


@dataclass(frozen=True)
class End:
    """One end: its transport address, tunnel address and the peer id it gives the other."""

    label: str  # "a" or "b"
    ifname: str
    transport: Endpoint  # where this end's UDP socket is bound
    tunnel: str  # this end's address inside the tunnel
    peer_id: int  # the id this end uses for the other end

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "ifname": self.ifname,
            "transport": str(self.transport),
            "tunnel": self.tunnel,
            "peer_id": self.peer_id,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> End:
        return cls(
            obj["label"],
            obj["ifname"],
            Endpoint.parse(obj["transport"]),
            obj["tunnel"],
            int(obj["peer_id"]),
        )


def pair(
    transport_a: str = "192.0.2.1:11940", transport_b: str = "192.0.2.2:11940"
) -> tuple[End, End]:
    return (
        End("a", "ovpn10", Endpoint.parse(transport_a), "10.99.0.1", 2),
        End("b", "ovpn20", Endpoint.parse(transport_b), "10.99.0.2", 1),
    )


def material(sender: str, key_id: int) -> bytearray:
    """`key || iv` for traffic sent by `sender` under `key_id` (test keys, never real ones)."""
    seed = hashlib.sha256(f"ovpnctl test {sender} {key_id}".encode()).digest()
    extra = hashlib.sha256(seed).digest()
    return bytearray((seed + extra)[: CIPHER.material_length])


def key_for(me: End, other: End, key_id: int, slot: KeySlot) -> KeyConfig:
    return KeyConfig(
        me.peer_id,
        key_id,
        slot,
        KeyDirection.from_material(CIPHER, material(me.label, key_id)),
        KeyDirection.from_material(CIPHER, material(other.label, key_id)),
    )


def install_key(backend: FreeBSDBackend, me: End, other: End, key_id: int, slot: KeySlot) -> None:
    key = key_for(me, other, key_id, slot)
    try:
        backend.new_key(me.ifname, key)
    finally:
        key.wipe()


def bring_up(
    backend: FreeBSDBackend,
    me: End,
    other: End,
    *,
    sock: socket.socket | None = None,
    keepalive: Keepalive | None = None,
) -> socket.socket:
    """Create the interface, add the other end as a peer, install key 0 (which starts it).

    Returns the UDP socket: the kernel holds its own reference, so a caller that exits
    (the jail step) can close it without stopping the tunnel.
    """
    backend.create_interface(me.ifname, Mode.P2P)
    if sock is None:
        sock = open_udp_socket(me.transport)
    peer = PeerConfig(
        me.peer_id,
        other.transport,
        vpn_ipv4=ipaddress.IPv4Address(other.tunnel),
        keepalive=keepalive,
    )
    backend.add_peer(me.ifname, peer, sock)
    install_key(backend, me, other, 0, KeySlot.PRIMARY)
    return sock


def rotate(backend: FreeBSDBackend, me: End, other: End, new_key_id: int, step: str) -> None:
    """OpenVPN's rollover, one step at a time so both ends can interleave:
    `install` the new key as SECONDARY, `swap` it to PRIMARY, `retire` the old one."""
    if step == "install":
        install_key(backend, me, other, new_key_id, KeySlot.SECONDARY)
    elif step == "swap":
        backend.swap_keys(me.ifname, me.peer_id)
    elif step == "retire":
        backend.del_key(me.ifname, me.peer_id, KeySlot.SECONDARY)
    else:
        raise ValueError(f"unknown rotation step {step!r}")
