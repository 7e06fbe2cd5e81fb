"""Decoding packed nvlists exactly as libnv's ``nvlist_unpack`` does.

Two decoders share one contract. :func:`unpack_strict` is the reference: it follows libnv decision
by decision (libnv sheet §7 and golden/README.md §5), in libnv's order, including its leniencies:
a buffer may end inside a nested list, a "next" marker closes a plain nested list, an "up" marker
inside an nvlist-array element returns to the list holding the array, and the byte order is
re-taken from every nvlist-array element header. Its first error is libnv's first error.

:func:`unpack` is the fast path for what kernels send (little-endian, well-formed). It skips the
per-pair duplicate-name lookups, checking each list once at the end instead, and lets struct
raise on truncation. Whenever it meets anything unusual (a big-endian flag, any error, any
duplicate) it hands the whole buffer to :func:`unpack_strict`, which then produces the result or
the exact libnv error. So the fast path may only ever *accept* what the strict one accepts, with
the same content; a test decodes every golden and fuzzed buffer both ways to hold it to that.
On top of it, recurring layouts are decoded through compiled shapes (:mod:`nvlist_ffi.shapes`):
a whole buffer whose layout was seen before, and the elements of an nvlist array that repeat
the layout of element 0. Shapes match canonical bytes only and apply the same value checks.

Both are single loops with an explicit stack (libnv's nvlist_xunpack is iterative too), so 2,500
levels of nesting cost memory, not Python stack. Memory stays within a constant factor of the
input: the only count used before the bytes it describes exist is an nvlist array's ``nitems``,
and (as in libnv) ``19 * nitems`` must fit in the remaining bytes first.

libnv keeps two header fields it does not validate and re-emits them when it packs again:
``nitems`` on non-array pairs and ``datasize`` on nvlist-array pairs. Non-zero values are kept
in the owning list's private ``_wire`` table (pair position -> value) so that the encoder
reproduces libnv's repack byte for byte. They take no part in equality or typed JSON.

Where libnv sets no errno of its own (a marker at top level) we report EINVAL; where libnv dies
on an internal assertion (a duplicate name directly inside an nvlist-array element) we report
EEXIST, which is what libnv built without assertions returns.
"""

from __future__ import annotations

import contextlib
import struct
from typing import Any, cast

from nvlist_ffi.encoder import pack_general
from nvlist_ffi.errors import NVListError
from nvlist_ffi.model import (
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
    BoolArray,
    CString,
    Name,
    NumberArray,
    NVList,
    NVListArray,
    StringArray,
    Value,
    _blank,
    fold_name,
)
from nvlist_ffi.shapes import MAX_SHAPE_BYTES, Shape, compile_shape
from nvlist_ffi.wire import (
    HEADER_FLAGS_ALLOWED,
    HEADER_SIZE,
    LIST_BE,
    LIST_LE,
    NV_FLAG_BIG_ENDIAN,
    NVLIST_MAGIC,
    PAIR_BE,
    PAIR_LE,
    U64_BE,
    U64_LE,
)

__all__ = ["unpack", "unpack_strict"]

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
    magic, _version, flags, descriptors, size = LIST_LE.unpack_from(buf, offset)
    if magic != NVLIST_MAGIC:
        raise _fail(offset, f"bad nvlist magic 0x{magic:02x} (expected 0x6c)")
    if flags & ~HEADER_FLAGS_ALLOWED:
        raise _fail(offset, f"nvlist header has unknown flag bits 0x{flags:02x}")
    if flags & NV_FLAG_BIG_ENDIAN:
        _, _, _, descriptors, size = LIST_BE.unpack_from(buf, offset)
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


def unpack_strict(data: bytes | bytearray | memoryview, flags: int = 0) -> NVList:
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
    pair_header = PAIR_BE.unpack_from if top_flags & 0x80 else PAIR_LE.unpack_from
    u64 = U64_BE.unpack_from if top_flags & 0x80 else U64_LE.unpack_from
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
                _keep_field(cur, len(names), nitems)
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
                    pair_header, u64, be_format = PAIR_BE.unpack_from, U64_BE.unpack_from, ">"
                else:
                    pair_header, u64, be_format = PAIR_LE.unpack_from, U64_LE.unpack_from, "<"
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
                _keep_field(cur, len(names), datasize)
            names.append(name)
            values.append(new_elements)
            stack.append((cur, names, values, index, fold, elements, element_pos))
            if element_flags & 0x80:
                pair_header, u64, be_format = PAIR_BE.unpack_from, U64_BE.unpack_from, ">"
            else:
                pair_header, u64, be_format = PAIR_LE.unpack_from, U64_LE.unpack_from, "<"
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
            _keep_field(cur, len(names), nitems)
        names.append(name)
        values.append(value)
        off = next_off
    return top


