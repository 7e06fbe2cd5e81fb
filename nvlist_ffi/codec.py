"""Pure-Python packed-nvlist codec, byte-exact with libnv's ``nvlist_pack``/``nvlist_unpack``.

Both directions are single loops over an explicit stack, mirroring libnv's own iterative
``nvlist_xunpack``; nothing recurses, so 2,500 nesting levels cost memory, not stack.

Decoding follows libnv decision by decision (the checklist in the libnv wire-format sheet, §7),
including its leniencies: buffers may end inside a nested list, a "next" marker closes a plain
nested list, an "up" marker inside an nvlist-array element returns to the list holding the array,
and the byte order is re-taken from every nvlist-array element header. Every rejection is an
:class:`NVListError` carrying libnv's errno name and the byte offset of the offending structure.
Where libnv sets no errno itself (a marker at top level) we use EINVAL; where libnv aborts on an
internal assertion (a duplicate name inside an nvlist-array element) we reject with EEXIST, which
is what libnv built without assertions returns.

libnv keeps two header fields it does not validate and re-emits them on pack: ``nitems`` on
non-array pairs and ``datasize`` on nvlist-array pairs. The decoder records non-zero values of
those in the list's private ``_wire`` table and the encoder writes them back, so
``pack(unpack(b))`` equals libnv's repack of ``b`` byte for byte. Such fields are invisible to
equality and typed JSON: content is the contract, the bytes are a bonus.

Decoded memory is bounded by a constant factor of the input: the only count taken from the
buffer and used before the bytes it describes is an nvlist array's ``nitems``, and (as in libnv)
it must satisfy ``19 * nitems <= remaining bytes`` before any element is created.
"""

from __future__ import annotations

import struct
from typing import Any

from nvlist_ffi.errors import NVListError
from nvlist_ffi.model import (
    NAME_BYTES,
    NV_FLAG_IGNORE_CASE,
    NV_FLAG_NO_UNIQUE,
    NV_NAME_MAX,
    NV_TYPE_BINARY,
    NV_TYPE_BOOL,
    NV_TYPE_BOOL_ARRAY,
    NV_TYPE_DESCRIPTOR,
    NV_TYPE_DESCRIPTOR_ARRAY,
    NV_TYPE_NULL,
    NV_TYPE_NUMBER,
    NV_TYPE_NUMBER_ARRAY,
    NV_TYPE_NVLIST,
    NV_TYPE_NVLIST_ARRAY,
    NV_TYPE_NVLIST_ARRAY_NEXT,
    NV_TYPE_NVLIST_UP,
    NV_TYPE_STRING,
    NV_TYPE_STRING_ARRAY,
    TYPE_CODE,
    BoolArray,
    CString,
    Name,
    NumberArray,
    NVList,
    NVListArray,
    StringArray,
    Value,
    fold_name,
    name_bytes,
    type_code,
)

__all__ = ["HEADER_SIZE", "NV_FLAG_BIG_ENDIAN", "pack", "unpack"]

HEADER_SIZE = 19
"""Size of both the list header and the pair header."""

NVLIST_MAGIC = 0x6C
NV_FLAG_BIG_ENDIAN = 0x80
_HEADER_FLAGS_ALLOWED = NV_FLAG_IGNORE_CASE | NV_FLAG_NO_UNIQUE | NV_FLAG_BIG_ENDIAN

_LIST_LE = struct.Struct("<BBBQQ")
_LIST_BE = struct.Struct(">BBBQQ")
_PAIR_LE = struct.Struct("<BHQQ")
_PAIR_BE = struct.Struct(">BHQQ")
_U64_LE = struct.Struct("<Q")
_U64_BE = struct.Struct(">Q")

_MARKER_UP = _PAIR_LE.pack(NV_TYPE_NVLIST_UP, 1, 0, 0) + b"\0"
_MARKER_NEXT = _PAIR_LE.pack(NV_TYPE_NVLIST_ARRAY_NEXT, 1, 0, 0) + b"\0"

# Decoded bool-array byte -> stored element: False/True for 0/1, the raw int otherwise.
_BOOL_ELEMENT: tuple[bool | int, ...] = (False, True, *range(2, 256))

# Raw wire name (with NUL) -> decoded name. Presence means "validated". Bounded.
_DECODED_NAMES: dict[bytes, Name] = {}
_DECODED_NAMES_MAX = 4096

