"""Reply parsers against the golden replies, and the kernel model's reply shapes against them."""

from __future__ import annotations

import ipaddress

import pytest

from nvlist_ffi import NVList, codec, typed_json
from ovpnctl.endpoint import Endpoint
from ovpnctl.errors import ProtocolError
from ovpnctl.freebsd import commands, replies
from ovpnctl.model import CounterPair, DeleteReason, EventKind, Traffic

from . import kernel_model as km
from .golden import case, ovpn_cases


def _golden(case_id: str) -> NVList:
    return codec.unpack(case(case_id).data, 0)


def test_every_golden_reply_is_parsed_here() -> None:
    replies_ = {cid for cid, c in ovpn_cases().items() if "reply" in c.tags}
    assert replies_ == {
        "ovpn_reply_get_stats",
        "ovpn_reply_peer_stats_one",
        "ovpn_reply_peer_stats_three",
        "ovpn_reply_peer_stats_none",
        "ovpn_reply_poll_pkt",
        "ovpn_notif_del_peer_timeout",
        "ovpn_notif_del_peer_requested",
        "ovpn_notif_rotate_key",
        "ovpn_notif_float_v4",
        "ovpn_notif_float_v6",
    }


def test_get_stats() -> None:
    pairs = replies.stats(_golden("ovpn_reply_get_stats"))
    assert [p.name for p in pairs] == list(km.STATS_KEYS)
    by_name = {p.name: p for p in pairs}
    assert by_name["data"] == CounterPair("data", 1523412, 1498877, None)
    assert (by_name["lost_ctrl"].rx, by_name["lost_ctrl"].tx) == (0, 1)
    assert by_name["transport"].rx == by_name["transport"].tx == 6012345678
    for name in ("tunnel", "transport"):
        assert by_name[name].note is not None and "out' repeats 'in'" in by_name[name].note


def test_peer_stats() -> None:
    assert replies.peer_stats(_golden("ovpn_reply_peer_stats_none")) == ()
    (one,) = replies.peer_stats(_golden("ovpn_reply_peer_stats_one"))
    assert one.peer_id == 0
    assert one.vpn == Traffic(rx_packets=1200, tx_packets=1100, rx_bytes=1534000, tx_bytes=1021000)
    assert one.remote is None and one.local is None and one.keepalive is None and one.link is None
    three = replies.peer_stats(_golden("ovpn_reply_peer_stats_three"))
    assert [p.peer_id for p in three] == [1, 5, 4294967295]
    assert three[2].vpn == Traffic(1099511627777, 8589934592, 1125899906842624, 562949953421312)


def test_poll() -> None:
    assert replies.pending(_golden("ovpn_reply_poll_pkt")) == 2


def test_notifications() -> None:
    timeout = replies.notification(_golden("ovpn_notif_del_peer_timeout"), "ovpn0")
    assert timeout.kind is EventKind.PEER_DELETED and timeout.peer_id == 3
    assert timeout.reason is DeleteReason.EXPIRED
    assert timeout.final == Traffic(5012, 4977, 6123456, 5012344)
    requested = replies.notification(_golden("ovpn_notif_del_peer_requested"), "ovpn0")
    assert requested.reason is DeleteReason.REQUESTED and requested.final == Traffic(0, 0, 0, 0)
    rotate = replies.notification(_golden("ovpn_notif_rotate_key"), "ovpn1")
    assert (rotate.kind, rotate.peer_id, rotate.interface) == (EventKind.ROTATE_KEY, 17, "ovpn1")
    v4 = replies.notification(_golden("ovpn_notif_float_v4"), "ovpn0", "little")
    assert v4.kind is EventKind.FLOAT and v4.address == Endpoint.parse("192.0.2.77:41234")
    v6 = replies.notification(_golden("ovpn_notif_float_v6"), "ovpn0", "little")
    assert v6.address == Endpoint(ipaddress.ip_address("2001:db8:2::99"), 1194)


def test_del_peer_from_an_old_kernel_has_no_reason_or_counters() -> None:
    event = replies.notification(NVList([("peerid", 4), ("notification", 0)]), "ovpn0")
    assert event.reason is DeleteReason.UNKNOWN and event.final is None


def test_unknown_notification_is_preserved() -> None:
    nvl = NVList([("peerid", 9), ("notification", 7), ("color", "blue"), ("blob", b"\x01")])
    event = replies.notification(nvl, "ovpn0")
    assert event.kind is EventKind.UNKNOWN and event.raw_type == 7 and event.peer_id == 9
    assert typed_json.from_obj(event.raw) == nvl


