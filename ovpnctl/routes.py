"""Routes and pf policy routing toward a peer's tunnel address.

In multipoint mode both kernels pick the peer for a packet from routing: FreeBSD matches the
destination (or the route's gateway) against each peer's `vpn_ipv4`/`vpn_ipv6`; Linux uses
the route's next hop. So "send 10.1.0.0/16 to peer 3" is a route via peer 3's VPN address.
Rendering is pure (argv lists and pf text, unit-tested anywhere); executing goes through a
`Runner`, so tests and dry runs never touch the host.

pf caveat (FreeBSD, sheet §4.6): pf's IPv6 route-to hands if_ovpn the route-to gateway, which
then selects the peer; the current IPv4 route-to path passes a route structure, so with
several peers the packet's own destination (and the routing table) decides. Pair an IPv4
route-to rule with a route via the same peer, as the rendered anchor's header says.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from ovpnctl.endpoint import IPAddress, IPNetwork
from ovpnctl.errors import BackendUnavailableError, KernelError, ValidationError

System = Literal["freebsd", "linux"]
Action = Literal["add", "delete"]

_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
_ANCHOR = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*$")


def parse_network(text: str, what: str = "destination") -> IPNetwork:
    """`10.1.0.0/16`, `2001:db8::/64`, or a bare address (a host route)."""
    try:
        return ipaddress.ip_network(text.strip(), strict=True)
    except ValueError as exc:
        raise ValidationError(f"{what} {text!r} is not a network ({exc})") from None


def _check_ifname(name: str) -> str:
    if not _IFNAME.match(name):
        raise ValidationError(f"interface name {name!r} is not valid")
    return name


@dataclass(frozen=True, slots=True)
class Route:
    """`destination` reached through `interface`, via a peer's VPN address when given."""

    destination: IPNetwork
    interface: str
    gateway: IPAddress | None = None

    def __post_init__(self) -> None:
        _check_ifname(self.interface)
        if self.gateway is not None and self.gateway.version != self.destination.version:
            raise ValidationError(
                f"route to {self.destination} via {self.gateway}: address families differ"
            )

    @property
    def is_host(self) -> bool:
        return self.destination.prefixlen == self.destination.max_prefixlen


def render_freebsd(route: Route, action: Action = "add") -> list[str]:
    """route(8): `route add -net X -iface ovpn0` or `route add -net X <peer vpn address>`."""
    argv = ["route", "-q", action]
    if route.destination.version == 6:
        argv.append("-inet6")
    if route.is_host:
        argv += ["-host", str(route.destination.network_address)]
    else:
        argv += ["-net", str(route.destination)]
    if route.gateway is None:
        argv += ["-iface", route.interface]
    else:
        argv.append(str(route.gateway))
    return argv


def render_linux(route: Route, action: Action = "add") -> list[str]:
    """ip-route(8): `ip route add X dev ovpn0 [via <peer vpn address>]`."""
    argv = ["ip"]
    if route.destination.version == 6:
        argv.append("-6")
    argv += ["route", "del" if action == "delete" else "add", str(route.destination)]
    if route.gateway is not None:
        argv += ["via", str(route.gateway)]
    argv += ["dev", route.interface]
    return argv


def render_route(route: Route, system: System, action: Action = "add") -> list[str]:
    return render_freebsd(route, action) if system == "freebsd" else render_linux(route, action)


@dataclass(frozen=True, slots=True)
class PolicyRoute:
    """Send matching traffic to one peer with pf `route-to (interface gateway)`.

    `arriving_on` limits the rule to traffic entering on that interface (a LAN); without it
    the rule matches outbound traffic.
    """

    interface: str
    gateway: IPAddress
    source: IPNetwork | None = None
    destination: IPNetwork | None = None
    arriving_on: str | None = None

    def __post_init__(self) -> None:
        _check_ifname(self.interface)
        if self.arriving_on is not None:
            _check_ifname(self.arriving_on)
        for net, what in ((self.source, "source"), (self.destination, "destination")):
            if net is not None and net.version != self.gateway.version:
                raise ValidationError(
                    f"{what} {net} and gateway {self.gateway} are of different address families"
                )


def render_pf_rule(rule: PolicyRoute) -> str:
    direction = f"pass in quick on {rule.arriving_on}" if rule.arriving_on else "pass out quick"
    family = "inet" if rule.gateway.version == 4 else "inet6"
    source = str(rule.source) if rule.source else "any"
    destination = str(rule.destination) if rule.destination else "any"
    return (
        f"{direction} route-to ({rule.interface} {rule.gateway}) {family} "
        f"from {source} to {destination} keep state"
    )


def render_pf_anchor(rules: Sequence[PolicyRoute]) -> str:
    """pf.conf text for an anchor, with the IPv4 caveat where it applies."""
    lines = ["# generated by ovpnctl: policy routing to OpenVPN DCO peers"]
    if any(r.gateway.version == 4 for r in rules):
        lines.append("# IPv4 route-to: with several peers the packet's destination picks the peer;")
        lines.append("# also route the destination via the same peer's VPN address.")
    lines += [render_pf_rule(r) for r in rules]
    return "\n".join(lines) + "\n"


def check_anchor(anchor: str) -> str:
    """pf anchor path; names starting with '_' are reserved by pf."""
    if not _ANCHOR.match(anchor):
        raise ValidationError(
            f"pf anchor {anchor!r} is not valid (letters, digits, '_', '.', '-', '/' separated)"
        )
    return anchor


# -- execution ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunResult:
    returncode: int
    stdout: str = ""
    stderr: str = ""


class Runner(Protocol):
    def __call__(self, argv: Sequence[str], *, stdin: str | None = None) -> RunResult: ...


def subprocess_runner(argv: Sequence[str], *, stdin: str | None = None) -> RunResult:
    """Run a system tool; its absence is a BackendUnavailableError, not a traceback."""
    try:
        done = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise BackendUnavailableError(f"{argv[0]}: command not found") from None
    return RunResult(done.returncode, done.stdout, done.stderr)


def run(argv: Sequence[str], runner: Runner, *, stdin: str | None = None) -> RunResult:
    result = runner(argv, stdin=stdin)
    if result.returncode != 0:
        detail = result.stderr.strip().splitlines()[-1:] or [f"exit status {result.returncode}"]
        raise KernelError(f"{' '.join(argv)} failed: {detail[0]}", command=argv[0])
    return result


def current_system() -> System:
    platform: str = sys.platform
    if platform.startswith("freebsd"):
        return "freebsd"
    if platform.startswith("linux"):
        return "linux"
    raise BackendUnavailableError(f"no route management for {platform}")


def add_route(
    route: Route, *, system: System | None = None, runner: Runner = subprocess_runner
) -> None:
    run(render_route(route, system or current_system(), "add"), runner)


def delete_route(
    route: Route, *, system: System | None = None, runner: Runner = subprocess_runner
) -> None:
    run(render_route(route, system or current_system(), "delete"), runner)


def load_pf_anchor(
    anchor: str, rules: Sequence[PolicyRoute], *, runner: Runner = subprocess_runner
) -> None:
    """`pfctl -a ANCHOR -f -`: replaces the anchor's rules (only when the caller asks)."""
    run(["pfctl", "-a", check_anchor(anchor), "-f", "-"], runner, stdin=render_pf_anchor(rules))
