"""The libnv binding against the golden vectors, run on the C test model of libnv.

Two things are proven at once: the C model reproduces real libnv on every golden case (which is
what makes it a faithful stand-in), and the binding converts between NVList and libnv's nvlist_t
without losing or changing anything. Each test checks every case and reports all mismatches.
"""

from __future__ import annotations

import contextlib
import errno
from typing import Any

import pytest

from nvlist_ffi import codec, typed_json
from nvlist_ffi.errors import NVListError
from nvlist_ffi.model import NVList, NVListArray

# The descriptor types cannot be built through the binding (not bound: a packed nvlist cannot
# carry them), so their pack_errors cases have nothing to replay.
_DESCRIPTOR_TYPES = {"descriptor", "descriptor_array"}


def expected_nvlist(case: dict[str, Any]) -> NVList:
    """The content a golden case records, expanding the ``nvlist_chain`` shorthand iteratively."""
    if case.get("nvlist") is not None:
        return typed_json.from_obj(case["nvlist"])
    chain = case["nvlist_chain"]
    leaf_pair = [chain["leaf_name"], chain["leaf"]]
    inner = typed_json.from_obj({"type": "nvlist", "flags": 0, "items": [leaf_pair]})
    for _ in range(chain["depth"] - 1):
        value = inner if chain["container"] == "nvlist" else NVListArray([inner])
        inner = NVList([(chain["link_name"], value)])
    return inner


def test_valid_cases_pack_byte_exact(libnv_model: Any, libnv_golden: Any) -> None:
    cases = libnv_golden.valid["cases"]
    assert len(cases) == libnv_golden.valid["case_count"] > 100
    problems = []
    for case in cases:
        nvl = typed_json.from_obj(case["nvlist"])
        expected = (libnv_golden.valid_dir / case["file"]).read_bytes()
        through_libnv = libnv_model.pack(nvl)
        if through_libnv != expected:
            problems.append(
                f"{case['id']}: the binding packs {len(through_libnv)} bytes, not {len(expected)}"
            )
        if codec.pack(nvl) != through_libnv:
            problems.append(f"{case['id']}: pure codec and libnv binding disagree")
    assert problems == []


def test_valid_cases_unpack(libnv_model: Any, libnv_golden: Any) -> None:
    problems = []
    for case in libnv_golden.valid["cases"]:
        data = (libnv_golden.valid_dir / case["file"]).read_bytes()
        decoded = libnv_model.unpack(data, case["unpack_flags"])
        if decoded != typed_json.from_obj(case["nvlist"]):
            problems.append(f"{case['id']}: content differs from the manifest")
        if decoded != codec.unpack(data, case["unpack_flags"]):
            problems.append(f"{case['id']}: content differs from the pure codec's")
        if libnv_model.pack(decoded) != data:
            problems.append(f"{case['id']}: repack differs")
    assert problems == []


def _reject_cases(golden: Any) -> list[dict[str, Any]]:
    # "crashed" cases abort real libnv (an assertion); nothing may feed them to it.
    cases = [case for case in golden.reject["cases"] if case["result"] != "crashed"]
    assert len(cases) == golden.reject["case_count"] - golden.reject["result_counts"]["crashed"]
    return cases


def _repack_of(golden: Any, case: dict[str, Any], data: bytes) -> bytes:
    """What real libnv's nvlist_pack made of an accepted buffer."""
    if case["repack"] == "identical":
        return data
    return bytes((golden.reject_dir / case["repack_file"]).read_bytes())


