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
import socket
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
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
_BE32 = struct.Struct("!I")
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
    """One kernel attribute space (`ovpn`, `peer`, `keyconf`, ...).

    The per-attribute encoders and decoders are looked up once, here, so that encoding
    and decoding are one table lookup and one struct call per attribute.
    """

    def __init__(self, name: str, attrs: Iterable[Attr]) -> None:
        self.name = name
        self.attrs = tuple(attrs)
        self.by_id = {a.id: a for a in self.attrs}
        self.max_id = max(self.by_id, default=0)
        self.by_name = {a.name: a for a in self.attrs}
        for attr in self.attrs:
            if (attr.kind is Kind.NEST) != (attr.nested is not None):
                raise ValueError(f"{name}.{attr.name}: a nest needs its attribute set")
        # name -> (type with flags, value -> TLV (None: nest or binary), nested set)
        self.encoders: dict[str, tuple[int, Callable[[Any], bytes] | None, AttrSet | None]] = {
            a.name: (
                a.id | (NLA_F_NESTED if a.nested is not None else 0),
                _tlv_encoder(a.kind, a.id),
                a.nested,
            )
            for a in self.attrs
        }
        # id -> (name, decoder or None for a nest, nested set)
        self.decoders: dict[int, tuple[str, Decoder | None, AttrSet | None]] = {
            a.id: (a.name, None if a.nested is not None else _DECODERS[a.kind], a.nested)
            for a in self.attrs
        }
        # id -> (name, struct, size) for the integer kinds at their usual size: decoded
        # inline by decode_attrs; any other size goes through `decoders` (and its checks).
        self.fast: dict[int, tuple[str, struct.Struct, int]] = {
            a.id: (a.name, _FAST[a.kind], _FAST[a.kind].size) for a in self.attrs if a.kind in _FAST
        }
        self.fast_by_id: dict[int, tuple[Callable[..., tuple[Any, ...]], int]] = {
            a.id: (_FAST[a.kind].unpack_from, _FAST[a.kind].size)
            for a in self.attrs
            if a.kind in _FAST
        }

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


def _fixed_tlv(fmt: str, length: int, htype: int) -> Callable[[Any], bytes]:
    """Header, value and padding in one struct call (`fmt` includes the padding)."""
    st = struct.Struct(fmt)

    def tlv(value: Any) -> bytes:
        return st.pack(length, htype, value)

    return tlv


def _be16_tlv(htype: int) -> Callable[[Any], bytes]:
    st = struct.Struct("=HHH2x")

    def tlv(value: Any) -> bytes:
        return st.pack(6, htype, socket.htons(value))  # network order, via the host's

    return tlv


def _uint_tlv(htype: int) -> Callable[[Any], bytes]:
    small, large = struct.Struct("=HHI"), struct.Struct("=HHQ")

    def tlv(value: Any) -> bytes:
        return small.pack(8, htype, value) if value <= _U32_MAX else large.pack(12, htype, value)

    return tlv


def _address_tlv(size: int, htype: int) -> Callable[[Any], bytes]:
    st = struct.Struct(f"=HH{size}s")

    def tlv(value: Any) -> bytes:
        packed: bytes = value.packed
        if len(packed) != size:
            raise ValueError(f"address {value} is not IPv{4 if size == 4 else 6}")
        return st.pack(NLA_HDRLEN + size, htype, packed)

    return tlv


def _string_tlv(htype: int) -> Callable[[Any], bytes]:
    def tlv(value: Any) -> bytes:
        payload = str(value).encode() + b"\0"
        length = NLA_HDRLEN + len(payload)
        return _HDR.pack(length, htype) + payload + _PADDING[-length & 3]

    return tlv


