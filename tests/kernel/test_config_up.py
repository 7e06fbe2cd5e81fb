"""`ovpnctl up` as an init system runs it, on the real Linux driver.

Site A is the real command (`python -m ovpnctl up --json-log` in the left namespace);
site B is configured with the library from this process. Checked, in order: the tunnel
carries traffic; SIGHUP applies an edited file; `ovpnctl peer add` and `ovpnctl apply`
reach the supervisor through its control socket, and the added peer outlives the
command that asked (Linux would drop a peer whose socket's owner exited); a peer the
kernel drops after its keepalive timeout is re-added only once its keys are fresh;
SIGTERM tears everything down and exits 0.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from config_site import ConfigSite
from netns import NetnsPair, netns_exec
from up_process import UpProcess

PORT = 1194


def expiries(up: UpProcess) -> list[dict[str, Any]]:
    deleted = [r for r in up.records if r["event"] == "kernel-peer-deleted"]
    return [r for r in deleted if r.get("reason") == "expired"]


def config_a(pair: NetnsPair, *, keepalive: str, routes: str = "[]") -> str:
    return f"""
[interface]
name = "ovpnup0"
mode = "mp"
listen = "{pair.left.ipv4.ip}:{PORT}"
address = ["10.8.0.1/24"]
readd_on_timeout = true

[[peer]]
id = 1
remote = "{pair.right.ipv4.ip}:{PORT}"
vpn_ipv4 = "10.8.0.2"
keepalive = {keepalive}
routes = {routes}
key = {{ id = 0, encrypt = "ab", decrypt = "ba" }}
"""


def config_b(pair: NetnsPair) -> str:
    return f"""
[interface]
name = "ovpnupb0"
listen = "{pair.right.ipv4.ip}:{PORT}"
address = ["10.8.0.2/24"]

[[peer]]
id = 1
remote = "{pair.left.ipv4.ip}:{PORT}"
keepalive = {{ interval = 1, timeout = 30 }}
routes = ["192.168.1.0/24"]
key = {{ id = 0, encrypt = "ba", decrypt = "ab" }}
"""


@pytest.fixture
def b_site(netns_pair: NetnsPair, tmp_path: Path) -> Iterator[ConfigSite]:
    site = ConfigSite(netns_pair.right.netns, tmp_path)
    yield site
    site.close()


def test_up_lifecycle(netns_pair: NetnsPair, b_site: ConfigSite, tmp_path: Path) -> None:
    pair = netns_pair
    for name in ("ab", "ba"):
        b_site.key(name)
    config = b_site.keydir / "site-a.toml"  # relative key paths resolve beside it
    config.write_text(config_a(pair, keepalive="{ interval = 1, timeout = 4 }"))
    env = {
        **os.environ,
        "OVPNCTL_RUN_DIR": str(tmp_path / "run-a"),
        "OVPNCTL_STATE_DIR": str(tmp_path / "db-a"),
    }
    netns_exec(pair.right.netns, ["ip", "addr", "add", "192.168.2.1/32", "dev", "lo"])
    up = UpProcess(pair.left.netns, config, {**env, "PYTHONPATH": os.environ.get("PYTHONPATH", "")})
    try:
        up.wait_for("up", lambda r: r["event"] == "up")
        b_site.apply(config_b(pair))
        ping = ["ping", "-n", "-c", "3", "-i", "0.2", "-W", "3"]
        assert " 0% packet loss" in netns_exec(pair.left.netns, [*ping, "10.8.0.2"]).stdout

        # SIGHUP: an edited file is applied by the running supervisor.
        config.write_text(
            config_a(pair, keepalive="{ interval = 1, timeout = 4 }", routes='["192.168.2.0/24"]')
        )
        up.proc.send_signal(signal.SIGHUP)
        up.wait_for("the SIGHUP apply", lambda r: r.get("reason") == "sighup")
        routes = netns_exec(pair.left.netns, ["ip", "route", "show", "dev", "ovpnup0"]).stdout
        assert "192.168.2.0/24 via 10.8.0.2" in routes
        assert (
            " 0% packet loss"
            in netns_exec(pair.left.netns, [*ping, "-I", "10.8.0.1", "192.168.2.1"]).stdout
        )

        # peer add goes through the control socket; the peer outlives the command.
        added = up.ovpnctl("peer", "add", "ovpnup0", "7", "--remote", "192.0.2.7:1194",
                           "--vpn-ipv4", "10.8.0.7")  # fmt: skip
        assert "added by the ovpnctl up supervisor" in added.stderr
        assert up.peers("ovpnup0") == [1, 7]
        # apply goes through it too: peer 7 is not in the file, so it goes again.
        applied = up.ovpnctl("apply", str(config))
        assert "remove peer 7 (not in the config)" in applied.stdout
        assert up.peers("ovpnup0") == [1]

        # B goes away: A's peer 1 hears nothing and the kernel drops it after 4 s.
        b_site.close()
        up.wait_for(
            "the keepalive expiry",
            lambda r: r["event"] == "kernel-peer-deleted" and r.get("reason") == "expired",
        )
        refused = up.wait_for("the refused re-add", lambda r: r["event"] == "apply-failed")
        assert "already installed" in refused["error"]
        # Fresh keys (as a rotation agent would write them), then SIGHUP: peer 1 is back.
        b_site.key("ab")
        b_site.key("ba")
        since = len(up.records)  # the start's own "add peer 1" must not count
        up.proc.send_signal(signal.SIGHUP)
        up.wait_for(
            "the re-add",
            lambda r: r["event"] == "change" and "add peer 1" in r.get("step", ""),
            since=since,
        )
        # B is still gone, so the re-added peer expires again: proof it was in the kernel.
        up.wait_for("a second expiry", lambda r: len(expiries(up)) >= 2)
    finally:
        status = up.stop()
    assert status == 0, up.records
    assert [r["event"] for r in up.records][-2:] == ["teardown", "down"]
    gone = netns_exec(pair.left.netns, ["ip", "link", "show", "ovpnup0"], check=False)
    assert gone.returncode != 0
    assert not (tmp_path / "run-a" / "ovpnup0.sock").exists()
