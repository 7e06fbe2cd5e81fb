"""apply: idempotency, rollback at every step, locking, key reuse — on the if_ovpn model."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ovpnctl.apply import LockBusyError, interface_lock
from ovpnctl.config import ConfigValidationError
from ovpnctl.config.record import read_record
from ovpnctl.errors import ExitCode, KernelError
from ovpnctl.socketpool import SocketPool
from tests.ovpnctl import apply_scenarios
from tests.ovpnctl.config.rig import Rig


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    yield r
    r.close()


class ModelApplySite:
    """The rig as the shared scenarios see it: ovpn0, applied from one socket pool."""

    ifname = "ovpn0"

    def __init__(self, rig: Rig, pool: SocketPool) -> None:
        self.rig = rig
        self.pool = pool
        self.changes = rig.mutations
        self.paths = rig.paths

    def apply(self, text: str) -> Any:
        return self.rig.apply(self.rig.config(text), self.pool)

    def snapshot(self) -> dict[str, Any]:
        return self.rig.snapshot()


BASE = apply_scenarios.base("ovpn0")

# Rotate peer 1's key (new id) and keepalive, move peer 2's route, add peers 3 and 4
# and an IPv6 address: every kind of reversible step, then one irreversible one (the
# retired key of peer 1 is deleted last). Peer 2 keeps its remote: FreeBSD would have
# to re-create it (see the last test).
CHANGED = apply_scenarios.changed(
    "ovpn0",
    new_peers="""
[[peer]]
id = 3
remote = "192.0.2.3:1194"
vpn_ipv4 = "10.8.0.4"
vpn_ipv6 = "fd00::4"
routes = ["192.168.3.0/24", "fd03::/64"]
keepalive = { interval = 10, timeout = 60 }
key = { id = 0, encrypt = "3a", decrypt = "3b" }