def _tlv_encoder(kind: Kind, htype: int) -> Callable[[Any], bytes] | None:
    """A function from value to the complete TLV; None for nests and binary values,
    which encode_into appends without building an intermediate copy."""
    if kind is Kind.U8:
        return _fixed_tlv("=HHB3x", 5, htype)
    if kind is Kind.U16:
        return _fixed_tlv("=HHH2x", 6, htype)
    if kind is Kind.U32:
        return _fixed_tlv("=HHI", 8, htype)
    if kind is Kind.S32:
        return _fixed_tlv("=HHi", 8, htype)
    if kind is Kind.BE16:
        return _be16_tlv(htype)
    if kind is Kind.UINT:
        return _uint_tlv(htype)
    if kind is Kind.IPV4:
        return _address_tlv(4, htype)
    if kind is Kind.IPV6:
        return _address_tlv(16, htype)
    if kind is Kind.STRING:
        return _string_tlv(htype)
    return None


_ENCODE_ERRORS = (struct.error, TypeError, AttributeError, ValueError, OverflowError)


def encode_into(out: bytearray, attrset: AttrSet, items: Items) -> bytearray:
    """Append `(name, value)` pairs, in order, to `out`; every nest gets NLA_F_NESTED.

    Binary values are appended straight from the caller's buffer, so key material exists
    only in `out` and in the caller's bytearray, both of which can be wiped afterwards.
    """
    encoders = attrset.encoders
    for name, value in items:
        htype, tlv, nested = encoders[name]
        if tlv is not None:
            try:
                # Only integer attributes (ifindex, fd) are ever unknown, in a dry run.
                out += tlv(0 if type(value) is Placeholder else value)
            except _ENCODE_ERRORS as exc:
                # A bug in a caller (validation happens before encoding), not a user error.
                raise ProtocolError(f"cannot encode {name}={value!r}: {exc}") from None
        elif nested is not None:
            start = len(out)
            out += _EMPTY_HDR
            encode_into(out, nested, value)  # members are padded, so the nest is aligned
            _HDR.pack_into(out, start, len(out) - start, htype)
        else:
            if not isinstance(value, bytes | bytearray | memoryview):
                raise ProtocolError(f"cannot encode {name}: {type(value).__name__} is not bytes")
            length = NLA_HDRLEN + len(value)
            out += _HDR.pack(length, htype)
            out += value
            out += _PADDING[-length & 3]
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
        offset += (length + 3) & ~3


Decoder = Callable[[Any, int, int, str], Any]


def _wrong_size(name: str, length: int, kind: Kind) -> ProtocolError:
    return ProtocolError(f"attribute {name} has {length} bytes, which is not a {kind.value}")


def _fixed(fmt: struct.Struct, kind: Kind) -> Decoder:
    size = fmt.size

    def decode(data: Any, offset: int, length: int, name: str) -> Any:
        if length != size:
            raise _wrong_size(name, length, kind)
        return fmt.unpack_from(data, offset)[0]

    return decode


def _decode_uint(data: Any, offset: int, length: int, name: str) -> Any:
    fmt = _UINT_BY_LENGTH.get(length)
    if fmt is None:
        raise _wrong_size(name, length, Kind.UINT)
    return fmt.unpack_from(data, offset)[0]


def _decode_ipv4(data: Any, offset: int, length: int, name: str) -> Any:
    if length != 4:
        raise _wrong_size(name, length, Kind.IPV4)
    return ipaddress.IPv4Address(_BE32.unpack_from(data, offset)[0])


def _decode_ipv6(data: Any, offset: int, length: int, name: str) -> Any:
    if length != 16:
        raise _wrong_size(name, length, Kind.IPV6)
    return ipaddress.IPv6Address(bytes(data[offset : offset + 16]))


def _decode_binary(data: Any, offset: int, length: int, name: str) -> Any:
    return bytes(data[offset : offset + length])


def _decode_string(data: Any, offset: int, length: int, name: str) -> Any:
    return bytes(data[offset : offset + length]).split(b"\0", 1)[0].decode(errors="replace")