_VALID_TYPES = frozenset(range(1, 13)) | {NV_TYPE_NVLIST_ARRAY_NEXT, NV_TYPE_NVLIST_UP}
_SCALAR_TYPES = frozenset(
    {NV_TYPE_NULL, NV_TYPE_BOOL, NV_TYPE_NUMBER, NV_TYPE_STRING, NV_TYPE_BINARY}
)


def _fail(offset: int, message: str, err: str = "EINVAL") -> NVListError:
    return NVListError(err, message, offset)


def _decode_name(raw: bytes, offset: int) -> Name:
    """Validate and decode a wire name (``raw`` includes the NUL)."""
    if raw.find(0) != len(raw) - 1:
        raise _fail(offset, "pair name is not a single NUL-terminated string")
    text = raw[:-1]
    name: Name
    try:
        name = text.decode()
    except UnicodeDecodeError:
        name = text
    if len(_DECODED_NAMES) >= _DECODED_NAMES_MAX:
        _DECODED_NAMES.clear()
    _DECODED_NAMES[raw] = name
    return name


def _c_string(raw: bytes) -> str | CString:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return CString(raw)


def _list_header(buf: bytes, offset: int, end: int) -> int:
    """Check a list header at ``offset``; return its flags byte (libnv nvlist_unpack_header)."""
    if end - offset < HEADER_SIZE:
        raise _fail(offset, "buffer too short for an nvlist header")
    magic, _version, flags, descriptors, size = _LIST_LE.unpack_from(buf, offset)
    if magic != NVLIST_MAGIC:
        raise _fail(offset, f"bad nvlist magic 0x{magic:02x} (expected 0x6c)")
    if flags & ~_HEADER_FLAGS_ALLOWED:
        raise _fail(offset, f"nvlist header has unknown flag bits 0x{flags:02x}")
    if flags & NV_FLAG_BIG_ENDIAN:
        _, _, _, descriptors, size = _LIST_BE.unpack_from(buf, offset)
    if size != end - offset - HEADER_SIZE:
        raise _fail(offset, f"nvlist header size {size} does not match the {end - offset - 19}")
    if descriptors:
        raise _fail(offset, "nvlist header announces descriptors, which cannot be unpacked here")
    return int(flags)


def _new_list(flags: int) -> NVList:
    nvl = NVList.__new__(NVList)
    nvl._names = []
    nvl._values = []
    nvl._flags = flags & 3
    nvl._index = None if flags & NV_FLAG_NO_UNIQUE else {}
    nvl._owned = True
    nvl._wire = None
    return nvl


def _enter(nvl: NVList, flags: int) -> None:
    """Apply a just-read header to a pre-created nvlist-array element."""
    nvl._flags = flags & 3
    nvl._index = None if flags & NV_FLAG_NO_UNIQUE else {}


