"""Decoder details the golden vectors do not pin down, checked against libnv's logic directly.

Orderings follow libnv's nvlist_xunpack: a nested list's (or an nvlist array's first element's)
header is read before the pair is inserted into its parent, so a bad header wins over a duplicate
name (EINVAL, not EEXIST).
"""

from __future__ import annotations

import struct

import pytest

from nvlist_ffi import NVList, NVListError
from nvlist_ffi.codec import pack, unpack, unpack_strict


def _errno(data: bytes, flags: int = 0) -> tuple[str, int | None]:
    names = set()
    offset = None
    for decode in (unpack, unpack_strict):
        with pytest.raises(NVListError) as caught:
            decode(data, flags)
        names.add(caught.value.errno_name)
        offset = caught.value.offset
    assert len(names) == 1
    return names.pop(), offset


@pytest.mark.parametrize("value", [NVList({"x": 1}), [NVList({"x": 1}), NVList()]])
def test_bad_child_header_beats_duplicate_name(value: object) -> None:
    data = bytearray(pack(NVList([("a", 1), ("b", value)])))
    second = 19 + (19 + 2 + 8)  # top header, then the pair "a" = 1
    data[second + 19] = ord("a")  # rename "b" to "a": now a duplicate
    assert _errno(bytes(data)) == ("EEXIST", second)
    data[second + 19 + 2] = 0x6D  # and break the child header's magic right after the name
    assert _errno(bytes(data))[0] == "EINVAL"


def test_huge_nvlist_array_count_is_refused_before_allocating() -> None:
    data = bytearray(pack(NVList({"l": [NVList()]})))
    data[19 + 11 : 19 + 19] = struct.pack("<Q", 2**62)
    assert _errno(bytes(data)) == ("EINVAL", 19)


def test_error_offsets_point_at_the_offending_structure() -> None:
    data = pack(NVList([("a", 1), ("b", 2)]))
    broken = data[:48] + b"\x0d" + data[49:]  # type code 13 on the second pair
    assert _errno(broken) == ("EINVAL", 48)
    assert _errno(data[:10]) == ("EINVAL", 0)


@pytest.mark.parametrize("flags", [-1, 4, 0x80, "0", None])
def test_bad_flags_argument(flags: object) -> None:
    with pytest.raises(NVListError) as caught:
        unpack(pack(NVList()), flags)  # type: ignore[arg-type]
    assert caught.value.errno_name == "EINVAL"


@pytest.mark.parametrize("data", [b"", b"\x6c", bytearray(19), memoryview(bytes(40))])
def test_short_and_empty_inputs(data: bytes) -> None:
    with pytest.raises(NVListError):
        unpack(data)


def test_accepts_bytearray_and_memoryview() -> None:
    nvl = NVList({"a": b"\x01", "b": "x"})
    data = pack(nvl)
    assert unpack(bytearray(data)) == nvl
    assert unpack(memoryview(data)) == nvl