def unpack(data: bytes | bytearray | memoryview, flags: int = 0) -> NVList:
    """Decode a packed nvlist exactly as libnv's ``nvlist_unpack(data, len, flags)`` would.

    Raises :class:`NVListError` (and nothing else) for every buffer libnv refuses.
    """
    if type(flags) is not int or flags & ~3:
        raise NVListError("EINVAL", f"unpack flags must combine 0x01 and 0x02, not {flags!r}")
    buf = data if type(data) is bytes else bytes(data)
    key = buf[:HEADER_SIZE]
    shapes = _BUFFER_SHAPES.get(key) if SHAPES_ENABLED else None
    if shapes is not None and len(buf) > 2 and buf[2] == flags:
        for shape in shapes:
            if shape.length == len(buf):
                shaped = shape.decode(buf, 0, len(buf), False)
                if shaped is not None:
                    return shaped
    try:
        result = _unpack_fast(buf, flags)
    except Exception:  # any surprise: let the reference decoder decide
        result = None
    if result is not None:
        if SHAPES_ENABLED:
            # A shape is an optimisation: failing to learn one must never fail the call.
            with contextlib.suppress(Exception):
                _learn(key, buf, result)
        return result
    try:
        return unpack_strict(buf, flags)
    except MemoryError:
        raise NVListError("ENOMEM", "out of memory while unpacking") from None


SHAPES_ENABLED = True
"""Whether decoding learns shapes (nvlist_ffi.shapes); tests and the bench switch it off."""

# Top-level header (which fixes length and flags) -> shapes of buffers seen with it.
_BUFFER_SHAPES: dict[bytes, list[Shape]] = {}
_SIGHTINGS: dict[bytes, int] = {}
_SHAPES_PER_KEY = 4
_SHAPE_CACHE_MAX = 64
_ELEMENT_SHAPE_MIN_ITEMS = 4
"""Arrays shorter than this are decoded pair by pair (compiling a shape would cost more)."""


def _learn(key: bytes, buf: bytes, result: NVList) -> None:
    """Compile a shape for a buffer layout on its second sighting (see nvlist_ffi.shapes)."""
    seen = _SIGHTINGS.get(key, 0) + 1
    if len(_SIGHTINGS) >= 4 * _SHAPE_CACHE_MAX:
        _SIGHTINGS.clear()
    _SIGHTINGS[key] = seen
    if seen < 2 or len(buf) > MAX_SHAPE_BYTES:
        return
    canonical = pack_general(result)
    shape = compile_shape(result, buf, canonical, relative=False) if canonical == buf else None
    if shape is None:
        _SIGHTINGS[key] = -8  # not shapeable: try again only after a while
        return
    if len(_BUFFER_SHAPES) >= _SHAPE_CACHE_MAX:
        _BUFFER_SHAPES.clear()
    known = _BUFFER_SHAPES.setdefault(key, [])
    known.insert(0, shape)
    del known[_SHAPES_PER_KEY:]


def _shape_run(buf: bytes, elements: NVListArray, first_at: int, next_at: int, end: int) -> int:
    """Decode elements 1.. of an nvlist array with the shape of element 0; return how many."""
    first = elements[0]
    shape = compile_shape(first, buf[first_at:next_at], pack_general(first), relative=True)
    if shape is None or shape.decode(buf, first_at, end, True) is None:
        return 0
    run = shape.decode_run(buf, next_at, len(elements) - 1, end)
    elements[1 : 1 + len(run)] = run
    return len(run)


