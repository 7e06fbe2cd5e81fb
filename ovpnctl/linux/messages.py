"""The shared model <-> ovpn attributes: request builders and reply/notification readers.

Pure functions with no I/O, so the exact bytes of every request can be checked on any
machine, and the dry run shows precisely what would be sent. Byte order and which
attribute goes where follow the Linux netlink sheet (section 3).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ovpnctl.endpoint import Endpoint, IPAddress
from ovpnctl.errors import ProtocolError, ValidationError
from ovpnctl.keys import KeyConfig, KeyInfo, KeySlot
from ovpnctl.linux.genl import (
    CIPHER_ALG,
    DEL_REASON,
    GENLMSGHDR,
    OVPN,
    OVPN_A_PEER,
    PEER,
    Cmd,
    cipher_from_alg,
)
from ovpnctl.linux.nla import (
    Items,
    Placeholder,
    decode_by_id,
    iter_attrs,
    render_decoded,
    render_items,
)
from ovpnctl.model import (
    DeleteReason,
    Event,
    EventKind,
    Keepalive,
    PeerConfig,
    PeerState,
    Traffic,
)

Int = int | Placeholder


class Request(NamedTuple):
    """One genl request: what is sent, and how a dry run shows it."""

    cmd: Cmd
    items: Items
    dump: bool = False

    def render(self, *, show_secrets: bool = False) -> dict[str, Any]:
        return render_items(OVPN, self.items, show_secrets=show_secrets)


_NO_SOCKET = Placeholder("<no socket: PEER_SET>")


def _plain(address: IPAddress) -> IPAddress:
    """`::ffff:a.b.c.d` as IPv4: the kernel treats a v4-mapped address so anyway."""
    if address.version == 6:
        mapped = address.ipv4_mapped
        if mapped is not None:
            return mapped
    return address


def _peer_nest(peer: PeerConfig, fd: Int | Placeholder, tx_id: int | None) -> list[Any]:
    """The OVPN_A_PEER nest, in attribute id order (as the kernel's own tools emit it).

    A v4-mapped address goes out as IPv4; the local address goes without a port (the
    kernel takes it from the socket's binding) and not at all when it is unspecified.
    Written out flat: this runs once per peer added.
    """
    nest: list[Any] = [("OVPN_A_PEER_ID", peer.peer_id)]
    add = nest.append
    remote = peer.remote
    if remote is not None:
        address = _plain(remote.address)
        if address.version == 4:
            add(("OVPN_A_PEER_REMOTE_IPV4", address))
        else:
            add(("OVPN_A_PEER_REMOTE_IPV6", address))
            if remote.scope_id:
                add(("OVPN_A_PEER_REMOTE_IPV6_SCOPE_ID", remote.scope_id))
        add(("OVPN_A_PEER_REMOTE_PORT", remote.port))
    if fd is not _NO_SOCKET:
        add(("OVPN_A_PEER_SOCKET", fd))
    if peer.vpn_ipv4 is not None:
        add(("OVPN_A_PEER_VPN_IPV4", peer.vpn_ipv4))
    if peer.vpn_ipv6 is not None:
        add(("OVPN_A_PEER_VPN_IPV6", peer.vpn_ipv6))
    if peer.local is not None:
        address = _plain(peer.local.address)
        if int(address):  # unspecified: let the kernel learn it
            name = "OVPN_A_PEER_LOCAL_IPV4" if address.version == 4 else "OVPN_A_PEER_LOCAL_IPV6"
            add((name, address))
    keepalive = peer.keepalive
    if keepalive is not None:
        add(("OVPN_A_PEER_KEEPALIVE_INTERVAL", keepalive.interval))
        add(("OVPN_A_PEER_KEEPALIVE_TIMEOUT", keepalive.timeout))
    if tx_id is not None:
        add(("OVPN_A_PEER_TX_ID", tx_id))
    return nest


def peer_new(ifindex: Int, peer: PeerConfig, fd: Int, tx_id: int | None = None) -> Request:
    return Request(
        Cmd.PEER_NEW,
        [("OVPN_A_IFINDEX", ifindex), ("OVPN_A_PEER", _peer_nest(peer, fd, tx_id))],
    )


def peer_set(ifindex: Int, peer: PeerConfig, tx_id: int | None = None) -> Request:
    """Everything a live peer may change; the socket is fixed for its lifetime."""
    return Request(
        Cmd.PEER_SET,
        [("OVPN_A_IFINDEX", ifindex), ("OVPN_A_PEER", _peer_nest(peer, _NO_SOCKET, tx_id))],
    )


def peer_set_keepalive(ifindex: Int, peer_id: int, keepalive: Keepalive) -> Request:
    nest = [
        ("OVPN_A_PEER_ID", peer_id),
        ("OVPN_A_PEER_KEEPALIVE_INTERVAL", keepalive.interval),
        ("OVPN_A_PEER_KEEPALIVE_TIMEOUT", keepalive.timeout),
    ]
    return Request(Cmd.PEER_SET, [("OVPN_A_IFINDEX", ifindex), ("OVPN_A_PEER", nest)])


def peer_get(ifindex: Int, peer_id: int | None) -> Request:
    """One peer, or (peer_id None) a dump of every peer of the interface."""
    if peer_id is None:
        return Request(Cmd.PEER_GET, [("OVPN_A_IFINDEX", ifindex)], dump=True)
    return Request(
        Cmd.PEER_GET,
        [("OVPN_A_IFINDEX", ifindex), ("OVPN_A_PEER", [("OVPN_A_PEER_ID", peer_id)])],
    )


def peer_del(ifindex: Int, peer_id: int) -> Request:
    return Request(
        Cmd.PEER_DEL,
        [("OVPN_A_IFINDEX", ifindex), ("OVPN_A_PEER", [("OVPN_A_PEER_ID", peer_id)])],
    )


def key_new(ifindex: Int, key: KeyConfig) -> Request:
    """The key bytes are referenced, not copied: encoding appends them to the request
    buffer, which the backend wipes once the kernel has answered."""
    enc, dec = key.encrypt, key.decrypt
    nest = [
        ("OVPN_A_KEYCONF_PEER_ID", key.peer_id),
        ("OVPN_A_KEYCONF_SLOT", int(key.slot)),
        ("OVPN_A_KEYCONF_KEY_ID", key.key_id),
        ("OVPN_A_KEYCONF_CIPHER_ALG", CIPHER_ALG[enc.cipher]),
        ("OVPN_A_KEYCONF_ENCRYPT_DIR", [
            ("OVPN_A_KEYDIR_CIPHER_KEY", enc.key), ("OVPN_A_KEYDIR_NONCE_TAIL", enc.iv)]),
        ("OVPN_A_KEYCONF_DECRYPT_DIR", [
            ("OVPN_A_KEYDIR_CIPHER_KEY", dec.key), ("OVPN_A_KEYDIR_NONCE_TAIL", dec.iv)]),
    ]  # fmt: skip
    return Request(Cmd.KEY_NEW, [("OVPN_A_IFINDEX", ifindex), ("OVPN_A_KEYCONF", nest)])


def key_get(ifindex: Int, peer_id: int, slot: KeySlot) -> Request:
    nest = [("OVPN_A_KEYCONF_PEER_ID", peer_id), ("OVPN_A_KEYCONF_SLOT", int(slot))]
    return Request(Cmd.KEY_GET, [("OVPN_A_IFINDEX", ifindex), ("OVPN_A_KEYCONF", nest)])


def key_swap(ifindex: Int, peer_id: int) -> Request:
    nest = [("OVPN_A_KEYCONF_PEER_ID", peer_id)]
    return Request(Cmd.KEY_SWAP, [("OVPN_A_IFINDEX", ifindex), ("OVPN_A_KEYCONF", nest)])


def key_del(ifindex: Int, peer_id: int, slot: KeySlot) -> Request:
    nest = [("OVPN_A_KEYCONF_PEER_ID", peer_id), ("OVPN_A_KEYCONF_SLOT", int(slot))]
    return Request(Cmd.KEY_DEL, [("OVPN_A_IFINDEX", ifindex), ("OVPN_A_KEYCONF", nest)])


# -- replies ----------------------------------------------------------------------------


def _first(attrs: dict[str, Any], *names: str) -> Any:
    for name in names:
        if name in attrs:
            return attrs[name]
    return None


def _endpoint(address: IPAddress | None, port: int | None, scope: int | None) -> Endpoint | None:
    if address is None or port is None:
        return None
    if address.version == 4:
        return Endpoint(address, port)
    return Endpoint(address, port, scope or 0)


def keepalive_as_read(interval: int, timeout: int) -> Keepalive:
    """The pair exactly as the kernel holds it, even if ovpnctl would refuse to set it
    (another tool may have set timeout <= interval, or 6.17's unbounded values): a read
    must report the truth, not fail."""
    try:
        return Keepalive(interval, timeout)
    except ValidationError:
        value = object.__new__(Keepalive)
        object.__setattr__(value, "interval", interval)
        object.__setattr__(value, "timeout", timeout)
        return value


# Attribute ids of the peer nest, by short name (from the one table in genl), bound to
# module constants because peer_state runs once per peer of a dump.
_P = {attr.name[len("OVPN_A_PEER_") :]: attr.id for attr in PEER.attrs}
PEER_ID = _ID = _P["ID"]
_REMOTE4, _REMOTE6, _SCOPE, _RPORT = (
    _P["REMOTE_IPV4"],
    _P["REMOTE_IPV6"],
    _P["REMOTE_IPV6_SCOPE_ID"],
    _P["REMOTE_PORT"],
)
_LOCAL4, _LOCAL6, _LPORT = _P["LOCAL_IPV4"], _P["LOCAL_IPV6"], _P["LOCAL_PORT"]
_VPN4, _VPN6, _TX_ID = _P["VPN_IPV4"], _P["VPN_IPV6"], _P["TX_ID"]
_KA_INTERVAL, _KA_TIMEOUT = _P["KEEPALIVE_INTERVAL"], _P["KEEPALIVE_TIMEOUT"]
# Traffic's field order: rx_packets, tx_packets, rx_bytes, tx_bytes.
_V_RXP, _V_TXP, _V_RXB, _V_TXB = (
    _P["VPN_RX_PACKETS"],
    _P["VPN_TX_PACKETS"],
    _P["VPN_RX_BYTES"],
    _P["VPN_TX_BYTES"],
)
_L_RXP, _L_TXP, _L_RXB, _L_TXB = (
    _P["LINK_RX_PACKETS"],
    _P["LINK_TX_PACKETS"],
    _P["LINK_RX_BYTES"],
    _P["LINK_TX_BYTES"],
)


def _traffic(rxp: int | None, txp: int | None, rxb: int | None, txb: int | None) -> Traffic | None:
    if rxp is None and txp is None and rxb is None and txb is None:
        return None
    return Traffic(rxp or 0, txp or 0, rxb or 0, txb or 0)


def peer_values(payload: bytes) -> list[Any]:
    """The OVPN_A_PEER nest of a PEER_GET reply (genl header included), by attribute id."""
    for atype, poff, plen in iter_attrs(payload, GENLMSGHDR.size):
        if atype == OVPN_A_PEER:
            values = decode_by_id(PEER, payload, poff, poff + plen)
            if values[_ID] is None:
                break
            return values
    raise ProtocolError("the kernel's PEER_GET reply has no peer")


def peer_state(
    v: list[Any], keys: tuple[KeyInfo, ...] = (), shared: dict[Any, Any] | None = None
) -> PeerState:
    """A PEER_GET reply nest (by attribute id, see `peer_values`) as the shared model.
    TCP peers have no remote attributes.

    `shared`: a dict kept across the peers of one dump, so that values many peers have
    in common (the local endpoint of their socket, the keepalive pair) are built once;
    they are immutable, so sharing them is invisible to callers.
    """
    remote_ip = v[_REMOTE4]
    local_ip = v[_LOCAL4]
    if local_ip is None:
        local_ip = v[_LOCAL6]
    local_port = v[_LPORT]
    interval, timeout = v[_KA_INTERVAL], v[_KA_TIMEOUT]
    if shared is None:
        shared = {}
    local_key = ("local", local_ip, local_port)
    local = shared.get(local_key)
    if local is None:
        local = shared[local_key] = _endpoint(local_ip, local_port, None)
    keepalive_key = ("keepalive", interval, timeout)
    keepalive = shared.get(keepalive_key)
    if keepalive is None and interval is not None and timeout is not None:
        keepalive = shared[keepalive_key] = keepalive_as_read(interval, timeout)
    return PeerState(
        peer_id=v[_ID],
        remote=_endpoint(remote_ip if remote_ip is not None else v[_REMOTE6], v[_RPORT], v[_SCOPE]),
        local=local,
        vpn_ipv4=v[_VPN4],
        vpn_ipv6=v[_VPN6],
        keepalive=keepalive,
        vpn=_traffic(v[_V_RXP], v[_V_TXP], v[_V_RXB], v[_V_TXB]),
        link=_traffic(v[_L_RXP], v[_L_TXP], v[_L_RXB], v[_L_TXB]),
        keys=keys,
        tx_id=v[_TX_ID],
    )


def key_info(keyconf: dict[str, Any]) -> KeyInfo:
    return KeyInfo(
        peer_id=int(keyconf["OVPN_A_KEYCONF_PEER_ID"]),
        slot=KeySlot(keyconf["OVPN_A_KEYCONF_SLOT"]),
        key_id=int(keyconf["OVPN_A_KEYCONF_KEY_ID"]),
        cipher=cipher_from_alg(int(keyconf["OVPN_A_KEYCONF_CIPHER_ALG"])),
    )


def event(cmd: int, attrs: dict[str, Any], interface: str) -> Event:
    """A `peers` multicast notification as the shared model; unknown ones keep raw data."""
    raw = render_decoded(OVPN, attrs)
    peer = attrs.get("OVPN_A_PEER") or {}
    if cmd == Cmd.PEER_DEL_NTF:
        code = peer.get("OVPN_A_PEER_DEL_REASON")
        return Event(
            kind=EventKind.PEER_DELETED,
            interface=interface,
            peer_id=peer.get("OVPN_A_PEER_ID"),
            reason=DEL_REASON.get(code, DeleteReason.UNKNOWN)
            if code is not None
            else DeleteReason.UNKNOWN,
            raw_type=cmd,
            raw=raw,
        )
    if cmd == Cmd.KEY_SWAP_NTF:
        keyconf = attrs.get("OVPN_A_KEYCONF") or {}
        return Event(
            kind=EventKind.ROTATE_KEY,
            interface=interface,
            peer_id=keyconf.get("OVPN_A_KEYCONF_PEER_ID"),
            key_id=keyconf.get("OVPN_A_KEYCONF_KEY_ID"),
            raw_type=cmd,
            raw=raw,
        )
    if cmd == Cmd.PEER_FLOAT_NTF:
        address = _endpoint(
            _first(peer, "OVPN_A_PEER_REMOTE_IPV4", "OVPN_A_PEER_REMOTE_IPV6"),
            peer.get("OVPN_A_PEER_REMOTE_PORT"),
            peer.get("OVPN_A_PEER_REMOTE_IPV6_SCOPE_ID"),
        )
        return Event(
            kind=EventKind.FLOAT,
            interface=interface,
            peer_id=peer.get("OVPN_A_PEER_ID"),
            address=address,
            raw_type=cmd,
            raw=raw,
        )
    return Event(
        kind=EventKind.UNKNOWN,
        interface=interface,
        peer_id=peer.get("OVPN_A_PEER_ID"),
        raw_type=cmd,
        raw=raw,
    )
