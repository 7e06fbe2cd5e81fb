"""Encoding nvlists exactly as libnv's ``nvlist_pack`` does on a little-endian host.

One pass over an explicit stack (no recursion, any depth). Sizes that depend on what follows, the
nested-list datasize and every list header's "bytes to the end of the buffer", are written as
placeholders and patched once the total is known, so nothing is measured twice.

The model guarantees an NVList is packable, but the array wrappers are plain lists a caller can
still mutate after adding them; so the encoder re-checks what is cheap to check (empty arrays,
NULs in string arrays, cycles) rather than emit bytes libnv would refuse.

A list whose layout (flags, names, types, sizes) was packed before is encoded through its
compiled shape (:mod:`nvlist_ffi.shapes`): one ``struct.pack`` call for the whole buffer.
"""

from __future__ import annotations

import contextlib
import struct
from typing import Any

from nvlist_ffi.errors import NVListError
from nvlist_ffi.model import (
    NAME_BYTES,
    NV_TYPE_BINARY,
    NV_TYPE_BOOL,
    NV_TYPE_BOOL_ARRAY,
    NV_TYPE_NULL,
    NV_TYPE_NUMBER,
    NV_TYPE_NUMBER_ARRAY,
    NV_TYPE_NVLIST,
    NV_TYPE_NVLIST_ARRAY,
    NV_TYPE_STRING,
    NV_TYPE_STRING_ARRAY,
    TYPE_CODE,
    NVList,
    NVListArray,
    name_bytes,
    type_code,
)
from nvlist_ffi.shapes import MAX_SHAPE_BYTES, Shape, compile_shape
from nvlist_ffi.wire import (
    HEADER_SIZE,
    LIST_LE,
    MARKER_NEXT,
    MARKER_UP,
    NVLIST_MAGIC,
    PAIR_LE,
    U64_LE,
)

__all__ = ["pack"]


def pack(nvl: NVList) -> bytes:
    """Encode ``nvl`` exactly as libnv's ``nvlist_pack`` does on a little-endian host."""
    if not SHAPES_ENABLED or len(nvl._names) > _SHAPE_KEY_NAMES_MAX:
        return pack_general(nvl)
    key = (nvl._flags, *nvl._names)
    shapes = _PACK_SHAPES.get(key)
    if shapes is not None:
        for shape in shapes:
            data = shape.encode(nvl)
            if data is not None:
                return data
    data = pack_general(nvl)
    # A shape is an optimisation: failing to learn one must never fail the call.
    with contextlib.suppress(Exception):
        _learn(key, nvl, data)
    return data


def pack_general(nvl: NVList) -> bytes:
    """``pack`` without shapes: the pair-by-pair encoder."""
    try:
        return _pack(nvl)
    except NVListError:
        raise
    except (TypeError, ValueError, AttributeError, struct.error, UnicodeEncodeError) as exc:
        raise NVListError("EINVAL", f"nvlist holds a value libnv cannot pack: {exc}") from None


SHAPES_ENABLED = True
"""Whether encoding learns shapes (nvlist_ffi.shapes); tests and the bench switch it off."""

# (flags, *top-level names) -> shapes of lists packed with them, most recent first.
_PACK_SHAPES: dict[tuple[object, ...], list[Shape]] = {}
_SIGHTINGS: dict[tuple[object, ...], int] = {}
_SHAPES_PER_KEY = 4
_SHAPE_CACHE_MAX = 64
_SHAPE_KEY_NAMES_MAX = 64
"""Lists with more top-level pairs than this are not worth a cache key (nor its memory)."""


def _learn(key: tuple[object, ...], nvl: NVList, data: bytes) -> None:
    """Compile a shape for a list layout on its second sighting."""
    seen = _SIGHTINGS.get(key, 0) + 1
    if len(_SIGHTINGS) >= 4 * _SHAPE_CACHE_MAX:
        _SIGHTINGS.clear()
    _SIGHTINGS[key] = seen
    if seen < 2 or len(data) > MAX_SHAPE_BYTES:
        return
    shape = compile_shape(nvl, data, data, relative=False)
    if shape is None:
        _SIGHTINGS[key] = -8  # not shapeable: try again only after a while
        return
    if len(_PACK_SHAPES) >= _SHAPE_CACHE_MAX:
        _PACK_SHAPES.clear()
    known = _PACK_SHAPES.setdefault(key, [])
    known.insert(0, shape)
    del known[_SHAPES_PER_KEY:]


