"""The NVList model: construction, validation with libnv errno names, lookup, equality."""

from __future__ import annotations

import errno
import pickle

import pytest

from nvlist_ffi import (
    NV_FLAG_IGNORE_CASE,
    NV_FLAG_NO_UNIQUE,
    BoolArray,
    CString,
    NumberArray,
    NVList,
    NVListArray,
    NVListError,
    StringArray,
)
from nvlist_ffi.codec import pack, unpack


def _errno_of(action: object) -> str:
    assert callable(action)
    with pytest.raises(NVListError) as caught:
        action()
    assert caught.value.offset is None
    return caught.value.errno_name


# -- construction ---------------------------------------------------------------------------------


def test_constructors_keep_order_and_flags() -> None:
    from_pairs = NVList([("b", 1), ("a", "x")])
    from_dict = NVList({"b": 1, "a": "x"})
    assert from_pairs == from_dict
    assert from_pairs.names() == ["b", "a"]
    assert list(from_pairs) == ["b", "a"]
    assert NVList(from_pairs) == from_pairs
    assert NVList(flags=NV_FLAG_NO_UNIQUE).flags == NV_FLAG_NO_UNIQUE
    assert NVList(flags=3).flags == 3


@pytest.mark.parametrize("flags", [4, -1, 0x80, 0x100, True, "1"])
def test_bad_flags_are_refused(flags: object) -> None:
    assert _errno_of(lambda: NVList(flags=flags)) == "EINVAL"  # type: ignore[arg-type]


def test_value_mapping_and_type_names() -> None:
    nvl = NVList()
    nvl.add("n", None)
    nvl.add("b", True)
    nvl.add("num", 2**64 - 1)
    nvl.add("s", "text")
    nvl.add("cs", CString(b"\xff\xfe"))
    nvl.add("bin", b"\x00\x01")
    nvl.add("child", NVList({"x": 1}))
    nvl.add("ba", [True, False])
    nvl.add("na", [1, 2, 3])
    nvl.add("sa", ["a", ""])
    nvl.add("la", [NVList(), NVList({"y": 2})])
    expected = {
        "n": "null",
        "b": "bool",
        "num": "number",
        "s": "string",
        "cs": "string",
        "bin": "binary",
        "child": "nvlist",
        "ba": "bool_array",
        "na": "number_array",
        "sa": "string_array",
        "la": "nvlist_array",
    }
    assert {name: nvl.type_of(name) for name in expected} == expected
    assert nvl.type_of("missing") is None
    assert type(nvl["ba"]) is BoolArray
    assert type(nvl["na"]) is NumberArray
    assert type(nvl["sa"]) is StringArray
    assert type(nvl["la"]) is NVListArray
    assert unpack(pack(nvl)) == nvl


def test_normalisation_to_canonical_python_types() -> None:
    nvl = NVList()
    nvl.add(b"ascii-name", CString(b"utf8 after all"))
    nvl.add(b"\xffname", bytearray(b"\x01"))
    nvl.add("mv", memoryview(b"\x02\x03"))
    nvl.add("sa", StringArray([b"bytes ok", CString(b"\xff")]))
    nvl.add("ba", BoolArray([0, 1, 2]))
    items = nvl.items()
    assert items[0] == ("ascii-name", "utf8 after all")
    assert type(items[0][1]) is str
    assert items[1] == (b"\xffname", b"\x01")
    assert type(items[1][1]) is bytes
    assert type(nvl["mv"]) is bytes
    assert nvl["sa"] == ["bytes ok", CString(b"\xff")]
    assert [type(x) for x in nvl["sa"]] == [str, CString]  # type: ignore[union-attr]
    assert nvl["ba"] == [False, True, 2]
    assert [type(x) for x in nvl["ba"]] == [bool, bool, int]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"", "EINVAL"),
        (bytearray(), "EINVAL"),
        ([], "EINVAL"),
        ((), "EINVAL"),
        (BoolArray(), "EINVAL"),
        (NumberArray(), "EINVAL"),
        (StringArray(), "EINVAL"),
        (NVListArray(), "EINVAL"),
        (-1, "EINVAL"),
        (2**64, "EINVAL"),
        ("nul\0inside", "EINVAL"),
        (CString(b"nul\0inside"), "EINVAL"),
        ("\ud800", "EINVAL"),
        (["a", None], "EINVAL"),
        (StringArray(["a", "b\0"]), "EINVAL"),
        (NumberArray([1, -1]), "EINVAL"),
        (NumberArray([1, "2"]), "EINVAL"),
        (BoolArray([True, 256]), "EINVAL"),
        (BoolArray([True, "yes"]), "EINVAL"),
        ([1, "mixed"], "EINVAL"),
        (1.5, "EINVAL"),
        ({"a": 1}, "EINVAL"),
        (object(), "EINVAL"),
    ],
)
def test_values_libnv_refuses(value: object, expected: str) -> None:
    nvl = NVList()
    assert _errno_of(lambda: nvl.add("x", value)) == expected
    assert len(nvl) == 0


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("n" * 2048, "ENAMETOOLONG"),
        (b"n" * 3000, "ENAMETOOLONG"),
        ("é" * 1024, "ENAMETOOLONG"),  # 2048 bytes of UTF-8
        ("a\0b", "EINVAL"),
        (b"a\0", "EINVAL"),
        ("\udcff", "EINVAL"),
        (7, "EINVAL"),
    ],
)
def test_names_libnv_refuses(name: object, expected: str) -> None:
    nvl = NVList()
    assert _errno_of(lambda: nvl.add(name, 1)) == expected  # type: ignore[arg-type]


