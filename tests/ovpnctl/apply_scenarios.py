"""apply scenarios shared by the if_ovpn model tests and the real Linux driver tests.

tests/ovpnctl/test_apply.py runs them against the FreeBSD kernel model and
tests/kernel/test_config_apply.py against the real `ovpn` driver in the QEMU guest, so
the two cannot drift apart: the same starting config, the same "fail the Nth change,
then the state must read back exactly as before" procedure, the same check that a
second apply changes nothing. What a backend can do differently (Linux moves a live
peer's remote; FreeBSD re-creates it) stays in the config each test file builds on top.

A site is whatever exposes `ApplySite`: `changes` counts the state-changing calls
(kernel and host networking) and can fail the Nth one; `snapshot` is everything the
kernel and host tables report for the interface under test.
"""

from __future__ import annotations

from string import Template
from typing import Any, Protocol

import pytest

from ovpnctl.config.paths import Paths
from ovpnctl.config.record import read_record
from ovpnctl.errors import ExitCode, KernelError, RollbackError


class ChangeCounter(Protocol):
    count: int
    fail_at: int | None
    log: list[str]


class ApplySite(Protocol):
    ifname: str
    changes: ChangeCounter
    paths: Paths

    def apply(self, text: str) -> Any: ...

    def snapshot(self) -> dict[str, Any]: ...


# Two peers with a route each, peer 1 with keepalive: the starting point of every scenario.
_BASE = Template("""
[interface]
name = "$ifname"
mode = "mp"
listen = "127.0.0.1:0"
address = ["10.8.0.1/24"]

[[peer]]
id = 1
remote = "192.0.2.1:1194"
vpn_ipv4 = "10.8.0.2"
routes = ["192.168.1.0/24"]
keepalive = { interval = 10, timeout = 60 }
key = { id = $key_id, encrypt = "$encrypt", decrypt = "$decrypt" }
$peer_2""")

_PEER_2 = """
[[peer]]
id = 2
remote = "192.0.2.2:1194"
vpn_ipv4 = "10.8.0.3"
routes = ["192.168.2.0/24"]
key = { id = 0, encrypt = "2a", decrypt = "2b" }
"""

# The change both backends make: an IPv6 address, peer 1's keepalive and a rotation to
# a new key id (its retired key is deleted last, the one irreversible step), peer 2's
# route moved. `peer_2_extra` and `new_peers` are the backend's own additions.
_CHANGED = Template("""
[interface]
name = "$ifname"
mode = "mp"
listen = "127.0.0.1:0"
address = ["10.8.0.1/24", "fd00::1/64"]

[[peer]]
id = 1
remote = "192.0.2.1:1194"
vpn_ipv4 = "10.8.0.2"
routes = ["192.168.1.0/24"]
keepalive = { interval = 5, timeout = 30 }
key = { id = 1, encrypt = "1c", decrypt = "1d" }

[[peer]]
id = 2
remote = "$peer_2_remote"
vpn_ipv4 = "10.8.0.3"
routes = ["192.168.22.0/24"]
${peer_2_extra}key = { id = 0, encrypt = "2a", decrypt = "2b" }
$new_peers""")


def base(ifname: str) -> str:
    return _BASE.substitute(ifname=ifname, key_id=0, encrypt="1a", decrypt="1b", peer_2=_PEER_2)


def only_peer_1_rotated(ifname: str) -> str:
    """Peer 2 gone and peer 1 on key id 1: the commit phase deletes peer 1's retired key
    (irreversible) before it removes peer 2, so a failure there cannot roll back fully."""
    return _BASE.substitute(ifname=ifname, key_id=1, encrypt="1c", decrypt="1d", peer_2="")


def changed(
    ifname: str, *, new_peers: str, peer_2_remote: str = "192.0.2.2:1194", peer_2_extra: str = ""
) -> str:
    return _CHANGED.substitute(
        ifname=ifname,
        peer_2_remote=peer_2_remote,
        peer_2_extra=peer_2_extra,
        new_peers=new_peers,
    )


def assert_reapply_changes_nothing(site: ApplySite, text: str) -> Any:
    """Apply `text` again: an empty plan, not one state-changing call, the same state."""
    snap = site.snapshot()
    calls = site.changes.count
    state_file = read_record(site.paths.state_file(site.ifname))
    result = site.apply(text)
    assert result.plan.empty
    assert site.changes.count == calls  # no kernel, address or route change
    assert site.snapshot() == snap
    assert read_record(site.paths.state_file(site.ifname)) == state_file
    return result


def assert_a_fault_restores_the_start(
    site: ApplySite, text: str, fault_at: int, steps: list[str]
) -> KernelError:
    """Fail the `fault_at`-th change while applying `text` (whose changes are `steps`):
    the error says nothing was changed, and kernel, host tables and state file agree."""
    before = site.snapshot()
    record_before = read_record(site.paths.state_file(site.ifname))
    site.changes.fail_at = site.changes.count + fault_at
    with pytest.raises(KernelError) as info:
        site.apply(text)
    failed = steps[fault_at - 1]
    message = info.value.message
    assert f"step {fault_at} of" not in message or "failed" in message
    assert "nothing was changed" in message, message
    assert info.value.exit_code == ExitCode.OSERR
    assert site.snapshot() == before, f"state differs after a fault in {failed!r}"
    assert read_record(site.paths.state_file(site.ifname)) == record_before
    return info.value


def assert_removing_peer_2_fails_after_the_irreversible_step(
    site: ApplySite, fault_at: int
) -> RollbackError:
    """Rotate peer 1 and drop peer 2, failing the removal of peer 2 (the `fault_at`-th
    change): the error names the failed step and the retired key that stays deleted."""
    site.changes.fail_at = site.changes.count + fault_at
    with pytest.raises(RollbackError) as info:
        site.apply(only_peer_1_rotated(site.ifname))
    message = info.value.message
    assert "step 5 of 5 (remove peer 2 (not in the config)) failed" in message
    assert (
        "these changes cannot be undone and remain: delete the secondary key of peer 1" in message
    )
    assert info.value.exit_code == ExitCode.SOFTWARE
    return info.value
