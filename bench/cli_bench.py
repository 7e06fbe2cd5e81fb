"""Cold-start wall time of the ovpnctl CLI, as ratios to a bare `python -c pass`.

A command-line tool is mostly start-up: every run pays for the interpreter and for every
module the command imports. This measures, in one run and interleaved (so machine load
hits every case alike), the median wall time of N fresh processes for:

* `python -c pass` (the baseline every ratio is relative to)
* `ovpnctl --version`                       target <= 4x
* `ovpnctl --json ... --dry-run`            target <= 4x (no kernel needed)
* `ovpnctl --json show` on the kernel model target <= 4x
* `ovpnctl show` (rich tables) on the model target <= 8x

`show` runs through bench/model_launcher.py (the real CLI, FreeBSD backend over the
if_ovpn kernel model with one interface and three peers); its time includes building
that model, so it is an upper bound for the real command's own cost.

Every process, the baseline included, is the same interpreter with the same flags: plain
`python`, as the issue defines the ratios. Whatever the host's `site` does at start-up
(`.pth` hooks that import packages) is paid by the baseline too, so it shrinks the ratios;
`--no-site` starts every process with `python -S` and the site-packages directories on
PYTHONPATH instead, which shows ovpnctl's own cost against a smaller baseline.

CPU time (user + system of the child) is reported next to wall time: on a loaded machine
it is the steadier of the two.

Usage: python bench/cli_bench.py [-n RUNS] [--no-site] [--check]
"""

from __future__ import annotations

import argparse
import os
import resource
import site
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAUNCHER = str(REPO / "bench" / "model_launcher.py")
DRY_RUN_ARGS = ["--json", "--backend", "freebsd", "peer", "del", "ovpn0", "1", "--dry-run"]


@dataclass(frozen=True)
class Case:
    name: str
    argv: list[str]
    target: float | None  # allowed ratio to the baseline; None for the baseline itself


CASES = [
    Case("python -c pass", ["-c", "pass"], None),
    Case("ovpnctl --version", ["-m", "ovpnctl", "--version"], 4.0),
    Case("ovpnctl --json peer del --dry-run", ["-m", "ovpnctl", *DRY_RUN_ARGS], 4.0),
    Case("ovpnctl --json show (model)", [LAUNCHER, "--json", "show"], 4.0),
    Case("ovpnctl show (model, tables)", [LAUNCHER, "show"], 8.0),
]


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time, and the child's CPU time (user + system), which load on a busy
    machine distorts far less than wall time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, env=env, cwd=REPO, stdout=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def interpreter(no_site: bool) -> tuple[list[str], dict[str, str]]:
    """The python command line and environment every case starts with."""
    paths = [str(REPO)]
    prefix = [sys.executable]
    if no_site:
        prefix.append("-S")
        paths += [*site.getsitepackages(), site.getusersitepackages()]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "COLUMNS": "120"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # cold process, warm bytecode cache
    return prefix, env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("-n", "--runs", type=int, default=21, help="processes per case")
    parser.add_argument(
        "--no-site", action="store_true", help="python -S for every case, .pth hooks off"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    options = parser.parse_args()

    prefix, env = interpreter(options.no_site)
    for case in CASES:  # compile bytecode and warm the page cache once
        run_once(prefix + case.argv, env)
    walls: dict[str, list[float]] = {case.name: [] for case in CASES}
    cpus: dict[str, list[float]] = {case.name: [] for case in CASES}
    for _ in range(options.runs):
        for case in CASES:
            wall, cpu = run_once(prefix + case.argv, env)
            walls[case.name].append(wall)
            cpus[case.name].append(cpu)

    base_wall = statistics.median(walls[CASES[0].name])
    base_cpu = statistics.median(cpus[CASES[0].name])
    mode = "python -S, site-packages on PYTHONPATH" if options.no_site else "python"
    print(f"{options.runs} runs per case, medians, interleaved; {mode}")
    print(f"{'case':36} {'wall ms':>8} {'ratio':>7} {'cpu ms':>8} {'ratio':>7}  target (wall)")
    missed = False
    for case in CASES:
        wall = statistics.median(walls[case.name])
        cpu = statistics.median(cpus[case.name])
        ratio = wall / base_wall
        verdict = ""
        if case.target is not None:
            ok = ratio <= case.target
            missed = missed or not ok
            verdict = f"<= {case.target:.0f}x {'ok' if ok else 'MISSED'}"
        print(
            f"{case.name:36} {wall * 1000:8.1f} {ratio:6.2f}x {cpu * 1000:8.1f} "
            f"{cpu / base_cpu:6.2f}x  {verdict}"
        )
    return 1 if options.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
