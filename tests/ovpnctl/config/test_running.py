"""showconf: the running state as a config file that applies back unchanged."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from ovpnctl.config import dumps_toml, parse_config
from ovpnctl.config.running import running_config
from ovpnctl.errors import ExitCode, OvpnError
from ovpnctl.model import Mode, PeerConfig
from tests.ovpnctl.config.rig import Rig

MP = """
[interface]
name = "ovpn0"
mode = "mp"
listen = "127.0.0.1:0"
address = ["10.8.0.1/24", "fd00::1/64"]
readd_on_timeout = true

[[peer]]
id = 1
remote = "192.0.2.1:1194"
vpn_ipv4 = "10.8.0.2"
routes = ["192.168.1.0/24"]
keepalive = { interval = 10, timeout = 60 }
key = { id = 1, encrypt = "1a", decrypt = "1b" }
secondary_key = { id = 0, encrypt = "1c", decrypt = "1d" }

[[peer]]
id = 2
remote = "192.0.2.2:1194"
vpn_ipv4 = "10.8.0.3"
vpn_ipv6 = "fd00::3"
routes = ["192.168.2.0/24", "fd02::/64"]
key = { id = 0, cipher = "CHACHA20-POLY1305", encrypt = "2a", decrypt = "2b" }
"""


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    from ovpnctl.keys import Cipher

    for name in ("1a", "1b", "1c", "1d"):
        r.key(name)
    r.key("2a", Cipher.CHACHA20_POLY1305)
    r.key("2b", Cipher.CHACHA20_POLY1305)
    yield r
    r.close()


def showconf(rig: Rig) -> str:
    running = running_config("ovpn0", backend=rig.backend, hostnet=rig.hostnet, paths=rig.paths)
    return dumps_toml(running.data, comments=running.comments)


def test_showconf_round_trips(rig: Rig) -> None:
    pool = rig.pool(holds_tunnel=True)
    original = rig.config(MP)
    rig.apply(original, pool)
    text = showconf(rig)
    assert text.startswith("# Running configuration of ovpn0 (freebsd DCO)")
    assert "# Key material cannot be read back from any kernel" in text
    for name in ("1a", "1b", "2a", "2b"):
        assert (rig.keydir / name).read_text().strip() not in text
    shown = parse_config(text, source="shown.toml")
    assert shown == original
    # Applying what showconf printed changes nothing.
    assert rig.apply(shown, pool).plan.empty


def test_showconf_leaves_out_what_nobody_can_describe(rig: Rig) -> None:
    rig.backend.create_interface("ovpn0", Mode.P2P)
    sock = rig.pool().udp(parse_config(MP).listen[0])
    rig.backend.add_peer("ovpn0", PeerConfig(5, parse_config(MP).peers[0].remote), sock)
    text = showconf(rig)
    assert "# ovpnctl has no state file for this interface" in text
    assert "# peer 5 is left out: the freebsd kernel does not report its" in text
    assert tomllib.loads(text) == {
        "interface": {
            "name": "ovpn0",
            "mode": "p2p",
            "transport": "udp",
            "readd_on_timeout": False,
        }
    }


def test_showconf_of_a_missing_interface(rig: Rig) -> None:
    with pytest.raises(OvpnError) as info:
        showconf(rig)
    assert info.value.exit_code == ExitCode.NOINPUT
    assert info.value.message == "ovpn0: no such freebsd DCO interface"
