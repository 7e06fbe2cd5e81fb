"""Netlink attributes (TLVs): declarative attribute sets and one codec that walks them.

In the pyroute2 manner, each attribute set is a table named exactly like the kernel's
constants, and a single generic encoder/decoder handles every message. The codec is our
own rather than pyroute2's `nla` machinery because it sits on the per-peer hot path: on
this machine pyroute2 needs about 160 us to encode one PEER_NEW request, which alone is
several times the kernel's cost for the request (see bench/kernel_bench.py); this codec
needs a few microseconds. pyroute2 still does what it is good at (family discovery,
rtnetlink); see genl.py and rtnl.py.

Values on the Python side: ints for integer kinds, `ipaddress` objects for addresses,
`bytes`/`bytearray` for binary, `str` for strings and a list of `(name, value)` pairs for
nests. Decoding returns dicts keyed by the kernel's attribute names.
"""

from __future__ import annotations

import enum
import ipaddress
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ovpnctl.errors import ProtocolError

NLA_F_NESTED = 0x8000
NLA_F_NET_BYTEORDER = 0x4000
NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xFFFF
NLA_HDRLEN = 4

_HDR = struct.Struct("=HH")
_U8 = struct.Struct("=B")
_U16 = struct.Struct("=H")
_U32 = struct.Struct("=I")
_S32 = struct.Struct("=i")
_U64 = struct.Struct("=Q")
_BE16 = struct.Struct("!H")
_U32_MAX = 0xFFFFFFFF
_UINT_BY_LENGTH = {1: _U8, 2: _U16, 4: _U32, 8: _U64}
_EMPTY_HDR = bytes(NLA_HDRLEN)
_PADDING = tuple(bytes(n) for n in range(4))


class Kind(enum.Enum):
    """Wire types, named after the kernel's netlink policy types where one exists."""

    U8 = "u8"
    U16 = "u16"
    U32 = "u32"
    S32 = "s32"
    # NLA_UINT: encoded in 4 bytes when the value fits, else 8; decoded by length, which
    # also accepts the 2-byte key id the kernel puts in KEY_SWAP_NTF.
    UINT = "uint"
    BE16 = "be16"  # network byte order (ports)
    IPV4 = "ipv4"  # 4 bytes, network order
    IPV6 = "ipv6"  # 16 bytes
    BINARY = "binary"
    SECRET = "secret"  # binary that dry runs and debug output must never show
    STRING = "string"  # NUL-terminated
    NEST = "nest"


@dataclass(frozen=True, slots=True)
class Attr:
    id: int
    name: str
    kind: Kind
    nested: AttrSet | None = None


class AttrSet:
    """One kernel attribute space (`ovpn`, `peer`, `keyconf`, ...)."""

    def __init__(self, name: str, attrs: Iterable[Attr]) -> None:
        self.name = name
        self.attrs = tuple(attrs)
        self.by_id = {a.id: a for a in self.attrs}
        self.by_name = {a.name: a for a in self.attrs}
        for attr in self.attrs:
            if (attr.kind is Kind.NEST) != (attr.nested is not None):
                raise ValueError(f"{name}.{attr.name}: a nest needs its attribute set")

    def __getitem__(self, name: str) -> Attr:
        return self.by_name[name]

    def __repr__(self) -> str:
        return f"AttrSet({self.name!r})"


