"""TCP peers' connections: dialled for `tcp = "connect"` peers, accepted for `"accept"` ones.

The kernel takes a TCP peer only as an already connected socket, and drops the peer
when the connection ends. So the supervisor, not a plan, owns the network waiting: this
module keeps a listening socket per address that accepting peers use and a dial per
connecting peer that has no connection, all non-blocking inside the supervisor's one
`select` loop. A finished connection is *offered* to the socket pool; the supervisor
then applies the config, and the plan adds exactly the peers whose connection waits.

Failed dials back off (doubling up to `retry_max`), as OpenVPN's connect-retry does, so
a far end that is down is not hammered. Which peer an incoming connection belongs to is
decided by its source address (the config's `remote`, any port when none is given),
since nothing else is known before the kernel starts decrypting.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import selectors
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from ovpnctl.config import TunnelConfig
from ovpnctl.config.schema import PeerSpec, TcpRole
from ovpnctl.endpoint import Endpoint
from ovpnctl.errors import KernelError
from ovpnctl.model import Transport
from ovpnctl.socketpool import SocketPool
from ovpnctl.supervisor.log import EventLog

RETRY_FIRST = 1.0
RETRY_MAX = 30.0
CONNECT_TIMEOUT = 15.0
LISTEN_BACKLOG = 16


@dataclass
class _Dial:
    """One connecting peer's dialling state."""

    peer: PeerSpec
    delay: float
    due: float  # monotonic time the next attempt may start
    sock: socket.socket | None = None  # an attempt in progress
    started: float = 0.0


