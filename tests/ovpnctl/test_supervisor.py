"""ovpnctl up: start, SIGHUP re-apply, control socket, timeout re-add, SIGTERM teardown.

Runs the real supervisor loop in this process against the if_ovpn kernel model (the
loop is stepped by the test, so nothing is timed); the same lifecycle against the real
Linux driver is in tests/kernel/test_config_up.py.
"""

from __future__ import annotations

import io
import ipaddress
import json
import os
import signal
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ovpnctl.config import load_config
from ovpnctl.config.record import read_record
from ovpnctl.endpoint import Endpoint
from ovpnctl.errors import UsageError
from ovpnctl.model import Keepalive, PeerConfig
from ovpnctl.socketpool import SocketPool
from ovpnctl.supervisor.control import (
    SupervisorBusyError,
    raise_for_reply,
    request,
    supervisor_listening,
)
from ovpnctl.supervisor.log import EventLog
from ovpnctl.supervisor.run import Supervisor, UpOptions, peer_from_json, peer_to_json
from tests.ovpnctl.config.rig import Rig

CONFIG = """
[interface]
name = "ovpn0"
mode = "mp"
listen = "127.0.0.1:0"
address = "10.8.0.1/24"
readd_on_timeout = true

[[peer]]
id = 1
remote = "192.0.2.1:1194"
vpn_ipv4 = "10.8.0.2"
routes = ["192.168.1.0/24"]
keepalive = { interval = 10, timeout = 60 }
key = { id = 0, encrypt = "1a", decrypt = "1b" }
"""

SECOND_PEER = """
[[peer]]
id = 2
remote = "192.0.2.2:1194"
vpn_ipv4 = "10.8.0.3"
key = { id = 0, encrypt = "2a", decrypt = "2b" }
"""


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    for name in ("1a", "1b", "2a", "2b"):
        r.key(name)
    yield r
    r.close()


def supervisor(rig: Rig, text: str = CONFIG, **kw: Any) -> tuple[Supervisor, io.StringIO, Path]:
    path = rig.keydir / "tunnel.toml"
    path.write_text(text)
    out = io.StringIO()
    sup = Supervisor(
        str(path),
        backend=rig.backend,
        hostnet=rig.hostnet,
        paths=rig.paths,
        log=EventLog(stream=out, json_lines=kw.pop("json_lines", False)),
        options=UpOptions(**kw),
        on_open=rig.kernel.adopt,
        install_signals=True,
    )
    return sup, out, path


def events(out: io.StringIO) -> list[str]:
    return [line.split(" event=")[1].split(" ")[0] for line in out.getvalue().splitlines()]


def in_thread(func: Any) -> tuple[threading.Thread, list[Any]]:
    box: list[Any] = []

    def target() -> None:
        try:
            box.append(func())
        except BaseException as exc:  # handed to the test thread
            box.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    return thread, box


def serve_until_done(sup: Supervisor, thread: threading.Thread) -> None:
    for _ in range(200):
        if not thread.is_alive():
            break
        sup.step(0.05)
    thread.join(5)
    assert not thread.is_alive()


def test_lifecycle_with_real_signals(rig: Rig) -> None:
    sup, out, path = supervisor(rig)
    sup.start()
    try:
        assert sorted(rig.kernel.interfaces["ovpn0"].peers) == [1]
        control = rig.paths.control_socket("ovpn0")
        assert stat.S_IMODE(os.stat(control).st_mode) == 0o600
        assert supervisor_listening(control)
        # SIGHUP after editing the file: the change is applied by the running loop.
        path.write_text(CONFIG + SECOND_PEER)
        os.kill(os.getpid(), signal.SIGHUP)
        sup.step(1.0)
        assert sorted(rig.kernel.interfaces["ovpn0"].peers) == [1, 2]
        # A second SIGHUP with nothing changed changes nothing.
        before = rig.mutations.count
        os.kill(os.getpid(), signal.SIGHUP)
        sup.step(1.0)
        assert rig.mutations.count == before
        os.kill(os.getpid(), signal.SIGTERM)
        sup.step(1.0)
        assert sup.stopping
    finally:
        sup.stop()
    # Teardown: ovpnctl created the interface, so it is destroyed with everything on it.
    assert "ovpn0" not in rig.kernel.interfaces
    assert not os.path.exists(rig.paths.state_file("ovpn0"))
    assert not os.path.exists(rig.paths.control_socket("ovpn0"))
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert events(out) == [
        *["change"] * 7,
        "applied",
        "up",
        "signal",
        "change",
        "change",
        "applied",
        "signal",
        "applied",
        "signal",
        "teardown",
        "down",
    ]
    assert 'step="add peer 2 remote 192.0.2.2:1194 on 127.0.0.1:0 (vpn 10.8.0.3)"' in (
        out.getvalue()
    )


