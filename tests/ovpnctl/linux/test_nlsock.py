"""Netlink framing and extended acks: bytes from the netlink uAPI (NLMSG_ERROR = 2,
NLM_F_CAPPED = 0x100, NLM_F_ACK_TLVS = 0x200, NLMSGERR_ATTR_MSG/OFFS/MISS_TYPE/MISS_NEST =
1/2/5/6), and a live round trip with the host kernel's own nlctrl family."""

from __future__ import annotations

import errno
import struct
import sys

import pytest

from ovpnctl.errors import ProtocolError
from ovpnctl.linux.nlsock import (
    NETLINK_GENERIC,
    NLM_F_ACK_TLVS,
    NLM_F_CAPPED,
    NLMSG_DONE,
    NLMSG_ERROR,
    ExtAck,
    Message,
    NetlinkRequestError,
    NetlinkSocket,
    parse_error,
    split_messages,
)

ECHOED_HEADER = struct.pack("=IHHII", 40, 35, 5, 7, 0)  # the request's nlmsghdr


def tlv(atype: int, payload: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(payload), atype) + payload
    return raw + bytes(-len(raw) % 4)


def test_capped_error_with_message_and_offset() -> None:
    payload = (
        struct.pack("=i", -errno.ENOENT)
        + ECHOED_HEADER
        + tlv(1, b"ovpn: cannot find peer with id 999\0")
        + tlv(2, struct.pack("=I", 28))
    )
    msg = Message(NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS, payload)
    assert parse_error(msg) == (
        errno.ENOENT,
        ExtAck(message="ovpn: cannot find peer with id 999", offset=28),
    )


def test_missing_attribute_tlvs() -> None:
    payload = (
        struct.pack("=i", -errno.EINVAL)
        + ECHOED_HEADER
        + tlv(5, struct.pack("=I", 6))
        + tlv(6, struct.pack("=I", 24))
    )
    err, ext = parse_error(Message(NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS, payload))
    assert (err, ext.missing_type, ext.missing_nest, ext.message) == (errno.EINVAL, 6, 24, None)


def test_uncapped_error_skips_the_whole_echoed_request() -> None:
    echoed = struct.pack("=IHHII", 24, 35, 5, 7, 0) + bytes(8)
    payload = struct.pack("=i", -errno.EPERM) + echoed + tlv(1, b"nope\0")
    err, ext = parse_error(Message(NLMSG_ERROR, NLM_F_ACK_TLVS, payload))
    assert (err, ext.message) == (errno.EPERM, "nope")


def test_done_of_a_failed_dump_carries_errno_and_tlvs() -> None:
    payload = struct.pack("=i", -errno.EINVAL) + tlv(1, b"bad dump\0")
    assert parse_error(Message(NLMSG_DONE, NLM_F_ACK_TLVS, payload)) == (
        errno.EINVAL,
        ExtAck(message="bad dump"),
    )


def test_plain_ack_is_errno_zero() -> None:
    assert (
        parse_error(Message(NLMSG_ERROR, NLM_F_CAPPED, struct.pack("=i", 0) + ECHOED_HEADER))[0]
        == 0
    )


def test_truncated_error_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        parse_error(Message(NLMSG_ERROR, 0, b"\x00"))


def test_split_messages_and_malformed_length() -> None:
    one = struct.pack("=IHHII", 20, 99, 2, 1, 0) + b"abcd"
    two = struct.pack("=IHHII", 16, 3, 2, 1, 0)
    assert split_messages(one + two) == [Message(99, 2, b"abcd"), Message(3, 2, b"")]
    with pytest.raises(ProtocolError):
        split_messages(struct.pack("=IHHII", 64, 99, 0, 1, 0))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs AF_NETLINK")
def test_live_request_to_nlctrl_returns_data_and_extack_errors() -> None:
    """The host kernel's generic netlink controller (id 0x10) is always there: looking up
    nlctrl itself succeeds; an unknown family fails with ENOENT; a name longer than
    GENL_NAMSIZ fails the policy, and the extack says so."""
    ctrl, getfamily, family_name = 0x10, 3, 2

    def lookup(name: str) -> list[Message]:
        payload = struct.pack("=BBH", getfamily, 1, 0) + tlv(family_name, name.encode() + b"\0")
        return sock.request(ctrl, payload)

    sock = NetlinkSocket(NETLINK_GENERIC)
    try:
        replies = lookup("nlctrl")
        assert len(replies) == 1 and replies[0].type == ctrl
        with pytest.raises(NetlinkRequestError) as info:
            lookup("nosuchfamily")
        assert info.value.errno == errno.ENOENT
        with pytest.raises(NetlinkRequestError) as info:
            lookup("x" * 40)
        assert info.value.errno == errno.EINVAL
        assert info.value.ext.message == "Attribute failed policy validation"
        assert info.value.ext.offset is not None
    finally:
        sock.close()
