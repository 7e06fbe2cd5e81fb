"""Real-FreeBSD tests: if_ovpn in two VNET jails joined by an epair.

`tox -e freebsd` runs them as root inside the Vagrant box (Vagrantfile at the repo root).
Every test in this directory is marked `freebsd`; anywhere but a FreeBSD host where we are
root and if_ovpn can be loaded, they are skipped with the reason, never failed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .jails import Jail, create_jail_pair, destroy_jail_pair

HERE = Path(__file__).resolve().parent


def unavailable_reason() -> str | None:
    platform: str = sys.platform
    if not platform.startswith("freebsd"):
        return "needs FreeBSD with if_ovpn: run `tox -e freebsd` in the Vagrant box"
    if os.geteuid() != 0:
        return "needs root (creates jails, epairs and ovpn interfaces)"
    for tool in ("jail", "jexec", "ifconfig", "ping", "kldload"):
        if shutil.which(tool) is None:
            return f"{tool}(8) not found"
    loaded = subprocess.run(
        ["kldload", "-n", "if_ovpn"], capture_output=True, text=True, check=False
    )
    if loaded.returncode != 0:
        return f"cannot load if_ovpn: {loaded.stderr.strip()}"
    return None


@pytest.hookimpl(tryfirst=True)  # before `-m` deselection looks at the markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Conftest hooks see the whole session's items, not only this directory's.
    reason: str | None = None
    checked = False
    for item in items:
        if HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.freebsd)
            if not checked:
                reason, checked = unavailable_reason(), True
            if reason is not None:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def jails() -> Iterator[tuple[Jail, Jail]]:
    """Two fresh VNET jails, 192.0.2.1/24 and 192.0.2.2/24 on an epair; removed after."""
    pair = create_jail_pair()
    try:
        yield pair
    finally:
        destroy_jail_pair(pair)
