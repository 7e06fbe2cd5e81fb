"""Differential fuzzing: libnv (here: the C test model, faithful on every golden vector) against the
pure codec on mutated golden buffers. Both must reach the same verdict, the same errno name and
the same content. Seeded, so a failure reproduces; the slow variant runs in ``tox -e fuzz``."""

from __future__ import annotations

import random
from typing import Any

import pytest

from nvlist_ffi import codec
from nvlist_ffi.errors import NVListError

# Values worth planting in 8-byte header fields: zero, small, the header size, the marker size,
# sign and overflow edges, and (filled in per offset) the exact and header-less remaining length.
_FIELD_VALUES = (0, 1, 2, 19, 20, 0xFF, 2**63, 2**64 - 1)


def _mutate(rnd: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rnd.randint(1, 3)):
        op = rnd.random()
        if op < 0.55 and buf:
            buf[rnd.randrange(len(buf))] = rnd.randrange(256)
        elif op < 0.7 and buf:
            del buf[rnd.randrange(len(buf)) :]
        elif op < 0.85:
            buf.insert(rnd.randrange(len(buf) + 1), rnd.randrange(256))
        elif len(buf) > 8:
            at = rnd.randrange(len(buf) - 8)
            remaining = len(buf) - at
            value = rnd.choice((*_FIELD_VALUES, remaining, max(0, remaining - 19)))
            buf[at : at + 8] = value.to_bytes(8, "little")
    return bytes(buf)


def _outcome(unpack: Any, data: bytes) -> tuple[str, Any]:
    try:
        return "accepted", unpack(data)
    except NVListError as exc:
        return "rejected", exc.errno_name


@pytest.mark.parametrize(
    ("seed", "count"),
    [
        pytest.param(20240611, 3_000, id="quick"),
        pytest.param(1, 100_000, id="100k", marks=pytest.mark.slow),
    ],
)
def test_model_and_pure_codec_agree_on_mutated_buffers(
    libnv_model: Any, libnv_golden: Any, seed: int, count: int
) -> None:
    bases = [
        (libnv_golden.valid_dir / case["file"]).read_bytes()
        for case in libnv_golden.valid["cases"]
        if case["size"] <= 4096 and case["unpack_flags"] == 0
    ]
    rnd = random.Random(seed)
    accepted = 0
    disagreements = []
    for _ in range(count):
        data = _mutate(rnd, rnd.choice(bases))
        through_libnv = _outcome(libnv_model.unpack, data)
        pure = _outcome(codec.unpack, data)
        if through_libnv != pure:
            disagreements.append(f"{data.hex()}: libnv {through_libnv[0]}, pure {pure[0]}")
        elif through_libnv[0] == "accepted":
            accepted += 1
            # Canonical encodings of the same content. (The pure codec's own result also keeps
            # libnv's unvalidated header fields for a byte-exact repack; the binding's cannot.)
            content = through_libnv[1]
            if libnv_model.pack(content) != codec.pack(content):
                disagreements.append(f"{data.hex()}: repacks differ")
    assert disagreements[:5] == []
    # The mutations must leave enough buffers valid to exercise the accepting paths too.
    assert accepted > count // 50
