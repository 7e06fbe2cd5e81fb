"""Transport endpoints (address, port, IPv6 scope) as both kernels need them.

Both kernels take addresses as raw network-order bytes and ports in network order, and
both silently misroute traffic when given something subtly wrong (a host-order port, a
Linux AF value on FreeBSD, a plain IPv4 remote on a dual-stack socket). Parsing once,
into one immutable value with the awkward cases resolved, keeps every backend honest.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

from ovpnctl.errors import ValidationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface

PORT_MAX = 0xFFFF


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An IP address, a UDP/TCP port and, for IPv6 link-local, a scope (interface index).

    `port == 0` is only meaningful for a local endpoint ("the socket's bound port").
    """

    address: IPAddress
    port: int
    scope_id: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.port <= PORT_MAX:
            raise ValidationError(f"port {self.port} is out of range (0-65535)")
        if self.scope_id and self.address.version == 4:
            raise ValidationError(f"{self.address} is IPv4 and cannot carry a scope id")
        if not 0 <= self.scope_id <= 0xFFFFFFFF:
            raise ValidationError(f"scope id {self.scope_id} is out of range")

    @classmethod
    def parse(
        cls, text: str, *, default_port: int | None = None, what: str = "address"
    ) -> Endpoint:
        """Parse `A.B.C.D:PORT`, `[V6]:PORT`, `[fe80::1%em0]:PORT` (scope by name or number).

        A bare address is accepted only when `default_port` is given. `what` names the
        option in error messages ("remote", "--local").
        """
        raw = text.strip()
        if not raw:
            raise ValidationError(f"{what}: empty address")
        host, port_text = _split_host_port(raw, what)
        if port_text is None:
            if default_port is None:
                raise ValidationError(f"{what} {raw!r}: missing port (write ADDRESS:PORT)")
            port = default_port
        else:
            if not _is_decimal(port_text):
                raise ValidationError(f"{what} {raw!r}: port {port_text!r} is not a number")
            port = int(port_text)
            if port > PORT_MAX:
                raise ValidationError(f"{what} {raw!r}: port {port} is out of range (0-65535)")
        scope_id = 0
        if "%" in host:
            host, scope = host.split("%", 1)
            scope_id = _parse_scope(scope, what, raw)
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            raise ValidationError(f"{what} {raw!r}: {host!r} is not an IP address") from None
        if scope_id and address.version == 4:
            raise ValidationError(f"{what} {raw!r}: a scope id needs an IPv6 address")
        return cls(address, port, scope_id)

    @property
    def family(self) -> int:
        """4 or 6, of the address as written (a v4-mapped address is 6)."""
        return self.address.version

    @property
    def is_v4_mapped(self) -> bool:
        return isinstance(self.address, ipaddress.IPv6Address) and (
            self.address.ipv4_mapped is not None
        )

    @classmethod
    def from_sockaddr(cls, name: tuple[object, ...]) -> Endpoint:
        """What getsockname/getpeername/accept return, as an Endpoint (scope kept)."""
        host = str(name[0]).split("%", 1)[0]
        address = ipaddress.ip_address(host)
        port = name[1]
        scope = name[3] if len(name) == 4 and address.version == 6 else 0
        assert isinstance(port, int) and isinstance(scope, int)
        return cls(address, port, scope)

    def unmapped(self) -> Endpoint:
        """The plain IPv4 form of a `::ffff:a.b.c.d` endpoint (both kernels treat it so)."""
        if isinstance(self.address, ipaddress.IPv6Address) and self.address.ipv4_mapped:
            return Endpoint(self.address.ipv4_mapped, self.port)
        return self

    def mapped(self) -> Endpoint:
        """The `::ffff:a.b.c.d` form, needed toward a dual-stack IPv6 socket on FreeBSD."""
        if isinstance(self.address, ipaddress.IPv4Address):
            return Endpoint(ipaddress.IPv6Address(f"::ffff:{self.address}"), self.port)
        return self

    @property
    def packed(self) -> bytes:
        """The address in network byte order (4 or 16 bytes)."""
        return self.address.packed

    def sockaddr(self) -> tuple[str, int] | tuple[str, int, int, int]:
        """The tuple Python's socket module takes for bind/connect/sendto."""
        if self.address.version == 4:
            return (str(self.address), self.port)
        return (str(self.address), self.port, 0, self.scope_id)

    def __str__(self) -> str:
        if self.address.version == 4:
            return f"{self.address}:{self.port}"
        scope = f"%{self.scope_id}" if self.scope_id else ""
        return f"[{self.address}{scope}]:{self.port}"


def _split_host_port(raw: str, what: str) -> tuple[str, str | None]:
    if raw.startswith("["):
        close = raw.find("]")
        if close < 0:
            raise ValidationError(f"{what} {raw!r}: missing ']' after the IPv6 address")
        host, rest = raw[1:close], raw[close + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise ValidationError(f"{what} {raw!r}: expected ':PORT' after ']'")
        return host, rest[1:]
    if raw.count(":") == 1:
        host, port = raw.split(":")
        return host, port
    # No colon (IPv4 or a name) or several (bare IPv6): no port given.
    return raw, None


def _is_decimal(text: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts e.g. Arabic-Indic digits, which int()
    would silently turn into a port or scope the user never wrote."""
    return text.isascii() and text.isdigit()


def _parse_scope(scope: str, what: str, raw: str) -> int:
    if _is_decimal(scope):
        return int(scope)
    try:
        return socket.if_nametoindex(scope)
    except OSError:
        raise ValidationError(
            f"{what} {raw!r}: no interface named {scope!r} for the scope"
        ) from None


def parse_vpn_address(text: str, version: int, what: str) -> IPAddress:
    """A tunnel (inner) address of the given IP version, refusing ones no peer can own."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        raise ValidationError(f"{what} {text!r} is not an IP address") from None
    if address.version != version:
        raise ValidationError(f"{what} {text!r} is not an IPv{version} address")
    if address.is_unspecified or address.is_multicast or address.is_loopback:
        raise ValidationError(f"{what} {text!r} cannot be a peer's tunnel address")
    if isinstance(address, ipaddress.IPv4Address) and address == ipaddress.IPv4Address(
        "255.255.255.255"
    ):
        raise ValidationError(f"{what} {text!r} cannot be a peer's tunnel address")
    return address