def _unpack_fast(buf: bytes, flags: int) -> NVList | None:
    """Little-endian, well-formed buffers only; ``None`` (or any exception) means "ask strict"."""
    end = len(buf)
    header = LIST_LE.unpack_from
    magic, _, top_flags, descriptors, size = header(buf, 0)
    if magic != NVLIST_MAGIC or top_flags != flags or descriptors or size != end - HEADER_SIZE:
        return None
    new = NVList.__new__
    top = new(NVList)
    names: list[Name] = []
    values: list[Value] = []
    top._names = names
    top._values = values
    top._flags = flags
    top._index = None
    top._owned = False
    top._wire = None
    created = [top]
    arrays: list[NVListArray] = []
    cur = top
    # The nvlist array the current list is an element of (else None), its position, and where
    # its element 0 starts (for element shapes; -1 once tried).
    elements: NVListArray | None = None
    element_pos = 0
    elements_at = -1
    stack: list[tuple[NVList, NVListArray | None, int, int]] = []
    pair = PAIR_LE.unpack_from
    u64 = U64_LE.unpack_from
    decoded = _DECODED_NAMES
    values_any: list[Any] = values
    off = HEADER_SIZE
    while off < end:
        kind, namesize, datasize, nitems = pair(buf, off)
        name_at = off + HEADER_SIZE
        at = name_at + namesize
        name = decoded.get(buf[name_at:at])
        if name is None:
            if namesize > NV_NAME_MAX or at > end or namesize < 1:
                return None
            name = _decode_name(buf[name_at:at], name_at)
        if kind == NV_TYPE_NUMBER:
            if datasize != 8:
                return None
            names.append(name)
            values_any.append(u64(buf, at)[0])
            if nitems:
                _keep_field(cur, len(names) - 1, nitems)
            off = at + 8
            continue
        if datasize > end - at:
            return None
        if kind >= NV_TYPE_NVLIST_ARRAY_NEXT:  # the two end markers
            if kind == NV_TYPE_NVLIST_ARRAY_NEXT and elements is not None:
                if element_pos == 0 and elements_at >= 0 and SHAPES_ENABLED:
                    shaped = _shape_run(buf, elements, elements_at, at, end)
                    element_pos += shaped
                    at += shaped * (at - elements_at)
                    elements_at = -1
                if element_pos + 1 < len(elements):
                    magic, _, child_flags, descriptors, size = header(buf, at)
                    if (
                        magic != NVLIST_MAGIC
                        or child_flags & ~3
                        or descriptors
                        or size != end - at - HEADER_SIZE
                    ):
                        return None
                    element_pos += 1
                    cur = _blank(child_flags)
                    elements[element_pos] = cur
                    created.append(cur)
                    names = cur._names
                    values_any = cur._values
                    off = at + HEADER_SIZE
                    continue
            if not stack:
                return None
            cur, elements, element_pos, elements_at = stack.pop()
            names = cur._names
            values_any = cur._values
            off = at
            continue
        if kind == NV_TYPE_NVLIST:
            magic, _, child_flags, descriptors, size = header(buf, at)
            if (
                datasize == 0
                or magic != NVLIST_MAGIC
                or child_flags & ~3
                or descriptors
                or size != end - at - HEADER_SIZE
            ):
                return None
            child = new(NVList)
            child._names = []
            child._values = []
            child._flags = child_flags
            child._index = None
            child._owned = True
            child._wire = None
            created.append(child)
            names.append(name)
            values_any.append(child)
            if nitems:
                _keep_field(cur, len(names) - 1, nitems)
            stack.append((cur, elements, element_pos, elements_at))
            cur = child
            names = child._names
            values_any = child._values
            elements = None
            off = at + HEADER_SIZE
            continue
        if kind == NV_TYPE_NVLIST_ARRAY:
            if nitems == 0 or nitems * HEADER_SIZE > end - at:
                return None
            magic, _, child_flags, descriptors, size = header(buf, at)
            if (
                magic != NVLIST_MAGIC
                or child_flags & ~3
                or descriptors
                or size != end - at - HEADER_SIZE
            ):
                return None
            # Elements are created as they are reached; unreached ones are filled in at the end.
            array: Any = NVListArray(cast("list[NVList]", [None] * nitems))
            first = _blank(child_flags)
            array[0] = first
            created.append(first)
            arrays.append(array)
            names.append(name)
            values_any.append(array)
            if datasize:
                _keep_field(cur, len(names) - 1, datasize)
            stack.append((cur, elements, element_pos, elements_at))
            elements = array
            element_pos = 0
            elements_at = at if nitems >= _ELEMENT_SHAPE_MIN_ITEMS else -1
            cur = first
            names = cur._names
            values_any = cur._values
            off = at + HEADER_SIZE
            continue
        value: Value
        next_off = at + datasize
        if kind == NV_TYPE_BINARY:
            if datasize == 0:
                return None
            value = buf[at:next_off]
        elif kind == NV_TYPE_STRING:
            if datasize == 0 or buf.find(0, at, next_off) != next_off - 1:
                return None
            value = _c_string(buf[at : next_off - 1])
        elif kind == NV_TYPE_BOOL:
            if datasize != 1 or buf[at] > 1:
                return None
            value = buf[at] == 1
        elif kind == NV_TYPE_NULL:
            if datasize != 0:
                return None
            value = None
        elif kind == NV_TYPE_NUMBER_ARRAY:
            if nitems == 0 or datasize != 8 * nitems:
                return None
            value = NumberArray(struct.unpack_from(f"<{nitems}Q", buf, at))
        elif kind == NV_TYPE_STRING_ARRAY:
            chunk = buf[at:next_off]
            if nitems == 0 or not chunk or chunk[-1] != 0 or chunk.count(0) != nitems:
                return None
            value = StringArray([_c_string(s) for s in chunk[:-1].split(b"\0")])
        elif kind == NV_TYPE_BOOL_ARRAY:
            if nitems == 0 or datasize != nitems:
                return None
            table = _BOOL_ELEMENT
            value = BoolArray([table[b] for b in buf[at:next_off]])
        else:
            return None  # descriptors, invalid type codes: the strict decoder reports them
        names.append(name)
        values_any.append(value)
        if nitems and kind in _SCALAR_TYPES:
            _keep_field(cur, len(names) - 1, nitems)
        off = next_off

    for nvl in created:
        list_flags = nvl._flags
        names = nvl._names
        if len(names) > 1 and not list_flags & NV_FLAG_NO_UNIQUE:
            keys = [fold_name(n) for n in names] if list_flags & NV_FLAG_IGNORE_CASE else names
            if len(set(keys)) != len(keys):
                return None
    for array in arrays:
        if None in array:  # elements never reached (the buffer ended, or an "up" marker)
            for position, element in enumerate(array):
                if element is None:
                    array[position] = _blank(0)
    return top


def _keep_field(nvl: NVList, position: int, raw: int) -> None:
    """Remember a non-canonical header field libnv would re-emit (see the module docstring)."""
    if nvl._wire is None:
        nvl._wire = {}
    nvl._wire[position] = raw