def unpack(data: bytes | bytearray | memoryview, flags: int = 0) -> NVList:
    """Decode a packed nvlist exactly as libnv's ``nvlist_unpack(data, len, flags)`` would.

    Raises :class:`NVListError` (and nothing else) for every buffer libnv refuses.
    """
    if type(flags) is not int or flags & ~3:
        raise NVListError(
            "EINVAL", f"unpack flags must be a combination of 0x01 and 0x02: {flags!r}"
        )
    buf = data if type(data) is bytes else bytes(data)
    end = len(buf)
    top_flags = _list_header(buf, 0, end)
    if top_flags & 3 != flags:
        raise _fail(
            0,
            f"buffer has nvlist flags 0x{top_flags & 3:x} but 0x{flags:x} were expected",
            "EILSEQ",
        )
    top = _new_list(top_flags)
    top._owned = False
    pair_header = _PAIR_BE.unpack_from if top_flags & 0x80 else _PAIR_LE.unpack_from
    u64 = _U64_BE.unpack_from if top_flags & 0x80 else _U64_LE.unpack_from
    be_format = ">" if top_flags & 0x80 else "<"

    cur = top
    names = cur._names
    values = cur._values
    index = cur._index
    fold = bool(top_flags & NV_FLAG_IGNORE_CASE)
    elements: NVListArray | None = None
    element_pos = 0
    stack: list[
        tuple[
            NVList, list[Name], list[Value], dict[Name, int] | None, bool, NVListArray | None, int
        ]
    ] = []
    decoded = _DECODED_NAMES
    valid_types = _VALID_TYPES

    off = HEADER_SIZE
    while off < end:
        if end - off < HEADER_SIZE:
            raise _fail(off, "buffer too short for a pair header")
        kind, namesize, datasize, nitems = pair_header(buf, off)
        if kind not in valid_types:
            raise _fail(off, f"invalid pair type code {kind}")
        name_at = off + HEADER_SIZE
        if namesize > NV_NAME_MAX or namesize > end - name_at or namesize < 1:
            raise _fail(off, f"invalid pair name size {namesize}")
        at = name_at + namesize
        raw = buf[name_at:at]
        name = decoded.get(raw)
        if name is None:
            name = _decode_name(raw, name_at)
        if datasize > end - at:
            raise _fail(off, f"pair data size {datasize} exceeds the {end - at} bytes left")

        value: Value
        if kind == NV_TYPE_NUMBER:
            if datasize != 8:
                raise _fail(off, f"number pair has data size {datasize}, not 8")
            value = u64(buf, at)[0]
            next_off = at + 8
        elif kind == NV_TYPE_NVLIST:
            if datasize == 0:
                raise _fail(off, "nvlist pair has data size 0")
            child_flags = _list_header(buf, at, end)
            child = _new_list(child_flags)
            key = fold_name(name) if fold else name
            if index is not None:
                if key in index:
                    raise _fail(off, f"duplicate name {name!r}", "EEXIST")
                index[key] = len(names)
            if nitems:
                if cur._wire is None:
                    cur._wire = {}
                cur._wire[len(names)] = nitems
            names.append(name)
            values.append(child)
            stack.append((cur, names, values, index, fold, elements, element_pos))
            cur = child
            names = child._names
            values = child._values
            index = child._index
            fold = bool(child_flags & NV_FLAG_IGNORE_CASE)
            elements = None
            off = at + HEADER_SIZE
            continue
        elif kind in (NV_TYPE_NVLIST_UP, NV_TYPE_NVLIST_ARRAY_NEXT):
            if (
                kind == NV_TYPE_NVLIST_ARRAY_NEXT
                and elements is not None
                and element_pos + 1 < len(elements)
            ):
                element_pos += 1
                element_flags = _list_header(buf, at, end)
                if element_flags & 0x80:
                    pair_header, u64, be_format = _PAIR_BE.unpack_from, _U64_BE.unpack_from, ">"
                else:
                    pair_header, u64, be_format = _PAIR_LE.unpack_from, _U64_LE.unpack_from, "<"
                cur = elements[element_pos]
                _enter(cur, element_flags)
                names = cur._names
                values = cur._values
                index = cur._index
                fold = bool(element_flags & NV_FLAG_IGNORE_CASE)
                off = at + HEADER_SIZE
                continue
            if not stack:
                raise _fail(off, "nvlist end marker at the top level")
            cur, names, values, index, fold, elements, element_pos = stack.pop()
            off = at
            continue
        elif kind == NV_TYPE_BINARY:
            if datasize == 0:
                raise _fail(off, "binary pair has data size 0")
            next_off = at + datasize
            value = buf[at:next_off]
        elif kind == NV_TYPE_NVLIST_ARRAY:
            if nitems == 0 or nitems * HEADER_SIZE > end - at:
                raise _fail(off, f"nvlist array item count {nitems} is impossible here")
            new_elements = NVListArray(_new_list(0) for _ in range(nitems))
            element_flags = _list_header(buf, at, end)
            key = fold_name(name) if fold else name
            if index is not None:
                if key in index:
                    raise _fail(off, f"duplicate name {name!r}", "EEXIST")
                index[key] = len(names)
            if datasize:
                if cur._wire is None:
                    cur._wire = {}
                cur._wire[len(names)] = datasize
            names.append(name)
            values.append(new_elements)
            stack.append((cur, names, values, index, fold, elements, element_pos))
            if element_flags & 0x80:
                pair_header, u64, be_format = _PAIR_BE.unpack_from, _U64_BE.unpack_from, ">"
            else:
                pair_header, u64, be_format = _PAIR_LE.unpack_from, _U64_LE.unpack_from, "<"
            elements = new_elements
            element_pos = 0
            cur = new_elements[0]
            _enter(cur, element_flags)
            names = cur._names
            values = cur._values
            index = cur._index
            fold = bool(element_flags & NV_FLAG_IGNORE_CASE)
            off = at + HEADER_SIZE
            continue
        elif kind == NV_TYPE_STRING:
            next_off = at + datasize
            if datasize == 0 or buf.find(0, at, next_off) != next_off - 1:
                raise _fail(off, "string value is not a single NUL-terminated string")
            value = _c_string(buf[at : next_off - 1])
        elif kind == NV_TYPE_NULL:
            if datasize != 0:
                raise _fail(off, f"null pair has data size {datasize}, not 0")
            value = None
            next_off = at
        elif kind == NV_TYPE_BOOL:
            if datasize != 1:
                raise _fail(off, f"bool pair has data size {datasize}, not 1")
            byte = buf[at]
            if byte > 1:
                raise _fail(at, f"bool value byte is {byte}, not 0 or 1")
            value = byte == 1
            next_off = at + 1
        elif kind == NV_TYPE_BOOL_ARRAY:
            if nitems == 0 or datasize != nitems:
                raise _fail(off, f"bool array of {nitems} items has data size {datasize}")
            next_off = at + datasize
            table = _BOOL_ELEMENT
            value = BoolArray([table[b] for b in buf[at:next_off]])
        elif kind == NV_TYPE_NUMBER_ARRAY:
            if nitems == 0 or datasize != 8 * nitems:
                raise _fail(off, f"number array of {nitems} items has data size {datasize}")
            next_off = at + datasize
            value = NumberArray(struct.unpack_from(f"{be_format}{nitems}Q", buf, at))
        elif kind == NV_TYPE_STRING_ARRAY:
            if datasize == 0 or nitems == 0:
                raise _fail(off, f"string array of {nitems} items has data size {datasize}")
            next_off = at + datasize
            chunk = buf[at:next_off]
            if chunk[-1] != 0 or chunk.count(0) != nitems:
                raise _fail(off, f"string array data does not hold exactly {nitems} strings")
            value = StringArray([_c_string(s) for s in chunk[:-1].split(b"\0")])
        elif kind in (NV_TYPE_DESCRIPTOR, NV_TYPE_DESCRIPTOR_ARRAY):
            raise _fail(off, "descriptor pairs cannot be unpacked without their descriptors")
        else:  # pragma: no cover - valid_types admits nothing else
            raise _fail(off, f"invalid pair type code {kind}")

        key = fold_name(name) if fold else name
        if index is not None:
            if key in index:
                raise _fail(off, f"duplicate name {name!r}", "EEXIST")
            index[key] = len(names)
        if nitems and kind in _SCALAR_TYPES:
            if cur._wire is None:
                cur._wire = {}
            cur._wire[len(names)] = nitems
        names.append(name)
        values.append(value)
        off = next_off
    return top


