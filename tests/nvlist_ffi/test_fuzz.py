"""Mutation fuzzing of the decoder with golden buffers as seeds (fixed seed: reproducible).

Invariants for every input: ``unpack`` raises nothing but NVListError; whatever it accepts packs
and unpacks again to the same content; and the fast decoder agrees exactly with the strict
reference (same content, same re-packed bytes). ~2,000 inputs run by default, 100,000 under the
``slow`` marker (``tox -e fuzz``).
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterator

import pytest

from nvlist_ffi import NVListError
from nvlist_ffi.codec import pack, unpack, unpack_strict
from tests.nvlist_ffi.golden import REJECT, REJECT_DIR, VALID, VALID_DIR, require

_INTERESTING_BYTES = (0x00, 0x01, 0x02, 0x03, 0x05, 0x0B, 0x13, 0x6C, 0x7F, 0x80, 0xFE, 0xFF)
_INTERESTING_U64 = (0, 1, 2, 8, 18, 19, 20, 2047, 2048, 2049, 2**32, 2**63, 2**64 - 1)


def _seeds() -> tuple[list[tuple[bytes, int]], list[tuple[bytes, int]]]:
    """(buffers libnv accepts, buffers it rejects), each with its unpack flags."""
    valid = require(VALID, VALID_DIR)
    reject = require(REJECT, REJECT_DIR)
    good: list[tuple[bytes, int]] = []
    bad: list[tuple[bytes, int]] = []
    for directory, manifest in ((VALID_DIR, valid), (REJECT_DIR, reject)):
        for case in manifest["cases"]:
            if case["size"] > 8192:  # keep each input cheap; big cases add nothing new
                continue
            seed = ((directory / case["file"]).read_bytes(), case["unpack_flags"])
            (good if case.get("result", "accepted") == "accepted" else bad).append(seed)
    return good, bad


def _mutate(rng: random.Random, data: bytes, seeds: list[tuple[bytes, int]]) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 8))):
        choice = rng.randrange(9)
        if choice == 0 and buf:
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
        elif choice == 1 and buf:
            buf[rng.randrange(len(buf))] = rng.choice(_INTERESTING_BYTES)
        elif choice == 2 and len(buf) >= 8:
            at = rng.randrange(len(buf) - 7)
            buf[at : at + 8] = struct.pack(rng.choice("<>") + "Q", rng.choice(_INTERESTING_U64))
        elif choice == 3:
            del buf[rng.randrange(len(buf) + 1) :]
        elif choice == 4 and buf:
            at = rng.randrange(len(buf))
            del buf[at : at + rng.randrange(1, 24)]
        elif choice == 5:
            at = rng.randrange(len(buf) + 1)
            buf[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 24)))
        elif choice == 6:
            other = rng.choice(seeds)[0] or b"\0"
            start = rng.randrange(len(other))
            buf[rng.randrange(len(buf) + 1) :] = other[start:]
        elif choice == 7 and len(buf) > 19:
            # A value-sized change deep inside: most of these stay acceptable.
            buf[rng.randrange(19, len(buf))] = rng.randrange(256)
    if len(buf) >= 19 and rng.random() < 0.5:
        # Keep the top header's size field consistent, so mutations reach deeper checks.
        buf[11:19] = struct.pack("<Q", len(buf) - 19)
    return bytes(buf)


def _inputs(count: int, seed: int) -> Iterator[tuple[bytes, int]]:
    rng = random.Random(seed)
    good, bad = _seeds()
    seeds = good + bad
    for _ in range(count):
        data, flags = rng.choice(good if rng.random() < 0.8 else bad)
        if rng.random() < 0.1:
            flags = rng.randrange(4)
        yield _mutate(rng, data, seeds), flags


def _check(data: bytes, flags: int) -> bool:
    """Apply the invariants to one input; True when it was accepted."""
    try:
        decoded = unpack(data, flags)
    except NVListError as exc:
        with pytest.raises(NVListError) as strict:
            unpack_strict(data, flags)
        assert strict.value.errno_name == exc.errno_name
        assert exc.offset is not None
        return False
    reference = unpack_strict(data, flags)
    assert decoded == reference
    repacked = pack(decoded)
    assert repacked == pack(reference)
    again = unpack(repacked, flags)
    assert again == decoded
    assert pack(again) == repacked
    return True


def _run(count: int, seed: int) -> None:
    accepted = 0
    for data, flags in _inputs(count, seed):
        accepted += _check(data, flags)
    # The mutations must exercise both outcomes, or the test proves little.
    assert count // 50 < accepted < count - count // 50


def test_fuzz_short() -> None:
    _run(2_000, seed=20240611)


@pytest.mark.slow
def test_fuzz_100k() -> None:
    _run(100_000, seed=1)