class TcpLinks:
    def __init__(
        self,
        pool: SocketPool,
        log: EventLog,
        *,
        retry_first: float = RETRY_FIRST,
        retry_max: float = RETRY_MAX,
        connect_timeout: float = CONNECT_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pool = pool
        self.log = log
        self.retry_first = retry_first
        self.retry_max = retry_max
        self.connect_timeout = connect_timeout
        self.clock = clock
        self.ifname = ""
        self._accepting: list[PeerSpec] = []
        self._listeners: dict[Endpoint, socket.socket] = {}
        self._dials: dict[int, _Dial] = {}

    # -- configuration ---------------------------------------------------------------------
    def configure(self, config: TunnelConfig) -> None:
        """Listen where accepting peers connect and dial connecting peers; forget peers the
        config no longer has (their listeners close; their dials stop)."""
        self.ifname = config.interface
        tcp = config.transport is Transport.TCP
        peers = config.peers if tcp else ()
        self._accepting = [p for p in peers if p.tcp is TcpRole.ACCEPT]
        wanted = {p.listen for p in self._accepting if p.listen is not None}
        for endpoint in list(self._listeners):
            if endpoint not in wanted:
                self._listeners.pop(endpoint).close()
        for endpoint in sorted(wanted - set(self._listeners), key=str):
            self._listeners[endpoint] = self._listen(endpoint)
        connecting = {p.peer_id: p for p in peers if p.tcp is TcpRole.CONNECT}
        for peer_id in list(self._dials):
            dial = self._dials[peer_id]
            if connecting.get(peer_id) != dial.peer:
                self._abort(dial)
                del self._dials[peer_id]
        for peer_id, peer in connecting.items():
            if peer_id not in self._dials:
                now = self.clock()
                self._dials[peer_id] = _Dial(peer, delay=self.retry_first, due=now)

    def _listen(self, endpoint: Endpoint) -> socket.socket:
        family = socket.AF_INET if endpoint.family == 4 else socket.AF_INET6
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                dual = endpoint.address == ipaddress.IPv6Address("::")
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if dual else 1)
            sock.bind(endpoint.sockaddr())
            sock.listen(LISTEN_BACKLOG)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise KernelError(
                f"cannot listen for TCP peers on {endpoint}: {exc.strerror or exc}",
                errno=exc.errno,
                command="listen",
            ) from None
        self.log.emit("tcp-listening", interface=self.ifname, address=str(endpoint))
        return sock

    # -- the select loop ---------------------------------------------------------------------
    def register(self, selector: selectors.BaseSelector) -> None:
        for endpoint, sock in self._listeners.items():
            selector.register(sock, selectors.EVENT_READ, ("tcp-accept", endpoint))
        for peer_id, dial in self._dials.items():
            if dial.sock is not None:
                selector.register(dial.sock, selectors.EVENT_WRITE, ("tcp-dial", peer_id))

    @staticmethod
    def owns(data: object) -> bool:
        return isinstance(data, tuple) and data[0] in ("tcp-accept", "tcp-dial")

    def handle(self, data: tuple[str, object]) -> bool:
        """Finish what the selector reported; True when a connection was offered."""
        kind, what = data
        if kind == "tcp-accept":
            assert isinstance(what, Endpoint)
            return self._accept(what)
        assert isinstance(what, int)
        return self._finish_dial(what)

    def wait_hint(self, timeout: float | None) -> float | None:
        """`timeout`, shortened to when the next dial is due or an attempt times out."""
        now = self.clock()
        hints = [timeout] if timeout is not None else []
        for dial in self._dials.values():
            if dial.sock is not None:
                hints.append(dial.started + self.connect_timeout - now)
            elif self._wants_dial(dial):
                hints.append(dial.due - now)
        return max(0.0, min(hints)) if hints else None

    def tick(self) -> None:
        """Start the dials that are due and give up on attempts that took too long."""
        now = self.clock()
        for dial in self._dials.values():
            if dial.sock is not None:
                if now - dial.started >= self.connect_timeout:
                    self._abort(dial)
                    self._failed(dial, "timed out")
            elif self._wants_dial(dial) and now >= dial.due:
                self._start_dial(dial)

    def connected(self, peer_ids: set[int]) -> None:
        """These peers are in the kernel now: their next loss starts dialling afresh."""
        for peer_id in peer_ids:
            dial = self._dials.get(peer_id)
            if dial is not None:
                dial.delay = self.retry_first

    def refused(self) -> None:
        """The apply that should have added the waiting connections failed: close them
        (the far end sees the peer go) and let dials wait their back-off."""
        for peer_id in list(self._waiting()):
            self.pool.drop_tcp(self.ifname, peer_id)
            self.log.emit("tcp-closed", interface=self.ifname, peer=peer_id, reason="not added")

    def status(self) -> dict[str, list[int]]:
        connected = self.pool.tcp_peers(self.ifname)
        return {
            "connected": sorted(connected),
            "waiting": sorted(pid for pid in self._peer_ids() if pid not in connected),
        }

    def close(self) -> None:
        for sock in self._listeners.values():
            sock.close()
        self._listeners.clear()
        for dial in self._dials.values():
            self._abort(dial)
        self._dials.clear()

    # -- accepting -------------------------------------------------------------------------
    def _accept(self, endpoint: Endpoint) -> bool:
        listener = self._listeners.get(endpoint)
        if listener is None:
            return False
        try:
            sock, addr = listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return False
        source = Endpoint.from_sockaddr(addr)
        peer = next(
            (p for p in self._accepting if p.listen == endpoint and p.accepts(source)), None
        )
        reason = None
        if peer is None:
            reason = "matches no accepting peer"
        elif peer.peer_id in self.pool.tcp_peers(self.ifname):
            reason = f"peer {peer.peer_id} is already connected"
        if peer is None or reason is not None:
            sock.close()
            self.log.emit(
                "tcp-refused", level="warning", interface=self.ifname, source=str(source),
                address=str(endpoint), reason=reason,
            )  # fmt: skip
            return False
        sock.setblocking(True)
        self.pool.offer_tcp(self.ifname, peer.peer_id, sock)
        self.log.emit(
            "tcp-accepted", interface=self.ifname, peer=peer.peer_id, source=str(source),
            address=str(endpoint),
        )  # fmt: skip
        return True

    # -- dialling --------------------------------------------------------------------------
    def _wants_dial(self, dial: _Dial) -> bool:
        pid = dial.peer.peer_id
        return (
            pid not in self.pool.tcp_peers(self.ifname)
            and self.pool.tcp_ready(self.ifname, pid) is None
        )

    def _start_dial(self, dial: _Dial) -> None:
        peer = dial.peer
        remote = peer.remote.unmapped()
        family = socket.AF_INET if remote.family == 4 else socket.AF_INET6
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            if peer.listen is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(peer.listen.sockaddr())
            elif peer.local is not None:
                sock.bind(Endpoint(peer.local, 0).sockaddr())
            code = sock.connect_ex(remote.sockaddr())
        except OSError as exc:
            sock.close()
            self._failed(dial, exc.strerror or str(exc))
            return
        if code not in (0, errno.EINPROGRESS):
            sock.close()
            self._failed(dial, os.strerror(code))
            return
        dial.sock = sock
        dial.started = self.clock()

    def _finish_dial(self, peer_id: int) -> bool:
        dial = self._dials.get(peer_id)
        if dial is None or dial.sock is None:
            return False
        sock = dial.sock
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code != 0:
            self._abort(dial)
            self._failed(dial, os.strerror(code))
            return False
        dial.sock = None
        sock.setblocking(True)
        self.pool.offer_tcp(self.ifname, peer_id, sock)
        local = Endpoint.from_sockaddr(sock.getsockname())
        self.log.emit(
            "tcp-connected", interface=self.ifname, peer=peer_id, remote=str(dial.peer.remote),
            local=str(local),
        )  # fmt: skip
        # The next attempt, should this connection fail to become a peer, waits its turn.
        dial.due = self.clock() + dial.delay
        dial.delay = min(dial.delay * 2, self.retry_max)
        return True

    def _failed(self, dial: _Dial, why: str) -> None:
        dial.due = self.clock() + dial.delay
        self.log.emit(
            "tcp-connect-failed", level="warning", interface=self.ifname,
            peer=dial.peer.peer_id, remote=str(dial.peer.remote), error=why,
            retry_in=round(dial.delay, 1),
        )  # fmt: skip
        dial.delay = min(dial.delay * 2, self.retry_max)

    @staticmethod
    def _abort(dial: _Dial) -> None:
        if dial.sock is not None:
            with contextlib.suppress(OSError):
                dial.sock.close()
            dial.sock = None

    def _waiting(self) -> list[int]:
        ready = self.pool.tcp_ready
        return [pid for pid in self._peer_ids() if ready(self.ifname, pid) is not None]

    def _peer_ids(self) -> list[int]:
        """Every TCP peer of the config: accepting ones, then connecting ones."""
        return [p.peer_id for p in self._accepting] + list(self._dials)
