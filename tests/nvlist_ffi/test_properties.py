"""Round-trip properties of the pure codec and typed JSON over arbitrary NVLists."""

from __future__ import annotations

from hypothesis import given, settings

from nvlist_ffi import NVList, typed_json
from nvlist_ffi.codec import pack, unpack, unpack_strict
from tests.nvlist_ffi.strategies import nvlists


@settings(max_examples=300, deadline=None)
@given(nvlists)
def test_unpack_inverts_pack(nvl: NVList) -> None:
    data = pack(nvl)
    assert unpack(data, nvl.flags) == nvl
    assert unpack_strict(data, nvl.flags) == nvl


@settings(max_examples=300, deadline=None)
@given(nvlists)
def test_pack_inverts_unpack(nvl: NVList) -> None:
    data = pack(nvl)
    assert pack(unpack(data, nvl.flags)) == data
    assert pack(unpack_strict(data, nvl.flags)) == data


@settings(max_examples=200, deadline=None)
@given(nvlists)
def test_typed_json_round_trips(nvl: NVList) -> None:
    assert typed_json.loads(typed_json.dumps(nvl)) == nvl
    assert typed_json.from_obj(typed_json.to_obj(nvl)) == nvl
    assert pack(typed_json.from_obj(typed_json.to_obj(nvl))) == pack(nvl)


@settings(max_examples=200, deadline=None)
@given(nvlists)
def test_copy_and_rebuild_are_equal(nvl: NVList) -> None:
    clone = nvl.copy()
    assert clone == nvl
    assert pack(clone) == pack(nvl)
    rebuilt = NVList(nvl.items(), flags=nvl.flags)
    assert rebuilt == nvl
