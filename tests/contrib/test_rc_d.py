"""contrib/rc.d/ovpnctl, the real script under /bin/sh, against models of rc.subr and daemon(8).

There is no FreeBSD machine here. The script runs with dash, and the FreeBSD pieces
it calls are models built from their man pages and sources (see rc_d_model/*). Each
`ovpnctl up` is a stand-in that records its argv and the signals it gets. The tests
check what an administrator relies on: which processes start, with which arguments,
what the pid files hold, which process each signal reaches, that stop waits for the
teardown, and what start/stop/status print and return.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.contrib.rc_d_rig import SCRIPT, RcRig, is_running, rewrite_script

# The models stand in for FreeBSD on Linux: they read /proc and use util-linux flock.
# On FreeBSD the script would run against the real rc.subr and daemon(8) instead.
pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="Linux stand-ins for FreeBSD's rc.subr/daemon"
)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[RcRig]:
    rig = RcRig(tmp_path)
    try:
        yield rig
    finally:
        rig.kill_all()


def start(rig: RcRig, *args: str) -> str:
    result = rig.rc("start", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_rewrite_replaces_each_freebsd_path_exactly_once(tmp_path: Path) -> None:
    targets = {"rc_subr": tmp_path / "rc.subr", "daemon": tmp_path / "d", "rundir": tmp_path / "r"}
    original = SCRIPT.read_text()

    rewritten = rewrite_script(original, **targets)

    assert rewritten.count(f". {targets['rc_subr']}\n") == 1
    assert rewritten.count(f"\t\t{targets['daemon']} ") == 1
    assert rewritten.count(f'ovpnctl_rundir="{targets["rundir"]}"\n') == 1
    assert len(rewritten.splitlines()) == len(original.splitlines())
    doubled = original.replace(". /etc/rc.subr\n", ". /etc/rc.subr\n. /etc/rc.subr\n")
    with pytest.raises(ValueError, match="occurs 2 times"):
        rewrite_script(doubled, **targets)


def test_start_runs_one_up_under_daemon_with_its_pid_in_the_run_dir(rig: RcRig) -> None:
    rig.configure(ovpnctl_tunnels="site-a")
    conf = rig.config_file("site-a")
    assert not rig.rundir.exists()

    assert start(rig) == "Starting ovpnctl site-a.\n"

    up = rig.wait_up("site-a")
    assert up.argv == ["up", str(conf)]
    assert list(rig.records()) == [up.pid]
    assert rig.pidfile("site-a").read_text() == str(up.pid)
    cmdline = Path(f"/proc/{up.pid}/cmdline").read_bytes().split(b"\0")
    assert cmdline[1:4] == [str(rig.program).encode(), b"up", str(conf).encode()]
    assert rig.rundir.stat().st_mode & 0o777 == 0o700
    assert sorted(p.name for p in rig.rundir.iterdir()) == ["site-a.daemon.pid", "site-a.up.pid"]
    # -P: daemon(8)'s own pid, the up process's parent (stop waits for it too).
    rig.wait_for(lambda: rig.daemon_pid("site-a") is not None, "the daemon pid file")
    stat = Path(f"/proc/{up.pid}/stat").read_text()
    assert int(stat.rsplit(")", 1)[1].split()[1]) == rig.daemon_pid("site-a")


def test_up_output_goes_to_syslog_tagged_per_tunnel(rig: RcRig) -> None:
    rig.configure(ovpnctl_tunnels="site-a")
    conf = rig.config_file("site-a")

    stdout = start(rig)

    pid = rig.wait_up("site-a").pid
    expected = [
        f"ovpnctl-site-a: up {pid}: tunnel from {conf} is up",
        f"ovpnctl-site-a: up {pid}: a line on stderr",
    ]
    rig.wait_for(lambda: len(rig.syslog_lines()) >= 2, "two syslog lines")
    assert sorted(rig.syslog_lines()) == sorted(expected)
    assert "tunnel from" not in stdout


def test_start_runs_one_up_per_configured_tunnel(rig: RcRig) -> None:
    rig.configure(ovpnctl_tunnels="a b c")
    confs = {name: rig.config_file(name) for name in "abc"}

    assert start(rig) == "Starting ovpnctl a.\nStarting ovpnctl b.\nStarting ovpnctl c.\n"

    ups = {name: rig.wait_up(name) for name in "abc"}
    assert {name: up.argv for name, up in ups.items()} == {
        name: ["up", str(conf)] for name, conf in confs.items()
    }
    assert len({up.pid for up in ups.values()}) == 3
    assert sorted(rig.records()) == sorted(up.pid for up in ups.values())


def test_json_config_is_used_only_when_there_is_no_toml(rig: RcRig) -> None:
    rig.configure(ovpnctl_tunnels="both json-only")
    toml = rig.config_file("both", ".toml")
    rig.config_file("both", ".json")
    json = rig.config_file("json-only", ".json")

    start(rig)

    assert rig.wait_up("both").argv == ["up", str(toml)]
    assert rig.wait_up("json-only").argv == ["up", str(json)]


def test_missing_config_warns_and_starts_nothing_for_that_tunnel(rig: RcRig) -> None:
    rig.configure(ovpnctl_tunnels="ghost a")
    conf = rig.config_file("a")

    result = rig.rc("start")

    assert result.returncode == 0
    assert result.stdout == "Starting ovpnctl a.\n"
    assert result.stderr == (
        f"{rig.script}: WARNING: ghost: no {rig.confdir}/ghost.toml or .json\n"
    )
    up = rig.wait_up("a")
    assert up.argv == ["up", str(conf)]
    assert list(rig.records()) == [up.pid]
    assert not rig.pidfile("ghost").exists()


def test_confdir_defaults_to_usr_local_etc_ovpnctl(rig: RcRig) -> None:
    tunnel = f"absent-{rig.token}"
    rig.configure(ovpnctl_tunnels=tunnel, ovpnctl_confdir=None)

    result = rig.rc("start")

    assert result.stderr == (
        f"{rig.script}: WARNING: {tunnel}: no /usr/local/etc/ovpnctl/{tunnel}.toml or .json\n"
    )
    assert result.stdout == ""
    assert rig.records() == {}


def test_second_start_finds_the_tunnel_running_and_starts_nothing(rig: RcRig) -> None:
    rig.configure(ovpnctl_tunnels="a")
    rig.config_file("a")
    start(rig)
    first = rig.wait_up("a")

    assert start(rig) == "a is already running.\n"

    assert list(rig.records()) == [first.pid]
    assert rig.pidfile_pid("a") == first.pid
    assert is_running(first.pid)


def test_pid_file_of_a_dead_process_does_not_count_as_running(rig: RcRig) -> None:
    # daemon(8) unlinks the pid file when its child exits. If both are killed
    # outright (kill -9, OOM), the file stays behind holding a dead pid.
    rig.configure(ovpnctl_tunnels="a")
    rig.config_file("a")
    dead = subprocess.Popen(["true"])
    assert dead.wait() == 0
    rig.rundir.mkdir(mode=0o700, parents=True)
    rig.pidfile("a").write_text(str(dead.pid))

    assert rig.rc("status").stdout == "a is not running.\n"
    assert start(rig) == "Starting ovpnctl a.\n"
    up = rig.wait_up("a")
    assert up.pid != dead.pid
    assert rig.pidfile("a").read_text() == str(up.pid)


def test_ovpnctl_flags_go_between_up_and_the_config(rig: RcRig) -> None:
    rig.configure(ovpnctl_tunnels="a", ovpnctl_flags="--json-log --no-color")
    conf = rig.config_file("a")

    start(rig)

    assert rig.wait_up("a").argv == ["up", "--json-log", "--no-color", str(conf)]


def test_reload_sends_sighup_to_the_named_tunnel_only(rig: RcRig) -> None:
    rig.configure(ovpnctl_tunnels="a b")
    rig.config_file("a")
    rig.config_file("b")
    start(rig)
    a, b = rig.wait_up("a"), rig.wait_up("b")

    result = rig.rc("reload", "a")

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"a: sent SIGHUP to {a.pid}.\n"
    rig.wait_for(lambda: rig.record(a.pid).events == ["reload"], "a to record the reload")
    # A SIGHUP sent to b would be handled before the SIGTERM that stop sends after it,
    # and stop returns only once b has exited, so b's record is complete here.
    assert rig.rc("stop", "b").returncode == 0
    assert rig.record(b.pid).events == ["stop", "exited"]
    assert is_running(a.pid)
    assert rig.pidfile_pid("a") == a.pid


def test_reload_of_a_stopped_tunnel_says_so(rig: RcRig) -> None:
    rig.configure(ovpnctl_tunnels="a")
    rig.config_file("a")

    result = rig.rc("reload")

    assert (result.returncode, result.stdout) == (0, "a is not running.\n")


def test_stop_sends_sigterm_waits_for_exit_and_removes_the_pid_file(rig: RcRig) -> None:
    rig.remove_pwait()
    assert shutil.which("pwait", path=rig.env["PATH"]) is None, "this test is the fallback"
    rig.configure(ovpnctl_tunnels="a")
    rig.config_file("a")
    start(rig)
    up = rig.wait_up("a")

    result = rig.rc("stop")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Stopping ovpnctl a.\nWaiting for PIDS: {up.pid}")
    assert result.stdout.endswith(".\n")
    assert rig.record(up.pid).events == ["stop", "exited"]
    assert not is_running(up.pid)
    assert not rig.pidfile("a").exists()
    rig.wait_for(lambda: rig.processes() == [], "the daemon supervisor to exit")


def test_stop_waits_with_pwait_where_it_exists(rig: RcRig) -> None:
    rig.configure(ovpnctl_tunnels="a")
    rig.config_file("a")
    start(rig)
    up = rig.wait_up("a")
    rig.wait_for(lambda: rig.daemon_pid("a") is not None, "the daemon pid file")
    supervisor = rig.daemon_pid("a")

    result = rig.rc("stop")

    assert result.returncode == 0, result.stderr
    assert result.stdout == "Stopping ovpnctl a.\n"
    assert (rig.state / "pwait.calls").read_text() == f"pwait -t 30 {up.pid} {supervisor}\n"
    assert rig.record(up.pid).events == ["stop", "exited"]
    assert supervisor is not None and not is_running(up.pid) and not is_running(supervisor)
    assert not rig.pidfile("a").exists() and not rig.daemon_pidfile("a").exists()


def test_stop_of_a_stopped_tunnel_says_so(rig: RcRig) -> None:
    rig.configure(ovpnctl_tunnels="a")
    rig.config_file("a")
    start(rig)
    rig.wait_up("a")
    assert rig.rc("stop").returncode == 0

    result = rig.rc("stop")

    assert (result.returncode, result.stdout) == (0, "a is not running.\n")


def test_status_reports_each_tunnel_and_fails_when_one_is_down(rig: RcRig) -> None:
    rig.configure(ovpnctl_tunnels="a b")
    rig.config_file("a")
    rig.config_file("b")
    start(rig, "a")
    a = rig.wait_up("a")

    both = rig.rc("status")
    only_a = rig.rc("status", "a")
    only_b = rig.rc("onestatus", "b")

    assert (both.returncode, both.stdout) == (
        1,
        f"a is running as pid {a.pid}.\nb is not running.\n",
    )
    assert (only_a.returncode, only_a.stdout) == (0, f"a is running as pid {a.pid}.\n")
    assert (only_b.returncode, only_b.stdout) == (1, "b is not running.\n")


def test_names_on_the_command_line_replace_ovpnctl_tunnels(rig: RcRig) -> None:
    rig.configure(ovpnctl_tunnels="a b")
    for name in "abc":
        rig.config_file(name)

    assert start(rig, "b", "c") == "Starting ovpnctl b.\nStarting ovpnctl c.\n"
    b, c = rig.wait_up("b"), rig.wait_up("c")
    assert sorted(rig.records()) == sorted([b.pid, c.pid])
    assert not rig.pidfile("a").exists()

    assert rig.rc("stop", "c").stdout.startswith("Stopping ovpnctl c.\n")
    assert rig.record(c.pid).events == ["stop", "exited"]
    assert rig.record(b.pid).events == []
    status = rig.rc("status")
    assert status.stdout == f"a is not running.\nb is running as pid {b.pid}.\n"


def test_restart_of_one_tunnel_replaces_only_its_process(rig: RcRig) -> None:
    rig.configure(ovpnctl_tunnels="a b")
    rig.config_file("a")
    rig.config_file("b")
    start(rig)
    old_a, b = rig.wait_up("a"), rig.wait_up("b")

    result = rig.rc("restart", "a")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Stopping ovpnctl a.\n")
    assert result.stdout.endswith("Starting ovpnctl a.\n")
    new_a = rig.wait_up("a")
    assert new_a.pid != old_a.pid
    assert rig.record(old_a.pid).events == ["stop", "exited"]
    assert rig.record(b.pid).events == []
    assert sorted(rig.records()) == sorted([old_a.pid, new_a.pid, b.pid])


def test_restart_keeps_the_new_pid_file_when_daemon_is_slow_to_exit(rig: RcRig) -> None:
    """The old daemon(8) removes its pid files only after ovpnctl has gone: a stop that
    returned before it would let it delete the pid file of the tunnel started next."""
    rig.env["RC_MODEL_DAEMON_LINGER"] = "0.4"
    rig.configure(ovpnctl_tunnels="a")
    rig.config_file("a")
    start(rig)
    old = rig.wait_up("a")

    assert rig.rc("restart").returncode == 0
    new = rig.wait_up("a")
    time.sleep(0.6)  # past the old supervisor's linger: it must not touch the new files

    assert new.pid != old.pid and is_running(new.pid)
    assert rig.pidfile_pid("a") == new.pid
    assert rig.rc("status").stdout == f"a is running as pid {new.pid}.\n"


def test_faststop_at_shutdown_stops_every_configured_tunnel(rig: RcRig) -> None:
    # rc.shutdown runs each script with "faststop".
    rig.configure(ovpnctl_tunnels="a b")
    rig.config_file("a")
    rig.config_file("b")
    start(rig)
    a, b = rig.wait_up("a"), rig.wait_up("b")

    result = rig.rc("faststop")

    assert result.returncode == 0, result.stderr
    for up in (a, b):
        assert rig.record(up.pid).events == ["stop", "exited"]
        assert not is_running(up.pid)
    assert list(rig.rundir.iterdir()) == []


@pytest.mark.parametrize("enable", ["NO", None])
def test_not_enabled_refuses_start_and_stop_but_not_one_or_status(
    rig: RcRig, enable: str | None
) -> None:
    rig.configure(ovpnctl_enable=enable, ovpnctl_tunnels="a")
    rig.config_file("a")

    refused = rig.rc("start")

    assert (refused.returncode, refused.stderr) == (0, "")
    assert refused.stdout == (
        "Cannot 'start' ovpnctl. Set ovpnctl_enable to YES in /etc/rc.conf"
        " or use 'onestart' instead of 'start'.\n"
    )
    assert rig.records() == {}
    assert not rig.rundir.exists()
    assert rig.rc("status").stdout == "a is not running.\n"

    assert rig.rc("start", "a").stdout == refused.stdout
    assert rig.records() == {}
    assert rig.rc("onestart").stdout == "Starting ovpnctl a.\n"
    up = rig.wait_up("a")
    assert rig.rc("stop").stdout.startswith("Cannot 'stop' ovpnctl.")
    assert is_running(up.pid)
    assert rig.rc("onestop").stdout.startswith("Stopping ovpnctl a.\n")
    assert rig.record(up.pid).events == ["stop", "exited"]
