"""Hypothesis strategies for arbitrary NVLists: every type, nesting, arrays, flags, odd names."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from nvlist_ffi import BoolArray, CString, NVList, NVListError

_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=12
)
_not_utf8 = st.binary(min_size=1, max_size=8).filter(
    lambda raw: b"\0" not in raw and not _is_utf8(raw)
)


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode()
    except UnicodeDecodeError:
        return False
    return True


names = _text | _not_utf8 | st.sampled_from(["a", "A", "peerid", "É", "é", ""])
c_strings = _text | _not_utf8.map(CString)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=0, max_value=2**64 - 1)
    | c_strings
    | st.binary(min_size=1, max_size=40)
    | st.lists(st.booleans(), min_size=1, max_size=6)
    | st.lists(st.integers(min_value=0, max_value=255), min_size=1, max_size=6).map(BoolArray)
    | st.lists(st.integers(min_value=0, max_value=2**64 - 1), min_size=1, max_size=6)
    | st.lists(c_strings, min_size=1, max_size=5)
)


def _build(flags: int, pairs: list[tuple[Any, Any]]) -> NVList:
    nvl = NVList(flags=flags)
    for name, value in pairs:
        try:
            nvl.add(name, value)
        except NVListError as exc:
            if exc.errno_name != "EEXIST":
                raise
    return nvl


def _lists(values: st.SearchStrategy[Any]) -> st.SearchStrategy[NVList]:
    pairs = st.lists(st.tuples(names, values), max_size=6)
    return st.builds(_build, st.integers(min_value=0, max_value=3), pairs)


nvlists: st.SearchStrategy[NVList] = st.recursive(
    _lists(scalars),
    lambda inner: _lists(scalars | inner | st.lists(inner, min_size=1, max_size=3)),
    max_leaves=12,
)
