"""Planning: what the diff between kernel and config turns into, before anything runs."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ovpnctl.config import ConfigValidationError
from ovpnctl.config.record import read_record, write_record
from ovpnctl.errors import OvpnError
from ovpnctl.hostnet import Route
from ovpnctl.model import Mode, PeerConfig
from ovpnctl.plan import build_plan
from tests.ovpnctl.config.rig import ONE_PEER, Rig, ip


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    r.key("a")
    r.key("b")
    yield r
    r.close()


def plan_for(rig: Rig, text: str, **kw: object):  # type: ignore[no-untyped-def]
    return build_plan(
        rig.config(text),
        backend=rig.backend,
        hostnet=rig.hostnet,
        ledger=rig.ledger,
        sockets=rig.pool(),
        record=read_record(rig.paths.state_file("ovpn0")),
        **kw,  # type: ignore[arg-type]
    )


def test_plan_for_a_new_interface(rig: Rig) -> None:
    plan = plan_for(rig, ONE_PEER)
    try:
        lines = [line.split(" from ")[0] for line in plan.lines()]
        assert lines == [
            "ovpn0: 7 change(s)",
            "  + create interface ovpn0 (mode p2p)",
            "  ~ bring ovpn0 up",
            "  + add address 10.8.0.1/24 to ovpn0",
            "  + add peer 1 remote 192.0.2.1:1194 on 127.0.0.1:0",
            "  + install key id 0 (AES-256-GCM) into the primary slot of peer 1",
            "  ~ set keepalive of peer 1 to 10/60 s",
            "  + add route 192.168.1.0/24 on ovpn0",
        ]
        data = plan.to_json()
        assert data["first_irreversible"] is None
        assert [s["action"] for s in data["steps"]] == [
            "CreateInterface",
            "StartInterface",
            "AddAddress",
            "AddPeer",
            "InstallKey",
            "SetKeepalive",
            "AddRoute",
        ]
        assert data["steps"][3]["peer_id"] == 1
        assert not plan.interface_exists
    finally:
        plan.wipe()
    assert rig.mutating_kernel_calls() == []


def test_plan_wipes_key_material(rig: Rig) -> None:
    plan = plan_for(rig, ONE_PEER)
    loaded = next(iter(plan.keys.values()))
    assert any(loaded.encrypt.key)
    plan.wipe()
    assert not any(loaded.encrypt.key) and not any(loaded.decrypt.iv)


def test_key_file_problems_are_config_errors_with_lines(rig: Rig) -> None:
    os.chmod(rig.keydir / "b", 0o644)
    text = ONE_PEER.replace('encrypt = "a"', 'encrypt = "missing"')
    with pytest.raises(ConfigValidationError) as info:
        plan_for(rig, text)
    keydir = rig.keydir
    assert [str(i) for i in info.value.issues] == [
        f"tunnel.toml:12: peer[0].key.encrypt: {keydir}/missing: no such key file",
        f"tunnel.toml:12: peer[0].key.decrypt: {keydir}/b: key file is accessible by group or "
        f"others (mode 0644); run chmod 600 {keydir}/b",
    ]
    assert rig.mutating_kernel_calls() == []


def test_shared_material_between_peers_is_refused(rig: Rig) -> None:
    (rig.keydir / "c").write_bytes((rig.keydir / "a").read_bytes())
    os.chmod(rig.keydir / "c", 0o600)
    rig.key("d")
    text = (
        ONE_PEER.replace('name = "ovpn0"', 'name = "ovpn0"\nmode = "mp"').replace(
            "remote = ", 'vpn_ipv4 = "10.8.0.2"\nremote = '
        )
        + '[[peer]]\nid = 2\nremote = "192.0.2.2:1194"\nvpn_ipv4 = "10.8.0.3"\n'
        'key = { id = 0, encrypt = "d", decrypt = "c" }\n'
    )
    with pytest.raises(ConfigValidationError) as info:
        plan_for(rig, text)
    assert [str(i) for i in info.value.issues] == [
        "tunnel.toml:19: peer[1].key.decrypt: holds the same key material as tunnel.toml:14: "
        "peer[0].key.encrypt; every direction of every key needs its own material"
    ]


def test_kernel_capabilities_are_checked(rig: Rig) -> None:
    text = ONE_PEER.replace('listen = "127.0.0.1:0"', 'listen = ["127.0.0.1:0", "[::1]:0"]')
    with pytest.raises(ConfigValidationError) as info:
        plan_for(rig, text)
    assert str(info.value).startswith(
        "tunnel.toml:4: interface.listen: the freebsd kernel takes one socket per interface"
    )
    tcp = ONE_PEER.replace('listen = "127.0.0.1:0"', 'transport = "tcp"')
    with pytest.raises(ConfigValidationError) as info:
        plan_for(rig, tcp)
    assert "interface.transport: the freebsd kernel carries UDP only" in str(info.value)


def test_mode_of_a_running_interface_cannot_change(rig: Rig) -> None:
    rig.apply(rig.config(ONE_PEER))
    text = ONE_PEER.replace('name = "ovpn0"', 'name = "ovpn0"\nmode = "mp"').replace(
        "remote = ", 'vpn_ipv4 = "10.8.0.2"\nremote = '
    )
    with pytest.raises(ConfigValidationError) as info:
        plan_for(rig, text)
    assert "interface.mode: ovpn0 exists in mode p2p, which cannot change while it is up" in str(
        info.value
    )


def test_mode_of_a_down_interface_is_set(rig: Rig) -> None:
    rig.backend.create_interface("ovpn0", Mode.P2P)
    text = ONE_PEER.replace('name = "ovpn0"', 'name = "ovpn0"\nmode = "mp"').replace(
        "remote = ", 'vpn_ipv4 = "10.8.0.2"\nremote = '
    )
    plan = plan_for(rig, text)
    plan.wipe()
    assert plan.steps[0].describe() == "set ovpn0 to mode mp"
    assert plan.steps[-1].describe() == "bring ovpn0 up"
    assert plan.commit == [plan.steps[-1]]  # FreeBSD has no "stop": cannot be undone


def test_a_route_someone_else_installed_is_not_taken_over(rig: Rig) -> None:
    rig.backend.create_interface("ovpn0", Mode.P2P)
    rig.backend.start("ovpn0")
    rig.hostnet.add_route("ovpn0", Route(ipaddress.ip_network("192.168.1.0/24"), ip("10.9.9.9")))
    with pytest.raises(ConfigValidationError) as info:
        plan_for(rig, ONE_PEER)
    assert "peer[0].routes: ovpn0 already has a route to 192.168.1.0/24 via 10.9.9.9 that " in (
        str(info.value)
    )


def test_a_peer_without_a_record_is_recreated(rig: Rig) -> None:
    # Someone added peer 1 by hand (ovpnctl peer add): nothing about it can be trusted.
    rig.backend.create_interface("ovpn0", Mode.P2P)
    rig.backend.start("ovpn0")
    pool = rig.pool()
    sock = pool.udp(rig.config(ONE_PEER).listen[0])
    rig.backend.add_peer("ovpn0", PeerConfig(1, rig.config(ONE_PEER).peers[0].remote), sock)
    plan = plan_for(rig, ONE_PEER)
    plan.wipe()
    assert plan.commit[0].line() == (
        "- remove peer 1 (ovpnctl has no record of it)  (cannot be undone)"
    )
    assert [type(s).__name__ for s in plan.commit[1:]] == [
        "AddPeer",
        "InstallKey",
        "SetKeepalive",
    ]


def test_a_stale_record_is_ignored(rig: Rig) -> None:
    rig.apply(rig.config(ONE_PEER), rig.pool(holds_tunnel=True))
    record = read_record(rig.paths.state_file("ovpn0"))
    assert record is not None
    record.ifindex = 999  # the interface was destroyed and re-created since
    write_record(rig.paths.state_file("ovpn0"), record)
    with pytest.raises(ConfigValidationError):
        plan_for(rig, ONE_PEER)  # re-creating peer 1 would re-install its keys
    plan = plan_for(rig, ONE_PEER, allow_key_reuse=True)
    plan.wipe()
    assert "ovpn0 was re-created since the last apply; its state file is stale and ignored" in (
        plan.notes
    )


def test_a_record_from_another_ledger_stops_the_plan(rig: Rig) -> None:
    rig.apply(rig.config(ONE_PEER), rig.pool(holds_tunnel=True))
    record = read_record(rig.paths.state_file("ovpn0"))
    assert record is not None
    record.ledger_salt_id = "0000000000000000"
    write_record(rig.paths.state_file("ovpn0"), record)
    with pytest.raises(OvpnError) as info:
        plan_for(rig, ONE_PEER)
    assert "written against another key ledger" in info.value.message


MP_ONE = """
[interface]
name = "ovpn0"
mode = "mp"
listen = "127.0.0.1:0"

