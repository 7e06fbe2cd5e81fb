"""How much of the libnv binding's unpack is the conversion into NVList, measured in one run.

The binding walks libnv's C list and appends each scalar pair as libnv delivered it
(`NVList._append_unchecked`): libnv has already checked the name, the value and, under the
list's flags, uniqueness. The in-run baseline is the same walk with every pair going
through the public, checking `NVList.add` instead, which is what the binding did before.
The two are timed in alternating rounds on one buffer (an OVPN_GET_PEER_STATS reply with
10,000 peers), so a busy machine slows both alike; the figure is their ratio.

Needs a libnv: the system one (FreeBSD), or the C model of libnv built from
tests/nvlist_ffi/libnv_model/nvmodel.c and named by $NVLIST_LIBNV, e.g.

    gcc -std=c11 -D_DEFAULT_SOURCE -O2 -shared -fPIC -fvisibility=hidden \\
        -DNVMODEL_PREFIX=FreeBSD_ -o /tmp/libnv.so.1 tests/nvlist_ffi/libnv_model/nvmodel.c
    NVLIST_LIBNV=/tmp/libnv.so.1 python bench/libnv_convert_bench.py
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from nvlist_bench import peer_stats_reply

from nvlist_ffi import NVList, libnv


def _checked_append(nvl: NVList, name: object, value: object) -> None:
    """The baseline: every pair through `add`, adopting a nested list as `add` would."""
    if isinstance(value, NVList):
        value._owned = False  # the walk marks it adopted before appending
    nvl.add(name, value)  # type: ignore[arg-type]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peers", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args()
    if not libnv.available():
        print(
            "no libnv to bind: set NVLIST_LIBNV to a libnv (or the C model; see --help)",
            file=sys.stderr,
        )
        return 69
    data = libnv.pack(peer_stats_reply(args.peers))
    unchecked = NVList._append_unchecked
    best = {"checked add (baseline)": float("inf"), "unchecked append": float("inf")}
    variants = (("checked add (baseline)", _checked_append), ("unchecked append", unchecked))
    try:
        for _ in range(args.rounds):
            for label, append in variants:
                NVList._append_unchecked = append  # type: ignore[method-assign]
                start = time.process_time()
                libnv.unpack(data)
                best[label] = min(best[label], time.process_time() - start)
    finally:
        NVList._append_unchecked = unchecked  # type: ignore[method-assign]
    print(f"libnv unpack of a {args.peers}-peer GET_PEER_STATS reply via {libnv.info().path}")
    print(f"(CPU time, best of {args.rounds} alternating rounds)")
    base = best["checked add (baseline)"]
    for label, seconds in best.items():
        print(f"{label:<26}{seconds * 1000:>10.1f} ms{seconds / base:>8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
