"""Every command end to end: CLI -> FreeBSDBackend -> the if_ovpn kernel model.

The model is the spec sheet's kernel; these tests check what each command leaves in it,
what it prints, and which requests it issued (and, as important, which it did not).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ovpnctl.endpoint import Endpoint
from ovpnctl.linux.backend import LinuxBackend
from tests.ovpnctl.cli.conftest import Cli, Factory, key_file, one_line
from tests.ovpnctl.freebsd.kernel_model import IFF_BROADCAST, IFF_POINTOPOINT, KernelModel

REMOTE = "127.0.0.1:1194"


@pytest.fixture
def keys(tmp_path: Path) -> list[str]:
    enc = key_file(tmp_path, "enc.key", bytes(range(40)))
    dec = key_file(tmp_path, "dec.key", bytes(range(40, 80)))
    return ["--cipher", "AES-256-GCM", "--encrypt-key", enc, "--decrypt-key", dec]


@pytest.fixture
def tunnel(run: Cli, kernel: KernelModel, keys: list[str]) -> str:
    """ovpn0 with peer 1 and a primary key, as a one-shot sequence of commands builds it."""
    for args in (
        ["iface", "create", "ovpn0"],
        ["peer", "add", "ovpn0", "1", "--remote", REMOTE],
        ["key", "add", "ovpn0", "1", "--key-id", "0", *keys],
    ):
        result = run(*args)
        assert result.exit_code == 0, result.stderr
    kernel.calls.clear()
    return "ovpn0"


def test_create_prints_the_kernel_chosen_name(run: Cli, kernel: KernelModel) -> None:
    assert run("iface", "create", "ovpn3").stdout == "ovpn3\n"
    result = run("--json", "iface", "create", "--mode", "subnet")
    assert json.loads(result.stdout) == {"interface": "ovpn0", "mode": "mp"}
    assert kernel.interfaces["ovpn0"].flags & IFF_BROADCAST
    assert kernel.interfaces["ovpn3"].flags & IFF_POINTOPOINT


def test_mode_is_refused_once_up(run: Cli, kernel: KernelModel) -> None:
    run("iface", "create", "ovpn0")
    assert run("iface", "mode", "ovpn0", "mp").exit_code == 0
    assert run("iface", "up", "ovpn0").exit_code == 0
    assert kernel.interfaces["ovpn0"].link_up
    result = run("iface", "mode", "ovpn0", "p2p")
    assert result.exit_code == 64
    assert one_line(result) == (
        "ovpnctl: cannot set ovpn0 to p2p mode: the interface is already up; the mode can "
        "only be chosen before it is brought up (destroy and re-create it)"
    )
    assert kernel.interfaces["ovpn0"].flags & IFF_BROADCAST


def test_one_shot_peer_add_leaves_the_socket_with_the_kernel(run: Cli, kernel: KernelModel) -> None:
    run("iface", "create", "ovpn0")
    result = run("peer", "add", "ovpn0", "5", "--remote", REMOTE, "--keepalive", "10/60")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    iface = kernel.interfaces["ovpn0"]
    peer = iface.peers[5]
    assert peer.remote == Endpoint.parse(REMOTE)
    assert (peer.interval, peer.timeout) == (10, 60)
    assert iface.socket is not None and iface.socket.hooked_by == "ovpn0"
    bound = iface.socket.local
    assert bound is not None and bound.port != 0
    assert one_line(result) == (
        f"peer 5 on ovpn0: UDP socket 0.0.0.0:{bound.port}, now held by the kernel"
    )
    assert kernel.issued()[-3:] == ["OVPN_NEW_PEER", "OVPN_GET_PEER_STATS", "OVPN_SET_PEER"]


def test_peer_add_binds_to_local(run: Cli, kernel: KernelModel) -> None:
    run("iface", "create", "ovpn0")
    result = run("peer", "add", "ovpn0", "1", "--remote", REMOTE, "--local", "127.0.0.1")
    assert result.exit_code == 0, result.stderr
    sock = kernel.interfaces["ovpn0"].socket
    assert sock is not None and sock.local is not None
    assert str(sock.local.address) == "127.0.0.1"


def test_key_add_installs_and_starts(run: Cli, kernel: KernelModel, tunnel: str) -> None:
    iface = kernel.interfaces[tunnel]
    slot = iface.peers[1].slots[0]
    assert slot is not None and slot.key_id == 0
    assert (slot.encrypt.cipher, slot.encrypt.key_len) == ("AES-256-GCM", 32)
    assert iface.link_up


def test_key_rollover(run: Cli, kernel: KernelModel, tunnel: str, keys: list[str]) -> None:
    add = run("key", "add", tunnel, "1", "--key-id", "1", "--slot", "secondary", *keys)
    assert add.exit_code == 0, add.stderr
    assert run("key", "swap", tunnel, "1").exit_code == 0
    slots = kernel.interfaces[tunnel].peers[1].slots
    assert [s.key_id if s else None for s in slots] == [1, 0]
    assert run("key", "del", tunnel, "1", "--slot", "secondary").exit_code == 0
    assert kernel.interfaces[tunnel].peers[1].slots[1] is None
    assert kernel.issued() == [
        "OVPN_NEW_KEY",
        "OVPN_START_VPN",
        "OVPN_SWAP_KEYS",
        "OVPN_DEL_KEY",
    ]


def test_key_from_stdin(run: Cli, kernel: KernelModel, tmp_path: Path) -> None:
    run("iface", "create", "ovpn0")
    run("peer", "add", "ovpn0", "1", "--remote", REMOTE)
    dec = key_file(tmp_path, "dec.key", bytes(32))
    material = bytes(range(32)).hex()  # CHACHA20-POLY1305 key + 8-byte IV, as hex
    result = run(
        "key", "add", "ovpn0", "1", "--cipher", "chacha20-poly1305", "--key-id", "2",
        "--encrypt-key", "-", "--decrypt-key", dec, input=material + "\n",
    )  # fmt: skip
    assert result.exit_code == 65  # 32 bytes is the key alone: the IV is missing
    assert "expected 40 bytes of key material" in result.stderr
    material = bytes(range(40)).hex()
    dec40 = key_file(tmp_path, "dec40.key", bytes(40))
    result = run(
        "key", "add", "ovpn0", "1", "--cipher", "chacha20-poly1305", "--key-id", "2",
        "--encrypt-key", "-", "--decrypt-key", dec40, input=material + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    slot = kernel.interfaces["ovpn0"].peers[1].slots[0]
    assert slot is not None and slot.encrypt.cipher == "CHACHA20-POLY1305"


def test_peer_set_keepalive(run: Cli, kernel: KernelModel, tunnel: str) -> None:
    assert run("peer", "set", tunnel, "1", "--keepalive", "5/30").exit_code == 0
    peer = kernel.interfaces[tunnel].peers[1]
    assert (peer.interval, peer.timeout) == (5, 30)


def test_peer_set_address_is_refused_on_freebsd(run: Cli, kernel: KernelModel, tunnel: str) -> None:
    result = run("peer", "set", tunnel, "1", "--remote", "127.0.0.1:2000", "--keepalive", "5/30")
    assert result.exit_code == 64
    assert one_line(result) == (
        "ovpnctl: freebsd: changing a live peer's addresses is not supported; delete and "
        "re-add the peer"
    )
    assert kernel.issued() == []  # not even the keepalive half


def test_show_json(run: Cli, kernel: KernelModel, tunnel: str) -> None:
    kernel.receive(tunnel, 1, packets=3, size=100)
    kernel.send(tunnel, 1, packets=2, size=50)
    result = run("--json", "show")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["schema"] == "ovpnctl-show/1"
    assert document["backend"] == "freebsd"
    assert "kernel-holds-socket" in document["capabilities"]
    (iface,) = document["interfaces"]
    assert {k: iface[k] for k in ("name", "mode", "up", "mtu", "pending_events")} == {
        "name": "ovpn0",
        "mode": "p2p",
        "up": True,
        "mtu": 1428,
        "pending_events": 0,
    }
    counters = {c["name"]: c for c in iface["counters"]}
    assert counters["data"] == {"name": "data", "rx": 3, "tx": 2, "note": None}
    assert counters["tunnel"]["rx"] == 300
    assert counters["tunnel"]["tx"] == 300  # the kernel's out = in defect, reported as is
    assert "kernel defect" in counters["tunnel"]["note"]
    (peer,) = iface["peers"]
    assert peer == {
        "peer_id": 1,
        "remote": None,
        "local": None,
        "vpn_ipv4": None,
        "vpn_ipv6": None,
        "keepalive": None,
        "vpn": {"rx_packets": 3, "tx_packets": 2, "rx_bytes": 300, "tx_bytes": 100},
        "link": None,
        "keys": None,
        "tx_id": None,
    }
    assert kernel.issued().count("OVPN_GET_PKT") == 0  # show never consumes events


def test_show_table_marks_unknowns_and_the_counter_defect(
    run: Cli, kernel: KernelModel, tunnel: str
) -> None:
    result = run("show", tunnel)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "interface ovpn0" in out
    assert "kernel defect: 'out' repeats 'in' (bytes sent are not exported)" in out
    assert (
        "freebsd: not reported by the kernel: remote, local, vpn ipv4, vpn ipv6, keepalive"
    ) in out
    assert result.stderr == ""


def test_show_without_interfaces(run: Cli, kernel: KernelModel) -> None:
    assert run("show").stdout == "no ovpn interfaces (freebsd)\n"
    assert json.loads(run("--json", "show").stdout)["interfaces"] == []


def test_events_only_counts_by_default(run: Cli, kernel: KernelModel, tunnel: str) -> None:
    assert run("peer", "del", tunnel, "1").exit_code == 0
    result = run("--json", "events")
    assert result.exit_code == 0
    (line,) = result.stdout.splitlines()
    event = json.loads(line)
    assert event["event"] == "pending" and event["pending"] == 1
    assert event["interface"] == tunnel
    assert "reading an event removes it from the kernel's queue" in result.stderr
    assert "OVPN_GET_PKT" not in kernel.issued()
    assert len(kernel.interfaces[tunnel].queue) == 1


def test_events_consume(run: Cli, kernel: KernelModel, tunnel: str) -> None:
    run("peer", "del", tunnel, "1")
    result = run("--json", "events", tunnel, "--consume")
    assert result.exit_code == 0, result.stderr
    (line,) = result.stdout.splitlines()
    assert json.loads(line) == {
        "event": "peer-deleted",
        "interface": "ovpn0",
        "peer_id": 1,
        "reason": "requested",
        "final": {"rx_packets": 0, "tx_packets": 0, "rx_bytes": 0, "tx_bytes": 0},
        "address": None,
        "key_id": None,
        "pending": None,
        "raw_type": None,
        "raw": json.loads(line)["raw"],
    }
    assert not kernel.interfaces[tunnel].queue
    assert run("--json", "events", tunnel, "--consume").stdout == ""


def test_events_follow_sees_a_keepalive_timeout(
    run: Cli, kernel: KernelModel, factory: Factory, tunnel: str
) -> None:
    assert run("peer", "set", tunnel, "1", "--keepalive", "1/3").exit_code == 0
    result = run("events", tunnel, "--follow", "--consume", "--timeout", "10")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "ovpn0 peer 1 peer-deleted reason expired final rx 0 pkt / 0 B tx 2 pkt / 32 B"
    ]
    assert 1 not in kernel.interfaces[tunnel].peers
    assert factory.now == pytest.approx(10)


def test_events_follow_without_consume_never_reads_the_queue(
    run: Cli, kernel: KernelModel, tunnel: str
) -> None:
    run("peer", "del", tunnel, "1")
    result = run("--json", "events", "--timeout", "3")
    assert result.exit_code == 0
    (line,) = result.stdout.splitlines()
    assert json.loads(line)["pending"] == 1
    assert "only counting queued events" in result.stderr
    assert "OVPN_GET_PKT" not in kernel.issued()


def test_linux_events_need_follow(run: Cli, factory: Factory) -> None:
    factory.build = lambda name, dry_run=False: LinuxBackend(dry_run=dry_run)
    result = run("events")
    assert result.exit_code == 64
    assert one_line(result) == (
        "ovpnctl: linux: the kernel keeps no queue of past events; use --follow (and "
        "--timeout SECONDS) to listen for new ones"
    )


def test_destroy(run: Cli, kernel: KernelModel, tunnel: str) -> None:
    assert run("iface", "destroy", tunnel).exit_code == 0
    assert kernel.interfaces == {}
    assert kernel.issued() == ["SIOCIFDESTROY"]