def test_name_length_limit_is_2047_bytes() -> None:
    nvl = NVList()
    nvl.add("n" * 2047, 1)
    nvl.add("", 2)  # the empty name is legal too
    assert unpack(pack(nvl)) == nvl


def test_number_range_edges() -> None:
    nvl = NVList({"lo": 0, "hi": 2**64 - 1, "arr": [0, 2**64 - 1]})
    assert unpack(pack(nvl)) == nvl


def test_int_and_str_subclasses_are_stored_as_plain_values() -> None:
    import enum

    class Colour(enum.IntEnum):
        RED = 3

    class Word(str):
        pass

    nvl = NVList({"c": Colour.RED, "w": Word("hi")})
    assert type(nvl["c"]) is int
    assert type(nvl["w"]) is str
    assert unpack(pack(nvl)) == nvl


# -- duplicates and lookup ------------------------------------------------------------------------


def test_duplicates_refused_without_no_unique() -> None:
    nvl = NVList({"a": 1})
    assert _errno_of(lambda: nvl.add("a", "other type")) == "EEXIST"
    assert nvl.items() == [("a", 1)]


def test_duplicate_check_runs_after_value_check_like_libnv() -> None:
    nvl = NVList({"a": 1})
    assert _errno_of(lambda: nvl.add("a", b"")) == "EINVAL"


def test_no_unique_keeps_duplicates_in_order() -> None:
    nvl = NVList(flags=NV_FLAG_NO_UNIQUE)
    nvl.add("a", 1)
    nvl.add("b", 2)
    nvl.add("a", 3)
    assert nvl.items() == [("a", 1), ("b", 2), ("a", 3)]
    assert nvl["a"] == 1
    assert nvl.get_all("a") == [1, 3]
    assert unpack(pack(nvl), NV_FLAG_NO_UNIQUE) == nvl


def test_ignore_case_folds_ascii_only() -> None:
    nvl = NVList(flags=NV_FLAG_IGNORE_CASE)
    nvl.add("Name", 1)
    nvl.add("\u00c9", 2)
    nvl.add("\u00e9", 3)  # distinct: strcasecmp in the C locale folds ASCII only
    assert _errno_of(lambda: nvl.add("NAME", 4)) == "EEXIST"
    assert _errno_of(lambda: nvl.add("\u00c9", 5)) == "EEXIST"
    assert nvl["nAmE"] == 1
    assert nvl[b"NAME"] == 1
    assert "name" in nvl
    assert nvl["\u00e9"] == 3
    assert nvl.get_all("NAME") == [1]
    plain = NVList({"Name": 1})
    assert "name" not in plain
    assert plain.get("name", "default") == "default"


def test_ignore_case_with_no_unique() -> None:
    nvl = NVList(flags=NV_FLAG_IGNORE_CASE | NV_FLAG_NO_UNIQUE)
    nvl.add("Key", 1)
    nvl.add("KEY", 2)
    assert nvl["key"] == 1
    assert nvl.get_all("kEy") == [1, 2]


def test_lookup_misses() -> None:
    nvl = NVList({"a": 1, b"\xff": 2})
    assert nvl[b"\xff"] == 2
    assert "\xff" not in nvl  # the str U+00FF is not the byte 0xff
    assert 5 not in nvl
    with pytest.raises(KeyError):
        nvl["b"]
    assert nvl.get("b") is None
    assert nvl.get_all("b") == []
    assert nvl.values() == [1, 2]
    assert nvl.keys() == ["a", b"\xff"]


def test_index_stays_right_after_lookups_and_adds() -> None:
    nvl = NVList()
    for position in range(50):
        nvl.add(f"k{position}", position)
        assert nvl[f"k{position}"] == position
        assert f"k{position + 1}" not in nvl


# -- equality, copies, ownership ----------------------------------------------------------------


def test_equality_is_exact() -> None:
    base = NVList({"a": 1})
    assert base == NVList({"a": 1})
    assert base != NVList({"a": True})  # number vs bool
    assert base != NVList({"a": 1}, flags=NV_FLAG_NO_UNIQUE)
    assert base != NVList({"A": 1})
    assert NVList({"s": "x"}) != NVList({"s": b"x"})  # string vs binary
    assert NVList({"a": 1, "b": 2}) != NVList({"b": 2, "a": 1})  # order matters
    assert NVList({"l": [NVList()]}) != NVList({"l": [NVList(), NVList()]})
    assert NVList({"l": [NVList()]}) != NVList({"l": [NVList(flags=1)]})
    assert NVList({"b": BoolArray([2])}) != NVList({"b": BoolArray([True])})
    assert base != {"a": 1}
    with pytest.raises(TypeError):
        hash(base)


