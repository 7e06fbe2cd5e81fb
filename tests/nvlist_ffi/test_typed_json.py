"""Typed JSON (golden/README.md §1): the schema, its edge cases and the recursion-free JSON I/O."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nvlist_ffi import BoolArray, CString, NVList, NVListError, typed_json


def test_schema_of_every_type() -> None:
    nvl = NVList(
        [
            ("n", None),
            ("b", False),
            ("num", 18446744073709551615),
            ("s", "tëxt"),
            ("cs", CString(b"\xff\x80")),
            ("bin", b"\xde\xad"),
            ("c", NVList({"x": 1}, flags=3)),
            ("ba", [True, False]),
            ("raw", BoolArray([2, 0, 1])),
            ("na", [1, 2]),
            ("sa", ["a", CString(b"\xff")]),
            ("la", [NVList(), NVList(flags=1)]),
            (b"\xfe", 0),
        ]
    )
    obj = typed_json.to_obj(nvl)
    assert obj == {
        "type": "nvlist",
        "flags": 0,
        "items": [
            ["n", {"type": "null"}],
            ["b", {"type": "bool", "value": False}],
            ["num", {"type": "number", "value": 18446744073709551615}],
            ["s", {"type": "string", "value": "tëxt"}],
            ["cs", {"type": "string", "hex": "ff80"}],
            ["bin", {"type": "binary", "hex": "dead"}],
            ["c", {"type": "nvlist", "flags": 3, "items": [["x", {"type": "number", "value": 1}]]}],
            ["ba", {"type": "bool_array", "value": [True, False]}],
            ["raw", {"type": "bool_array", "value": [True, False, True], "raw": [2, 0, 1]}],
            ["na", {"type": "number_array", "value": [1, 2]}],
            ["sa", {"type": "string_array", "value": ["a", {"hex": "ff"}]}],
            [
                "la",
                {
                    "type": "nvlist_array",
                    "value": [
                        {"type": "nvlist", "flags": 0, "items": []},
                        {"type": "nvlist", "flags": 1, "items": []},
                    ],
                },
            ],
            [{"hex": "fe"}, {"type": "number", "value": 0}],
        ],
    }
    assert typed_json.from_obj(obj) == nvl
    text = typed_json.dumps(nvl)
    assert text == json.dumps(obj)
    assert typed_json.loads(text) == nvl
    assert typed_json.loads(text.encode()) == nvl
    assert typed_json.dumps(nvl, indent=2) == json.dumps(obj, indent=2)


def _wrap(value: dict[str, Any]) -> dict[str, Any]:
    return {"type": "nvlist", "flags": 0, "items": [["x", value]]}


@pytest.mark.parametrize(
    "obj",
    [
        [],
        {"type": "nvlist", "items": []},
        {"type": "nvlist", "flags": 0},
        {"type": "nvlist", "flags": "0", "items": []},
        {"type": "nvlist", "flags": 0, "items": [["x"]]},
        {"type": "nvlist", "flags": 0, "items": [["x", 1]]},
        {"type": "nvlist", "flags": 0, "items": [[1, {"type": "null"}]]},
        {"type": "nvlist", "flags": 0, "items": [[{"hex": "zz"}, {"type": "null"}]]},
        _wrap({"type": "number", "value": True}),
        _wrap({"type": "number", "value": 1.0}),
        _wrap({"type": "bool", "value": 1}),
        _wrap({"type": "string", "value": 5}),
        _wrap({"type": "binary", "hex": 5}),
        _wrap({"type": "binary", "hex": "abc"}),
        _wrap({"type": "bool_array", "value": [1]}),
        _wrap({"type": "bool_array", "value": [True], "raw": [2, 3]}),
        _wrap({"type": "bool_array", "value": [False], "raw": [2]}),
        _wrap({"type": "number_array", "value": "12"}),
        _wrap({"type": "nvlist_array", "value": [1]}),
        _wrap({"type": "nvlist", "flags": 0, "items": [["y", {"type": "mystery"}]]}),
        _wrap({"type": "string_array", "value": ["a", None]}),
    ],
)
def test_malformed_typed_json_is_einval(obj: Any) -> None:
    with pytest.raises(NVListError) as caught:
        typed_json.from_obj(obj)
    assert caught.value.errno_name == "EINVAL"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"type": "descriptor", "value": 3}, "EOPNOTSUPP"),
        ({"type": "descriptor", "value": "open-fd"}, "EOPNOTSUPP"),
        ({"type": "descriptor", "value": -1}, "EBADF"),
        ({"type": "descriptor_array", "value": [-1]}, "EOPNOTSUPP"),
    ],
)
def test_descriptors_are_refused_like_libnv_pack(value: dict[str, Any], expected: str) -> None:
    with pytest.raises(NVListError) as caught:
        typed_json.from_obj(_wrap(value))
    assert caught.value.errno_name == expected


@pytest.mark.parametrize(
    "text",
    ["", "{", '{"a" 1}', '{"a": 1,}', "[1 2]", "tru", '"\\x"', "{} {}", '{"a": nul}', "\xff"],
)
def test_malformed_json_text_is_einval(text: str) -> None:
    with pytest.raises(NVListError):
        typed_json.load_json(text)
    with pytest.raises(NVListError):
        typed_json.loads(text)


def test_loads_refuses_non_utf8_bytes() -> None:
    with pytest.raises(NVListError):
        typed_json.loads(b"\xff")


_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_json_values = st.recursive(
    _json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@given(_json_values, st.sampled_from([None, 0, 1, 4]))
def test_json_io_agrees_with_the_standard_library(value: Any, indent: int | None) -> None:
    text = typed_json.dump_json(value, indent)
    assert text == json.dumps(value, indent=indent)
    assert typed_json.load_json(text) == json.loads(text)
    assert typed_json.load_json(json.dumps(value, indent=indent)) == value
