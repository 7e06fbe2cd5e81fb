"""UDP sockets for the data channel: opening them, and checking one before a kernel sees it.

FreeBSD takes a peer's socket as a descriptor number in an nvlist and trusts it: a socket
that is not bound gives EINVAL, a TCP socket EPROTOTYPE, and a non-IP datagram socket
(AF_LOCAL, socketpair) reaches a kernel panic. So every socket is checked here, from the
kernel's own answers (getsockname, SO_TYPE), before any request carries its number.

Dual stack: an IPv6 socket bound to `::` with IPV6_V6ONLY off also serves IPv4 peers, but
the kernel then needs their addresses in the `::ffff:a.b.c.d` form; `endpoints_for_socket`
does that conversion (and its reverse for plain IPv4 sockets).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

from ovpnctl.endpoint import Endpoint
from ovpnctl.errors import ExitCode, KernelError, ValidationError

IP_FAMILIES: dict[int, int] = {socket.AF_INET: 4, socket.AF_INET6: 6}


@dataclass(frozen=True, slots=True)
class SocketInfo:
    """What the kernel will see of a socket: family, type, bound address, v6-only flag."""

    fd: int
    family: int  # this OS's AF_INET / AF_INET6
    local: Endpoint
    v6only: bool | None  # None for AF_INET

    @property
    def ip_version(self) -> int:
        return IP_FAMILIES[self.family]


def open_udp_socket(local: Endpoint, *, dual_stack: bool = False) -> socket.socket:
    """A UDP socket bound to `local` (port 0 = any free port).

    `dual_stack` needs the unspecified IPv6 address `::`: the socket then also carries
    IPv4 peers (as `::ffff:a.b.c.d`). Without it, IPv6 sockets are IPv6-only, so a
    sysctl default cannot silently change which peers reach the interface.
    """
    local = local.unmapped()
    if dual_stack and not (local.family == 6 and local.address.is_unspecified):
        raise ValidationError(
            f"a dual-stack socket must be bound to [::]:PORT, not {local} "
            "(only the IPv6 wildcard address accepts IPv4 traffic)"
        )
    family = socket.AF_INET if local.family == 4 else socket.AF_INET6
    sock = socket.socket(family, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if dual_stack else 1)
        sock.bind(local.sockaddr())
    except OSError as exc:
        sock.close()
        exit_code = ExitCode.DATAERR if exc.errno is not None else ExitCode.OSERR
        raise KernelError(
            f"cannot bind a UDP socket to {local}: {exc.strerror or exc}",
            errno=exc.errno,
            command="bind",
            exit_code=exit_code,
        ) from None
    return sock


def check_peer_socket(sock: socket.socket) -> SocketInfo:
    """Refuse anything but a bound AF_INET/AF_INET6 UDP socket, before a kernel sees it."""
    fd = sock.fileno()
    if fd < 0:
        raise ValidationError("the peer's socket is closed")
    try:
        sock_type = sock.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE)
        name = sock.getsockname()
    except OSError as exc:
        raise ValidationError(f"descriptor {fd} is not a usable socket ({exc.strerror})") from None
    family = _family_of(sock, name)
    if family not in IP_FAMILIES:
        raise ValidationError(
            f"descriptor {fd} is not an IPv4/IPv6 socket; the kernel needs a bound UDP socket "
            "(a non-IP socket would crash FreeBSD)"
        )
    if sock_type != socket.SOCK_DGRAM:
        raise ValidationError(
            f"descriptor {fd} is not a UDP socket; FreeBSD offloads UDP transports only"
        )
    protocol = _protocol_of(sock)
    if protocol not in (0, socket.IPPROTO_UDP):
        raise ValidationError(
            f"descriptor {fd} is a datagram socket of protocol {protocol}, not UDP"
        )
    host, port = name[0], name[1]
    if port == 0:
        raise ValidationError(
            f"descriptor {fd} is not bound to a port; bind the UDP socket before adding a peer"
        )
    scope = name[3] if family == socket.AF_INET6 else 0
    local = Endpoint(ipaddress.ip_address(host.split("%", 1)[0]), port, scope)
    v6only = None
    if family == socket.AF_INET6:
        v6only = bool(sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY))
    return SocketInfo(fd, family, local, v6only)


def endpoints_for_socket(
    info: SocketInfo, remote: Endpoint, local: Endpoint | None
) -> tuple[Endpoint, Endpoint | None]:
    """`remote`/`local` written the way the kernel accepts them on this socket.

    IPv4 socket: IPv4 only (a `::ffff:` address is unmapped). IPv6 socket: IPv4 addresses
    become `::ffff:a.b.c.d` when the socket is dual-stack, and are refused when v6-only.
    """
    converted = [_for_socket(info, ep, what) for ep, what in ((remote, "remote"), (local, "local"))]
    new_remote, new_local = converted
    assert new_remote is not None
    return new_remote, new_local


def _for_socket(info: SocketInfo, ep: Endpoint | None, what: str) -> Endpoint | None:
    if ep is None:
        return None
    plain = ep.unmapped()
    if info.family == socket.AF_INET:
        if plain.family != 4:
            raise ValidationError(
                f"{what} {ep} is IPv6 but the socket (bound to {info.local}) is IPv4"
            )
        return plain
    if plain.family == 4:
        if info.v6only:
            raise ValidationError(
                f"{what} {ep} is IPv4 but the socket (bound to {info.local}) is IPv6-only; "
                "bind a dual-stack socket on [::] or an IPv4 one"
            )
        return plain.mapped()
    return ep


def _family_of(sock: socket.socket, name: object) -> int:
    """The family as the kernel reports it (the sockname's shape), not just as Python recorded."""
    if isinstance(name, tuple) and len(name) == 2 and isinstance(name[0], str):
        return socket.AF_INET
    if isinstance(name, tuple) and len(name) == 4 and isinstance(name[0], str):
        return socket.AF_INET6
    return -1 if sock.family in IP_FAMILIES else int(sock.family)


def _protocol_of(sock: socket.socket) -> int:
    option = getattr(socket, "SO_PROTOCOL", None)
    if option is None:
        return sock.proto
    try:
        return sock.getsockopt(socket.SOL_SOCKET, option)
    except OSError:
        return sock.proto
