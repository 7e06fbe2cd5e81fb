"""The jail test's tunnel steps (tunnel.py), run against two kernel models.

On real FreeBSD the same steps run in two VNET jails and the proof is a ping; here the
proof is that, after every step, each end's transmit key is a key the other end can
receive with (same key id, mirrored bytes), as §4.2 of the sheet requires.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator

import pytest

from ovpnctl.freebsd.backend import FreeBSDBackend
from ovpnctl.model import DeleteReason, EventKind, Keepalive

from .kernel_model import KernelModel
from .tunnel import End, bring_up, pair, rotate


def can_send(sender: KernelModel, s: End, receiver: KernelModel, r: End) -> bool:
    primary = sender.interfaces[s.ifname].peers[s.peer_id].slots[0]
    if primary is None or not sender.interfaces[s.ifname].link_up:
        return False
    slots = receiver.interfaces[r.ifname].peers[r.peer_id].slots
    return any(
        slot is not None
        and slot.key_id == primary.key_id
        and slot.decrypt.fingerprint == primary.encrypt.fingerprint
        for slot in slots
    )


@pytest.fixture
def ends() -> Iterator[tuple[tuple[KernelModel, FreeBSDBackend, End], ...]]:
    a, b = pair()
    result = []
    socks = []
    for end in (a, b):
        kernel = KernelModel()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        kernel.adopt(sock)
        socks.append(sock)
        backend = FreeBSDBackend(transport=kernel)
        result.append((kernel, backend, end))
    (_, ba, ea), (_, bb, eb) = result
    bring_up(ba, ea, eb, sock=socks[0])
    bring_up(bb, eb, ea, sock=socks[1])
    yield tuple(result)
    for sock in socks:
        sock.close()


def test_bring_up(ends: tuple[tuple[KernelModel, FreeBSDBackend, End], ...]) -> None:
    (ka, _, a), (kb, _, b) = ends
    peer = ka.interfaces[a.ifname].peers[a.peer_id]
    assert peer.remote == b.transport
    assert peer.vpn_ipv4 == ipaddress.IPv4Address(b.tunnel).packed
    assert ka.interfaces[a.ifname].flags & 0x10  # p2p
    assert can_send(ka, a, kb, b) and can_send(kb, b, ka, a)


def test_rollover_keeps_both_directions_working(
    ends: tuple[tuple[KernelModel, FreeBSDBackend, End], ...],
) -> None:
    (ka, ba, a), (kb, bb, b) = ends
    for step in ("install", "swap", "retire"):
        rotate(ba, a, b, 1, step)
        assert can_send(ka, a, kb, b) and can_send(kb, b, ka, a), f"A {step}"
        rotate(bb, b, a, 1, step)
        assert can_send(ka, a, kb, b) and can_send(kb, b, ka, a), f"B {step}"
    for kernel, end in ((ka, a), (kb, b)):
        slots = kernel.interfaces[end.ifname].peers[end.peer_id].slots
        assert slots[0] is not None and slots[0].key_id == 1 and slots[1] is None


def test_a_wrong_rollover_order_is_caught(
    ends: tuple[tuple[KernelModel, FreeBSDBackend, End], ...],
) -> None:
    """Swapping before the other end has the new key breaks A -> B: the check can fail."""
    (ka, ba, a), (kb, _, b) = ends
    rotate(ba, a, b, 1, "install")
    rotate(ba, a, b, 1, "swap")
    assert not can_send(ka, a, kb, b)


def test_keepalive_expiry_after_the_far_end_goes(
    ends: tuple[tuple[KernelModel, FreeBSDBackend, End], ...],
) -> None:
    (ka, ba, a), (_, bb, b) = ends
    ba.set_keepalive(a.ifname, a.peer_id, Keepalive(1, 3))
    bb.del_peer(b.ifname, b.peer_id)
    ka.advance_time(5)
    (event,) = ba.consume_events(a.ifname)
    assert (event.kind, event.peer_id, event.reason) == (
        EventKind.PEER_DELETED,
        a.peer_id,
        DeleteReason.EXPIRED,
    )
    (requested,) = bb.consume_events(b.ifname)
    assert requested.reason is DeleteReason.REQUESTED