def test_json_log_lines(rig: Rig) -> None:
    sup, out, _ = supervisor(rig, json_lines=True)
    sup.start()
    sup.request_stop()
    sup.step(1.0)
    sup.stop()
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["event"] for r in records][-4:] == ["up", "signal", "teardown", "down"]
    up = next(r for r in records if r["event"] == "up")
    assert up["interface"] == "ovpn0" and up["peers"] == 1 and up["level"] == "info"
    assert set(up) >= {"time", "level", "event", "config", "pid", "control"}


def test_a_failed_reload_keeps_the_tunnel(rig: Rig) -> None:
    sup, out, path = supervisor(rig)
    sup.start()
    try:
        path.write_text(CONFIG.replace("id = 1\n", 'id = "one"\n'))
        sup.request_reload()
        sup.step(1.0)
        assert sorted(rig.kernel.interfaces["ovpn0"].peers) == [1]
        failed = [line for line in out.getvalue().splitlines() if "event=apply-failed" in line]
        assert len(failed) == 1
        assert "peer[0].id: must be an integer, not a string" in failed[0]
    finally:
        sup.stop()


def test_control_socket_status_apply_and_peer_add(rig: Rig) -> None:
    sup, _, _ = supervisor(rig)
    sup.start()
    control = rig.paths.control_socket("ovpn0")
    try:
        thread, box = in_thread(lambda: request(control, {"op": "status"}))
        serve_until_done(sup, thread)
        assert box[0]["ok"] and box[0]["peers"] == [1] and box[0]["pid"] == os.getpid()

        # apply a new file through the supervisor (what `ovpnctl apply` does when `up` runs)
        other = rig.keydir / "other.toml"
        other.write_text(CONFIG + SECOND_PEER)
        message = {"op": "apply", "config": str(other)}
        thread, box = in_thread(lambda: raise_for_reply(request(control, message)))
        serve_until_done(sup, thread)
        assert box[0]["plan"]["steps"][0]["action"] == "AddPeer"
        assert sorted(rig.kernel.interfaces["ovpn0"].peers) == [1, 2]
        assert sup.config_path == str(other)

        # `ovpnctl peer add` through the supervisor: its socket, recorded in the state file
        peer = PeerConfig(
            3,
            Endpoint.parse("192.0.2.3:1194"),
            vpn_ipv4=ipaddress.ip_address("10.8.0.4"),
            keepalive=Keepalive(5, 30),
        )
        assert peer_from_json(peer_to_json(peer)) == peer
        message = {"op": "peer-add", "peer": peer_to_json(peer)}
        thread, box = in_thread(lambda: raise_for_reply(request(control, message)))
        serve_until_done(sup, thread)
        assert box[0] == {"ok": True, "peer": 3, "socket": "127.0.0.1:0"}
        kernel_peer = rig.kernel.interfaces["ovpn0"].peers[3]
        assert (kernel_peer.interval, kernel_peer.timeout) == (5, 30)
        record = read_record(rig.paths.state_file("ovpn0"))
        assert record is not None and record.peers[3].remote == "192.0.2.3:1194"

        # errors come back as errors with their exit status
        thread, box = in_thread(lambda: raise_for_reply(request(control, {"op": "nope"})))
        serve_until_done(sup, thread)
        assert isinstance(box[0], Exception) and "unknown request 'nope'" in str(box[0])
        assert box[0].exit_code == 64  # type: ignore[attr-defined]
    finally:
        sup.stop()


def test_only_one_supervisor_per_interface(rig: Rig) -> None:
    sup, _, _ = supervisor(rig)
    sup.start()
    try:
        second, _, _ = supervisor(rig)
        with pytest.raises(SupervisorBusyError):
            second.start()
        assert sorted(rig.kernel.interfaces["ovpn0"].peers) == [1]
    finally:
        sup.stop()


def test_a_stale_control_socket_is_replaced(rig: Rig) -> None:
    import socket

    os.makedirs(rig.paths.run_dir, mode=0o700, exist_ok=True)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(rig.paths.control_socket("ovpn0"))
    stale.close()  # a supervisor that died left its socket file behind
    sup, _, _ = supervisor(rig)
    sup.start()
    sup.stop()