[[peer]]
id = 1
remote = "192.0.2.1:1194"
vpn_ipv4 = "10.8.0.2"
key = { id = 0, encrypt = "a", decrypt = "b" }
"""
MP_TWO = (
    MP_ONE
    + """
[[peer]]
id = 2
remote = "192.0.2.2:1194"
vpn_ipv4 = "10.8.0.3"
key = { id = 0, encrypt = "c", decrypt = "d" }
"""
)


def test_a_dry_run_shows_what_only_the_supervisor_could_do(rig: Rig) -> None:
    rig.key("c")
    rig.key("d")
    rig.apply(rig.config(MP_ONE), rig.pool())  # a one-shot apply; the kernel keeps the socket
    with pytest.raises(ConfigValidationError) as info:
        plan_for(rig, MP_TWO)
    assert "already carries peers on a socket this process does not hold" in str(info.value)
    plan = plan_for(rig, MP_TWO, dry_run=True)
    plan.wipe()
    assert [type(s).__name__ for s in plan.steps] == ["AddPeer", "InstallKey"]
    assert plan.notes == [
        "peer 2: ovpn0 already carries peers on a socket this process does not hold, and the "
        "kernel takes one socket per interface; add peers through the `ovpnctl up` supervisor "
        "that created them"
    ]
