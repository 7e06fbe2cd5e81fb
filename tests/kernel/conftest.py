"""Real-kernel tests: they drive the Linux `ovpn` driver and run inside the QEMU guest.

`tox -e kernel` (tools/vm/kernel-tests) boots one guest with a kernel that has
`ovpn` and runs `pytest -m kernel tests/kernel` there; guest-init sets
OVPN_IN_GUEST=1.  Everywhere else these tests are skipped with that reason, so
`pytest tests/` on a workstation never fails or touches the host's network
configuration because of them.

Every test collected from this directory is marked `kernel` here, so test
modules need no marker of their own.  Fixtures:

* `ovpn_module`: `modprobe -a ovpn veth`, once per session (without `-a`,
  modprobe would pass "veth" to ovpn as a module parameter).
* `netns`: a fresh, empty namespace (lo up), deleted afterwards.
* `netns_pair`: two namespaces joined by veth with IPv4 and IPv6 addresses.

To act inside a namespace use `run_in_netns` / `netns_exec` from netns.py
(that module explains why work runs in a helper thread or a subprocess).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from netns import (
    NetnsPair,
    create_netns,
    create_netns_pair,
    delete_netns,
    destroy_netns_pair,
    unique_netns_name,
)

IN_GUEST = os.environ.get("OVPN_IN_GUEST") == "1"
KERNEL_TESTS_DIR = Path(__file__).resolve().parent
NOT_IN_GUEST = (
    "real-kernel test: runs inside the QEMU guest booted by `tox -e kernel` (OVPN_IN_GUEST unset)"
)
REQUIRED_MODULES = ("ovpn", "veth")


@pytest.hookimpl(tryfirst=True)  # before `-m` deselection looks at the markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Conftest hooks see the whole session's items, not only this directory's.
    for item in items:
        if KERNEL_TESTS_DIR in item.path.resolve().parents:
            item.add_marker(pytest.mark.kernel)
            if not IN_GUEST:
                item.add_marker(pytest.mark.skip(reason=NOT_IN_GUEST))


@pytest.fixture(scope="session")
def ovpn_module() -> None:
    """Load ovpn (and veth for the test topology) through the guest's modprobe."""
    proc = subprocess.run(
        ["modprobe", "-a", *REQUIRED_MODULES], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        pytest.fail(f"modprobe -a {' '.join(REQUIRED_MODULES)} failed: {proc.stderr.strip()}")
    absent = [m for m in REQUIRED_MODULES if not Path("/sys/module", m).is_dir()]
    if absent:
        pytest.fail(f"modprobe succeeded but /sys/module lacks {absent}")


@pytest.fixture
def netns(ovpn_module: None) -> Iterator[str]:
    """Name of a fresh namespace with only `lo` (up); deleted with everything in it."""
    name = unique_netns_name("ovt")
    create_netns(name)
    yield name
    delete_netns(name)


@pytest.fixture
def netns_pair(ovpn_module: None) -> Iterator[NetnsPair]:
    """Two namespaces joined by veth (10.200.0.1-2/24, fd00:200::1-2/64); torn down after."""
    pair = create_netns_pair()
    yield pair
    destroy_netns_pair(pair)
