"""FreeBSD addresses and routes through ifconfig(8), route(8) and netstat(1).

These tools are in every FreeBSD base system and their behaviour is the documented
interface; calling them keeps this module small and leaves the routing-socket details to
the system. route(8) argv and the netstat reading come from `ovpnctl.routes`, which the
`ovpnctl route` commands use too (what they were checked against is said there). Every
tool runs through a `Runner`, so tests put a model of the tools in their place.

p2p mode: if_ovpn in p2p mode is IFF_POINTOPOINT, and the kernel installs no prefix
route for an address without a destination on such an interface, so for an address
with a prefix shorter than a host route this module adds (and removes) the connected
route to the prefix itself. In mp mode (IFF_BROADCAST) the kernel does it.
"""

from __future__ import annotations

import errno
import ipaddress
import re
import sys
from collections.abc import Sequence

from ovpnctl.endpoint import IPAddress, IPInterface, IPNetwork
from ovpnctl.errors import BackendUnavailableError, KernelError, RollbackError
from ovpnctl.hostnet import HostNetwork, Route
from ovpnctl.model import Mode
from ovpnctl.routes import (
    Action,
    NetstatRoute,
    Runner,
    RunResult,
    failure_detail,
    freebsd_routes,
    render_freebsd,
    subprocess_runner,
)
from ovpnctl.routes import Route as SystemRoute

IFCONFIG = "/sbin/ifconfig"
TOOL_TIMEOUT = 30.0  # seconds; these tools answer at once unless the system is wedged

_INET = re.compile(r"^\s+inet (\S+)(?: --> \S+)? netmask (0x[0-9a-f]+)", re.MULTILINE)
_INET6 = re.compile(r"^\s+inet6 (\S+)(?: --> \S+)? prefixlen (\d+)", re.MULTILINE)
_NO_INTERFACE = "does not exist"  # ifconfig: interface ovpn9 does not exist
# route.c newroute()'s status line (stdout) for EEXIST and ESRCH, in every build; the
# routing-socket build's extra stderr warning is not needed.
_EXISTS = "route already in table"
_MISSING = "not in table"


def freebsd_tools(argv: Sequence[str], *, stdin: str | None = None) -> RunResult:
    """The real tools, on FreeBSD only: other systems have tools of the same names with
    other meanings."""
    platform: str = sys.platform
    if not platform.startswith("freebsd"):
        raise BackendUnavailableError(
            f"FreeBSD host networking ({argv[0]}) cannot run on {platform}"
        )
    return subprocess_runner(argv, stdin=stdin, timeout=TOOL_TIMEOUT)


class FreeBSDHostNetwork(HostNetwork):
    name = "freebsd"

    def __init__(self, runner: Runner = freebsd_tools) -> None:
        self._runner = runner

    def addresses(self, ifname: str) -> list[IPInterface]:
        result = self._runner([IFCONFIG, ifname])
        if result.returncode != 0:
            if _NO_INTERFACE in result.stderr:
                return []
            raise KernelError(f"ifconfig {ifname}: {failure_detail(result)}", command="ifconfig")
        out: list[IPInterface] = []
        for address, mask in _INET.findall(result.stdout):
            prefix = bin(int(mask, 16)).count("1")
            out.append(ipaddress.ip_interface(f"{address}/{prefix}"))
        for address, prefix in _INET6.findall(result.stdout):
            found = ipaddress.ip_interface(f"{address}/{prefix}")
            if not found.ip.is_link_local:  # fe80::N%IF: the kernel's own, never configured
                out.append(found)
        return out

    def add_address(self, ifname: str, address: IPInterface, mode: Mode) -> None:
        family = "inet" if address.version == 4 else "inet6"
        self._ifconfig([IFCONFIG, ifname, family, str(address), "alias"])
        if not self._needs_prefix_route(address, mode):
            return
        try:
            self._route("add", ifname, Route(address.network))
        except KernelError as failure:
            try:
                self._ifconfig([IFCONFIG, ifname, family, str(address.ip), "-alias"])
            except KernelError as undo:
                raise RollbackError(
                    f"{failure.message}, but removing {address} again failed: {undo.message}"
                ) from failure
            raise

    def del_address(self, ifname: str, address: IPInterface, mode: Mode) -> None:
        family = "inet" if address.version == 4 else "inet6"
        if self._needs_prefix_route(address, mode):
            self._route("delete", ifname, Route(address.network), missing_ok=True)
        self._ifconfig([IFCONFIG, ifname, family, str(address.ip), "-alias"])

    @staticmethod
    def _needs_prefix_route(address: IPInterface, mode: Mode) -> bool:
        return mode is Mode.P2P and address.network.prefixlen < address.max_prefixlen

    def routes(self, ifname: str) -> list[Route]:
        found = {_as_route(entry) for entry in freebsd_routes(ifname, self._runner)}
        return sorted((r for r in found if r is not None), key=Route.sort_key)

    def add_route(self, ifname: str, route: Route) -> None:
        self._route("add", ifname, route)

    def del_route(self, ifname: str, route: Route) -> None:
        self._route("delete", ifname, route)

    def _route(
        self, action: Action, ifname: str, route: Route, *, missing_ok: bool = False
    ) -> None:
        argv = render_freebsd(SystemRoute(route.network, ifname, route.via), action)
        result = self._runner(argv)
        if result.returncode == 0:
            return
        if missing_ok and _MISSING in result.stdout:
            return
        code = errno.EEXIST if _EXISTS in result.stdout else None
        raise KernelError(
            f"route {action} {route} on {ifname}: {failure_detail(result)}",
            errno=code,
            command=f"route-{action}",
        )

    def _ifconfig(self, argv: Sequence[str]) -> None:
        result = self._runner(argv)
        if result.returncode != 0:
            raise KernelError(f"{' '.join(argv[1:])}: {failure_detail(result)}", command="ifconfig")


def _as_route(found: NetstatRoute) -> Route | None:
    """A netstat rt-entry as a Route, or None for what ovpnctl never manages (IPv6
    link-local and multicast prefixes, the only destinations netstat writes with a zone)."""
    entry = found.entry
    destination = str(entry.get("destination", ""))
    try:
        if destination == "default":
            network: IPNetwork = ipaddress.ip_network("0.0.0.0/0" if found.version == 4 else "::/0")
        else:
            network = ipaddress.ip_network(destination, strict=False)
        if network.version == 6 and (network.is_link_local or network.is_multicast):
            return None
        via: IPAddress | None = None
        if "G" in str(entry.get("flags", "")):
            # A link-local gateway carries its zone ("fe80::1%ovpn0"); the Route does not.
            via = ipaddress.ip_address(str(entry.get("gateway", "")).partition("%")[0])
    except ValueError:
        raise KernelError(f"netstat: unexpected route entry {entry!r}", command="netstat") from None
    return Route(network, via)