# Stands in for a 19-byte header until its contents are known (same length, so offsets add up).
_PLACEHOLDER = bytes(HEADER_SIZE)

# Validated name -> complete NUMBER pair header + name (nitems 0), the commonest pair by far.
_NUMBER_PREFIX: dict[object, bytes] = {}
_PREFIX_CACHE_MAX = 4096


def _number_prefix(name: object) -> bytes:
    raw_name = name_bytes(name)[1]
    prefix = PAIR_LE.pack(NV_TYPE_NUMBER, len(raw_name), 8, 0) + raw_name
    if len(_NUMBER_PREFIX) >= _PREFIX_CACHE_MAX:
        _NUMBER_PREFIX.clear()
    _NUMBER_PREFIX[name] = prefix
    return prefix


def _scalar(code: int, raw_name: bytes, value: Any, extra: int) -> list[bytes]:
    """Chunks of one non-nvlist pair, for the general (uncommon) cases."""
    namesize = len(raw_name)
    pair = PAIR_LE.pack
    if code == NV_TYPE_NUMBER:
        return [pair(3, namesize, 8, extra), raw_name, U64_LE.pack(value)]
    if code == NV_TYPE_STRING:
        data = value.encode() if type(value) is str else bytes(value)
        if b"\0" in data:
            raise NVListError("EINVAL", "string contains a NUL byte")
        return [pair(4, namesize, len(data) + 1, extra), raw_name, data, b"\0"]
    if code == NV_TYPE_BINARY:
        data = bytes(value)
        if not data:
            raise NVListError("EINVAL", "an empty binary value cannot be packed")
        return [pair(7, namesize, len(data), extra), raw_name, data]
    if code == NV_TYPE_NULL:
        return [pair(1, namesize, 0, extra), raw_name]
    if code == NV_TYPE_BOOL:
        return [pair(2, namesize, 1, extra), raw_name, b"\1" if value else b"\0"]
    if code == NV_TYPE_BOOL_ARRAY:
        data = bytes(value)
        if not data:
            raise NVListError("EINVAL", "an empty array cannot be packed")
        return [pair(8, namesize, len(data), len(data)), raw_name, data]
    if code == NV_TYPE_NUMBER_ARRAY:
        n = len(value)
        if not n:
            raise NVListError("EINVAL", "an empty array cannot be packed")
        return [pair(9, namesize, 8 * n, n), raw_name, struct.pack(f"<{n}Q", *value)]
    if code == NV_TYPE_STRING_ARRAY:
        n = len(value)
        data = b"".join((s.encode() if type(s) is str else bytes(s)) + b"\0" for s in value)
        if not n or data.count(0) != n:
            raise NVListError("EINVAL", "string array is empty or holds a NUL byte")
        return [pair(10, namesize, len(data), n), raw_name, data]
    raise NVListError("EOPNOTSUPP", "descriptors cannot be packed")


