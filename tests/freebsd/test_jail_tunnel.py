"""A real if_ovpn tunnel between two VNET jails, driven only through ovpnctl's library.

Steps (shared with the kernel-model test): create ovpn interfaces, peer both ends over
the epair, install keys (which starts the data channel), ping through the tunnel, check
the counters moved, roll the keys over while a ping runs, and see the DEL_PEER timeout
notification once the far end is gone.
"""

from __future__ import annotations

import re
import subprocess
import time
from typing import Any

from tests.ovpnctl.freebsd.tunnel import End, pair

from .jails import Jail, jexec, side


def step(jail: Jail, name: str, me: End, other: End, **extra: Any) -> Any:
    return side(jail, name, me=me.to_json(), other=other.to_json(), **extra)


def ping(jail: Jail, target: str, count: int = 3) -> subprocess.CompletedProcess[str]:
    return jexec(jail, "ping", "-c", str(count), "-t", str(count + 5), target, check=False)


def received(output: str) -> int:
    match = re.search(r"(\d+) packets received", output)
    assert match, output
    return int(match.group(1))


def test_tunnel_between_two_jails(jails: tuple[Jail, Jail]) -> None:
    jail_a, jail_b = jails
    a, b = pair(f"{jail_a.address}:11940", f"{jail_b.address}:11940")

    assert step(jail_a, "up", a, b)["interfaces"] == [a.ifname]
    assert step(jail_b, "up", b, a)["interfaces"] == [b.ifname]
    for jail, me, other in ((jail_a, a, b), (jail_b, b, a)):
        jexec(
            jail,
            "ifconfig",
            me.ifname,
            "inet",
            me.tunnel,
            other.tunnel,
            "netmask",
            "255.255.255.255",
            "up",
        )

    first = ping(jail_a, b.tunnel)
    assert first.returncode == 0, first.stdout + first.stderr

    state_a = step(jail_a, "state", a, b)
    rx_packets, tx_packets, rx_bytes, tx_bytes = state_a["peers"][str(a.peer_id)]
    assert tx_packets >= 3 and rx_packets >= 3 and tx_bytes > 0 and rx_bytes > 0
    assert state_a["up"] is True and state_a["mode"] == "p2p"
    assert state_a["counters"]["data"][1] >= 3

    # key rollover under traffic
    pinger = subprocess.Popen(
        ["jexec", jail_a.name, "ping", "-i", "0.2", "-c", "40", b.tunnel],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(1)
        for rotation in ("install", "swap", "retire"):
            step(jail_a, rotation, a, b, key_id=1)
            step(jail_b, rotation, b, a, key_id=1)
        output, _ = pinger.communicate(timeout=60)
    finally:
        if pinger.poll() is None:
            pinger.kill()
    assert received(output) >= 30, output  # a few may be lost between the two swaps
    after = ping(jail_a, b.tunnel)
    assert after.returncode == 0, after.stdout  # the new key (id 1) carries traffic

    # the far end goes away: keepalive expiry deletes the peer and notifies
    step(jail_a, "keepalive", a, b, keepalive=[1, 3])
    step(jail_b, "del_peer", b, a)
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not events:
        time.sleep(1)
        events = step(jail_a, "events", a, b)
    assert events == [{"kind": "peer-deleted", "peer_id": a.peer_id, "reason": "expired"}]
    assert step(jail_b, "events", b, a) == [
        {"kind": "peer-deleted", "peer_id": b.peer_id, "reason": "requested"}
    ]
    assert step(jail_a, "state", a, b)["peers"] == {}
