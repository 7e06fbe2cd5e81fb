"""if_ovpn reply nvlists -> typed model.

Keys are looked up by name *and type*, as the kernel does with requests: a reply whose
shape differs from the sheet raises `ProtocolError` naming the key, never a KeyError or a
silently wrong number. Counters are returned exactly as the kernel reports them; where the
kernel is known to report nonsense (`tunnel`/`transport` out = in) the pair carries a note.
"""

from __future__ import annotations

import ipaddress
import sys
from typing import Any

from nvlist_ffi import NVList, NVListArray, typed_json
from ovpnctl.endpoint import Endpoint
from ovpnctl.errors import ProtocolError, ValidationError
from ovpnctl.freebsd.requests import IP_VERSION_BY_AF, ByteOrder, host_port
from ovpnctl.model import CounterPair, DeleteReason, Event, EventKind, PeerState, Traffic

# OVPN_GET_STATS keys, in the order the kernel adds them, with what ovpnctl says about them.
STATS_COUNTERS: tuple[tuple[str, str | None], ...] = (
    ("lost_ctrl", "never incremented by the kernel"),
    ("lost_data", None),
    ("nomem_data", None),
    ("data", None),
    ("ctrl", "never incremented by the kernel"),
    ("tunnel", "kernel defect: 'out' repeats 'in' (bytes sent are not exported)"),
    ("transport", "kernel defect: 'out' repeats 'in' (bytes sent are not exported)"),
)

# enum ovpn_notif_type / enum ovpn_del_reason (<net/if_ovpn.h>)
NOTIF_DEL_PEER = 0
NOTIF_ROTATE_KEY = 1
NOTIF_FLOAT = 2
DEL_REASON = {0: DeleteReason.REQUESTED, 1: DeleteReason.EXPIRED}


def number(nvl: NVList, key: str, where: str) -> int:
    value = nvl.get(key)
    if nvl.type_of(key) != "number" or not isinstance(value, int):
        raise ProtocolError(f"{where}: the kernel's reply lacks the number {key!r}")
    return value


def _nvlist(nvl: NVList, key: str, where: str) -> NVList:
    value = nvl.get(key)
    if not isinstance(value, NVList):
        raise ProtocolError(f"{where}: the kernel's reply lacks the nvlist {key!r}")
    return value


def _binary(nvl: NVList, key: str, where: str) -> bytes:
    value = nvl.get(key)
    if nvl.type_of(key) != "binary" or not isinstance(value, bytes):
        raise ProtocolError(f"{where}: the kernel's reply lacks the binary {key!r}")
    return value


def _optional_number(nvl: NVList, key: str) -> int | None:
    """An optional number: absent or of another type counts as absent (as in the kernel)."""
    value = nvl.get(key)
    return value if nvl.type_of(key) == "number" and isinstance(value, int) else None


def in_out(nvl: NVList, key: str, where: str) -> tuple[int, int]:
    """A `{in, out}` counter pair."""
    pair = _nvlist(nvl, key, where)
    return number(pair, "in", f"{where}.{key}"), number(pair, "out", f"{where}.{key}")


def stats(nvl: NVList) -> tuple[CounterPair, ...]:
    """OVPN_GET_STATS: the interface-wide counters, in kernel order."""
    pairs = []
    for name, note in STATS_COUNTERS:
        rx, tx = in_out(nvl, name, "OVPN_GET_STATS")
        pairs.append(CounterPair(name, rx, tx, note))
    return tuple(pairs)


def peer_stats(nvl: NVList) -> tuple[PeerState, ...]:
    """OVPN_GET_PEER_STATS: per-peer plaintext counters (no `peers` key = no peers).

    FreeBSD cannot report a peer's addresses, keys or keepalive: those stay None.
    """
    elements = nvl.get("peers")
    if elements is None:
        return ()
    if not isinstance(elements, NVListArray):
        raise ProtocolError("OVPN_GET_PEER_STATS: 'peers' is not an nvlist array")
    result = []
    for element in elements:
        where = "OVPN_GET_PEER_STATS peer"
        peer_id = number(element, "peerid", where)
        pkt_in, pkt_out = in_out(element, "packets", where)
        byte_in, byte_out = in_out(element, "bytes", where)
        traffic = Traffic(
            rx_packets=pkt_in, tx_packets=pkt_out, rx_bytes=byte_in, tx_bytes=byte_out
        )
        result.append(PeerState(peer_id=peer_id, vpn=traffic))
    return tuple(result)


def peer_ids(nvl: NVList) -> frozenset[int]:
    return frozenset(p.peer_id for p in peer_stats(nvl))


def pending(nvl: NVList) -> int:
    """OVPN_POLL_PKT: how many notifications are queued (reading them is OVPN_GET_PKT)."""
    return number(nvl, "pending", "OVPN_POLL_PKT")


def endpoint(nvl: NVList, where: str, byteorder: ByteOrder = sys.byteorder) -> Endpoint:
    """A kernel sockaddr nvlist (`af`, `port`, `address`[, `scopeid`]) as an Endpoint."""
    af = number(nvl, "af", where)
    version = IP_VERSION_BY_AF.get(af)
    if version is None:
        raise ProtocolError(f"{where}: unknown address family {af}")
    raw = _binary(nvl, "address", where)
    if len(raw) != (4 if version == 4 else 16):
        raise ProtocolError(f"{where}: {len(raw)}-byte address for IPv{version}")
    port = host_port(number(nvl, "port", where), byteorder)
    scope_id = 0
    if version == 6:
        scope_id = (_optional_number(nvl, "scopeid") or 0) & 0xFFFFFFFF
    try:
        return Endpoint(ipaddress.ip_address(raw), port, scope_id)
    except ValidationError as exc:
        raise ProtocolError(f"{where}: {exc.message}") from None


def notification(nvl: NVList, interface: str, byteorder: ByteOrder = sys.byteorder) -> Event:
    """One OVPN_GET_PKT notification. Unknown types are kept whole in `Event.raw`."""
    where = "OVPN_GET_PKT"
    peer_id = number(nvl, "peerid", where)
    kind = number(nvl, "notification", where)
    if kind == NOTIF_DEL_PEER:
        # kernels before Dec 2022 send no reason
        raw_reason = _optional_number(nvl, "del_reason")
        reason = (
            DEL_REASON.get(raw_reason, DeleteReason.UNKNOWN)
            if raw_reason is not None
            else DeleteReason.UNKNOWN
        )
        final = None  # counters may be missing under memory pressure
        if nvl.type_of("packets") == "nvlist" and nvl.type_of("bytes") == "nvlist":
            pkt_in, pkt_out = in_out(nvl, "packets", where)
            byte_in, byte_out = in_out(nvl, "bytes", where)
            final = Traffic(pkt_in, pkt_out, byte_in, byte_out)
        return Event(EventKind.PEER_DELETED, interface, peer_id, reason=reason, final=final)
    if kind == NOTIF_ROTATE_KEY:
        return Event(EventKind.ROTATE_KEY, interface, peer_id)
    if kind == NOTIF_FLOAT:
        address = endpoint(_nvlist(nvl, "address", where), f"{where} address", byteorder)
        return Event(EventKind.FLOAT, interface, peer_id, address=address)
    raw: dict[str, Any] = typed_json.to_obj(nvl)
    return Event(EventKind.UNKNOWN, interface, peer_id, raw_type=kind, raw=raw)