def test_peer_dropped_by_timeout_is_readded_only_with_fresh_keys(rig: Rig) -> None:
    sup, out, _ = supervisor(rig)
    sup.start()
    try:
        rig.kernel.advance_time(61)  # peer 1 heard nothing: the kernel deletes it
        sup.step(0)
        lines = out.getvalue().splitlines()
        deleted = [line for line in lines if "event=kernel-peer-deleted" in line]
        assert len(deleted) == 1 and "reason=expired" in deleted[0] and "peer=1" in deleted[0]
        refused = [line for line in lines if "event=apply-failed" in line]
        assert len(refused) == 1 and "this key material was already installed" in refused[0]
        assert 1 not in rig.kernel.interfaces["ovpn0"].peers

        # An operator (or a rotation agent) puts fresh keys in place; the next timeout
        # re-apply - or a SIGHUP - brings the peer back.
        for name in ("1a", "1b"):
            os.unlink(rig.keydir / name)
            rig.key(name)
        sup.request_reload()
        sup.step(0)
        assert 1 in rig.kernel.interfaces["ovpn0"].peers
    finally:
        sup.stop()


def test_readd_can_be_switched_off(rig: Rig) -> None:
    sup, out, _ = supervisor(rig, readd_on_timeout=False)
    sup.start()
    try:
        rig.kernel.advance_time(61)
        sup.step(0)
        assert "event=kernel-peer-deleted" in out.getvalue()
        assert "event=apply-failed" not in out.getvalue()
    finally:
        sup.stop()


def test_start_failure_leaves_nothing_behind(rig: Rig) -> None:
    sup, _, _ = supervisor(rig, CONFIG.replace('"1b"', '"missing"'))
    with pytest.raises(Exception) as info:
        sup.start()
    assert "missing: no such key file" in str(info.value)
    assert not os.path.exists(rig.paths.control_socket("ovpn0"))
    assert rig.kernel.interfaces == {}
    assert signal.getsignal(signal.SIGHUP) is signal.SIG_DFL


# -- TCP listeners around an apply (the if_ovpn model carries UDP only, which is exactly
#    what makes a TCP reload fail after its listeners were opened) ---------------------------

TCP_ACCEPTING = """
[interface]
name = "ovpn0"
mode = "mp"
transport = "tcp"
listen = "127.0.0.1:{port}"
address = "10.8.0.1/24"

[[peer]]
id = 1
tcp = "accept"
remote = "127.0.0.2"
vpn_ipv4 = "10.8.0.2"
"""


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_a_failed_tcp_reload_closes_the_listeners_it_opened(rig: Rig) -> None:
    sup, out, path = supervisor(rig)
    sup.start()
    try:
        port = free_tcp_port()
        path.write_text(TCP_ACCEPTING.format(port=port))
        sup.request_reload()
        sup.step(1.0)
        log = out.getvalue()
        # Listening came first (so a busy port fails before any change) ...
        assert f"event=tcp-listening interface=ovpn0 address=127.0.0.1:{port}" in log
        # ... then the kernel refused the config, and the listener went with it.
        assert "interface.transport: the freebsd kernel carries UDP only" in log
        assert _port_is_free(port)
        assert sorted(rig.kernel.interfaces["ovpn0"].peers) == [1]  # the tunnel is kept
    finally:
        sup.stop()


def test_a_tcp_listen_address_in_use_fails_before_any_change(rig: Rig) -> None:
    sup, out, path = supervisor(rig)
    sup.start()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        try:
            before = rig.mutations.count
            path.write_text(TCP_ACCEPTING.format(port=port))
            sup.request_reload()
            sup.step(1.0)
            failed = [r for r in out.getvalue().splitlines() if "event=apply-failed" in r]
            assert len(failed) == 1
            assert f"cannot listen for TCP peers on 127.0.0.1:{port}" in failed[0]
            assert rig.mutations.count == before
        finally:
            sup.stop()


def free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_peer_add_on_a_tcp_tunnel_points_at_the_config(rig: Rig) -> None:
    """A TCP peer needs its connection (and its keys with it) before the kernel takes it:
    the request is refused before anything is touched, saying what to do instead."""
    sup, _, path = supervisor(rig)
    path.write_text(TCP_ACCEPTING.format(port=free_tcp_port()))
    sup.config = load_config(str(path))  # what start() would have loaded
    sup.pool = SocketPool(holds_tunnel=True)
    before = rig.mutations.count
    with pytest.raises(UsageError) as info:
        sup._handle({"op": "peer-add", "peer": {"id": 7, "remote": "192.0.2.7:1194"}})
    assert info.value.message == (
        f"ovpn0 carries TCP: a TCP peer is added, keys and all, only once its connection "
        f"exists; add it to {path} and run `ovpnctl apply {path}` (or send the supervisor "
        "SIGHUP)"
    )
    assert rig.mutations.count == before
    sup.pool.close()
