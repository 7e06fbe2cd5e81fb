"""Packed-nvlist codec speed: pure Python vs libnv (when loadable) vs json, measured in one run.

Two workloads: (a) an if_ovpn OVPN_NEW_KEY request (the golden ``ovpn_new_key_aes256gcm`` buffer)
and (b) an OVPN_GET_PEER_STATS reply with 10,000 peers shaped like the golden
``ovpn_reply_peer_stats_*`` cases. The in-run baseline is ``json.dumps`` + ``json.loads`` of the
equivalent plain dict (binaries as hex), so ratios stay meaningful on a busy or slow machine.
Times are the best of several repeats of CPU time consumed by this process (``--wall`` for wall
clock), which keeps them stable on a shared machine. The pure codec is measured twice: as used
(it learns the layout of recurring buffers and lists, see nvlist_ffi/shapes.py) and with shapes
switched off (pair-by-pair). Run: ``python bench/nvlist_bench.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nvlist_ffi import NVList, NVListArray, codec, decoder, encoder

NEW_KEY_CASE = "ovpn_new_key_aes256gcm"
TARGETS_US = {"new_key pack+unpack": 15.0, "peer_stats unpack": 60_000.0}


def _golden_dir() -> Path:
    shared = os.environ.get("OVPNCTL_SHARED")
    root = Path(shared) if shared else Path(__file__).resolve().parents[1] / ".." / "shared"
    return root / "golden" / "nvlist"


def peer_stats_reply(peers: int) -> NVList:
    """An OVPN_GET_PEER_STATS reply as if_ovpn builds it (golden README §6)."""
    elements = NVListArray()
    for peer in range(peers):
        element = NVList()
        element.add("peerid", peer)
        element.add("packets", NVList([("in", peer * 10), ("out", peer * 12)]))
        element.add("bytes", NVList([("in", peer * 1400), ("out", peer * 1600)]))
        elements.append(element)
    return NVList([("peers", elements)])


def plain(nvl: NVList) -> dict[str, Any]:
    """The same data as a JSON-able dict (the baseline's input); shallow inputs only."""
    out: dict[str, Any] = {}
    for name, value in nvl.items():
        key = name if isinstance(name, str) else name.hex()
        if isinstance(value, NVList):
            out[key] = plain(value)
        elif isinstance(value, NVListArray):
            out[key] = [plain(element) for element in value]
        elif isinstance(value, bytes):
            out[key] = value.hex()
        else:
            out[key] = value
    return out


_CLOCK = time.process_time


def best_us(action: Callable[[], object], budget_s: float, repeats: int) -> float:
    """Best time per call in microseconds, calibrated so each repeat takes about ``budget_s``."""
    timer = timeit.Timer(action, timer=_CLOCK)
    number, elapsed = timer.autorange()
    number = max(1, int(number * budget_s / max(elapsed, 1e-9)))
    return min(timer.repeat(repeat=repeats, number=number)) / number * 1e6


def _shapes(enabled: bool) -> None:
    encoder.SHAPES_ENABLED = enabled
    decoder.SHAPES_ENABLED = enabled


def _libnv() -> Any:
    try:
        from nvlist_ffi import libnv
    except ImportError:
        return None
    try:
        return libnv if libnv.available() else None
    except Exception:
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (smoke test)")
    parser.add_argument("--peers", type=int, default=10_000)
    parser.add_argument("--wall", action="store_true", help="wall-clock time instead of CPU time")
    args = parser.parse_args()
    global _CLOCK
    clock_name = "process_time"
    if args.wall:
        _CLOCK, clock_name = time.perf_counter, "perf_counter"
    budget, repeats = (0.05, 3) if args.quick else (0.4, 7)

    new_key_bytes = (_golden_dir() / f"{NEW_KEY_CASE}.bin").read_bytes()
    new_key = codec.unpack(new_key_bytes)
    stats = peer_stats_reply(args.peers)
    stats_bytes = codec.pack(stats)
    assert codec.unpack(stats_bytes) == stats
    assert codec.pack(new_key) == new_key_bytes
    libnv = _libnv()

    rows: list[tuple[str, float, float, float | None, float]] = []
    for label, nvl, data in (
        ("new_key", new_key, new_key_bytes),
        (f"peer_stats ({args.peers} peers)", stats, stats_bytes),
    ):
        text = json.dumps(plain(nvl))
        document = plain(nvl)
        json_pack = best_us(lambda d=document: json.dumps(d), budget, repeats)
        json_unpack = best_us(lambda t=text: json.loads(t), budget, repeats)
        pure_pack = best_us(lambda n=nvl: codec.pack(n), budget, repeats)
        pure_unpack = best_us(lambda b=data: codec.unpack(b), budget, repeats)
        _shapes(False)
        plain_pack = best_us(lambda n=nvl: codec.pack(n), budget, repeats)
        plain_unpack = best_us(lambda b=data: codec.unpack(b), budget, repeats)
        _shapes(True)
        libnv_pack = libnv_unpack = None
        if libnv is not None:
            libnv_pack = best_us(lambda n=nvl: libnv.pack(n), budget, repeats)
            libnv_unpack = best_us(lambda b=data: libnv.unpack(b), budget, repeats)
        rows.append((f"{label} pack", pure_pack, plain_pack, libnv_pack, json_pack))
        rows.append((f"{label} unpack", pure_unpack, plain_unpack, libnv_unpack, json_unpack))
        both = None if libnv_pack is None or libnv_unpack is None else libnv_pack + libnv_unpack
        rows.append(
            (
                f"{label} pack+unpack",
                pure_pack + pure_unpack,
                plain_pack + plain_unpack,
                both,
                json_pack + json_unpack,
            )
        )

    print(f"nvlist codec benchmark (python {sys.version.split()[0]}, best of {repeats})")
    print(
        f"{'workload':<38}{'pure µs':>12}{'no shapes':>12}{'libnv µs':>12}{'json µs':>12}"
        f"{'pure/json':>11}"
    )
    for label, pure, plain_time, lib, base in rows:
        lib_text = f"{lib:12.2f}" if lib is not None else f"{'n/a':>12}"
        print(
            f"{label:<38}{pure:12.2f}{plain_time:12.2f}{lib_text}{base:12.2f}{pure / base:10.2f}x"
        )
    measured = {label: pure for label, pure, _, _, _ in rows}
    new_key_total = measured["new_key pack+unpack"]
    stats_unpack = measured[f"peer_stats ({args.peers} peers) unpack"]
    print()
    print(
        f"target new_key pack+unpack < {TARGETS_US['new_key pack+unpack']:.0f} µs: "
        f"{new_key_total:.2f} µs ({'met' if new_key_total < 15 else 'NOT met'})"
    )
    if args.peers == 10_000:
        print(
            f"target 10,000-peer reply unpack < 60 ms: {stats_unpack / 1000:.2f} ms "
            f"({'met' if stats_unpack < TARGETS_US['peer_stats unpack'] else 'NOT met'})"
        )
    print(f"(timer: time.{clock_name}, {time.get_clock_info(clock_name).implementation})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