def test_reject_corpus_verdicts_and_errno_names(libnv_model: Any, libnv_golden: Any) -> None:
    problems = []
    for case in _reject_cases(libnv_golden):
        data = (libnv_golden.reject_dir / case["file"]).read_bytes()
        try:
            decoded = libnv_model.unpack(data, case["unpack_flags"])
        except NVListError as exc:
            assert exc.offset is None
            if case["result"] != "rejected":
                problems.append(f"{case['id']}: rejected ({exc}), libnv accepts it")
            elif case["errno_set_by_libnv"] and exc.errno_name != case["errno"]:
                problems.append(f"{case['id']}: {exc.errno_name}, libnv sets {case['errno']}")
            elif not case["errno_set_by_libnv"] and exc.errno != errno.EINVAL:
                problems.append(f"{case['id']}: {exc.errno_name} for a rejection without errno")
            continue
        if case["result"] != "accepted":
            problems.append(f"{case['id']}: accepted, libnv rejects it with {case['errno']}")
        elif decoded != expected_nvlist(case):
            problems.append(f"{case['id']}: accepted content differs from the manifest")
        elif decoded != codec.unpack(data, case["unpack_flags"]):
            problems.append(f"{case['id']}: accepted content differs from the pure codec's")
    assert problems == []


def test_model_sets_the_same_errno_as_libnv(libnv_model: Any, libnv_golden: Any) -> None:
    """Raw nvlist_unpack on the C model leaves exactly the errno libnv left, even where libnv
    does not set errno itself (then it is 0 or the ENOENT of an internal lookup)."""
    native = libnv_model.open_library(libnv_model.info().path)
    ffi = native._ffi
    problems = []
    for case in _reject_cases(libnv_golden):
        if case["result"] != "rejected":
            continue
        data = (libnv_golden.reject_dir / case["file"]).read_bytes()
        ffi.errno = 0
        handle = native._nvlist_unpack(data, len(data), case["unpack_flags"])
        observed = errno.errorcode.get(ffi.errno, str(ffi.errno))
        if handle != ffi.NULL:
            native._nvlist_destroy(handle)
            problems.append(f"{case['id']}: accepted")
        elif observed != case["errno"]:
            problems.append(f"{case['id']}: errno {observed}, libnv left {case['errno']}")
    assert problems == []


def test_reject_corpus_repacks_canonically(libnv_model: Any, libnv_golden: Any) -> None:
    """Through the binding, a repack is the canonical encoding of the content: the
    non-canonical header fields libnv carries internally do not survive conversion to NVList."""
    problems = []
    for case in _reject_cases(libnv_golden):
        if case["result"] != "accepted" or not case["repack_is_canonical"]:
            continue
        data = (libnv_golden.reject_dir / case["file"]).read_bytes()
        repacked = libnv_model.pack(libnv_model.unpack(data, case["unpack_flags"]))
        if repacked != _repack_of(libnv_golden, case, data):
            problems.append(case["id"])
    assert problems == []


def test_model_repack_matches_libnv_byte_for_byte(libnv_model: Any, libnv_golden: Any) -> None:
    """The C model alone (unpack + pack in C) reproduces libnv's repack of every accepted buffer,
    including the unvalidated nitems / datasize fields libnv re-emits unchanged."""
    native = libnv_model.open_library(libnv_model.info().path)
    ffi = native._ffi
    problems = []
    accepted = [case for case in _reject_cases(libnv_golden) if case["result"] == "accepted"]
    assert len(accepted) == libnv_golden.reject["result_counts"]["accepted"]
    for case in accepted:
        data = (libnv_golden.reject_dir / case["file"]).read_bytes()
        handle = native._nvlist_unpack(data, len(data), case["unpack_flags"])
        assert handle != ffi.NULL, case["id"]
        try:
            sizep = ffi.new("size_t *")
            buf = native._nvlist_pack(handle, sizep)
            repacked = bytes(ffi.buffer(buf, sizep[0]))
            native._free(buf)
        finally:
            native._nvlist_destroy(handle)
        if repacked != _repack_of(libnv_golden, case, data):
            problems.append(case["id"])
    assert problems == []