def _pack(nvl: NVList) -> bytes:
    chunks: list[bytes] = [_PLACEHOLDER]
    append = chunks.append
    # List headers to fill in at the end: (chunk index, byte offset of the header, flags).
    headers: list[tuple[int, int, int]] = [(0, 0, nvl._flags)]
    # Byte offsets are only needed where a header starts or a nested list ends, so they are
    # summed lazily: ``pos`` is the offset at the start of chunk ``counted``.
    pos = 0
    counted = 0
    path = {id(nvl)}
    cur = nvl
    wire = nvl._wire
    pairs: Any = zip(nvl._names, nvl._values, strict=True)
    i = 0
    elements: NVListArray | None = None
    element_pos = 0
    # Frames: (list, its pair iterator, its position, its array context, pending nvlist pair).
    stack: list[tuple[NVList, Any, int, NVListArray | None, int, int, int, bytes]] = []
    pair = PAIR_LE.pack
    u64 = U64_LE.pack
    number_prefix = _NUMBER_PREFIX
    names_cache = NAME_BYTES
    while True:
        child: NVList | None = None
        for name, value in pairs:
            kind = type(value)
            if kind is int and (wire is None or i not in wire):
                prefix = number_prefix.get(name)
                if prefix is None:
                    prefix = _number_prefix(name)
                append(prefix)
                append(u64(value))
                i += 1
                continue
            raw_name = names_cache.get(name)
            if raw_name is None:
                raw_name = name_bytes(name)[1]
            extra = 0 if wire is None else wire.get(i, 0)
            i += 1
            if kind is NVList or kind is NVListArray:
                child = value
                break
            if kind is bytes and value and not extra:
                append(pair(7, len(raw_name), len(value), 0))
                append(raw_name)
                append(value)
            elif kind is str and not extra:
                data = value.encode()
                append(pair(4, len(raw_name), len(data) + 1, 0))
                append(raw_name)
                append(data)
                append(b"\0")
            else:
                code = TYPE_CODE.get(kind)
                if code is None:
                    code = type_code(value)
                    if code in (NV_TYPE_NVLIST, NV_TYPE_NVLIST_ARRAY):
                        child = value
                        break
                chunks.extend(_scalar(code, raw_name, value, extra))
        else:
            # The current list is complete.
            if not stack:
                break
            path.discard(id(cur))
            if elements is not None:
                append(MARKER_NEXT)
                if element_pos + 1 < len(elements):
                    element_pos += 1
                    nxt = elements[element_pos]
                    if id(nxt) in path:
                        raise NVListError("EINVAL", "nvlist contains itself")
                    path.add(id(nxt))
                    pos += sum(map(len, chunks[counted:]))
                    counted = len(chunks)
                    headers.append((counted, pos, nxt._flags))
                    append(_PLACEHOLDER)
                    cur = nxt
                    wire = nxt._wire
                    pairs = zip(nxt._names, nxt._values, strict=True)
                    i = 0
                    continue
                cur, pairs, i, elements, element_pos, _, _, _ = stack.pop()
            else:
                pos += sum(map(len, chunks[counted:]))
                counted = len(chunks)
                cur, pairs, i, elements, element_pos, slot, child_at, raw_name = stack.pop()
                # datasize of an nvlist pair: the child's header and pairs, not its end marker.
                chunks[slot] = pair(5, len(raw_name), pos - child_at, extra_of(cur, i - 1))
                append(MARKER_UP)
            wire = cur._wire
            continue

        # Descend into a nested nvlist or the first element of an nvlist array.
        namesize = len(raw_name)
        if type(child) is NVListArray or isinstance(child, NVListArray):
            array: NVListArray = child
            if not array:
                raise NVListError("EINVAL", "an empty array cannot be packed")
            append(pair(11, namesize, extra, len(array)))
            append(raw_name)
            stack.append((cur, pairs, i, elements, element_pos, -1, 0, b""))
            elements = array
            element_pos = 0
            child = array[0]
        else:
            slot = len(chunks)
            append(_PLACEHOLDER)  # the pair header, once the child's size is known
            append(raw_name)
            pos += sum(map(len, chunks[counted:]))
            counted = len(chunks)
            stack.append((cur, pairs, i, elements, element_pos, slot, pos, raw_name))
            elements = None
        if id(child) in path:
            raise NVListError("EINVAL", "nvlist contains itself")
        path.add(id(child))
        pos += sum(map(len, chunks[counted:]))
        counted = len(chunks)
        headers.append((counted, pos, child._flags))
        append(_PLACEHOLDER)
        cur = child
        wire = child._wire
        pairs = zip(child._names, child._values, strict=True)
        i = 0

    total = pos + sum(map(len, chunks[counted:]))
    header = LIST_LE.pack
    for slot, at, flags in headers:
        chunks[slot] = header(NVLIST_MAGIC, 0, flags, 0, total - at - HEADER_SIZE)
    return b"".join(chunks)


def extra_of(nvl: NVList, position: int) -> int:
    """The kept non-canonical ``nitems``/``datasize`` of a pair, or 0."""
    wire = nvl._wire
    return 0 if wire is None else wire.get(position, 0)