class Placeholder:
    """A value a dry run cannot know (an ifindex, a socket fd): encodes as 0, shows as text."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Placeholder({self.text!r})"


Items = Sequence[tuple[str, Any]]


def _pad(length: int) -> int:
    return (length + 3) & ~3


def _encode_scalar(attr: Attr, value: Any) -> bytes:
    if isinstance(value, Placeholder):
        value = 0  # only integer attributes (ifindex, fd) are ever unknown in a dry run
    kind = attr.kind
    try:
        if kind is Kind.U32:
            return _U32.pack(value)
        if kind is Kind.IPV4 or kind is Kind.IPV6:
            packed: bytes = value.packed
            if len(packed) != (4 if kind is Kind.IPV4 else 16):
                raise ValueError(f"address {value} is not IPv{4 if kind is Kind.IPV4 else 6}")
            return packed
        if kind is Kind.BE16:
            return _BE16.pack(value)
        if kind is Kind.U8:
            return _U8.pack(value)
        if kind is Kind.U16:
            return _U16.pack(value)
        if kind is Kind.S32:
            return _S32.pack(value)
        if kind is Kind.UINT:
            return _U32.pack(value) if value <= _U32_MAX else _U64.pack(value)
        if kind is Kind.STRING:
            return str(value).encode() + b"\0"
    except (struct.error, TypeError, AttributeError, ValueError) as exc:
        # A bug in a caller (validation happens before encoding), not a user error.
        raise ProtocolError(f"cannot encode {attr.name}={value!r}: {exc}") from None
    raise AssertionError(kind)


def encode_into(out: bytearray, attrset: AttrSet, items: Items) -> bytearray:
    """Append `(name, value)` pairs, in order, to `out`; every nest gets NLA_F_NESTED.

    Binary values are appended straight from the caller's buffer, so key material exists
    only in `out` and in the caller's bytearray, both of which can be wiped afterwards.
    """
    for name, value in items:
        attr = attrset.by_name[name]
        start = len(out)
        out += _EMPTY_HDR
        kind = attr.kind
        if kind is Kind.NEST:
            assert attr.nested is not None
            encode_into(out, attr.nested, value)
        elif kind is Kind.BINARY or kind is Kind.SECRET:
            if not isinstance(value, bytes | bytearray | memoryview):
                raise ProtocolError(f"cannot encode {attr.name}: not bytes")
            out += value
        else:
            out += _encode_scalar(attr, value)
        length = len(out) - start
        _HDR.pack_into(out, start, length, attr.id | (NLA_F_NESTED if kind is Kind.NEST else 0))
        out += _PADDING[_pad(length) - length]
    return out


def encode_attrs(attrset: AttrSet, items: Items) -> bytearray:
    return encode_into(bytearray(), attrset, items)


def iter_attrs(
    data: bytes | memoryview, offset: int = 0, end: int | None = None
) -> Iterator[tuple[int, int, int]]:
    """Yield `(type, payload_offset, payload_length)` for each TLV; flags stripped."""
    stop = len(data) if end is None else end
    while offset + NLA_HDRLEN <= stop:
        length, atype = _HDR.unpack_from(data, offset)
        if length < NLA_HDRLEN or offset + length > stop:
            raise ProtocolError(
                f"malformed netlink attribute (type {atype & NLA_TYPE_MASK}, length {length})"
            )
        yield atype & NLA_TYPE_MASK, offset + NLA_HDRLEN, length - NLA_HDRLEN
        offset += _pad(length)


def _decode_value(attr: Attr, data: bytes | memoryview, offset: int, length: int) -> Any:
    kind = attr.kind
    raw = bytes(data[offset : offset + length])
    if kind is Kind.NEST:
        assert attr.nested is not None
        return decode_attrs(attr.nested, data, offset, offset + length)
    if kind is Kind.U32 and length == 4:
        return _U32.unpack(raw)[0]
    if kind is Kind.UINT and length in _UINT_BY_LENGTH:
        return _UINT_BY_LENGTH[length].unpack(raw)[0]
    if kind is Kind.BE16 and length == 2:
        return _BE16.unpack(raw)[0]
    if kind is Kind.IPV4 and length == 4:
        return ipaddress.IPv4Address(raw)
    if kind is Kind.IPV6 and length == 16:
        return ipaddress.IPv6Address(raw)
    if kind is Kind.U8 and length == 1:
        return raw[0]
    if kind is Kind.U16 and length == 2:
        return _U16.unpack(raw)[0]
    if kind is Kind.S32 and length == 4:
        return _S32.unpack(raw)[0]
    if kind is Kind.BINARY or kind is Kind.SECRET:
        return raw
    if kind is Kind.STRING:
        return raw.split(b"\0", 1)[0].decode(errors="replace")
    raise ProtocolError(f"attribute {attr.name} has {length} bytes, which is not a {kind.value}")


def decode_attrs(
    attrset: AttrSet, data: bytes | memoryview, offset: int = 0, end: int | None = None
) -> dict[str, Any]:
    """Decode a run of TLVs; unknown types are kept as `UNKNOWN_<id>` with raw bytes,
    so a newer kernel's extra attributes never break an older ovpnctl."""
    out: dict[str, Any] = {}
    for atype, poff, plen in iter_attrs(data, offset, end):
        attr = attrset.by_id.get(atype)
        if attr is None:
            out[f"UNKNOWN_{atype}"] = bytes(data[poff : poff + plen])
            continue
        out[attr.name] = _decode_value(attr, data, poff, plen)
    return out


def render_items(attrset: AttrSet, items: Items, *, show_secrets: bool = False) -> dict[str, Any]:
    """The JSON form of a request about to be sent: addresses as text, secrets hidden
    (as "<N bytes hidden>") unless `show_secrets`."""
    out: dict[str, Any] = {}
    for name, value in items:
        out[name] = _render(attrset.by_name[name], value, show_secrets)
    return out


def render_decoded(
    attrset: AttrSet, decoded: dict[str, Any], *, show_secrets: bool = False
) -> dict[str, Any]:
    """The JSON form of a decoded message (same conventions as `render_items`)."""
    out: dict[str, Any] = {}
    for name, value in decoded.items():
        attr = attrset.by_name.get(name)
        out[name] = value.hex() if attr is None else _render(attr, value, show_secrets)
    return out


def _render(attr: Attr, value: Any, show_secrets: bool) -> Any:
    if isinstance(value, Placeholder):
        return value.text
    if attr.kind is Kind.NEST:
        assert attr.nested is not None
        if isinstance(value, dict):
            return render_decoded(attr.nested, value, show_secrets=show_secrets)
        return render_items(attr.nested, value, show_secrets=show_secrets)
    if attr.kind is Kind.SECRET:
        return bytes(value).hex() if show_secrets else f"<{len(value)} bytes hidden>"
    if attr.kind is Kind.BINARY:
        return bytes(value).hex()
    if attr.kind in (Kind.IPV4, Kind.IPV6):
        return str(value)
    return value
