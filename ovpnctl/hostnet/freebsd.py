"""FreeBSD addresses and routes through ifconfig(8), route(8) and netstat(1).

These tools are in every FreeBSD base system and their behaviour is the documented
interface; calling them keeps this module small and leaves the routing-socket details to
the system. Route listings come from `netstat -rn --libxo json`, which is stable to
parse, rather than from scraping columns.

p2p mode: if_ovpn in p2p mode is IFF_POINTOPOINT, and the kernel installs no prefix
route for an address without a destination on such an interface, so for an address
with a prefix shorter than a host route this module adds (and removes) the connected
route to the prefix itself. In mp mode (IFF_BROADCAST) the kernel does it.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import re
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from ovpnctl.endpoint import IPInterface
from ovpnctl.errors import BackendUnavailableError, KernelError
from ovpnctl.hostnet import HostNetwork, Route
from ovpnctl.model import Mode

IFCONFIG = "/sbin/ifconfig"
ROUTE = "/sbin/route"
NETSTAT = "/usr/bin/netstat"
_INET = re.compile(r"^\s+inet (\S+)(?: --> \S+)? netmask (0x[0-9a-f]+)", re.MULTILINE)
_INET6 = re.compile(r"^\s+inet6 (\S+)(?: --> \S+)? prefixlen (\d+)", re.MULTILINE)
_EXISTS = ("already in table", "File exists")
_MISSING = ("not in table", "No such process")


class FreeBSDHostNetwork(HostNetwork):
    name = "freebsd"

    def addresses(self, ifname: str) -> list[IPInterface]:
        result = self._run([IFCONFIG, ifname], "ifconfig", check=False)
        if result.returncode != 0:
            return []  # "interface ... does not exist"
        out: list[IPInterface] = []
        for address, mask in _INET.findall(result.stdout):
            prefix = bin(int(mask, 16)).count("1")
            out.append(ipaddress.ip_interface(f"{address}/{prefix}"))
        for address, prefix in _INET6.findall(result.stdout):
            found = ipaddress.ip_interface(f"{address.split('%', 1)[0]}/{prefix}")
            if not found.ip.is_link_local:
                out.append(found)
        return out

    def add_address(self, ifname: str, address: IPInterface, mode: Mode) -> None:
        family = "inet" if address.version == 4 else "inet6"
        self._run([IFCONFIG, ifname, family, str(address), "alias"], "ifconfig")
        if self._needs_prefix_route(address, mode):
            try:
                self._route("add", ifname, Route(address.network))
            except KernelError:
                self._run([IFCONFIG, ifname, family, str(address.ip), "-alias"], "ifconfig")
                raise

    def del_address(self, ifname: str, address: IPInterface, mode: Mode) -> None:
        family = "inet" if address.version == 4 else "inet6"
        if self._needs_prefix_route(address, mode):
            self._route("delete", ifname, Route(address.network), missing_ok=True)
        self._run([IFCONFIG, ifname, family, str(address.ip), "-alias"], "ifconfig")

    @staticmethod
    def _needs_prefix_route(address: IPInterface, mode: Mode) -> bool:
        return mode is Mode.P2P and address.network.prefixlen < address.max_prefixlen

    def routes(self, ifname: str) -> list[Route]:
        result = self._run([NETSTAT, "-rn", "--libxo", "json"], "netstat")
        try:
            data = json.loads(result.stdout)
            families = data["statistics"]["route-information"]["route-table"]["rt-family"]
        except (ValueError, KeyError, TypeError):
            raise KernelError(
                "netstat -rn --libxo json: unexpected output", command="netstat"
            ) from None
        out: set[Route] = set()
        for family in families:
            for entry in family.get("rt-entry", []):
                route = _parse_entry(entry, ifname)
                if route is not None:
                    out.add(route)
        return sorted(out, key=Route.sort_key)

    def add_route(self, ifname: str, route: Route) -> None:
        self._route("add", ifname, route)

    def del_route(self, ifname: str, route: Route) -> None:
        self._route("delete", ifname, route)

    def _route(self, verb: str, ifname: str, route: Route, *, missing_ok: bool = False) -> None:
        family = "-inet" if route.network.version == 4 else "-inet6"
        argv = [ROUTE, "-n", verb, family, "-net", str(route.network)]
        argv += [str(route.via)] if route.via is not None else ["-interface", ifname]
        result = self._run(argv, f"route-{verb}", check=False)
        if result.returncode == 0:
            return
        text = (result.stderr or result.stdout).strip()
        if missing_ok and any(marker in text for marker in _MISSING):
            return
        code = errno.EEXIST if any(m in text for m in _EXISTS) else None
        raise KernelError(
            f"route {verb} {route} on {ifname}: {text}", errno=code, command=f"route-{verb}"
        )

    @staticmethod
    def _run(
        argv: Sequence[str], command: str, *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        platform: str = sys.platform
        if not platform.startswith("freebsd"):
            # Other systems have tools of the same names with other meanings.
            raise BackendUnavailableError(
                f"FreeBSD host networking ({argv[0]}) cannot run on {platform}"
            )
        try:
            result = subprocess.run(
                list(argv), capture_output=True, text=True, check=False, timeout=30
            )
        except FileNotFoundError:
            raise BackendUnavailableError(f"{argv[0]} not found (not a FreeBSD system?)") from None
        except subprocess.TimeoutExpired:
            raise KernelError(f"{' '.join(argv)}: timed out", command=command) from None
        if check and result.returncode != 0:
            text = (result.stderr or result.stdout).strip()
            raise KernelError(f"{' '.join(argv[1:])}: {text}", command=command)
        return result


def _parse_entry(entry: dict[str, Any], ifname: str) -> Route | None:
    if entry.get("interface-name") != ifname:
        return None
    destination = str(entry.get("destination", ""))
    if destination == "default":
        destination = "0.0.0.0/0" if "." in str(entry.get("gateway", "")) else "::/0"
    destination = destination.split("%", 1)[0]
    try:
        network = ipaddress.ip_network(destination, strict=False)
    except ValueError:
        return None
    if network.version == 6 and network.network_address.is_link_local:
        return None
    via = None
    if "G" in str(entry.get("flags", "")):
        try:
            via = ipaddress.ip_address(str(entry.get("gateway", "")).split("%", 1)[0])
        except ValueError:
            via = None
    return Route(network, via)
