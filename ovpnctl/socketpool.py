"""The transport sockets a config's peers ride on, opened once and held while needed.

Who must hold a peer's socket differs by kernel (see the backends' capabilities):

* Linux removes every peer of a socket as soon as its last descriptor closes, so the
  process that added the peers must keep the socket for as long as the tunnel lives —
  the `up` supervisor, or a test. A pool made with `holds_tunnel=False` (a one-shot
  `apply`) therefore refuses to hand out sockets there, and `plan` says why.
* FreeBSD keeps its own reference, but accepts exactly one socket per interface: only
  the first peer's socket, or a new one once the interface has no peers. A one-shot
  `apply` may open it; adding peers later needs the process that still has it.

One UDP socket per `listen` address (shared by all peers that use it) and one connected
TCP socket per peer. TCP connections are made elsewhere (the `up` supervisor dials and
accepts; see ovpnctl.supervisor.tcplinks) and *offered* here: a plan adds a TCP peer
only once its connection waits in the pool, so applying never blocks on the network.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Callable

from ovpnctl.endpoint import Endpoint
from ovpnctl.errors import KernelError
from ovpnctl.sockets import open_udp_socket


class SocketPool:
    def __init__(
        self,
        *,
        holds_tunnel: bool,
        on_open: Callable[[socket.socket], object] | None = None,
    ) -> None:
        """`holds_tunnel`: this process stays alive for as long as the peers should.

        `on_open` sees every new socket (tests register it with a kernel model).
        """
        self.holds_tunnel = holds_tunnel
        self._on_open = on_open
        self._udp: dict[Endpoint, socket.socket] = {}
        self._tcp: dict[tuple[str, int], socket.socket] = {}  # (ifname, peer id): in use
        self._ready: dict[tuple[str, int], socket.socket] = {}  # connected, not yet added

    def has_udp(self, listen: Endpoint) -> bool:
        return listen in self._udp

    def udp(self, listen: Endpoint) -> socket.socket:
        """The UDP socket bound to `listen`, opened on first use."""
        sock = self._udp.get(listen)
        if sock is None:
            dual = listen.family == 6 and listen.address == ipaddress.IPv6Address("::")
            sock = open_udp_socket(listen, dual_stack=dual)
            self._opened(sock)
            self._udp[listen] = sock
        return sock

    def offer_tcp(self, ifname: str, peer_id: int, sock: socket.socket) -> None:
        """A connection made (or accepted) for a peer, waiting for the next apply to hand
        it to the kernel. A newer offer replaces an older one still waiting."""
        old = self._ready.pop((ifname, peer_id), None)
        if old is not None:
            old.close()
        self._opened(sock)
        self._ready[(ifname, peer_id)] = sock

    def tcp_ready(self, ifname: str, peer_id: int) -> socket.socket | None:
        """The waiting connection of a peer, if any (still owned by the pool)."""
        return self._ready.get((ifname, peer_id))

    def take_tcp(self, ifname: str, peer_id: int) -> socket.socket:
        """The waiting connection, now carrying the peer: held until `drop_tcp`."""
        sock = self._ready.pop((ifname, peer_id), None)
        if sock is None:
            raise KernelError(
                f"peer {peer_id}: its TCP connection is gone (closed before it was added)",
                errno=errno.ENOTCONN,
                command="add_peer",
            )
        self._tcp[(ifname, peer_id)] = sock
        return sock

    def tcp_peers(self, ifname: str) -> set[int]:
        """Peers whose connection the kernel was given (and this pool still holds)."""
        return {pid for name, pid in self._tcp if name == ifname}

    def drop_tcp(self, ifname: str, peer_id: int) -> None:
        """Close a peer's connection, in use or waiting."""
        for table in (self._tcp, self._ready):
            sock = table.pop((ifname, peer_id), None)
            if sock is not None:
                sock.close()

    def close_unused(self, listen: set[Endpoint]) -> None:
        """Close UDP sockets whose address is no longer configured."""
        for endpoint in list(self._udp):
            if endpoint not in listen:
                self._udp.pop(endpoint).close()

    def sockets(self) -> list[socket.socket]:
        return [*self._udp.values(), *self._tcp.values(), *self._ready.values()]

    def close(self) -> None:
        for sock in self.sockets():
            sock.close()
        self._udp.clear()
        self._tcp.clear()
        self._ready.clear()

    def _opened(self, sock: socket.socket) -> None:
        if self._on_open is not None:
            self._on_open(sock)
