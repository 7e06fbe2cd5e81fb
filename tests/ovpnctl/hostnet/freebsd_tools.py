"""A model of FreeBSD's ifconfig(8), route(8) and netstat(1) as ovpnctl runs them -- built
from their man pages and from FreeBSD's sources (sbin/ifconfig/af_inet.c, af_inet6.c;
sbin/route/route.c, route_netlink.c; usr.bin/netstat/route.c, route_netlink.c), not from a
FreeBSD machine, and not a stand-in for testing on one (tox -e freebsd does that).

It is a `Runner` (ovpnctl.routes) that answers exactly the argv forms ovpnctl sends and
fails the test on any other, so a changed command line shows here first. Behind it is a
small address and routing table:

* `ifconfig IF` prints the status format of af_inet.c / af_inet6.c:
  "\\tinet 10.8.0.1 netmask 0xffffff00 broadcast 10.8.0.255", on a point-to-point
  interface "\\tinet A --> D netmask 0x..." (D is 0.0.0.0 when the address has no
  destination, in_status), "\\tinet6 fe80::5%ovpn0 prefixlen 64 scopeid 0x5",
  "\\tinet6 2001:db8::1 prefixlen 64". A missing interface: "ifconfig: interface IF does
  not exist", exit 1.
* `ifconfig IF inet|inet6 A/LEN alias` adds the address with its host route on lo0 and,
  on a broadcast (mp) interface only, the connected prefix route; on a point-to-point (p2p)
  interface the kernel adds none for an address without a destination (the IPv6
  link-local prefix fe80::/64 is on-link on every interface). `-alias` removes
  address and kernel routes ("ioctl (SIOCDIFADDR): Can't assign requested address" when
  there is no such address).
* `route [-n] [-q] add|delete ...` follows route.c `newroute()`: the status line goes to
  stdout ("add net 10.1.0.0: gateway 10.8.0.7"; on failure "... fib 0: route already in
  table" or "... fib 0: not in table"), `-q` suppresses it while the exit status stays 1,
  an IPv4 destination is printed without its "/LEN" (`getaddr()` cuts the string and never
  puts the '/' back). `netlink=False` models the routing-socket build, whose
  `rtmsg_rtsock()` also warns on stderr ("route: route has not been found" for ESRCH,
  nothing for EEXIST). Kernel rules: a gateway must lie in a connected prefix, else
  ENETUNREACH; the same prefix with the same next hop is EEXIST, another next hop is a
  second path (route_netlink.c adds with NLM_F_APPEND); delete needs a matching path, else
  ESRCH; `-interface IF` with no such IF is route's own error (exit 65).
* `netstat -rn -W --libxo json` prints statistics > route-information > route-table >
  rt-family[] (address-family "Internet" / "Internet6") > rt-entry[] as route_netlink.c
  `p_path()` fills it: "link#N" as the gateway of a link route, flags as letters plus
  "flags_pretty", weight, nhop-kidx, nhop, mtu, interface-name; "default" for a
  zero-length prefix and "%zone" on IPv6 link-local destinations and gateways.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ovpnctl.endpoint import IPAddress, IPInterface, IPNetwork
from ovpnctl.hostnet.freebsd import IFCONFIG
from ovpnctl.routes import FREEBSD_ROUTE, NETSTAT_ROUTES_JSON, RunResult

# usr.bin/netstat/route.c rt_bits: flag letter and flags_pretty name, in netstat's order.
RT_BITS = (
    ("U", "up"),
    ("G", "gateway"),
    ("H", "host"),
    ("R", "reject"),
    ("D", "dynamic"),
    ("M", "modified"),
    ("d", "done"),
    ("X", "xresolve"),
    ("S", "static"),
    ("1", "proto1"),
    ("2", "proto2"),
    ("3", "proto3"),
    ("B", "blackhole"),
    ("b", "broadcast"),
)
# route.c newroute(): the words of the status line for an errno (others: strerror).
ROUTE_ERRMSG = {
    errno.ESRCH: "not in table",
    errno.EBUSY: "entry in use",
    errno.ENOBUFS: "not enough memory",
    errno.EADDRINUSE: "gateway uses the same route",
    errno.EEXIST: "route already in table",
}
EX_DATAERR = 65
EX_NOHOST = 68
LOOPBACK = "lo0"


@dataclass
class Address:
    interface: IPInterface
    destination: IPAddress | None = None  # the far end, on a point-to-point interface


@dataclass
class Link:
    name: str
    index: int
    p2p: bool  # IFF_POINTOPOINT (if_ovpn p2p mode), else IFF_BROADCAST (mp mode)
    mtu: int
    addresses: list[Address] = field(default_factory=list)


@dataclass
class KernelRoute:
    network: IPNetwork
    interface: str  # where packets leave: netstat's interface-name
    gateway: IPAddress | None  # None: the link itself, shown as link#N of `link`
    flags: str  # letters of RT_BITS
    link: str
    nhop: int
    owner: IPAddress | None = None  # the address the kernel made it for; None: route(8)'s


class _RefusedError(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class FreeBSDTools:
    """ifconfig, route and netstat over one address and routing table (see module doc)."""

    def __init__(self, *, netlink: bool = True) -> None:
        self.netlink = netlink
        self.links: dict[str, Link] = {}
        self.table: list[KernelRoute] = []
        self.calls: list[list[str]] = []
        self.netstat_reply: RunResult | None = None  # replaces netstat's answer when set
        self._nhops = 0
        self.create(LOOPBACK, p2p=False, link_local=False, mtu=16384)
        for loopback, flags in (("127.0.0.1", "UH"), ("::1", "UHS")):
            ip = ipaddress.ip_address(loopback)
            self._kernel_route(ipaddress.ip_network(ip), LOOPBACK, None, flags, LOOPBACK, owner=ip)

    # -- set-up, as the kernel or someone else left things ------------------------------------

    def create(self, name: str, *, p2p: bool, link_local: bool = True, mtu: int = 1500) -> None:
        """An interface (index in creation order); IPv6 gives it a link-local fe80::INDEX."""
        self.links[name] = Link(name, len(self.links) + 1, p2p, mtu)
        if link_local:
            self.configure(name, f"fe80::{len(self.links):x}/64")

    def configure(self, name: str, address: str, destination: str | None = None) -> None:
        """An address configured by someone else (with a p2p destination, if given)."""
        far = None if destination is None else ipaddress.ip_address(destination)
        self._add_address(self.links[name], ipaddress.ip_interface(address), far)

    def seed_route(self, *words: str) -> None:
        """A route someone else added with route(8)."""
        result = self._dispatch([FREEBSD_ROUTE, "-n", "add", *words])
        assert result.returncode == 0, result

    def entries(self, interface: str) -> list[dict[str, Any]]:
        """The rt-entry objects netstat would print for `interface`."""
        return [self._entry(r) for r in self._sorted() if r.interface == interface]

    # -- the Runner -------------------------------------------------------------------------

    def __call__(self, argv: Sequence[str], *, stdin: str | None = None) -> RunResult:
        assert stdin is None, "none of these tools reads standard input here"
        self.calls.append(list(argv))
        return self._dispatch(list(argv))

    def _dispatch(self, argv: list[str]) -> RunResult:
        if argv[0] == IFCONFIG:
            return self._ifconfig(argv[1:])
        if argv[0] == FREEBSD_ROUTE:
            return self._route(argv[1:])
        if argv == list(NETSTAT_ROUTES_JSON):
            return self.netstat_reply or RunResult(0, self._netstat_json())
        raise AssertionError(f"the model does not know this command: {argv}")

    # -- ifconfig -----------------------------------------------------------------------------

    def _ifconfig(self, args: list[str]) -> RunResult:
        link = self.links.get(args[0])
        if link is None:
            return RunResult(1, "", f"ifconfig: interface {args[0]} does not exist\n")
        if len(args) == 1:
            return RunResult(0, self._status(link))
        if len(args) == 4 and args[1] in ("inet", "inet6") and args[3] in ("alias", "-alias"):
            family, text, verb = args[1:]
            if verb == "alias":
                assert "/" in text, "ifconfig refuses an address without a mask (err_nomask)"
                address = ipaddress.ip_interface(text)
                assert address.version == (4 if family == "inet" else 6), args
                self._add_address(link, address, None)
                return RunResult(0)
            ip = ipaddress.ip_address(text)
            if not self._del_address(link, ip):
                return RunResult(
                    1, "", "ifconfig: ioctl (SIOCDIFADDR): Can't assign requested address\n"
                )
            return RunResult(0)
        raise AssertionError(f"the model does not know ifconfig {args}")

    def _status(self, link: Link) -> str:
        flags = (
            "8051<UP,POINTOPOINT,RUNNING,MULTICAST>"
            if link.p2p
            else "8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST>"
        )
        lines = [f"{link.name}: flags={flags} metric 0 mtu {link.mtu}"]
        for address in link.addresses:
            iface = address.interface
            if iface.version == 4:
                line = f"\tinet {iface.ip}"
                if link.p2p:
                    line += f" --> {address.destination or '0.0.0.0'}"
                line += f" netmask 0x{int(iface.netmask):x}"
                if not link.p2p and iface.network.prefixlen != 0:
                    line += f" broadcast {iface.network.broadcast_address}"
            else:
                zone = f"%{link.name}" if iface.ip.is_link_local else ""
                line = f"\tinet6 {iface.ip}{zone}"
                if link.p2p and address.destination is not None:
                    line += f" --> {address.destination}"
                line += f" prefixlen {iface.network.prefixlen}"
                if zone:
                    line += f" scopeid 0x{link.index:x}"
            lines.append(line)
        lines.append("\tnd6 options=21<PERFORMNUD,AUTO_LINKLOCAL>")
        return "\n".join(lines) + "\n"

    def _add_address(self, link: Link, iface: IPInterface, far: IPAddress | None) -> None:
        self._del_address(link, iface.ip)  # SIOCAIFADDR on an existing address replaces it
        link.addresses.append(Address(iface, far))
        ip, name = iface.ip, link.name
        self._kernel_route(ipaddress.ip_network(ip), LOOPBACK, None, "UHS", name, owner=ip)
        if far is not None:
            self._kernel_route(ipaddress.ip_network(far), name, None, "UH", name, owner=ip)
        on_link = not link.p2p or ip.is_link_local  # fe80::/64 is on-link everywhere
        if (
            on_link
            and iface.network.prefixlen < iface.max_prefixlen
            and not any(
                r.network == iface.network and (r.interface == name or not ip.is_link_local)
                for r in self.table  # link-local prefixes are per link (scoped)
            )
        ):
            self._kernel_route(iface.network, name, None, "U", name, owner=ip)

    def _del_address(self, link: Link, ip: IPAddress) -> bool:
        found = next((a for a in link.addresses if a.interface.ip == ip), None)
        if found is None:
            return False
        link.addresses.remove(found)
        heir = next(
            (
                a.interface.ip
                for a in link.addresses
                if a.interface.network == found.interface.network
            ),
            None,
        )
        for r in list(self.table):
            if r.owner == ip and r.link == link.name:
                if heir is not None and r.network == found.interface.network:
                    r.owner = heir  # another address on the prefix keeps its route
                else:
                    self.table.remove(r)
        return True

    # -- route --------------------------------------------------------------------------------

    def _route(self, args: list[str]) -> RunResult:
        quiet = False
        while args and args[0].startswith("-"):
            letters = args.pop(0)[1:]
            assert set(letters) <= set("nq"), f"route option -{letters} is not modelled"
            quiet = quiet or "q" in letters
        command = args.pop(0)
        assert command in ("add", "delete"), command
        version, force, via_link = 4, "", False
        destination: IPNetwork | None = None
        shown = gateway_text = ""
        gateway: IPAddress | None = None
        link: Link | None = None
        for word in args:
            if word in ("-inet", "-inet6"):
                version = 4 if word == "-inet" else 6
            elif word in ("-net", "-host"):
                force = word[1:]
            elif word in ("-interface", "-iface"):
                via_link = True
            elif word.startswith("-"):
                raise AssertionError(f"route keyword {word} is not modelled")
            elif destination is None:
                parsed = _destination(word, version, force)
                if parsed is None:
                    return RunResult(EX_NOHOST, "", f"route: bad address: {word}\n")
                destination, shown = parsed
            else:
                gateway_text = word
                if via_link:
                    link = self.links.get(word)
                    if link is None:
                        return RunResult(
                            EX_DATAERR, "", f"route: interface '{word}' does not exist\n"
                        )
                else:
                    try:
                        gateway = ipaddress.ip_address(word)
                    except ValueError:
                        return RunResult(EX_NOHOST, "", f"route: bad address: {word}\n")
                    if gateway.version != version:
                        return RunResult(EX_NOHOST, "", f"route: bad address: {word}\n")
        assert destination is not None and gateway_text, f"route {command} {args}: incomplete"
        host = destination.prefixlen == destination.max_prefixlen
        line = f"{command} {'host' if host else 'net'} {shown}: gateway {gateway_text}"
        try:
            if command == "add":
                self._add_route(destination, gateway, link, host)
            else:
                self._delete_route(destination, gateway, link)
        except _RefusedError as refused:
            stderr = ""
            if not self.netlink and refused.code == errno.ESRCH:
                stderr = "route: route has not been found\n"
            elif not self.netlink and refused.code != errno.EEXIST:
                stderr = f"route: writing to routing socket: {os.strerror(refused.code)}\n"
            why = ROUTE_ERRMSG.get(refused.code, os.strerror(refused.code))
            return RunResult(1, "" if quiet else f"{line} fib 0: {why}\n", stderr)
        return RunResult(0, "" if quiet else line + "\n")

    def _add_route(
        self, network: IPNetwork, gateway: IPAddress | None, link: Link | None, host: bool
    ) -> None:
        if link is not None:
            leaving = link.name
        else:
            assert gateway is not None
            leaving = self._connected_interface(gateway)
        if any(
            r.network == network and r.gateway == gateway and r.interface == leaving
            for r in self.table
        ):
            raise _RefusedError(errno.EEXIST)
        flags = "U" + ("G" if gateway is not None else "") + ("H" if host else "") + "S"
        self._kernel_route(network, leaving, gateway, flags, leaving)

    def _connected_interface(self, gateway: IPAddress) -> str:
        if isinstance(gateway, ipaddress.IPv6Address) and gateway.scope_id:
            if gateway.scope_id in self.links:
                return gateway.scope_id
            raise _RefusedError(errno.ENETUNREACH)
        for r in self.table:
            on_link = r.gateway is None and r.interface != LOOPBACK
            if on_link and r.network.version == gateway.version and gateway in r.network:
                return r.interface
        raise _RefusedError(errno.ENETUNREACH)

    def _delete_route(
        self, network: IPNetwork, gateway: IPAddress | None, link: Link | None
    ) -> None:
        for r in self.table:
            if r.network != network:
                continue
            if gateway is not None and r.gateway == gateway:
                break
            if link is not None and r.gateway is None and r.interface == link.name:
                break
        else:
            raise _RefusedError(errno.ESRCH)
        self.table.remove(r)

    def _kernel_route(
        self,
        network: IPNetwork,
        interface: str,
        gateway: IPAddress | None,
        flags: str,
        link: str,
        *,
        owner: IPAddress | None = None,
    ) -> None:
        self._nhops += 1
        route = KernelRoute(network, interface, gateway, flags, link, self._nhops, owner)
        self.table.append(route)

    # -- netstat ------------------------------------------------------------------------------

    def _sorted(self) -> list[KernelRoute]:
        return sorted(self.table, key=lambda r: (r.network.version, int(r.network.network_address)))

    def _netstat_json(self) -> str:
        families = []
        for version, name in ((4, "Internet"), (6, "Internet6")):
            mine = [self._entry(r) for r in self._sorted() if r.network.version == version]
            if mine:
                families.append({"address-family": name, "rt-entry": mine})
        document = {"statistics": {"route-information": {"route-table": {"rt-family": families}}}}
        return json.dumps(document) + "\n"

    def _entry(self, r: KernelRoute) -> dict[str, Any]:
        net = r.network
        zone = f"%{r.interface}" if net.version == 6 and net.network_address.is_link_local else ""
        if net.prefixlen == 0:
            destination = "default"
        elif net.prefixlen == net.max_prefixlen:
            destination = f"{net.network_address}{zone}"
        else:
            destination = f"{net.network_address}{zone}/{net.prefixlen}"
        gateway = f"link#{self.links[r.link].index}" if r.gateway is None else str(r.gateway)
        return {
            "destination": destination,
            "gateway": gateway,
            "flags": r.flags,
            "flags_pretty": [name for letter, name in RT_BITS if letter in r.flags],
            "weight": 1,
            "nhop-kidx": r.nhop,
            "nhop": r.nhop,
            "mtu": self.links[r.interface].mtu,
            "interface-name": r.interface,
        }


def _destination(word: str, version: int, force: str) -> tuple[IPNetwork, str] | None:
    """route.c getaddr(RTAX_DST) and newroute()'s -host/-net, with the text the status line
    shows; None for what getaddr calls a bad address."""
    address, slash, length = word.partition("/")
    try:
        ip = ipaddress.ip_address(address)
        if ip.version != version:
            return None
        if force == "host" or not slash:
            network: IPNetwork = ipaddress.ip_network(ip)
        else:
            network = ipaddress.ip_network(f"{address}/{int(length)}", strict=False)
    except ValueError:
        return None
    return network, (address if version == 4 else word)
