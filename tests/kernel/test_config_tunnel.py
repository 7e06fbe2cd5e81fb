"""Two sites joined by configs alone: traffic, then the three-step key rotation under load.

Site A (left namespace) and site B (right) apply mirrored p2p configs with ovpnctl's
planner and executor on the real driver; the test process holds their sockets, as
`ovpnctl up` would. The rotation follows the README's workflow — stage the new key as
secondary on both sites, promote it on both, retire the old one — while a ping runs
through the tunnel, which must not lose a packet.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from config_site import ConfigSite
from netns import NetnsPair, netns_exec

PORT = 1194


def site_config(name: str, me: str, peer: str, *, addr: str, lan: str, key: str) -> str:
    return f"""
[interface]
name = "{name}"
listen = "{me}:{PORT}"
address = ["{addr}/24"]

[[peer]]
id = 1
remote = "{peer}:{PORT}"
keepalive = {{ interval = 2, timeout = 20 }}
routes = ["{lan}"]
{key}
"""


@dataclass
class Sites:
    pair: NetnsPair
    a: ConfigSite
    b: ConfigSite

    def configs(self, key_a: str, key_b: str) -> tuple[str, str]:
        left, right = self.pair.left.ipv4.ip, self.pair.right.ipv4.ip
        return (
            site_config(
                "ovpna0", str(left), str(right), addr="10.8.0.1", lan="192.168.2.0/24", key=key_a
            ),
            site_config(
                "ovpnb0", str(right), str(left), addr="10.8.0.2", lan="192.168.1.0/24", key=key_b
            ),
        )

    def apply(self, key_a: str, key_b: str) -> None:
        config_a, config_b = self.configs(key_a, key_b)
        self.a.apply(config_a)
        self.b.apply(config_b)


def key(slot: str, key_id: int, enc: str, dec: str) -> str:
    return f'{slot} = {{ id = {key_id}, encrypt = "{enc}", decrypt = "{dec}" }}'


@pytest.fixture
def sites(netns_pair: NetnsPair, tmp_path: Path) -> Iterator[Sites]:
    a = ConfigSite(netns_pair.left.netns, tmp_path)
    b = ConfigSite(netns_pair.right.netns, tmp_path)
    for name in ("ab0", "ba0", "ab1", "ba1"):
        a.key(name)
    netns_exec(netns_pair.left.netns, ["ip", "addr", "add", "192.168.1.1/32", "dev", "lo"])
    netns_exec(netns_pair.right.netns, ["ip", "addr", "add", "192.168.2.1/32", "dev", "lo"])
    yield Sites(netns_pair, a, b)
    a.close()
    b.close()


def ping(ns: str, source: str, target: str, count: int = 3) -> str:
    return netns_exec(
        ns, ["ping", "-n", "-c", str(count), "-i", "0.2", "-W", "3", "-I", source, target]
    ).stdout


def test_configs_alone_make_a_working_tunnel_and_rotate_without_loss(sites: Sites) -> None:
    old_a, old_b = key("key", 0, "ab0", "ba0"), key("key", 0, "ba0", "ab0")
    sites.apply(old_a, old_b)
    # LAN to LAN through the routes the configs asked for.
    assert " 0% packet loss" in ping(sites.pair.left.netns, "192.168.1.1", "192.168.2.1")
    assert sites.a.snapshot("ovpna0")["peers"][1]["keys"] == [("PRIMARY", 0, "AES-256-GCM")]

    left = sites.pair.left.netns
    load = subprocess.Popen(
        ["ip", "netns", "exec", left, "ping", "-n", "-q", "-c", "150", "-i", "0.1", "-W", "3",
         "-I", "10.8.0.1", "10.8.0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        # 1. stage the new key as secondary on both sites: it decrypts, nothing encrypts
        stage_a = old_a + "\n" + key("secondary_key", 1, "ab1", "ba1")
        stage_b = old_b + "\n" + key("secondary_key", 1, "ba1", "ab1")
        sites.apply(stage_a, stage_b)
        # 2. promote it on both: A sends with key 1 while B still sends with key 0 -
        #    each side still decrypts the other through its secondary slot
        promote_a = key("key", 1, "ab1", "ba1") + "\n" + key("secondary_key", 0, "ab0", "ba0")
        promote_b = key("key", 1, "ba1", "ab1") + "\n" + key("secondary_key", 0, "ba0", "ab0")
        sites.apply(promote_a, promote_b)
        # 3. retire the old key
        sites.apply(key("key", 1, "ab1", "ba1"), key("key", 1, "ba1", "ab1"))
    finally:
        output, _ = load.communicate(timeout=120)
    assert " 0% packet loss" in output, output
    for site, name in ((sites.a, "ovpna0"), (sites.b, "ovpnb0")):
        assert site.snapshot(name)["peers"][1]["keys"] == [("PRIMARY", 1, "AES-256-GCM")]
    assert " 0% packet loss" in ping(sites.pair.right.netns, "192.168.2.1", "192.168.1.1")