def pack(nvl: NVList) -> bytes:
    """Encode ``nvl`` exactly as libnv's ``nvlist_pack`` does on a little-endian host."""
    try:
        return _pack(nvl)
    except NVListError:
        raise
    except (TypeError, ValueError, AttributeError, struct.error, UnicodeEncodeError) as exc:
        raise NVListError("EINVAL", f"nvlist holds a value libnv cannot pack: {exc}") from None


def _pack(nvl: NVList) -> bytes:
    chunks: list[bytes] = [b""]
    headers: list[tuple[int, int, int]] = [(0, 0, nvl._flags)]
    # Open nvlist pairs waiting for their datasize: chunk index, pair prefix, name, child header.
    pos = HEADER_SIZE
    path = {id(nvl)}
    cur = nvl
    names = nvl._names
    values: list[Any] = nvl._values
    wire = nvl._wire
    count = len(names)
    i = 0
    elements: NVListArray | None = None
    element_pos = 0
    # Each frame: the list to resume, its position, and how to finish the child being left.
    stack: list[tuple[NVList, int, NVListArray | None, int, int, int, int, bytes]] = []
    pair = _PAIR_LE.pack
    u64 = _U64_LE.pack
    append = chunks.append
    while True:
        if i < count:
            name = names[i]
            value = values[i]
            raw_name = NAME_BYTES.get(name)
            if raw_name is None:
                raw_name = name_bytes(name)[1]
            code = TYPE_CODE.get(type(value))
            if code is None:
                code = type_code(value)
            namesize = len(raw_name)
            extra = 0 if wire is None else wire.get(i, 0)
            if code == NV_TYPE_NUMBER:
                chunk = pair(3, namesize, 8, extra) + raw_name + u64(value)
            elif code == NV_TYPE_NVLIST:
                child: NVList = value
                if id(child) in path:
                    raise NVListError("EINVAL", "nvlist contains itself")
                path.add(id(child))
                slot = len(chunks)
                append(b"")
                pos += HEADER_SIZE + namesize
                headers.append((len(chunks), pos, child._flags))
                append(b"")
                stack.append((cur, i + 1, elements, element_pos, slot, pos, extra, raw_name))
                pos += HEADER_SIZE
                cur = child
                names = child._names
                values = child._values
                wire = child._wire
                count = len(names)
                i = 0
                elements = None
                continue
            elif code == NV_TYPE_STRING:
                data = value.encode() if type(value) is str else bytes(value)
                if b"\0" in data:
                    raise NVListError("EINVAL", "string contains a NUL byte")
                chunk = pair(4, namesize, len(data) + 1, extra) + raw_name + data + b"\0"
            elif code == NV_TYPE_BINARY:
                data = value
                if not data:
                    raise NVListError("EINVAL", "an empty binary value cannot be packed")
                chunk = pair(7, namesize, len(data), extra) + raw_name + data
            elif code == NV_TYPE_NVLIST_ARRAY:
                array: NVListArray = value
                if not array:
                    raise NVListError("EINVAL", "an empty array cannot be packed")
                append(pair(11, namesize, extra, len(array)) + raw_name)
                pos += HEADER_SIZE + namesize
                first = array[0]
                if id(first) in path:
                    raise NVListError("EINVAL", "nvlist contains itself")
                path.add(id(first))
                headers.append((len(chunks), pos, first._flags))
                append(b"")
                stack.append((cur, i + 1, elements, element_pos, -1, 0, 0, b""))
                pos += HEADER_SIZE
                cur = first
                names = first._names
                values = first._values
                wire = first._wire
                count = len(names)
                i = 0
                elements = array
                element_pos = 0
                continue
            elif code == NV_TYPE_NULL:
                chunk = pair(1, namesize, 0, extra) + raw_name
            elif code == NV_TYPE_BOOL:
                chunk = pair(2, namesize, 1, extra) + raw_name + (b"\1" if value else b"\0")
            elif code == NV_TYPE_BOOL_ARRAY:
                data = bytes(value)
                if not data:
                    raise NVListError("EINVAL", "an empty array cannot be packed")
                chunk = pair(8, namesize, len(data), len(data)) + raw_name + data
            elif code == NV_TYPE_NUMBER_ARRAY:
                n = len(value)
                if not n:
                    raise NVListError("EINVAL", "an empty array cannot be packed")
                chunk = pair(9, namesize, 8 * n, n) + raw_name + struct.pack(f"<{n}Q", *value)
            elif code == NV_TYPE_STRING_ARRAY:
                n = len(value)
                data = b"".join((s.encode() if type(s) is str else bytes(s)) + b"\0" for s in value)
                if not n or data.count(0) != n:
                    raise NVListError("EINVAL", "string array is empty or holds a NUL byte")
                chunk = pair(10, namesize, len(data), n) + raw_name + data
            else:
                raise NVListError("EOPNOTSUPP", "descriptors cannot be packed")
            append(chunk)
            pos += len(chunk)
            i += 1
            continue

        # The current list is complete.
        if not stack:
            break
        path.discard(id(cur))
        if elements is not None:
            append(_MARKER_NEXT)
            pos += 20
            if element_pos + 1 < len(elements):
                element_pos += 1
                nxt = elements[element_pos]
                if id(nxt) in path:
                    raise NVListError("EINVAL", "nvlist contains itself")
                path.add(id(nxt))
                headers.append((len(chunks), pos, nxt._flags))
                append(b"")
                pos += HEADER_SIZE
                cur = nxt
                names = nxt._names
                values = nxt._values
                wire = nxt._wire
                count = len(names)
                i = 0
                continue
            cur, i, elements, element_pos, _, _, _, _ = stack.pop()
        else:
            size = pos - stack[-1][5]
            append(_MARKER_UP)
            pos += 20
            cur, i, elements, element_pos, slot, _, extra, raw_name = stack.pop()
            chunks[slot] = pair(5, len(raw_name), size, extra) + raw_name
        names = cur._names
        values = cur._values
        wire = cur._wire
        count = len(names)

    total = pos
    header = _LIST_LE.pack
    for slot, at, flags in headers:
        chunks[slot] = header(NVLIST_MAGIC, 0, flags, 0, total - at - HEADER_SIZE)
    return b"".join(chunks)