_DECODERS: dict[Kind, Decoder] = {
    Kind.U8: _fixed(_U8, Kind.U8),
    Kind.U16: _fixed(_U16, Kind.U16),
    Kind.U32: _fixed(_U32, Kind.U32),
    Kind.S32: _fixed(_S32, Kind.S32),
    Kind.UINT: _decode_uint,
    Kind.BE16: _fixed(_BE16, Kind.BE16),
    Kind.IPV4: _decode_ipv4,
    Kind.IPV6: _decode_ipv6,
    Kind.BINARY: _decode_binary,
    Kind.SECRET: _decode_binary,
    Kind.STRING: _decode_string,
}


_FAST: dict[Kind, struct.Struct] = {
    Kind.U8: _U8,
    Kind.U16: _U16,
    Kind.U32: _U32,
    Kind.S32: _S32,
    Kind.UINT: _U32,  # the 4-byte form; 8-byte values take the checked path
    Kind.BE16: _BE16,
}


def decode_attrs(
    attrset: AttrSet, data: bytes | memoryview, offset: int = 0, end: int | None = None
) -> dict[str, Any]:
    """Decode a run of TLVs; unknown types are kept as `UNKNOWN_<id>` with raw bytes,
    so a newer kernel's extra attributes never break an older ovpnctl."""
    decoders, fast, header = attrset.decoders, attrset.fast, _HDR.unpack_from
    out: dict[str, Any] = {}
    stop = len(data) if end is None else end
    while offset + NLA_HDRLEN <= stop:
        length, atype = header(data, offset)
        if length < NLA_HDRLEN or offset + length > stop:
            raise ProtocolError(
                f"malformed netlink attribute (type {atype & NLA_TYPE_MASK}, length {length})"
            )
        atype &= NLA_TYPE_MASK
        poff = offset + NLA_HDRLEN
        plen = length - NLA_HDRLEN
        offset += (length + 3) & ~3
        quick = fast.get(atype)
        if quick is not None and quick[2] == plen:
            out[quick[0]] = quick[1].unpack_from(data, poff)[0]
            continue
        entry = decoders.get(atype)
        if entry is None:
            out[f"UNKNOWN_{atype}"] = bytes(data[poff : poff + plen])
        else:
            name, decode, nested = entry
            if nested is not None:
                out[name] = decode_attrs(nested, data, poff, poff + plen)
            else:
                assert decode is not None
                out[name] = decode(data, poff, plen, name)
    return out


def decode_by_id(
    attrset: AttrSet, data: bytes | memoryview, offset: int = 0, end: int | None = None
) -> list[Any]:
    """Values indexed by attribute id (None where absent): the fast form for a reader
    that knows the set (one per peer in a stats dump). Ids the set does not know are
    skipped; nests are decoded to dicts. Literals instead of the named constants below:
    this loop runs for every attribute of every peer."""
    decoders, fast, header = attrset.decoders, attrset.fast_by_id, _HDR.unpack_from
    values: list[Any] = [None] * (attrset.max_id + 1)
    stop = len(data) if end is None else end
    while offset + 4 <= stop:  # NLA_HDRLEN
        length, atype = header(data, offset)
        if length < 4 or offset + length > stop:
            raise ProtocolError(
                f"malformed netlink attribute (type {atype & NLA_TYPE_MASK}, length {length})"
            )
        atype &= 0x3FFF  # NLA_TYPE_MASK
        poff = offset + 4
        offset += (length + 3) & ~3
        quick = fast.get(atype)
        if quick is not None and quick[1] == length - 4:
            values[atype] = quick[0](data, poff)[0]
            continue
        entry = decoders.get(atype)
        if entry is not None:
            name, decode, nested = entry
            if nested is not None:
                values[atype] = decode_attrs(nested, data, poff, poff + length - 4)
            else:
                assert decode is not None
                values[atype] = decode(data, poff, length - 4, name)
    return values


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
