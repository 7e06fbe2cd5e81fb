"""apply on the real Linux ovpn driver: idempotency, rollback at every step, key reuse.

One namespace per test, an mp interface whose peers need not answer: planning, applying
and rolling back are checked against what the kernel reads back over netlink.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from config_site import ConfigSite
from netns import run_in_netns

from ovpnctl.config import ConfigValidationError, dumps_toml
from ovpnctl.config.paths import Paths
from ovpnctl.config.running import running_config
from ovpnctl.hostnet.linux import LinuxHostNetwork
from ovpnctl.keys import Cipher
from tests.ovpnctl import apply_scenarios

IFACE = "ovpncfg0"
BASE = apply_scenarios.base(IFACE)

# Every kind of reversible change (Linux can change a live peer's remote and switch
# keepalive on), then the one irreversible step: deleting peer 1's retired key.
CHANGED = apply_scenarios.changed(
    IFACE,
    peer_2_remote="198.51.100.2:1194",
    peer_2_extra="keepalive = { interval = 10, timeout = 60 }\n",
    new_peers="""
[[peer]]
id = 3
remote = "192.0.2.3:1194"
vpn_ipv4 = "10.8.0.4"
vpn_ipv6 = "fd00::4"
routes = ["192.168.3.0/24", "fd03::/64"]
key = { id = 2, cipher = "CHACHA20-POLY1305", encrypt = "3a", decrypt = "3b" }
""",
)

CHANGED_CALLS = [
    "add_address",
    "set_keepalive",  # peer 1
    "new_key",  # peer 1, secondary
    "swap_keys",
    "update_peer",  # peer 2's remote
    "set_keepalive",  # peer 2: switched on
    "add_peer",  # peer 3
    "new_key",
    "del_route",
    "add_route",
    "add_route",
    "add_route",
    "del_key",  # peer 1's retired key: cannot be undone
]


@pytest.fixture
def site(netns: str, tmp_path: Path) -> Iterator[ConfigSite]:
    s = ConfigSite(netns, tmp_path)
    for name in ("1a", "1b", "1c", "1d", "2a", "2b"):
        s.key(name)
    s.key("3a", Cipher.CHACHA20_POLY1305)
    s.key("3b", Cipher.CHACHA20_POLY1305)
    yield s
    s.close()


class LinuxApplySite:
    """The site as the shared scenarios see it: one interface and its counted changes."""

    ifname = IFACE

    def __init__(self, site: ConfigSite) -> None:
        self.site = site
        self.changes = site.faults
        self.paths: Paths = site.paths

    def apply(self, text: str) -> Any:
        return self.site.apply(text)

    def snapshot(self) -> dict[str, Any]:
        return self.site.snapshot(self.ifname)


def test_apply_then_nothing_to_do(site: ConfigSite) -> None:
    first = site.apply(BASE)
    assert first.executed and not first.plan.commit
    snap = site.snapshot(IFACE)
    assert snap["mode"] == "mp" and snap["up"] is True
    assert snap["peers"][1] == {
        "remote": "192.0.2.1:1194",
        "vpn": ("10.8.0.2", "None"),
        "keepalive": (10, 60),
        "keys": [("PRIMARY", 0, "AES-256-GCM")],
    }
    assert "192.168.1.0/24 via 10.8.0.2" in snap["routes"]
    apply_scenarios.assert_reapply_changes_nothing(LinuxApplySite(site), BASE)


def test_the_changed_config_runs_as_planned(site: ConfigSite) -> None:
    site.apply(BASE)
    start = site.faults.count
    site.apply(CHANGED)
    assert site.faults.log[start:] == CHANGED_CALLS
    snap = site.snapshot(IFACE)
    assert snap["peers"][1]["keys"] == [("PRIMARY", 1, "AES-256-GCM")]
    assert snap["peers"][2]["remote"] == "198.51.100.2:1194"
    assert snap["peers"][3]["keys"] == [("PRIMARY", 2, "CHACHA20-POLY1305")]
    assert site.apply(CHANGED).plan.empty


@pytest.mark.parametrize("fault_at", range(1, len(CHANGED_CALLS) + 1))
def test_a_failure_at_any_step_restores_the_kernel_state(site: ConfigSite, fault_at: int) -> None:
    site.apply(BASE)
    apply_scenarios.assert_a_fault_restores_the_start(
        LinuxApplySite(site), CHANGED, fault_at, CHANGED_CALLS
    )


def test_after_an_irreversible_step_the_error_names_what_remains(site: ConfigSite) -> None:
    site.apply(BASE)
    # new key -> secondary, swap, delete peer 2's route; then delete peer 1's retired
    # key (irreversible) and remove peer 2, which fails.
    apply_scenarios.assert_removing_peer_2_fails_after_the_irreversible_step(
        LinuxApplySite(site), fault_at=5
    )
    snap = site.snapshot(IFACE)
    assert snap["peers"][1]["keys"] == [("PRIMARY", 1, "AES-256-GCM")]
    assert sorted(snap["peers"]) == [1, 2]
    assert "192.168.2.0/24 via 10.8.0.3" in snap["routes"]  # its deletion was undone


def test_keys_are_never_installed_twice(site: ConfigSite) -> None:
    site.apply(BASE)
    run_in_netns(site.netns, site.backend.destroy_interface, IFACE)  # or a reboot
    with pytest.raises(ConfigValidationError) as info:
        site.apply(BASE)
    assert len(info.value.issues) == 4
    assert all("already installed" in issue.reason for issue in info.value.issues)
    assert site.snapshot(IFACE) == {"exists": False}


def test_showconf_round_trips_on_linux(site: ConfigSite) -> None:
    site.apply(CHANGED.replace('key = { id = 1, encrypt = "1c"', 'key = { id = 0, encrypt = "1c"'))

    def show() -> str:
        hostnet = LinuxHostNetwork()
        try:
            shown = running_config(IFACE, backend=site.backend, hostnet=hostnet, paths=site.paths)
        finally:
            hostnet.close()
        return dumps_toml(shown.data, comments=shown.comments)

    text = run_in_netns(site.netns, show)
    path = site.keydir / "shown.toml"
    path.write_text(text)
    assert site.apply(text).plan.empty
