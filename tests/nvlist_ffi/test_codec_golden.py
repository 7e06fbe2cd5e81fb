"""The pure codec against real-libnv golden vectors: every valid and every unpack-behaviour case.

Valid cases must pack byte-exact and decode to the recorded typed JSON. Unpack-behaviour cases
must be accepted with the same content (and re-pack to libnv's own repack bytes) or rejected with
the same errno name. Both decoders (the fast path and the strict reference) are held to it.
"""

from __future__ import annotations

import errno
import json
from typing import Any

import pytest

from nvlist_ffi import NVListError, typed_json
from nvlist_ffi.codec import pack, unpack, unpack_strict
from tests.nvlist_ffi.golden import (
    REJECT,
    REJECT_DIR,
    VALID,
    VALID_DIR,
    case_or_fail,
    expected_nvlist,
    params,
    require,
)


def test_manifests_are_complete() -> None:
    valid = require(VALID, VALID_DIR)
    reject = require(REJECT, REJECT_DIR)
    assert len(valid["cases"]) == valid["case_count"] >= 138
    assert valid["roundtrip_problems"] == []
    assert len(reject["cases"]) == reject["case_count"] >= 1845
    counts = {"rejected": 0, "accepted": 0, "crashed": 0}
    for case in reject["cases"]:
        counts[case["result"]] += 1
    assert counts == reject["result_counts"]


# -- valid cases -----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", params(VALID))
def test_valid_case(case: dict[str, Any] | None) -> None:
    case = case_or_fail(case, VALID_DIR)
    data = (VALID_DIR / case["file"]).read_bytes()
    assert len(data) == case["size"]
    built = typed_json.from_obj(case["nvlist"])
    assert pack(built) == data
    for decode in (unpack, unpack_strict):
        decoded = decode(data, case["unpack_flags"])
        assert typed_json.to_obj(decoded) == case["nvlist"]
        assert decoded == built
        assert pack(decoded) == data
    assert typed_json.dumps(decoded) == json.dumps(case["nvlist"])


@pytest.mark.parametrize("case", params(VALID))
def test_valid_case_refused_with_other_flags(case: dict[str, Any] | None) -> None:
    """libnv requires the unpack flags to equal the buffer's top-level flags (EILSEQ)."""
    case = case_or_fail(case, VALID_DIR)
    data = (VALID_DIR / case["file"]).read_bytes()
    other = case["unpack_flags"] ^ 0x02
    with pytest.raises(NVListError) as caught:
        unpack(data, other)
    assert caught.value.errno == errno.EILSEQ
    assert caught.value.offset == 0


@pytest.mark.parametrize("case", params(VALID, "pack_errors"))
def test_pack_error_refused_at_construction(case: dict[str, Any] | None) -> None:
    case = case_or_fail(case, VALID_DIR)
    with pytest.raises(NVListError) as caught:
        typed_json.from_obj(case["nvlist"])
    assert caught.value.errno_name == case["pack_errno"]
    assert caught.value.errno == getattr(errno, case["pack_errno"])
    assert caught.value.offset is None


# -- unpack behaviour (nvlist-reject) ------------------------------------------------------------


def _expected_error(case: dict[str, Any]) -> str:
    if case["result"] == "crashed":
        # libnv asserts on its cleanup path; built without assertions it returns EEXIST.
        return "EEXIST"
    if not case["errno_set_by_libnv"]:
        return "EINVAL"  # libnv set no errno of its own; we document EINVAL for these
    name: str = case["errno"]
    return name


@pytest.mark.parametrize("case", params(REJECT))
def test_unpack_behaviour_case(case: dict[str, Any] | None) -> None:
    case = case_or_fail(case, REJECT_DIR)
    data = (REJECT_DIR / case["file"]).read_bytes()
    assert len(data) == case["size"]
    if case["result"] != "accepted":
        expected = _expected_error(case)
        for decode in (unpack, unpack_strict):
            with pytest.raises(NVListError) as caught:
                decode(data, case["unpack_flags"])
            assert caught.value.errno_name == expected
            assert caught.value.errno == getattr(errno, expected)
            assert caught.value.offset is not None
            assert 0 <= caught.value.offset <= len(data)
        return

    content = expected_nvlist(case)
    repacked = (
        (REJECT_DIR / case["repack_file"]).read_bytes() if case["repack"] == "different" else data
    )
    for decode in (unpack, unpack_strict):
        decoded = decode(data, case["unpack_flags"])
        assert decoded == content
        if case.get("nvlist") is not None:
            assert typed_json.to_obj(decoded) == case["nvlist"]
        # Header fields libnv carries through are kept, so even non-canonical repacks match.
        assert pack(decoded) == repacked
        assert unpack(pack(decoded), case["unpack_flags"]) == content
    if case["repack_is_canonical"]:
        assert pack(content) == repacked
    else:
        assert pack(content) != repacked
    if "expect_same_as" in case:
        twin = (VALID_DIR / f"{case['expect_same_as']}.bin").read_bytes()
        assert pack(decoded) == twin
