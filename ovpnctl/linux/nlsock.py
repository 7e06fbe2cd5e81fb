"""A plain AF_NETLINK socket: send one request, collect its replies, decode errors.

Netlink framing and the extended-ack TLVs are small and fixed, and this loop is the
per-request hot path, so it is written directly on `socket` rather than through pyroute2's
asyncio core. The socket asks for extended acks (the kernel's one-line reason and the id
of a missing attribute) and capped acks (the error does not echo our whole request, which
may carry key material, back to us).
"""

from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass
from typing import NamedTuple

from ovpnctl.errors import ProtocolError
from ovpnctl.linux.nla import iter_attrs

NETLINK_ROUTE = 0
NETLINK_GENERIC = 16

NLMSG_NOOP = 1
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLMSG_OVERRUN = 4

NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_DUMP = 0x300
NLM_F_CAPPED = 0x100  # in an NLMSG_ERROR: only the request's header was echoed
NLM_F_ACK_TLVS = 0x200  # in an NLMSG_ERROR/DONE: extended-ack TLVs follow

SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP = 1
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11
SO_RCVBUFFORCE = 33

# enum nlmsgerr_attrs
NLMSGERR_ATTR_MSG = 1
NLMSGERR_ATTR_OFFS = 2
NLMSGERR_ATTR_MISS_TYPE = 5
NLMSGERR_ATTR_MISS_NEST = 6

NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
NLMSG_HDRLEN = NLMSGHDR.size
_ERRNO = struct.Struct("=i")
_U32 = struct.Struct("=I")

_U32_EXTACK = (NLMSGERR_ATTR_OFFS, NLMSGERR_ATTR_MISS_TYPE, NLMSGERR_ATTR_MISS_NEST)

RECV_BUFFER = 1 << 16  # a dump part is at most 32 KiB; one receive never truncates


@dataclass(frozen=True, slots=True)
class ExtAck:
    """What an extended ack told us beyond the errno."""

    message: str | None = None
    offset: int | None = None  # byte offset of the offending attribute in our request
    missing_type: int | None = None  # id of a required attribute that was absent
    missing_nest: int | None = None  # offset of the nest it was missing from


class NetlinkRequestError(Exception):
    """The kernel answered a request with an error (errno > 0) and maybe an extack."""

    def __init__(self, errno: int, ext: ExtAck) -> None:
        super().__init__(errno, ext.message or os.strerror(errno))
        self.errno = errno
        self.ext = ext


class Message(NamedTuple):
    """One netlink message without its header (a tuple: cheap to build per reply)."""

    type: int
    flags: int
    payload: bytes


def parse_extack(data: bytes | memoryview, offset: int) -> ExtAck:
    fields: dict[int, object] = {}
    for atype, poff, plen in iter_attrs(data, offset):
        raw = bytes(data[poff : poff + plen])
        if atype == NLMSGERR_ATTR_MSG:
            fields[atype] = raw.split(b"\0", 1)[0].decode(errors="replace")
        elif atype in _U32_EXTACK and plen == 4:
            fields[atype] = _U32.unpack(raw)[0]
    msg = fields.get(NLMSGERR_ATTR_MSG)
    return ExtAck(
        message=msg if isinstance(msg, str) else None,
        offset=_int_or_none(fields.get(NLMSGERR_ATTR_OFFS)),
        missing_type=_int_or_none(fields.get(NLMSGERR_ATTR_MISS_TYPE)),
        missing_nest=_int_or_none(fields.get(NLMSGERR_ATTR_MISS_NEST)),
    )


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) else None


def parse_error(msg: Message) -> tuple[int, ExtAck]:
    """Decode an NLMSG_ERROR (or NLMSG_DONE) payload into (positive errno, extack)."""
    data = msg.payload
    if len(data) < _ERRNO.size:
        raise ProtocolError("truncated netlink error message")
    err = -_ERRNO.unpack_from(data, 0)[0]
    if not msg.flags & NLM_F_ACK_TLVS:
        return err, ExtAck()
    if msg.type == NLMSG_DONE:
        return err, parse_extack(data, _ERRNO.size)
    # NLMSG_ERROR: errno, then the request's header (capped) or the whole request.
    offset = _ERRNO.size
    if len(data) < offset + NLMSG_HDRLEN:
        raise ProtocolError("truncated netlink error message")
    echoed_len = NLMSGHDR.unpack_from(data, offset)[0]
    offset += NLMSG_HDRLEN if msg.flags & NLM_F_CAPPED else (echoed_len + 3) & ~3
    return err, parse_extack(data, offset)


