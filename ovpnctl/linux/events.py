"""The `peers` multicast listener.

Every subscriber gets every notification (including deletes it asked for itself), so
reading never takes an event from anyone else. The kernel drops notifications when the
listener's receive buffer is full and then fails the next read with ENOBUFS: with the
default buffer that happens when a link with a few hundred peers is deleted. The socket
therefore asks for 8 MiB (SO_RCVBUFFORCE; 900 notifications in one burst arrived
intact with that), and ENOBUFS is reported to the caller as lost events instead of being
swallowed.

Notifications are multicast in the network namespace of the peer's *transport socket*,
not of the interface: a listener sees the events of peers whose UDP/TCP socket was
created in its own namespace.
"""

from __future__ import annotations

import errno
import select
from typing import Any

from ovpnctl.linux.genl import decode_genl
from ovpnctl.linux.nlsock import NETLINK_GENERIC, NetlinkSocket

EVENT_RCVBUF = 8 << 20


class EventListener:
    def __init__(self, family_id: int, group_id: int, *, rcvbuf: int = EVENT_RCVBUF) -> None:
        self.family_id = family_id
        self.sock = NetlinkSocket(NETLINK_GENERIC, rcvbuf=rcvbuf)
        try:
            self.sock.join_group(group_id)
        except BaseException:
            self.sock.close()
            raise

    def close(self) -> None:
        self.sock.close()

    def wait(self, timeout: float | None) -> bool:
        """True when a notification (or an overflow report) is ready within `timeout` s."""
        readable, _, _ = select.select([self.sock.sock], [], [], timeout)
        return bool(readable)

    def drain(self) -> tuple[list[tuple[int, dict[str, Any]]], bool]:
        """Every notification already received, and whether some were dropped before."""
        out: list[tuple[int, dict[str, Any]]] = []
        lost = False
        while True:
            try:
                messages = self.sock.receive(block=False)
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise
                lost = True
                continue
            if not messages:
                return out, lost
            for msg in messages:
                if msg.type == self.family_id:
                    out.append(decode_genl(msg.payload))
