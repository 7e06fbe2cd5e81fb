"""The binding on the real system libnv (FreeBSD; run in the Vagrant box).

libnv is part of every FreeBSD base system, so there a missing or unusable libnv is a failure.
Elsewhere no system libnv exists and these tests are skipped; the same checks run on the C test
model of libnv in test_libnv_golden.py.
"""

from __future__ import annotations

import errno
import sys
from typing import Any

import pytest

from nvlist_ffi import codec, libnv, typed_json
from nvlist_ffi.errors import NVListError

pytestmark = [
    pytest.mark.libnv,
    pytest.mark.skipif(
        not sys.platform.startswith("freebsd"), reason="a system libnv exists only on FreeBSD"
    ),
]


@pytest.fixture(scope="module")
def system_libnv() -> libnv.Libnv:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(libnv.LIBNV_ENV, raising=False)
        return libnv.open_library()


def test_system_libnv_is_found_by_default(system_libnv: libnv.Libnv) -> None:
    info = system_libnv.info()
    assert info.path in libnv.DEFAULT_NAMES
    if info.path == "libnv.so.1":
        assert info.prefix == "FreeBSD_"
    assert info.missing_optional == ()


def test_system_libnv_packs_every_golden_case(system_libnv: libnv.Libnv, libnv_golden: Any) -> None:
    problems = []
    for case in libnv_golden.valid["cases"]:
        nvl = typed_json.from_obj(case["nvlist"])
        expected = (libnv_golden.valid_dir / case["file"]).read_bytes()
        if system_libnv.pack(nvl) != expected:
            problems.append(f"{case['id']}: pack differs from the golden bytes")
        if codec.pack(nvl) != expected:
            problems.append(f"{case['id']}: the pure codec differs from the golden bytes")
        decoded = system_libnv.unpack(expected, case["unpack_flags"])
        if decoded != nvl or decoded != codec.unpack(expected, case["unpack_flags"]):
            problems.append(f"{case['id']}: unpacked content differs")
    assert problems == []


def test_system_libnv_agrees_on_the_reject_corpus(
    system_libnv: libnv.Libnv, libnv_golden: Any
) -> None:
    problems = []
    for case in libnv_golden.reject["cases"]:
        if case["result"] == "crashed":
            continue  # real libnv aborts on these
        data = (libnv_golden.reject_dir / case["file"]).read_bytes()
        try:
            decoded = system_libnv.unpack(data, case["unpack_flags"])
        except NVListError as exc:
            if case["result"] != "rejected":
                problems.append(f"{case['id']}: rejected ({exc})")
            elif case["errno_set_by_libnv"] and exc.errno_name != case["errno"]:
                problems.append(f"{case['id']}: {exc.errno_name}, recorded {case['errno']}")
            elif not case["errno_set_by_libnv"] and exc.errno != errno.EINVAL:
                problems.append(f"{case['id']}: {exc.errno_name} for a rejection without errno")
            continue
        if case["result"] != "accepted":
            problems.append(f"{case['id']}: accepted, recorded {case['errno']}")
        elif decoded != codec.unpack(data, case["unpack_flags"]):
            problems.append(f"{case['id']}: content differs from the pure codec's")
    assert problems == []