def split_messages(data: bytes | memoryview) -> list[Message]:
    out = []
    offset = 0
    while offset + NLMSG_HDRLEN <= len(data):
        length, mtype, flags, _seq, _pid = NLMSGHDR.unpack_from(data, offset)
        if length < NLMSG_HDRLEN or offset + length > len(data):
            raise ProtocolError(f"malformed netlink message (length {length})")
        out.append(Message(mtype, flags, bytes(data[offset + NLMSG_HDRLEN : offset + length])))
        offset += (length + 3) & ~3
    return out


class NetlinkSocket:
    """One netlink socket, bound to the network namespace it was created in."""

    def __init__(self, protocol: int, *, rcvbuf: int | None = None) -> None:
        self.sock = socket.socket(
            socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, protocol
        )
        try:
            self.sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
            self.sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
            if rcvbuf is not None:
                try:
                    self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf)
                except PermissionError:  # without CAP_NET_ADMIN: as large as rmem_max allows
                    self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.bind((0, 0))
        except BaseException:
            self.sock.close()
            raise
        self._seq = 0
        self._buf = bytearray(RECV_BUFFER)
        self._view = memoryview(self._buf)

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def join_group(self, group_id: int) -> None:
        self.sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, group_id)

    def request(
        self,
        msg_type: int,
        payload: bytes | bytearray,
        *,
        dump: bool = False,
        extra_flags: int = 0,
    ) -> list[Message]:
        """Send `payload` (what follows the netlink header) as one request."""
        buf = bytearray(NLMSG_HDRLEN)
        buf += payload
        return self.transact(msg_type, buf, dump=dump, extra_flags=extra_flags)

    def transact(
        self,
        msg_type: int,
        buf: bytearray,
        *,
        dump: bool = False,
        extra_flags: int = 0,
    ) -> list[Message]:
        """Send a request whose first 16 bytes are reserved for the netlink header (filled
        in here), and return its data replies (none for a plain ack).

        The request is sent from the caller's buffer as it is, so a caller holding key
        material in it can wipe it afterwards. Raises NetlinkRequestError when the kernel
        refused the request.
        """
        flags = NLM_F_REQUEST | (NLM_F_DUMP if dump else NLM_F_ACK) | extra_flags
        self._seq = seq = (self._seq + 1) & 0xFFFFFFFF or 1
        NLMSGHDR.pack_into(buf, 0, len(buf), msg_type, flags, seq, 0)
        self.sock.send(buf)
        replies: list[Message] = []
        data, view, unpack = self._buf, self._view, NLMSGHDR.unpack_from
        while True:
            n = self.sock.recv_into(data)  # retried on EINTR by Python itself (PEP 475)
            offset = 0
            while offset + NLMSG_HDRLEN <= n:
                length, mtype, mflags, mseq, _pid = unpack(data, offset)
                end = offset + length
                if length < NLMSG_HDRLEN or end > n:
                    raise ProtocolError(f"malformed netlink message (length {length})")
                if mseq == seq:
                    if mtype in (NLMSG_ERROR, NLMSG_DONE):
                        if end - offset < NLMSG_HDRLEN + _ERRNO.size:
                            raise ProtocolError("truncated netlink error message")
                        if _ERRNO.unpack_from(data, offset + NLMSG_HDRLEN)[0] == 0:
                            return replies
                        msg = Message(mtype, mflags, bytes(view[offset + NLMSG_HDRLEN : end]))
                        err, ext = parse_error(msg)
                        raise NetlinkRequestError(err, ext)
                    if mtype == NLMSG_OVERRUN:
                        raise ProtocolError("netlink reply overrun")
                    if mtype != NLMSG_NOOP:
                        replies.append(
                            Message(mtype, mflags, bytes(view[offset + NLMSG_HDRLEN : end]))
                        )
                offset = (end + 3) & ~3

    def receive(self, *, block: bool) -> list[Message]:
        """Read one datagram of unsolicited messages (notifications); [] if none waits.

        ENOBUFS (the receive buffer overflowed, so messages were dropped) propagates as
        OSError for the caller to report.
        """
        try:
            data = self._recv(0 if block else socket.MSG_DONTWAIT)
        except BlockingIOError:
            return []
        return split_messages(data)

    def _recv(self, flags: int) -> memoryview:
        n = self.sock.recv_into(self._buf, len(self._buf), flags)  # EINTR: retried (PEP 475)
        return self._view[:n]
