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

FreeBSD's tools, checked in their sources (sbin/route/route.c, sbin/route/route_netlink.c,
sbin/route/keywords, usr.bin/netstat/route.c, usr.bin/netstat/route_netlink.c):

* route(8) argv is `route -n add|delete -inet|-inet6 (-host A | -net A/LEN) (GW | -interface IF)`.
  `-n` only stops name lookups. Not `-q`: in route.c `newroute()` it suppresses the per-fib
  status line ("add net ...: gateway ... fib 0: route already in table" / "...: not in table"),
  which goes to stdout and, with netlink (route.c `rtmsg()` -> route_netlink.c `rtmsg_nl()`
  returns the errno silently), is the only text an error produces; the exit status stays 1.
  The legacy routing-socket build (`rtmsg_rtsock()`) also warns on stderr ("route has not been
  found" for ESRCH, nothing for EEXIST). `-interface` and `-iface` are one keyword (K_INTERFACE /
  K_IFACE in `newroute()`); `-host` sets RTF_HOST (and drops an IPv6 netmask), so a
  full-length destination is written as a host.
* Routes are read from `netstat -rn -W --libxo json`: statistics > route-information >
  route-table > rt-family[] (`address-family` "Internet" / "Internet6", route.c `pr_family()`)
  > rt-entry[] with destination, gateway, flags, interface-name (`p_path()` /
  `p_rtentry_sysctl()`). `-W` because otherwise interface-name is printed with a
  12-character precision (`set_wid()`); an interface route's gateway is "link#N".
"""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Literal, Protocol

from ovpnctl.endpoint import IPAddress, IPNetwork
from ovpnctl.errors import BackendUnavailableError, KernelError, ValidationError

System = Literal["freebsd", "linux"]
Action = Literal["add", "delete"]
Version = Literal[4, 6]

# FreeBSD base-system tools by absolute path: a daemon may run with a bare PATH, and another
# `route` or `netstat` earlier in PATH would not speak this syntax.
FREEBSD_ROUTE = "/sbin/route"
FREEBSD_NETSTAT = "/usr/bin/netstat"
NETSTAT_ROUTES_JSON = (FREEBSD_NETSTAT, "-rn", "-W", "--libxo", "json")
_NETSTAT_FAMILIES: dict[str, Version] = {"Internet": 4, "Internet6": 6}

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
    """route(8): `route -n add -inet -net X <peer vpn address>` or `... -interface ovpn0`.

    The one FreeBSD route renderer: the `route` commands and the host networking behind
    `apply` both use it (words checked in route.c, see the module docstring).
    """
    family = "-inet" if route.destination.version == 4 else "-inet6"
    if route.is_host:
        target = ["-host", str(route.destination.network_address)]
    else:
        target = ["-net", str(route.destination)]
    via = ["-interface", route.interface] if route.gateway is None else [str(route.gateway)]
    return [FREEBSD_ROUTE, "-n", action, family, *target, *via]


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


def subprocess_runner(
    argv: Sequence[str], *, stdin: str | None = None, timeout: float | None = None
) -> RunResult:
    """Run a system tool; its absence is a BackendUnavailableError, not a traceback."""
    try:
        done = subprocess.run(
            list(argv), input=stdin, capture_output=True, text=True, check=False, timeout=timeout
        )
    except FileNotFoundError:
        raise BackendUnavailableError(f"{argv[0]}: command not found") from None
    except subprocess.TimeoutExpired:
        raise KernelError(
            f"{' '.join(argv)}: no answer within {timeout:g} s", command=_tool(argv)
        ) from None
    return RunResult(done.returncode, done.stdout, done.stderr)


def failure_detail(result: RunResult) -> str:
    """The line a failed tool explains itself with: the last of stderr, else of stdout.

    stdout counts because route(8) prints its status line there, and with netlink that line
    is all it says.
    """
    for text in (result.stderr, result.stdout):
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if lines:
            return lines[-1]
    return f"exit status {result.returncode}"


def _tool(argv: Sequence[str]) -> str:
    return PurePath(argv[0]).name


def run(argv: Sequence[str], runner: Runner, *, stdin: str | None = None) -> RunResult:
    result = runner(argv, stdin=stdin)
    if result.returncode != 0:
        raise KernelError(f"{' '.join(argv)} failed: {failure_detail(result)}", command=_tool(argv))
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


# -- reading FreeBSD's routing table ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NetstatRoute:
    """One rt-entry object exactly as netstat printed it, with the family it was listed under
    (an entry's "default" destination says nothing about its family)."""

    version: Version
    entry: dict[str, Any]


def parse_netstat_routes(text: str, interface: str) -> list[NetstatRoute]:
    """The rt-entry objects of `netstat -rn -W --libxo json` leaving through `interface`.

    Anything but the documented shape is a KernelError: guessing at routes would make
    `apply` add or delete the wrong ones.
    """
    unexpected = KernelError(
        f"{' '.join(NETSTAT_ROUTES_JSON)}: unexpected output", command="netstat"
    )
    try:
        families = json.loads(text)["statistics"]["route-information"]["route-table"].get(
            "rt-family", []
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise unexpected from None
    if not isinstance(families, list):
        raise unexpected
    out: list[NetstatRoute] = []
    for family in families:
        if not isinstance(family, dict) or not isinstance(family.get("address-family"), str):
            raise unexpected
        entries = family.get("rt-entry", [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise unexpected
        version = _NETSTAT_FAMILIES.get(family["address-family"])
        if version is None:
            continue  # not IP: nothing ovpnctl routes
        out += [NetstatRoute(version, e) for e in entries if e.get("interface-name") == interface]
    return out


def freebsd_routes(interface: str, runner: Runner) -> list[NetstatRoute]:
    """The routes leaving through `interface`, read with netstat(1)."""
    return parse_netstat_routes(run(NETSTAT_ROUTES_JSON, runner).stdout, _check_ifname(interface))
