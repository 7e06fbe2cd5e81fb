"""Depth is bounded by memory, never by recursion: every walk over an NVList is iterative.

libnv has no nesting limit (golden vectors hold 2,500 nested nvlists), so each operation here runs
on 2,500 levels with Python's recursion limit lowered far below that: any recursion proportional
to depth would raise RecursionError.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator

import pytest

from nvlist_ffi import NVList, NVListArray, typed_json
from nvlist_ffi.codec import pack, unpack, unpack_strict

DEPTH = 2500


def _chain(depth: int, container: str) -> NVList:
    inner = NVList({"leaf": depth})
    for _ in range(depth - 1):
        value = inner if container == "nvlist" else NVListArray([inner])
        inner = NVList([("d", value)])
    return inner


@pytest.fixture
def low_recursion_limit() -> Iterator[None]:
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(150)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


@pytest.mark.parametrize("container", ["nvlist", "nvlist_array"])
def test_every_operation_survives_2500_levels(container: str, low_recursion_limit: None) -> None:
    deep = _chain(DEPTH, container)
    data = pack(deep)
    assert len(data) > 40 * DEPTH
    operations: list[Callable[[], object]] = [
        lambda: unpack(data),
        lambda: unpack_strict(data),
        lambda: deep == unpack(data),
        deep.copy,
        lambda: repr(deep),
        lambda: typed_json.to_obj(deep),
        lambda: typed_json.dumps(deep),
        lambda: typed_json.loads(typed_json.dumps(deep)),
        lambda: typed_json.from_obj(typed_json.to_obj(deep)),
    ]
    for operation in operations:
        operation()
    assert unpack(data) == deep
    assert unpack_strict(data) == deep
    assert deep.copy() == deep
    assert typed_json.loads(typed_json.dumps(deep)) == deep
    assert pack(typed_json.from_obj(typed_json.to_obj(deep))) == data
    assert repr(deep).count("NVList([") == DEPTH


def test_building_deep_lists_top_down_and_bottom_up_agree(low_recursion_limit: None) -> None:
    bottom_up = _chain(DEPTH, "nvlist")
    top = NVList()
    current = top
    for _ in range(DEPTH - 1):
        child = NVList()
        current.add("d", child)
        current = child
    current.add("leaf", DEPTH)
    assert top == bottom_up
    assert pack(top) == pack(bottom_up)


def test_deep_difference_is_found(low_recursion_limit: None) -> None:
    left = _chain(DEPTH, "nvlist_array")
    right = _chain(DEPTH, "nvlist_array")
    innermost = right
    while "d" in innermost:
        innermost = innermost["d"][0]  # type: ignore[index,assignment]
    innermost.add("extra", 1)
    assert left != right


def test_json_writer_matches_the_standard_library_for_shallow_data() -> None:
    sample = {
        "a": [1, -2, 3.5, True, False, None, 'é\n"', {"": []}, {}],
        "b": {"c": [[], [[]]]},
    }
    for indent in (None, 0, 2):
        assert typed_json.dump_json(sample, indent) == json.dumps(sample, indent=indent)
    assert typed_json.load_json(json.dumps(sample)) == sample
