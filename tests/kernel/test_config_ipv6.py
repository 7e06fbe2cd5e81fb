"""IPv6 transport on the real driver, through configs: the one case the Linux backend's
own tests left to this suite.

Site A is an mp server on a dual-stack `[::]` socket, site B a p2p client bound to its
IPv6 address; both carry IPv4 and IPv6 inside the tunnel. Checked: traffic both ways in
both inner families, the peer's remote as the kernel reports it (an IPv6 endpoint), and
that a second apply on each site has nothing left to do.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from config_site import ConfigSite
from netns import NetnsPair, netns_exec

from ovpnctl.keys import Cipher

PORT = 1195


def server(pair: NetnsPair) -> str:
    return f"""
[interface]
name = "ovpn6a0"
mode = "mp"
listen = "[::]:{PORT}"
address = ["10.8.6.1/24", "fd00:86::1/64"]

[[peer]]
id = 6
remote = "[{pair.right.ipv6.ip}]:{PORT}"
vpn_ipv4 = "10.8.6.2"
vpn_ipv6 = "fd00:86::2"
keepalive = {{ interval = 2, timeout = 20 }}
key = {{ id = 0, cipher = "CHACHA20-POLY1305", encrypt = "6ab", decrypt = "6ba" }}
"""


def client(pair: NetnsPair) -> str:
    return f"""
[interface]
name = "ovpn6b0"
listen = "[{pair.right.ipv6.ip}]:{PORT}"
address = ["10.8.6.2/24", "fd00:86::2/64"]

[[peer]]
id = 6
remote = "[{pair.left.ipv6.ip}]:{PORT}"
keepalive = {{ interval = 2, timeout = 20 }}
key = {{ id = 0, cipher = "CHACHA20-POLY1305", encrypt = "6ba", decrypt = "6ab" }}
"""


@pytest.fixture
def sites(netns_pair: NetnsPair, tmp_path: Path) -> Iterator[tuple[ConfigSite, ConfigSite]]:
    a = ConfigSite(netns_pair.left.netns, tmp_path)
    b = ConfigSite(netns_pair.right.netns, tmp_path)
    for name in ("6ab", "6ba"):
        a.key(name, Cipher.CHACHA20_POLY1305)
    yield a, b
    a.close()
    b.close()


def lossless(netns: str, target: str) -> bool:
    ping = ["ping", "-n", "-c", "3", "-i", "0.2", "-W", "3", target]
    return " 0% packet loss" in netns_exec(netns, ping, check=False).stdout


def test_ipv6_transport_with_a_dual_stack_server(
    netns_pair: NetnsPair, sites: tuple[ConfigSite, ConfigSite]
) -> None:
    a, b = sites
    a.apply(server(netns_pair))
    b.apply(client(netns_pair))
    for netns, target in (
        (netns_pair.left.netns, "10.8.6.2"),
        (netns_pair.left.netns, "fd00:86::2"),
        (netns_pair.right.netns, "10.8.6.1"),
        (netns_pair.right.netns, "fd00:86::1"),
    ):
        assert lossless(netns, target), f"{netns} -> {target}"
    peer = a.snapshot("ovpn6a0")["peers"][6]
    assert peer["remote"] == f"[{netns_pair.right.ipv6.ip}]:{PORT}"
    assert peer["vpn"] == ("10.8.6.2", "fd00:86::2")
    assert b.snapshot("ovpn6b0")["peers"][6]["remote"] == f"[{netns_pair.left.ipv6.ip}]:{PORT}"
    assert a.apply(server(netns_pair)).plan.empty
    assert b.apply(client(netns_pair)).plan.empty