def test_adding_a_free_list_moves_it_and_an_owned_one_copies_it() -> None:
    child = NVList({"x": 1})
    first = NVList()
    first.add("c", child)
    assert first["c"] is child  # moved in, like nvlist_move_nvlist
    second = NVList()
    second.add("c", child)
    assert second["c"] == child
    assert second["c"] is not child  # already owned: copied, like nvlist_add_nvlist
    child.add("y", 2)
    assert first["c"]["y"] == 2  # type: ignore[index]
    assert "y" not in second["c"]  # type: ignore[operator]


def test_cycles_cannot_be_built() -> None:
    top = NVList()
    top.add("self", top)
    assert top["self"] is not top
    inner = NVList()
    top.add("inner", inner)
    inner.add("top", top)  # top contains inner: storing top itself would make a cycle
    assert inner["top"] is not top
    element = NVList()
    top.add("arr", [element, element])
    stored = top["arr"]
    assert stored[0] is element  # type: ignore[index]
    assert stored[1] is not element  # type: ignore[index]
    assert unpack(pack(top)) == top


def test_copy_is_deep_and_equal() -> None:
    original = NVList(
        {"c": NVList({"d": [NVList({"e": [1, 2]})]}), "s": ["x"]}, flags=NV_FLAG_NO_UNIQUE
    )
    clone = original.copy()
    assert clone == original
    clone["c"]["d"][0].add("f", 1)  # type: ignore[index]
    clone["s"].append("y")  # type: ignore[union-attr]
    assert clone != original
    assert "f" not in original["c"]["d"][0]  # type: ignore[index]
    assert original["s"] == ["x"]


def test_copy_module_uses_the_iterative_copy() -> None:
    import copy

    deep = NVList({"leaf": 1})
    for _ in range(3000):
        deep = NVList([("d", deep)])
    assert copy.deepcopy(deep) == deep
    assert copy.copy(deep) == deep


def test_stored_arrays_are_copies_of_the_argument() -> None:
    numbers = [1, 2]
    nvl = NVList({"n": numbers})
    numbers.append(3)
    assert nvl["n"] == [1, 2]


def test_pack_rechecks_arrays_mutated_after_adding() -> None:
    nvl = NVList({"n": [1], "s": ["a"], "b": [True], "l": [NVList()]})
    nvl["n"].clear()  # type: ignore[union-attr]
    assert _errno_of(lambda: pack(nvl)) == "EINVAL"
    nvl = NVList({"s": ["a"]})
    nvl["s"].append("b\0")  # type: ignore[union-attr]
    assert _errno_of(lambda: pack(nvl)) == "EINVAL"
    nvl = NVList({"n": [1]})
    nvl["n"].append(-5)  # type: ignore[union-attr]
    assert _errno_of(lambda: pack(nvl)) == "EINVAL"
    nvl = NVList({"l": [NVList()]})
    nvl["l"].append(nvl)  # type: ignore[union-attr]
    assert _errno_of(lambda: pack(nvl)) == "EINVAL"  # a cycle


def test_repr_is_readable() -> None:
    nvl = NVList(
        [("a", 1), ("c", NVList({"s": CString(b"\xff")}, flags=1)), ("l", [NVList()])], flags=2
    )
    text = repr(nvl)
    assert text == (
        "NVList([('a', 1), ('c', NVList([('s', CString(b'\\xff'))], flags=1)), "
        "('l', NVListArray([NVList([])]))], flags=2)"
    )
    assert repr(NumberArray([1])) == "NumberArray([1])"
    assert repr(BoolArray([True])) == "BoolArray([True])"
    assert repr(StringArray(["a"])) == "StringArray(['a'])"


# -- errors ---------------------------------------------------------------------------------------


def test_error_is_an_oserror_with_portable_name() -> None:
    exc = NVListError("EOPNOTSUPP", "no descriptors", 12)
    assert isinstance(exc, OSError)
    assert exc.errno == errno.EOPNOTSUPP
    assert exc.errno_name == "EOPNOTSUPP"
    assert exc.offset == 12
    assert str(exc) == "no descriptors (at byte 12) [EOPNOTSUPP]"
    again = pickle.loads(pickle.dumps(exc))
    assert (again.errno, again.errno_name, again.offset, str(again)) == (
        exc.errno,
        "EOPNOTSUPP",
        12,
        str(exc),
    )
    numeric = NVListError(errno.EINVAL, "bad")
    assert numeric.errno_name == "EINVAL"
    assert str(numeric) == "bad [EINVAL]"
