"""Writing configs back out: the output must load into the same config."""

from __future__ import annotations

import tomllib
from pathlib import Path

from ovpnctl.config import config_to_data, dumps_json, dumps_toml, load_config, parse_config

SOURCE = """\
[interface]
name = "ovpn3"
mode = "mp"
listen = ["0.0.0.0:1194", "[::]:1195"]
address = ["10.8.0.1/24"]

[[peer]]
id = 5
remote = "192.0.2.9:1194"
local = "192.0.2.1"
vpn_ipv4 = "10.8.0.5"
routes = ["192.168.5.0/24"]
keepalive = { interval = 5, timeout = 30 }
key = { id = 1, cipher = "CHACHA20-POLY1305", encrypt = "/k/a", decrypt = "/k/b" }
secondary_key = { id = 2, encrypt = "/k/c", decrypt = "/k/d" }

[[peer]]
id = 6
remote = "[2001:db8::6]:1194"
vpn_ipv6 = "fd00::6"
key = { id = 0, cipher = "none" }
"""


def test_toml_round_trip(tmp_path: Path) -> None:
    original = parse_config(SOURCE, source="a.toml")
    text = dumps_toml(config_to_data(original), comments=["written by a test", ""])
    assert text.startswith("# written by a test\n#\n")
    path = tmp_path / "out.toml"
    path.write_text(text)
    assert load_config(str(path)) == original


def test_json_round_trip(tmp_path: Path) -> None:
    original = parse_config(SOURCE, source="a.toml")
    path = tmp_path / "out.json"
    path.write_text(dumps_json(config_to_data(original)))
    assert load_config(str(path)) == original


def test_defaults_are_written_out() -> None:
    config = parse_config('[interface]\nname="o"\nlisten="0.0.0.0:1"\n', source="x")
    data = tomllib.loads(dumps_toml(config_to_data(config)))
    assert data == {
        "interface": {
            "name": "o",
            "mode": "p2p",
            "transport": "udp",
            "listen": ["0.0.0.0:1"],
            "readd_on_timeout": False,
        }
    }
