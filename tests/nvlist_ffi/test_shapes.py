"""Shapes (nvlist_ffi.shapes) never change a result: shaped paths equal the general ones.

Shapes are learned on the second sighting of a layout, so each test first shows the codec the
same layout twice, then checks that buffers and lists *of that layout with other contents* (and of
other layouts under the same cache key) still decode and encode exactly as without shapes.
"""

from __future__ import annotations

import random
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nvlist_ffi import CString, NVList, NVListArray, NVListError
from nvlist_ffi.codec import pack, unpack, unpack_strict
from nvlist_ffi.encoder import pack_general
from nvlist_ffi.shapes import compile_shape
from tests.nvlist_ffi.golden import VALID, VALID_DIR, case_or_fail, params
from tests.nvlist_ffi.strategies import nvlists


def _same(data: bytes, flags: int) -> None:
    """unpack (shapes allowed) and the strict reference agree on ``data``."""
    try:
        expected = unpack_strict(data, flags)
    except NVListError as exc:
        with pytest.raises(NVListError) as caught:
            unpack(data, flags)
        assert caught.value.errno_name == exc.errno_name
        return
    got = unpack(data, flags)
    assert got == expected
    assert pack(got) == pack_general(expected)


def _peers(values: list[int]) -> NVList:
    return NVList(
        [
            (
                "peers",
                [
                    NVList(
                        [
                            ("peerid", v),
                            ("packets", NVList([("in", v * 3), ("out", v * 5)])),
                            ("bytes", NVList([("in", v * 7), ("out", v * 11)])),
                        ]
                    )
                    for v in values
                ],
            )
        ]
    )


@pytest.mark.parametrize("case", params(VALID))
def test_learned_shapes_reproduce_golden_cases(case: dict[str, Any] | None) -> None:
    case = case_or_fail(case, VALID_DIR)
    data = (VALID_DIR / case["file"]).read_bytes()
    first = unpack(data, case["unpack_flags"])
    for _ in range(3):
        assert unpack(data, case["unpack_flags"]) == first
        assert pack(first) == data
    rng = random.Random(case["id"])
    for _ in range(20):
        mutated = bytearray(data)
        at = rng.randrange(19, len(data)) if len(data) > 19 else 0
        mutated[at] = rng.randrange(256)
        _same(bytes(mutated), case["unpack_flags"])


def test_element_shapes_stop_at_the_first_different_element() -> None:
    reply = _peers(list(range(40)))
    odd = reply["peers"][17]  # type: ignore[index]
    odd.add("extra", CString(b"\xff"))  # type: ignore[union-attr]
    data = pack_general(reply)
    assert unpack(data) == reply
    _same(data, 0)


def test_element_shapes_check_every_element() -> None:
    data = bytearray(pack_general(_peers(list(range(10)))))
    element = len(data) // 10
    for at in range(19, len(data), 7):
        mutated = bytearray(data)
        mutated[at] ^= 0x40
        _same(bytes(mutated), 0)
    assert element > 0


def test_truncated_arrays_keep_empty_elements() -> None:
    data = pack_general(_peers(list(range(8))))
    for cut in range(19, len(data), 13):
        _same(data[:cut] if cut < 40 else _resize(data[:cut]), 0)


def _resize(data: bytes) -> bytes:
    return data[:11] + struct.pack("<Q", len(data) - 19) + data[19:]


def test_non_canonical_element_zero_is_not_shaped() -> None:
    data = bytearray(pack_general(_peers(list(range(6)))))
    data[45] = 7  # version byte of element 0's header: accepted by libnv, never a shape
    nvl = unpack(bytes(data))
    assert nvl == _peers(list(range(6)))
    _same(bytes(data), 0)


def test_pack_shapes_only_match_their_own_layout() -> None:
    base = NVList([("cipher", "AES-256-GCM"), ("key", b"k" * 32), ("n", 1)])
    for _ in range(3):
        pack(base)
    variants = [
        NVList([("cipher", "CHACHA20-POLY1305"), ("key", b"k" * 32), ("n", 1)]),
        NVList([("cipher", "AES-256-GCM"), ("key", b"k" * 16), ("n", 1)]),
        NVList([("cipher", "AES-256-GCM"), ("key", b"q" * 32), ("n", 2**64 - 1)]),
        NVList([("cipher", "AES-256-GCM"), ("key", "k" * 32), ("n", 1)]),
        NVList([("cipher", "AES-256-GCM"), ("key", b"k" * 32), ("n", True)]),
        NVList([("cipher", "AES-256-GCM"), ("key", b"k" * 32), ("n", NVList())]),
        NVList([("cipher", "AES-256-GCM"), ("key", b"k" * 32), ("n", 1)], flags=2),
        NVList([("cipher", "ÄES-256-GCM"), ("key", b"k" * 32), ("n", 1)]),
    ]
    for variant in variants:
        assert pack(variant) == pack_general(variant)
        assert unpack(pack(variant), variant.flags) == variant


def test_compile_refuses_lists_with_carried_fields() -> None:
    data = bytearray(pack_general(NVList({"a": 1})))
    data[19 + 11] = 5  # nitems of a number pair: libnv keeps it, shapes must not
    nvl = unpack(bytes(data))
    assert nvl._wire == {0: 5}
    assert compile_shape(nvl, bytes(data), pack_general(nvl), relative=False) is None
    assert pack(nvl) == bytes(data)
    assert pack(nvl) == bytes(data)


def _mutate_leaves(nvl: NVList, rng: random.Random) -> NVList:
    """A copy of ``nvl`` with some leaf values changed (same names, maybe other sizes)."""
    copy = nvl.copy()
    stack = [copy]
    while stack:
        current = stack.pop()
        for position, value in enumerate(current._values):
            if isinstance(value, NVList):
                stack.append(value)
            elif isinstance(value, NVListArray):
                stack.extend(value)
            elif rng.random() < 0.3:
                if type(value) is int:
                    current._values[position] = rng.randrange(2**64)
                elif type(value) is str:
                    current._values[position] = value + "x" * rng.randrange(2)
                elif type(value) is bytes:
                    current._values[position] = value + b"\1" * rng.randrange(2)
                elif type(value) is bool:
                    current._values[position] = not value
    return copy


@settings(max_examples=150, deadline=None)
@given(nvlists, st.randoms(use_true_random=False))
def test_shapes_learned_from_one_list_serve_its_variants(nvl: NVList, rng: Any) -> None:
    data = pack_general(nvl)
    for _ in range(2):
        assert pack(nvl) == data
        assert unpack(data, nvl.flags) == nvl
    for _ in range(3):
        variant = _mutate_leaves(nvl, rng)
        variant_data = pack_general(variant)
        assert pack(variant) == variant_data
        assert unpack(variant_data, variant.flags) == variant
        _same(variant_data, variant.flags)