[[peer]]
id = 4
remote = "192.0.2.4:1194"
vpn_ipv4 = "10.8.0.5"
key = { id = 2, cipher = "CHACHA20-POLY1305", encrypt = "4a", decrypt = "4b" }
""",
)

CHANGED_STEPS = [
    "host add address fd00::1/64",
    "kernel OVPN_SET_PEER ovpn0",  # peer 1 keepalive 5/30
    "kernel OVPN_NEW_KEY ovpn0",  # peer 1 new key -> secondary
    "kernel OVPN_START_VPN ovpn0",  # (the FreeBSD backend starts after every NEW_KEY)
    "kernel OVPN_SWAP_KEYS ovpn0",
    "kernel OVPN_NEW_PEER ovpn0",  # peer 3
    "kernel OVPN_NEW_KEY ovpn0",
    "kernel OVPN_START_VPN ovpn0",
    "kernel OVPN_SET_PEER ovpn0",
    "kernel OVPN_NEW_PEER ovpn0",  # peer 4
    "kernel OVPN_NEW_KEY ovpn0",
    "kernel OVPN_START_VPN ovpn0",
    "host delete route 192.168.2.0/24 via 10.8.0.3",
    "host add route 192.168.22.0/24 via 10.8.0.3",
    "host add route 192.168.3.0/24 via 10.8.0.4",
    "host add route fd03::/64 via fd00::4",
    "kernel OVPN_DEL_KEY ovpn0",  # peer 1 retired key: the one irreversible step
]


def make_keys(rig: Rig) -> None:
    for name in ("1a", "1b", "2a", "2b", "1c", "1d", "3a", "3b"):
        rig.key(name)
    from ovpnctl.keys import Cipher

    rig.key("4a", Cipher.CHACHA20_POLY1305)
    rig.key("4b", Cipher.CHACHA20_POLY1305)


def ledger_entries(rig: Rig) -> set[str]:
    data = json.loads(Path(rig.paths.ledger).read_text())
    return set(data["keys"])


def test_first_apply_builds_the_tunnel(rig: Rig) -> None:
    make_keys(rig)
    pool = rig.pool()
    result = rig.apply(rig.config(BASE), pool)
    assert result.executed
    assert rig.mutations.log == [
        "kernel create ovpn0",
        "kernel OVPN_SET_IFMODE ovpn0",
        "kernel OVPN_START_VPN ovpn0",
        "host add address 10.8.0.1/24",
        "kernel OVPN_NEW_PEER ovpn0",
        "kernel OVPN_NEW_KEY ovpn0",
        "kernel OVPN_START_VPN ovpn0",
        "kernel OVPN_SET_PEER ovpn0",
        "kernel OVPN_NEW_PEER ovpn0",
        "kernel OVPN_NEW_KEY ovpn0",
        "kernel OVPN_START_VPN ovpn0",
        "host add route 192.168.1.0/24 via 10.8.0.2",
        "host add route 192.168.2.0/24 via 10.8.0.3",
    ]
    snap = rig.snapshot()
    peers = snap["ovpn0"]["peers"]
    assert sorted(peers) == [1, 2]
    assert peers[1]["keepalive"] == (10, 60)
    assert peers[1]["slots"] == [(0, "AES-256-GCM", 32), None]
    assert snap["host"]["routes"]["ovpn0"] == [
        "10.8.0.0/24",
        "192.168.1.0/24 via 10.8.0.2",
        "192.168.2.0/24 via 10.8.0.3",
    ]
    # Four directions of key material are now in the ledger; the state file holds their
    # fingerprints and never the keys.
    assert len(ledger_entries(rig)) == 4
    state_text = Path(rig.paths.state_file("ovpn0")).read_text()
    for name in ("1a", "1b", "2a", "2b"):
        assert Path(rig.keydir / name).read_text().strip() not in state_text


def test_second_apply_issues_no_mutating_call(rig: Rig) -> None:
    make_keys(rig)
    pool = rig.pool()
    rig.apply(rig.config(BASE), pool)
    kernel_before = len(rig.kernel.calls)
    state_before = Path(rig.paths.state_file("ovpn0")).read_bytes()
    site = ModelApplySite(rig, rig.pool())  # a fresh process: its own pool
    result = apply_scenarios.assert_reapply_changes_nothing(site, BASE)
    assert result.plan.lines() == ["ovpn0: up to date, nothing to change"]
    new_calls = rig.kernel.calls[kernel_before:]
    assert new_calls, "the second apply must still read the kernel"
    mutating = ("SIOCSDRVSPEC", "SIOCIFCREATE2", "SIOCIFDESTROY", "SIOCSIFNAME")
    assert [c for c in new_calls if c.ioctl in mutating] == []
    assert Path(rig.paths.state_file("ovpn0")).read_bytes() == state_before


def test_the_change_runs_in_the_planned_order(rig: Rig) -> None:
    make_keys(rig)
    pool = rig.pool(holds_tunnel=True)
    rig.apply(rig.config(BASE), pool)
    start = rig.mutations.count
    result = rig.apply(rig.config(CHANGED), pool)
    assert rig.mutations.log[start:] == CHANGED_STEPS
    assert [step.reversible for step in result.plan.steps] == [True] * 13 + [False]
    snap = rig.snapshot()["ovpn0"]["peers"]
    assert snap[1]["slots"] == [(1, "AES-256-GCM", 32), None]
    assert snap[1]["keepalive"] == (5, 30)
    assert snap[4]["slots"] == [(2, "CHACHA20-POLY1305", 32), None]
    # And the changed config is now stable too.
    again = rig.apply(rig.config(CHANGED), pool)
    assert again.plan.empty


@pytest.mark.parametrize("fault_at", range(1, len(CHANGED_STEPS) + 1))
def test_a_failure_at_any_step_restores_the_start(rig: Rig, fault_at: int) -> None:
    make_keys(rig)
    pool = rig.pool(holds_tunnel=True)
    rig.apply(rig.config(BASE), pool)
    ledger_before = ledger_entries(rig)
    apply_scenarios.assert_a_fault_restores_the_start(
        ModelApplySite(rig, pool), CHANGED, fault_at, CHANGED_STEPS
    )
    # The ledger keeps only material that may have encrypted something: the rotated key
    # of peer 1 once it was swapped into the primary slot. Peers 3 and 4 never sent a
    # packet (their counters read zero), so their keys are free again.
    after = ledger_entries(rig)
    swapped = fault_at > CHANGED_STEPS.index("kernel OVPN_SWAP_KEYS ovpn0") + 1
    assert after - ledger_before == (set(_fps(rig, "1c", "1d")) if swapped else set())
    assert ledger_before <= after


def _fps(rig: Rig, *names: str) -> list[str]:
    from ovpnctl.keyfile import read_direction
    from ovpnctl.keys import Cipher

    out = []
    for name in names:
        direction = read_direction(str(rig.keydir / name), Cipher.AES_256_GCM)
        out.append(rig.ledger.fingerprint(direction.key, direction.iv))
        direction.wipe()
    return out


def test_after_a_rolled_back_failure_the_retry_succeeds(rig: Rig) -> None:
    make_keys(rig)
    pool = rig.pool(holds_tunnel=True)
    rig.apply(rig.config(BASE), pool)
    rig.mutations.fail_at = (
        rig.mutations.count + CHANGED_STEPS.index("kernel OVPN_NEW_PEER ovpn0") + 1
    )
    with pytest.raises(KernelError):
        rig.apply(rig.config(CHANGED), pool)
    # The rotated key of peer 1 was swapped in before the failure: it is burnt, and the
    # retry with the same files is refused, naming the file and line.
    with pytest.raises(ConfigValidationError) as info:
        rig.apply(rig.config(CHANGED), pool)
    text = str(info.value)
    assert "tunnel.toml:14: peer[0].key.encrypt: this key material was already installed" in text
    assert "--allow-key-reuse" in text
    # Fresh material for peer 1 (as the README's workflow says) and it goes through.
    os.unlink(rig.keydir / "1c")
    os.unlink(rig.keydir / "1d")
    rig.key("1c")
    rig.key("1d")
    result = rig.apply(rig.config(CHANGED), pool)
    assert result.executed and not rig.apply(rig.config(CHANGED), pool).plan.steps


def test_failure_after_an_irreversible_step_names_what_remains(rig: Rig) -> None:
    make_keys(rig)
    pool = rig.pool(holds_tunnel=True)
    rig.apply(rig.config(BASE), pool)
    before = rig.snapshot()
    start = rig.mutations.count
    # Plan: new key -> secondary, swap, delete route of peer 2, then (commit) delete the
    # retired key of peer 1 and remove peer 2. Fail the removal of peer 2.
    apply_scenarios.assert_removing_peer_2_fails_after_the_irreversible_step(
        ModelApplySite(rig, pool), fault_at=6
    )
    assert rig.mutations.log[start:] == [
        "kernel OVPN_NEW_KEY ovpn0",
        "kernel OVPN_START_VPN ovpn0",
        "kernel OVPN_SWAP_KEYS ovpn0",
        "host delete route 192.168.2.0/24 via 10.8.0.3",
        "kernel OVPN_DEL_KEY ovpn0",
        "kernel OVPN_DEL_PEER ovpn0",  # fails
        "host add route 192.168.2.0/24 via 10.8.0.3",  # the rollback
    ]
    after = rig.snapshot()
    # Peer 1 keeps its new key (the old one is gone for good); everything else is back.
    assert after["ovpn0"]["peers"][1]["slots"] == [(1, "AES-256-GCM", 32), None]
    before["ovpn0"]["peers"][1]["slots"] = [(1, "AES-256-GCM", 32), None]
    assert after == before
    record = read_record(rig.paths.state_file("ovpn0"))
    assert record is not None
    assert record.peers[1].keys["primary"].key_id == 1
    assert "secondary" not in record.peers[1].keys
    # The next apply finishes the job.
    result = rig.apply(rig.config(apply_scenarios.only_peer_1_rotated("ovpn0")), pool)
    assert [s.describe() for s in result.plan.steps] == [
        "delete route 192.168.2.0/24 via 10.8.0.3 on ovpn0",
        "remove peer 2 (not in the config)",
    ]


def test_concurrent_apply_waits_for_the_lock(rig: Rig) -> None:
    make_keys(rig)
    with interface_lock(rig.paths, "ovpn0"), pytest.raises(LockBusyError) as info:
        rig.apply(rig.config(BASE), rig.pool(), lock_wait=0)
    assert info.value.exit_code == ExitCode.TEMPFAIL
    assert f"(pid {os.getpid()})" in info.value.message
    assert rig.kernel.calls == []
    # Released: the next run goes ahead.
    assert rig.apply(rig.config(BASE), rig.pool(), lock_wait=0).executed


def test_lock_is_per_interface(rig: Rig) -> None:
    make_keys(rig)
    with interface_lock(rig.paths, "ovpn9"):
        assert rig.apply(rig.config(BASE), rig.pool(), lock_wait=0).executed


def test_dry_run_touches_nothing(rig: Rig) -> None:
    make_keys(rig)
    result = rig.apply(rig.config(BASE), rig.pool(), dry_run=True)
    assert not result.executed
    assert len(result.plan.steps) == 13 - 3  # no START_VPN-after-key calls in the plan
    assert rig.mutations.count == 0
    assert not os.path.exists(rig.paths.ledger)
    assert not os.path.exists(rig.paths.state_file("ovpn0"))


def test_reinstalling_used_keys_is_refused(rig: Rig) -> None:
    make_keys(rig)
    rig.apply(rig.config(BASE), rig.pool())
    # A reboot (or `ovpnctl iface destroy`) loses the kernel state, not the ledger.
    rig.kernel.destroy_interface("ovpn0")
    before = rig.mutations.count
    with pytest.raises(ConfigValidationError) as info:
        rig.apply(rig.config(BASE), rig.pool())
    assert info.value.exit_code == ExitCode.CONFIG
    lines = str(info.value).splitlines()
    assert len(lines) == 4  # both directions of both peers
    assert lines[0].startswith(
        "tunnel.toml:14: peer[0].key.encrypt: this key material was already installed on "
    )
    assert "(ovpn0 peer 1, key id 0, encrypt)" in lines[0]
    assert rig.mutations.count == before  # refused before touching anything
    # Knowingly overriding works.
    assert rig.apply(rig.config(BASE), rig.pool(), allow_key_reuse=True).executed


def test_a_peer_dropped_by_keepalive_timeout_needs_fresh_keys(rig: Rig) -> None:
    make_keys(rig)
    pool = rig.pool(holds_tunnel=True)
    rig.apply(rig.config(BASE), pool)
    rig.kernel.advance_time(61)  # nothing received from peer 1: the kernel deletes it
    assert 1 not in rig.kernel.interfaces["ovpn0"].peers
    with pytest.raises(ConfigValidationError) as info:
        rig.apply(rig.config(BASE), pool)
    assert "peer[0].key.encrypt: this key material was already installed" in str(info.value)
    for name in ("1a", "1b"):
        os.unlink(rig.keydir / name)
        rig.key(name)
    result = rig.apply(rig.config(BASE), pool)
    assert [s.describe().split(" from ")[0] for s in result.plan.steps] == [
        "add peer 1 remote 192.0.2.1:1194 on 127.0.0.1:0 (vpn 10.8.0.2)",
        "install key id 0 (AES-256-GCM) into the primary slot of peer 1",
        "set keepalive of peer 1 to 10/60 s",
    ]


def test_rotation_without_a_new_key_id_is_refused(rig: Rig) -> None:
    make_keys(rig)
    pool = rig.pool(holds_tunnel=True)
    rig.apply(rig.config(BASE), pool)
    changed = BASE.replace('encrypt = "1a", decrypt = "1b"', 'encrypt = "1c", decrypt = "1d"')
    with pytest.raises(ConfigValidationError) as info:
        rig.apply(rig.config(changed), pool)
    assert str(info.value) == (
        "tunnel.toml:14: peer[0].key.id: the key changed but its id is still 0: during a "
        "rotation the receiver tells the old and new key apart by id, so give the new key "
        "another id (e.g. 1)"
    )


def test_three_step_rotation_keeps_both_keys_until_the_end(rig: Rig) -> None:
    make_keys(rig)
    pool = rig.pool(holds_tunnel=True)
    rig.apply(rig.config(BASE), pool)
    old = 'key = { id = 0, encrypt = "1a", decrypt = "1b" }'
    new = 'key = { id = 1, encrypt = "1c", decrypt = "1d" }'
    step1 = BASE.replace(old, old + "\nsecondary_key = " + new.split(" = ", 1)[1])
    step2 = BASE.replace(old, new + "\nsecondary_key = " + old.split(" = ", 1)[1])
    step3 = BASE.replace(old, new)

    def run(text: str) -> list[str]:
        start = rig.mutations.count
        rig.apply(rig.config(text), pool)
        return rig.mutations.log[start:]

    assert run(step1) == ["kernel OVPN_NEW_KEY ovpn0", "kernel OVPN_START_VPN ovpn0"]
    slots = rig.snapshot()["ovpn0"]["peers"][1]["slots"]
    assert [s[0] for s in slots] == [0, 1]
    assert run(step2) == ["kernel OVPN_SWAP_KEYS ovpn0"]
    assert [s[0] for s in rig.snapshot()["ovpn0"]["peers"][1]["slots"]] == [1, 0]
    assert run(step3) == ["kernel OVPN_DEL_KEY ovpn0"]
    assert rig.snapshot()["ovpn0"]["peers"][1]["slots"] == [(1, "AES-256-GCM", 32), None]


def test_freebsd_one_shot_apply_cannot_add_to_a_socket_it_does_not_hold(rig: Rig) -> None:
    make_keys(rig)
    rig.apply(rig.config(BASE), rig.pool())
    with_new_peer = CHANGED.replace('"1c", decrypt = "1d"', '"1a", decrypt = "1b"').replace(
        "id = 1, encrypt", "id = 0, encrypt"
    )
    with pytest.raises(ConfigValidationError) as info:
        rig.apply(rig.config(with_new_peer), rig.pool())
    assert "already carries peers on a socket this process does not hold" in str(info.value)


def test_freebsd_one_shot_apply_may_replace_all_peers_with_a_new_socket(rig: Rig) -> None:
    make_keys(rig)
    rig.apply(rig.config(BASE), rig.pool())
    only_new = BASE.split("[[peer]]", maxsplit=1)[0] + (
        '[[peer]]\nid = 7\nremote = "192.0.2.7:1194"\nvpn_ipv4 = "10.8.0.7"\n'
        'key = { id = 0, encrypt = "3a", decrypt = "3b" }\n'
    )
    start = rig.mutations.count
    rig.apply(rig.config(only_new), rig.pool())
    assert rig.mutations.log[start:] == [
        "host delete route 192.168.1.0/24 via 10.8.0.2",
        "host delete route 192.168.2.0/24 via 10.8.0.3",
        "kernel OVPN_DEL_PEER ovpn0",
        "kernel OVPN_DEL_PEER ovpn0",
        "kernel OVPN_NEW_PEER ovpn0",
        "kernel OVPN_NEW_KEY ovpn0",
        "kernel OVPN_START_VPN ovpn0",
    ]
    assert sorted(rig.snapshot()["ovpn0"]["peers"]) == [7]


def test_freebsd_changing_a_remote_recreates_the_peer_with_fresh_keys(rig: Rig) -> None:
    make_keys(rig)
    pool = rig.pool(holds_tunnel=True)
    rig.apply(rig.config(BASE), pool)
    moved = BASE.replace("192.0.2.2:1194", "198.51.100.2:1194")
    with pytest.raises(ConfigValidationError) as info:
        rig.apply(rig.config(moved), pool)
    assert (
        "(peer 2 must be re-created because the freebsd kernel cannot change a live "
        "peer's addresses)" in str(info.value)
    )
    fresh = moved.replace('"2a", decrypt = "2b"', '"3a", decrypt = "3b"')
    result = rig.apply(rig.config(fresh), pool)
    assert [s.line().split(" from ")[0] for s in result.plan.steps] == [
        "- remove peer 2 (the freebsd kernel cannot change a live peer's addresses)  "
        "(cannot be undone)",
        "+ add peer 2 remote 198.51.100.2:1194 on 127.0.0.1:0 (vpn 10.8.0.3)",
        "+ install key id 0 (AES-256-GCM) into the primary slot of peer 2",
    ]
