"""Addresses and routes on a tunnel interface: the host's side of a declarative tunnel.

The DCO backends talk to the data-channel offload only; giving the interface its tunnel
addresses and steering networks to a peer is ordinary host networking (rtnetlink on
Linux, ifconfig/route on FreeBSD). `apply` needs both to bring a config file to life and
to undo it, so this small interface mirrors `Backend`: read the current entries, add one,
delete one, each a single reversible change.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

from ovpnctl.endpoint import IPAddress, IPInterface, IPNetwork
from ovpnctl.errors import UsageError
from ovpnctl.model import Mode


@dataclass(frozen=True, slots=True)
class Route:
    """`network` reached over the tunnel interface, through `via` (a peer's VPN address in
    mp mode, where the kernel picks the peer by the route's gateway) or directly (p2p)."""

    network: IPNetwork
    via: IPAddress | None = None

    def __str__(self) -> str:
        return f"{self.network} via {self.via}" if self.via is not None else str(self.network)

    def sort_key(self) -> tuple[int, int, int, str]:
        net = self.network
        return (net.version, int(net.network_address), net.prefixlen, str(self.via or ""))


class HostNetwork(abc.ABC):
    """The host's addresses and routes of one kind of kernel. Raises `OvpnError` only."""

    name: str

    @abc.abstractmethod
    def addresses(self, ifname: str) -> list[IPInterface]:
        """Addresses configured on `ifname` (empty when it does not exist)."""

    @abc.abstractmethod
    def add_address(self, ifname: str, address: IPInterface, mode: Mode) -> None: ...

    @abc.abstractmethod
    def del_address(self, ifname: str, address: IPInterface, mode: Mode) -> None: ...

    @abc.abstractmethod
    def routes(self, ifname: str) -> list[Route]:
        """Unicast routes leaving through `ifname` in the main table."""

    @abc.abstractmethod
    def add_route(self, ifname: str, route: Route) -> None: ...

    @abc.abstractmethod
    def del_route(self, ifname: str, route: Route) -> None: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release kernel handles. Idempotent."""


def get_host_network(backend_name: str) -> HostNetwork:
    """The host networking that goes with a DCO backend of the same kernel."""
    if backend_name == "linux":
        from ovpnctl.hostnet.linux import LinuxHostNetwork  # noqa: PLC0415

        return LinuxHostNetwork()
    if backend_name == "freebsd":
        from ovpnctl.hostnet.freebsd import FreeBSDHostNetwork  # noqa: PLC0415

        return FreeBSDHostNetwork()
    raise UsageError(f"no host networking for backend {backend_name!r}")
