"""The peer's transport socket, checked before its descriptor goes into PEER_NEW.

The kernel accepts more than works: an unbound UDP socket (the peer then sends from a
random port nobody expects), an IPv4 socket given an IPv6 remote, and it answers an
unconnected TCP socket or a foreign socket type only with a bare "cannot encapsulate
socket: -22". Reading the socket's own state (SO_TYPE, SO_PROTOCOL, getsockname,
getpeername) turns each of these into a sentence before any request is sent.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

from ovpnctl.endpoint import Endpoint
from ovpnctl.errors import ValidationError
from ovpnctl.model import PeerConfig, Transport

_IP_FAMILIES = (socket.AF_INET, socket.AF_INET6)


@dataclass(frozen=True, slots=True)
class SocketInfo:
    fd: int
    transport: Transport
    family: int
    local: Endpoint
    remote: Endpoint | None  # TCP: the connected peer
    v6only: bool | None  # None for IPv4 sockets


def inspect_socket(sock: socket.socket, peer_id: int) -> SocketInfo:
    fd = sock.fileno()
    what = f"peer {peer_id}"
    if fd < 0:
        raise ValidationError(f"{what}: the socket is closed")
    try:
        sock_type = sock.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE)
        protocol = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL)
        family = sock.getsockopt(socket.SOL_SOCKET, socket.SO_DOMAIN)
    except OSError as exc:
        raise ValidationError(
            f"{what}: descriptor {fd} is not a usable socket ({exc.strerror})"
        ) from None
    if family not in _IP_FAMILIES:
        raise ValidationError(f"{what}: descriptor {fd} is not an IPv4/IPv6 socket")
    if sock_type == socket.SOCK_DGRAM and protocol == socket.IPPROTO_UDP:
        transport = Transport.UDP
    elif sock_type == socket.SOCK_STREAM and protocol == socket.IPPROTO_TCP:
        transport = Transport.TCP
    else:
        raise ValidationError(
            f"{what}: descriptor {fd} is neither a UDP nor a TCP socket; the ovpn driver "
            "carries OpenVPN over UDP or TCP only"
        )
    local = Endpoint.from_sockaddr(sock.getsockname())
    remote = None
    if transport is Transport.TCP:
        try:
            remote = Endpoint.from_sockaddr(sock.getpeername())
        except OSError as exc:
            if exc.errno != errno.ENOTCONN:
                raise
            raise ValidationError(
                f"{what}: the TCP socket is not connected; connect (or accept) it before "
                "adding the peer"
            ) from None
    elif local.port == 0:
        raise ValidationError(
            f"{what}: the UDP socket is not bound to a port; bind it before adding the peer "
            "(otherwise the kernel sends from a random port)"
        )
    v6only = None
    if family == socket.AF_INET6:
        v6only = bool(sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY))
    return SocketInfo(fd, transport, family, local, remote, v6only)


def check_peer_for_socket(peer: PeerConfig, info: SocketInfo) -> PeerConfig:
    """The PeerConfig as it must be sent on this socket, or a ValidationError.

    TCP: the socket is connected, so the kernel takes no remote; a remote given anyway
    must be the connected one and is then dropped. UDP: a remote is required and must be
    of an IP version the socket can reach.
    """
    if info.transport is Transport.TCP:
        if peer.remote is not None and (
            peer.remote.unmapped().address != info.remote.unmapped().address  # type: ignore[union-attr]
            or peer.remote.port != info.remote.port  # type: ignore[union-attr]
        ):
            raise ValidationError(
                f"peer {peer.peer_id}: the remote {peer.remote} differs from the address the "
                f"TCP socket is connected to ({info.remote})"
            )
        return PeerConfig(
            peer.peer_id,
            None,
            vpn_ipv4=peer.vpn_ipv4,
            vpn_ipv6=peer.vpn_ipv6,
            keepalive=peer.keepalive,
        )
    if peer.remote is None:
        raise ValidationError(f"peer {peer.peer_id}: a UDP peer needs a remote address")
    remote_version = peer.remote.unmapped().family
    if info.family == socket.AF_INET and remote_version == 6:
        raise ValidationError(
            f"peer {peer.peer_id}: the remote {peer.remote} is IPv6 but the socket (bound to "
            f"{info.local}) is IPv4"
        )
    if info.family == socket.AF_INET6 and remote_version == 4 and info.v6only:
        raise ValidationError(
            f"peer {peer.peer_id}: the remote {peer.remote} is IPv4 but the socket (bound to "
            f"{info.local}) is IPv6-only"
        )
    if peer.local is not None and peer.local.port not in (0, info.local.port):
        raise ValidationError(
            f"peer {peer.peer_id}: local port {peer.local.port} differs from the port the "
            f"socket is bound to ({info.local.port}); the kernel sends from the socket's port"
        )
    return peer
