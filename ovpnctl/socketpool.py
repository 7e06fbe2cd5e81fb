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
TCP socket per peer.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

from ovpnctl.endpoint import Endpoint
from ovpnctl.errors import KernelError
from ovpnctl.sockets import open_udp_socket

TCP_CONNECT_TIMEOUT = 15.0


class SocketPool:
    def __init__(
        self,
        *,
        holds_tunnel: bool,
        on_open: Callable[[socket.socket], object] | None = None,
        connect_timeout: float = TCP_CONNECT_TIMEOUT,
    ) -> None:
        """`holds_tunnel`: this process stays alive for as long as the peers should.

        `on_open` sees every new socket (tests register it with a kernel model).
        """
        self.holds_tunnel = holds_tunnel
        self._on_open = on_open
        self._connect_timeout = connect_timeout
        self._udp: dict[Endpoint, socket.socket] = {}
        self._tcp: dict[tuple[str, int], socket.socket] = {}  # (ifname, peer id)

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

    def tcp(
        self, ifname: str, peer_id: int, remote: Endpoint, bind: Endpoint | None
    ) -> socket.socket:
        """A TCP connection to `remote` for one peer (a new one each call)."""
        self.drop_tcp(ifname, peer_id)
        family = socket.AF_INET if remote.unmapped().family == 4 else socket.AF_INET6
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(self._connect_timeout)
            if bind is not None:
                sock.bind(bind.sockaddr())
            sock.connect(remote.unmapped().sockaddr())
            sock.settimeout(None)
        except OSError as exc:
            sock.close()
            raise KernelError(
                f"peer {peer_id}: cannot connect to {remote}: {exc.strerror or exc}",
                errno=exc.errno,
                command="connect",
            ) from None
        self._opened(sock)
        self._tcp[(ifname, peer_id)] = sock
        return sock

    def drop_tcp(self, ifname: str, peer_id: int) -> None:
        sock = self._tcp.pop((ifname, peer_id), None)
        if sock is not None:
            sock.close()

    def close_unused(self, listen: set[Endpoint]) -> None:
        """Close UDP sockets whose address is no longer configured."""
        for endpoint in list(self._udp):
            if endpoint not in listen:
                self._udp.pop(endpoint).close()

    def sockets(self) -> list[socket.socket]:
        return [*self._udp.values(), *self._tcp.values()]

    def close(self) -> None:
        for sock in self.sockets():
            sock.close()
        self._udp.clear()
        self._tcp.clear()

    def _opened(self, sock: socket.socket) -> None:
        if self._on_open is not None:
            self._on_open(sock)