def _replay_raw(native: Any, obj: dict[str, Any]) -> Any:
    """Build a typed-JSON nvlist with bare nvlist_add_* calls, bypassing every NVList check, the
    way the golden generator drove libnv. Recursive: pack_errors cases are shallow."""
    ffi = native._ffi
    handle = native._nvlist_create(obj["flags"])
    for name, value in obj["items"]:
        cname = name.encode() if isinstance(name, str) else bytes.fromhex(name["hex"])
        kind = value["type"]
        if kind == "number":
            native._nvlist_add_number(handle, cname, value["value"])
        elif kind == "string":
            native._nvlist_add_string(handle, cname, value["value"].encode())
        elif kind == "binary":
            raw = bytes.fromhex(value["hex"])
            native._nvlist_add_binary(handle, cname, ffi.from_buffer(raw), len(raw))
        elif kind == "nvlist":
            native._nvlist_move_nvlist(handle, cname, _replay_raw(native, value))
        elif kind == "bool_array":
            items = ffi.new("uint8_t[]", [int(x) for x in value["value"]])
            native._nvlist_add_bool_array(handle, cname, items, len(value["value"]))
        elif kind == "number_array":
            items = ffi.new("uint64_t[]", value["value"])
            native._nvlist_add_number_array(handle, cname, items, len(value["value"]))
        elif kind == "string_array":
            keep = [
                ffi.NULL if s is None else ffi.new("char[]", s.encode()) for s in value["value"]
            ]
            native._nvlist_add_string_array(handle, cname, ffi.new("char *[]", keep), len(keep))
        elif kind == "nvlist_array":
            native._nvlist_add_nvlist_array(handle, cname, ffi.new("nvlist_t *[]", []), 0)
        else:
            raise AssertionError(f"replay does not handle {kind}")
    return handle


def _types_in(obj: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    stack = [obj]
    while stack:
        for _, value in stack.pop()["items"]:
            found.add(value["type"])
            if value["type"] == "nvlist":
                stack.append(value)
            elif value["type"] == "nvlist_array":
                stack.extend(value["value"])
    return found


def test_model_pack_errors_match_libnv(libnv_model: Any, libnv_golden: Any) -> None:
    """The golden pack_errors, replayed on the C model: same sticky error, same pack errno."""
    native = libnv_model.open_library(libnv_model.info().path)
    ffi = native._ffi
    replayed = 0
    problems = []
    for case in libnv_golden.valid["pack_errors"]:
        if _DESCRIPTOR_TYPES & _types_in(case["nvlist"]):
            continue
        replayed += 1
        handle = _replay_raw(native, case["nvlist"])
        try:
            recorded = errno.errorcode.get(native._nvlist_error(handle), "0")
            ffi.errno = 0
            buf = native._nvlist_pack(handle, ffi.new("size_t *"))
            pack_errno = errno.errorcode.get(ffi.errno, "0")
        finally:
            native._nvlist_destroy(handle)
        if recorded != case["nvlist_error"] or buf != ffi.NULL or pack_errno != case["pack_errno"]:
            problems.append(f"{case['id']}: error {recorded}, pack errno {pack_errno}")
    assert replayed == 12
    assert problems == []


def test_binding_destroys_everything_it_creates(
    libnv_model: Any, libnv_golden: Any, libnv_model_live_lists: Any
) -> None:
    before = libnv_model_live_lists()
    for case in libnv_golden.valid["cases"]:
        data = (libnv_golden.valid_dir / case["file"]).read_bytes()
        libnv_model.pack(libnv_model.unpack(data, case["unpack_flags"]))
    for case in _reject_cases(libnv_golden):
        data = (libnv_golden.reject_dir / case["file"]).read_bytes()
        with contextlib.suppress(NVListError):
            libnv_model.unpack(data, case["unpack_flags"])
    assert libnv_model_live_lists() == before


@pytest.mark.parametrize("variant", ["prefixed", "unprefixed"])
def test_every_symbol_spelling_gives_the_same_bytes(
    libnv_model: Any, libnv_golden: Any, libnv_model_builds: Any, variant: str
) -> None:
    native = libnv_model.open_library(str(getattr(libnv_model_builds, variant)))
    for case in libnv_golden.valid["cases"]:
        expected = (libnv_golden.valid_dir / case["file"]).read_bytes()
        assert native.pack(typed_json.from_obj(case["nvlist"])) == expected, case["id"]