@pytest.mark.parametrize(
    ("nvl", "message"),
    [
        (NVList([("notification", 0)]), "lacks the number 'peerid'"),
        (NVList([("peerid", "1"), ("notification", 0)]), "lacks the number 'peerid'"),
        (NVList([("peerid", 1), ("notification", 2)]), "lacks the nvlist 'address'"),
        (
            NVList([("peerid", 1), ("notification", 2), ("address", NVList([("af", 10)]))]),
            "unknown address family 10",
        ),
        (
            NVList(
                [
                    ("peerid", 1),
                    ("notification", 2),
                    ("address", NVList([("af", 2), ("port", 1), ("address", b"\x01\x02")])),
                ]
            ),
            "2-byte address for IPv4",
        ),
    ],
)
def test_malformed_notifications(nvl: NVList, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        replies.notification(nvl, "ovpn0")


def test_malformed_stats() -> None:
    with pytest.raises(ProtocolError, match="lacks the nvlist 'lost_ctrl'"):
        replies.stats(NVList())
    with pytest.raises(ProtocolError, match="not an nvlist array"):
        replies.peer_stats(NVList([("peers", 3)]))


# -- the kernel model builds replies exactly like the golden ones ----------------------------


def test_model_stats_reply_is_golden() -> None:
    counters = {
        "lost_ctrl": [0, 1],
        "lost_data": [3, 0],
        "nomem_data": [0, 0],
        "data": [1523412, 1498877],
        "ctrl": [412, 398],
        "tunnel": [1893412766, 12345],  # out is tracked but the kernel reports in twice
        "transport": [6012345678, 999],
    }
    packed = codec.pack(km.stats_reply(counters))
    assert packed == case("ovpn_reply_get_stats").data
    assert len(packed) == commands.GET_STATS_REPLY_SIZE == 910


def test_model_peer_stats_replies_are_golden() -> None:
    one = km.peer_stats_reply([(0, (1200, 1100), (1534000, 1021000))])
    assert codec.pack(one) == case("ovpn_reply_peer_stats_one").data
    three = km.peer_stats_reply(
        [
            (4294967295, (1099511627777, 8589934592), (1125899906842624, 562949953421312)),
            (1, (10, 12), (1400, 1600)),
            (5, (0, 0), (0, 0)),
        ]
    )
    assert codec.pack(three) == case("ovpn_reply_peer_stats_three").data
    assert codec.pack(km.peer_stats_reply([])) == case("ovpn_reply_peer_stats_none").data


@pytest.mark.parametrize("peers", [0, 1, 2, 3, 12, 13])
def test_peer_stats_reply_size_formula(peers: int) -> None:
    stats = [(i, (i, i), (i, i)) for i in range(peers)]
    size = len(codec.pack(km.peer_stats_reply(stats)))
    assert size == commands.peer_stats_reply_size(peers)
    assert size == {0: 19, 1: 369, 3: 1019}.get(peers, size)
    assert (size <= 4096) == (peers <= 12)


def test_model_notifications_are_golden() -> None:
    assert codec.pack(km.poll_reply(2)) == case("ovpn_reply_poll_pkt").data
    assert len(codec.pack(km.poll_reply(31))) == commands.POLL_PKT_REPLY_SIZE == 54
    timeout = km.del_peer_notification(3, 1, (5012, 4977), (6123456, 5012344))
    assert codec.pack(timeout) == case("ovpn_notif_del_peer_timeout").data
    assert len(codec.pack(timeout)) == 383
    requested = km.del_peer_notification(0, 0, (0, 0), (0, 0))
    assert codec.pack(requested) == case("ovpn_notif_del_peer_requested").data
    rotate = codec.pack(km.rotate_key_notification(17))
    assert rotate == case("ovpn_notif_rotate_key").data and len(rotate) == 93
    float_v4 = km.float_notification(3, Endpoint.parse("192.0.2.77:41234"))
    assert codec.pack(float_v4) == case("ovpn_notif_float_v4").data
    float_v6 = km.float_notification(17, Endpoint.parse("[2001:db8:2::99]:1194"))
    assert codec.pack(float_v6) == case("ovpn_notif_float_v6").data
    assert len(codec.pack(float_v4)) == 252 and len(codec.pack(float_v6)) == 299
