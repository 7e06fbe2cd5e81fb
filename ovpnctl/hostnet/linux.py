"""Linux addresses and routes over rtnetlink (pyroute2), in the caller's network namespace.

Routes are installed with protocol `static` in the main table; only routes leaving
through the tunnel interface are ever read or touched, so an operator's other routes
are invisible here.
"""

from __future__ import annotations

import errno
import ipaddress
import os
from typing import Any

from ovpnctl.endpoint import IPInterface
from ovpnctl.errors import BackendUnavailableError, ExitCode, KernelError
from ovpnctl.hostnet import HostNetwork, Route
from ovpnctl.model import Mode

RT_TABLE_MAIN = 254
RTPROT_STATIC = 4
RTN_UNICAST = 1


class LinuxHostNetwork(HostNetwork):
    name = "linux"

    def __init__(self) -> None:
        try:
            from pyroute2 import IPRoute  # noqa: PLC0415 - optional dependency
        except ImportError:
            raise BackendUnavailableError(
                "pyroute2 is not installed (pip install 'ovpnctl[linux]')"
            ) from None
        self._ipr: Any = IPRoute()

    def close(self) -> None:
        if self._ipr is not None:
            self._ipr.close()
            self._ipr = None

    def _index(self, ifname: str) -> int | None:
        found = self._ipr.link_lookup(ifname=ifname)
        return int(found[0]) if found else None

    def _need_index(self, ifname: str, command: str) -> int:
        index = self._index(ifname)
        if index is None:
            raise KernelError(
                f"{ifname}: no such interface",
                errno=errno.ENODEV,
                command=command,
                exit_code=ExitCode.NOINPUT,
            )
        return index

    def addresses(self, ifname: str) -> list[IPInterface]:
        index = self._index(ifname)
        if index is None:
            return []
        out: list[IPInterface] = []
        for msg in self._ipr.get_addr(index=index):
            address = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
            if address is None:
                continue
            found = ipaddress.ip_interface(f"{address}/{msg['prefixlen']}")
            if found.version == 6 and found.ip.is_link_local:
                continue  # the kernel's own fe80:: address, never configured by anyone
            out.append(found)
        return sorted(out, key=lambda a: (a.version, int(a.ip), a.network.prefixlen))

    def add_address(self, ifname: str, address: IPInterface, mode: Mode) -> None:
        index = self._need_index(ifname, "addr-add")
        self._call(
            "addr-add",
            f"add address {address} to {ifname}",
            self._ipr.addr,
            "add",
            index=index,
            address=str(address.ip),
            prefixlen=address.network.prefixlen,
        )

    def del_address(self, ifname: str, address: IPInterface, mode: Mode) -> None:
        index = self._need_index(ifname, "addr-del")
        self._call(
            "addr-del",
            f"delete address {address} from {ifname}",
            self._ipr.addr,
            "del",
            index=index,
            address=str(address.ip),
            prefixlen=address.network.prefixlen,
        )

    def routes(self, ifname: str) -> list[Route]:
        index = self._index(ifname)
        if index is None:
            return []
        out: list[Route] = []
        for family in (2, 10):  # AF_INET, AF_INET6
            for msg in self._ipr.get_routes(family=family, table=RT_TABLE_MAIN):
                if msg.get_attr("RTA_OIF") != index or msg["type"] != RTN_UNICAST:
                    continue
                dst = msg.get_attr("RTA_DST")
                if dst is None:
                    dst = "0.0.0.0" if family == 2 else "::"
                network = ipaddress.ip_network(f"{dst}/{msg['dst_len']}", strict=False)
                if network.version == 6 and network.network_address.is_link_local:
                    continue  # fe80::/64 comes with every IPv6 link
                gateway = msg.get_attr("RTA_GATEWAY")
                via = ipaddress.ip_address(gateway) if gateway else None
                out.append(Route(network, via))
        return sorted(set(out), key=Route.sort_key)

    def add_route(self, ifname: str, route: Route) -> None:
        index = self._need_index(ifname, "route-add")
        self._call(
            "route-add",
            f"add route {route} on {ifname}",
            self._ipr.route,
            "add",
            **self._route_args(index, route),
            proto=RTPROT_STATIC,
        )

    def del_route(self, ifname: str, route: Route) -> None:
        index = self._need_index(ifname, "route-del")
        self._call(
            "route-del",
            f"delete route {route} on {ifname}",
            self._ipr.route,
            "del",
            **self._route_args(index, route),
        )

    @staticmethod
    def _route_args(index: int, route: Route) -> dict[str, Any]:
        args: dict[str, Any] = {
            "dst": str(route.network),
            "oif": index,
            "table": RT_TABLE_MAIN,
            "family": 2 if route.network.version == 4 else 10,
        }
        if route.via is not None:
            args["gateway"] = str(route.via)
        return args

    @staticmethod
    def _call(command: str, what: str, func: Any, *args: Any, **kwargs: Any) -> None:
        from pyroute2.netlink.exceptions import NetlinkError  # noqa: PLC0415

        try:
            func(*args, **kwargs)
        except NetlinkError as exc:
            code = int(exc.code)
            raise KernelError(
                f"cannot {what}: {os.strerror(code)}", errno=code, command=command
            ) from None
        except OSError as exc:
            raise KernelError(
                f"cannot {what}: {exc.strerror or exc}", errno=exc.errno, command=command
            ) from None
