"""`ovpnctl apply`, `showconf` and `up` through click, over the if_ovpn kernel model."""

from __future__ import annotations

import json
import os
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ovpnctl.backend import Backend
from ovpnctl.cli import commands_config, commands_up
from ovpnctl.cli.main import cli
from ovpnctl.cli.state import CliState
from ovpnctl.freebsd.backend import FreeBSDBackend
from ovpnctl.socketpool import SocketPool
from ovpnctl.supervisor.run import Supervisor
from tests.ovpnctl.config.rig import ONE_PEER, Rig


@pytest.fixture
def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    r = Rig(tmp_path)
    r.key("a")
    r.key("b")
    (r.keydir / "tunnel.toml").write_text(ONE_PEER)
    monkeypatch.setenv("OVPNCTL_STATE_DIR", r.paths.state_dir)
    monkeypatch.setenv("OVPNCTL_RUN_DIR", r.paths.run_dir)
    monkeypatch.setattr(commands_config, "host_network", lambda name: r.hostnet)

    def pool(*, holds_tunnel: bool) -> SocketPool:
        return r.pool(holds_tunnel=holds_tunnel)

    monkeypatch.setattr(commands_config, "socket_pool", pool)
    yield r
    r.close()


def invoke(rig: Rig, *args: str, kernel: bool = True) -> Result:
    def factory(name: str | None = None, *, dry_run: bool = False) -> Backend:
        if not kernel:
            raise AssertionError("no backend may be built for this command")
        if dry_run:
            return FreeBSDBackend(dry_run=True)
        return FreeBSDBackend(transport=rig.transport)  # type: ignore[arg-type]

    state = CliState(backend_factory=factory)
    return CliRunner().invoke(cli, list(args), obj=state, catch_exceptions=False)


def config_path(rig: Rig) -> str:
    return str(rig.keydir / "tunnel.toml")


