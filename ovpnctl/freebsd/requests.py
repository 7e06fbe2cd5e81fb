"""Typed model -> if_ovpn request nvlists.

Keys are added in the order OpenVPN's dco_freebsd.c adds them, so a request built here from
the same values is byte-identical to the golden vectors (the kernel itself ignores order).
Everything the kernel reads with FreeBSD meanings is converted here and nowhere else:
address families are FreeBSD's numbers (AF_INET6 is 28, not Linux's 10), ports are the
network-order `in_port_t` read as a host integer, ifmode carries FreeBSD IFF_* bits.

Requests are always created with flags 0 and never hold descriptors: the kernel unpacks
them with flags 0 and refuses anything else with EINVAL.
"""

from __future__ import annotations

import sys
from typing import Literal

from nvlist_ffi import NVList
from ovpnctl.endpoint import Endpoint, IPAddress
from ovpnctl.errors import ValidationError
from ovpnctl.freebsd.ifdrv import IFF_BROADCAST, IFF_MULTICAST, IFF_POINTOPOINT
from ovpnctl.keys import Cipher, KeyConfig, KeyDirection, KeySlot
from ovpnctl.model import Keepalive, Mode, PeerConfig

ByteOrder = Literal["little", "big"]

# FreeBSD <sys/socket.h> values: the kernel compares `af` against these, whatever OS builds
# the request (a dry run on Linux must still send 28 for IPv6).
FREEBSD_AF_INET = 2
FREEBSD_AF_INET6 = 28
AF_BY_IP_VERSION = {4: FREEBSD_AF_INET, 6: FREEBSD_AF_INET6}
IP_VERSION_BY_AF = {af: version for version, af in AF_BY_IP_VERSION.items()}

# OVPN_SET_IFMODE values, as OpenVPN sends them (net30/p2p vs. topology subnet).
IFMODE_BY_MODE = {
    Mode.P2P: IFF_POINTOPOINT | IFF_MULTICAST,  # 0x8010
    Mode.MULTIPOINT: IFF_BROADCAST | IFF_MULTICAST,  # 0x8002
}


def wire_port(port: int, byteorder: ByteOrder = sys.byteorder) -> int:
    """`htons(port)` as the kernel reads it: network-order bytes seen as a host integer.

    On little-endian hosts (every FreeBSD platform ovpnctl supports) 1194 becomes 43524.
    """
    return int.from_bytes(port.to_bytes(2, "big"), byteorder)


def host_port(value: int, byteorder: ByteOrder = sys.byteorder) -> int:
    """Inverse of `wire_port`, for the kernel's replies (truncated to 16 bits as it does)."""
    return int.from_bytes((value & 0xFFFF).to_bytes(2, byteorder), "big")


def sockaddr(endpoint: Endpoint, byteorder: ByteOrder = sys.byteorder) -> NVList:
    """The sockaddr nvlist: `af`, `address`, `port`, and `scopeid` for every IPv6 address."""
    nvl = NVList()
    nvl.add("af", AF_BY_IP_VERSION[endpoint.family])
    nvl.add("address", endpoint.packed)
    nvl.add("port", wire_port(endpoint.port, byteorder))
    if endpoint.family == 6:
        nvl.add("scopeid", endpoint.scope_id)
    return nvl


def new_peer(peer: PeerConfig, fd: int, byteorder: ByteOrder = sys.byteorder) -> NVList:
    """OVPN_NEW_PEER. `peer.remote`/`peer.local` must already be in the socket's family."""
    if peer.remote is None:
        raise ValidationError(f"peer {peer.peer_id}: FreeBSD needs a remote address for every peer")
    nvl = NVList()
    if peer.local is not None:
        nvl.add("local", sockaddr(peer.local, byteorder))
    nvl.add("remote", sockaddr(peer.remote, byteorder))
    if peer.vpn_ipv4 is not None:
        nvl.add("vpn_ipv4", _packed(peer.vpn_ipv4))
    if peer.vpn_ipv6 is not None:
        nvl.add("vpn_ipv6", _packed(peer.vpn_ipv6))
    nvl.add("fd", fd)
    nvl.add("peerid", peer.peer_id)
    return nvl


def peer_only(peer_id: int) -> NVList:
    """OVPN_DEL_PEER and OVPN_SWAP_KEYS: `{peerid}`."""
    return NVList([("peerid", peer_id)])


def del_key(peer_id: int, slot: KeySlot) -> NVList:
    return NVList([("slot", int(slot)), ("peerid", peer_id)])


def set_peer(peer_id: int, keepalive: Keepalive) -> NVList:
    """OVPN_SET_PEER: both timers are required by the kernel."""
    return NVList(
        [("peerid", peer_id), ("interval", keepalive.interval), ("timeout", keepalive.timeout)]
    )


def set_ifmode(mode: Mode) -> NVList:
    return NVList([("ifmode", IFMODE_BY_MODE[mode])])


def key_direction(direction: KeyDirection) -> NVList:
    """`{cipher, key, iv}`; cipher `none` carries only its name (the kernel reads no key)."""
    nvl = NVList()
    nvl.add("cipher", direction.cipher.value)
    if direction.cipher is not Cipher.NONE:
        nvl.add("key", direction.key)  # NVList keeps one immutable copy; no extra here
        nvl.add("iv", direction.iv)
    return nvl


def new_key(key: KeyConfig) -> NVList:
    """OVPN_NEW_KEY: slot, keyid, peerid, then the encrypt and decrypt directions."""
    nvl = NVList()
    nvl.add("slot", int(key.slot))
    nvl.add("keyid", key.key_id)
    nvl.add("peerid", key.peer_id)
    nvl.add("encrypt", key_direction(key.encrypt))
    nvl.add("decrypt", key_direction(key.decrypt))
    return nvl


def _packed(address: IPAddress) -> bytes:
    return address.packed