def test_apply_dry_run_then_apply_then_nothing(rig: Rig) -> None:
    result = invoke(rig, "apply", config_path(rig), "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == "ovpn0: 7 change(s)"
    assert result.stderr == "ovpnctl: dry run: nothing was changed\n"
    assert rig.mutations.count == 0

    result = invoke(rig, "apply", config_path(rig))
    assert result.exit_code == 0, result.stderr
    assert "  + add peer 1 remote 192.0.2.1:1194 on 127.0.0.1:0" in result.stdout
    assert sorted(rig.kernel.interfaces["ovpn0"].peers) == [1]

    result = invoke(rig, "apply", config_path(rig))
    assert result.exit_code == 0
    assert result.stdout == "ovpn0: up to date, nothing to change\n"


def test_apply_json(rig: Rig) -> None:
    result = invoke(rig, "--json", "apply", config_path(rig))
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["executed"] is True and data["dry_run"] is False
    assert [s["action"] for s in data["plan"]["steps"]][:2] == [
        "CreateInterface",
        "StartInterface",
    ]


def test_config_errors_exit_78_one_line_each_before_any_backend(rig: Rig) -> None:
    bad = rig.keydir / "bad.toml"
    bad.write_text(ONE_PEER.replace("id = 1\n", "id = -1\n").replace('"192.0.2.1:1194"', '"x"'))
    result = invoke(rig, "apply", str(bad), kernel=False)
    assert result.exit_code == 78
    assert result.stderr.splitlines() == [
        f"ovpnctl: {bad}:8: peer[0].id: peer id -1 is out of range (0-16777215)",
        f"ovpnctl: {bad}:9: peer[0].remote: remote 'x': missing port (write ADDRESS:PORT)",
    ]
    assert result.stdout == ""


def test_key_reuse_is_refused_then_allowed(rig: Rig) -> None:
    assert invoke(rig, "apply", config_path(rig)).exit_code == 0
    rig.kernel.destroy_interface("ovpn0")
    result = invoke(rig, "apply", config_path(rig))
    assert result.exit_code == 78
    assert len(result.stderr.splitlines()) == 2
    assert "already installed" in result.stderr
    result = invoke(rig, "apply", config_path(rig), "--allow-key-reuse")
    assert result.exit_code == 0


def test_showconf_toml_and_json(rig: Rig) -> None:
    assert invoke(rig, "apply", config_path(rig)).exit_code == 0
    result = invoke(rig, "showconf", "ovpn0")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("# Running configuration of ovpn0")
    data = tomllib.loads(result.stdout)
    assert data["peer"][0]["key"]["encrypt"] == str(rig.keydir / "a")
    result = invoke(rig, "--json", "showconf", "ovpn0")
    assert json.loads(result.stdout) == data
    missing = invoke(rig, "showconf", "ovpn5")
    assert missing.exit_code == 66
    assert missing.stderr == "ovpnctl: ovpn5: no such freebsd DCO interface\n"


UP_DEADLINE = 30.0  # seconds for the whole `up` conversation, generous for a loaded CI host


def _wait_for(predicate: Callable[[], bool], what: str, deadline: float) -> None:
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_up_runs_until_sigterm_and_apply_goes_through_it(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `up` runs in this process, so a real SIGTERM would hit pytest itself: the supervisor
    # is built without process signal handlers and stopped with `request_stop()`, which
    # feeds SIGTERM through the same path the handler does (real signals: test_supervisor).
    built: list[Supervisor] = []
    asked_for_signals: list[bool] = []

    def build(config_file: str, **kwargs: Any) -> Supervisor:
        asked_for_signals.append(kwargs.pop("install_signals", True))
        supervisor = Supervisor(config_file, install_signals=False, **kwargs)
        built.append(supervisor)
        return supervisor

    monkeypatch.setattr(commands_up, "build_supervisor", build)
    control = rig.paths.control_socket("ovpn0")
    second = rig.keydir / "more.toml"
    second.write_text(ONE_PEER.replace("interval = 10, timeout = 60", "interval = 5, timeout = 30"))
    deadline = time.monotonic() + UP_DEADLINE
    up_returned = threading.Event()
    outcome: list[Result] = []
    operator_failed: list[BaseException] = []

    def running() -> bool:
        return bool(built) and built[0].started

    def operator() -> None:
        # What an operator does while `up` runs: apply (handed to the supervisor), stop.
        try:
            _wait_for(lambda: up_returned.is_set() or running(), "the supervisor", deadline)
            if not running():
                return  # `up` ended on its own; its result says why
            assert os.path.exists(control)
            outcome.append(invoke(rig, "apply", str(second)))
            outcome.append(invoke(rig, "apply", str(second), "--dry-run"))
        except BaseException as exc:  # handed to the test's thread
            operator_failed.append(exc)
        finally:
            if built:
                built[0].request_stop()  # SIGTERM, without signalling this process

    thread = threading.Thread(target=operator)
    thread.start()
    try:
        result = invoke(rig, "up", config_path(rig), "--json-log", "--poll-interval", "0.05")
    finally:
        up_returned.set()
        thread.join(max(deadline - time.monotonic(), 0) + 5)
    assert not thread.is_alive()
    if operator_failed:
        raise operator_failed[0]
    assert asked_for_signals == [True]  # the real `up` takes the process's signals
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines()]
    events = [record["event"] for record in records]
    assert events[0] == "change" and "up" in events and events[-1] == "down"
    assert {"event": "signal", "name": "SIGTERM", "action": "stop"}.items() <= next(
        record for record in records if record["event"] == "signal"
    ).items()
    assert "ovpn0" not in rig.kernel.interfaces  # torn down
    assert not os.path.exists(control)
    assert len(outcome) == 2
    assert outcome[0].exit_code == 0, outcome[0].stderr
    assert outcome[0].stdout == "ovpn0: 1 change(s)\n  ~ set keepalive of peer 1 to 5/30 s\n"
    assert outcome[0].stderr == "ovpnctl: handed to the ovpnctl up supervisor of ovpn0\n"
    assert outcome[1].stdout == "ovpn0: up to date, nothing to change\n"


def test_up_with_a_bad_config_fails_at_once(rig: Rig) -> None:
    bad = rig.keydir / "bad.toml"
    bad.write_text(ONE_PEER.replace('"b"', '"nope"'))
    result = invoke(rig, "up", str(bad))
    assert result.exit_code == 78
    assert f"{rig.keydir}/nope: no such key file" in result.stderr
    assert rig.mutations.count == 0


def test_peer_add_goes_through_a_running_supervisor(rig: Rig) -> None:
    import io

    from ovpnctl.supervisor.log import EventLog

    config = rig.keydir / "mp.toml"
    config.write_text(
        ONE_PEER.replace('listen = "127.0.0.1:0"', 'listen = "127.0.0.1:0"\nmode = "mp"').replace(
            "remote = ", 'vpn_ipv4 = "10.8.0.2"\nremote = '
        )
    )
    sup = Supervisor(
        str(config),
        backend=rig.backend,
        hostnet=rig.hostnet,
        paths=rig.paths,
        log=EventLog(stream=io.StringIO()),
        on_open=rig.kernel.adopt,
        install_signals=False,
    )
    sup.start()
    try:
        outcome: list[Result] = []
        thread = threading.Thread(
            target=lambda: outcome.append(
                invoke(
                    rig, "peer", "add", "ovpn0", "7", "--remote", "192.0.2.7:1194",
                    "--vpn-ipv4", "10.8.0.7",
                )
            )
        )  # fmt: skip
        thread.start()
        while thread.is_alive():
            sup.step(0.05)
        thread.join()
        assert outcome[0].exit_code == 0, outcome[0].stderr
        assert "added by the ovpnctl up supervisor on its UDP socket 127.0.0.1:0" in (
            outcome[0].stderr
        )
        assert sorted(rig.kernel.interfaces["ovpn0"].peers) == [1, 7]
        # One socket per interface on FreeBSD: the new peer is on the supervisor's.
        assert rig.kernel.interfaces["ovpn0"].socket is not None
    finally:
        sup.stop()
