"""Test rig for apply/plan: the FreeBSD kernel model, a host-networking model, key files.

`HostNetworkModel` is a model of the host's address and route tables as ifconfig/route
(FreeBSD) and rtnetlink (Linux) behave for the calls `apply` makes, not a recording
stub: adding what exists fails with EEXIST, deleting what is missing with ESRCH /
EADDRNOTAVAIL, a missing interface with ENXIO, and everything on an interface vanishes
when the kernel model destroys it.

`Mutations` counts every state-changing call across both models (kernel SET ioctls,
interface create/destroy, address and route changes) so a test can fail exactly the
Nth one; for kernel calls it arms the kernel model's own `inject_fault` just before the
call, so the failure comes from the model as it would from the kernel.
"""

from __future__ import annotations

import copy
import errno
import ipaddress
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ovpnctl.apply import apply_config
from ovpnctl.config import TunnelConfig, parse_config
from ovpnctl.config.paths import Paths
from ovpnctl.errors import KernelError
from ovpnctl.freebsd.backend import FreeBSDBackend
from ovpnctl.hostnet import HostNetwork, IPInterface, Route
from ovpnctl.keyfile import generate_material, write_material
from ovpnctl.keys import Cipher
from ovpnctl.ledger import KeyLedger
from ovpnctl.model import Mode
from ovpnctl.socketpool import SocketPool
from tests.ovpnctl.freebsd.kernel_model import KernelModel

# The smallest tunnel the host tests start from: one p2p peer with a route and a key
# (the fixtures create its key files "a" and "b" with Rig.key).
ONE_PEER = """
[interface]
name = "ovpn0"
listen = "127.0.0.1:0"
address = "10.8.0.1/24"

[[peer]]
id = 1
remote = "192.0.2.1:1194"
routes = ["192.168.1.0/24"]
keepalive = { interval = 10, timeout = 60 }
key = { id = 0, encrypt = "a", decrypt = "b" }
"""


@dataclass
class Mutations:
    """A shared counter of state-changing calls, able to fail the Nth one."""

    count: int = 0
    fail_at: int | None = None
    errno_name: str = "EIO"
    log: list[str] = field(default_factory=list)

    def next(self, what: str) -> bool:
        """Count a call; True when this one must fail."""
        self.count += 1
        self.log.append(what)
        return self.count == self.fail_at


class CountingTransport:
    """The kernel model behind the backend, with mutating calls counted by `Mutations`."""

    def __init__(self, model: KernelModel, mutations: Mutations) -> None:
        self.model = model
        self.mutations = mutations

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    def _arm(self, what: str, call: str) -> None:
        if self.mutations.next(what):
            self.model.inject_fault(self.mutations.errno_name, nth=1, call=call)

    def set_drvspec(self, ifname: str, cmd: int, request: bytearray | None) -> None:
        from ovpnctl.freebsd.commands import command_name

        name = command_name(cmd)
        self._arm(f"kernel {name} {ifname}", name)
        self.model.set_drvspec(ifname, cmd, request)

    def create_interface(self, name: str) -> str:
        self._arm(f"kernel create {name}", "SIOCIFCREATE2")
        return self.model.create_interface(name)

    def destroy_interface(self, name: str) -> None:
        self._arm(f"kernel destroy {name}", "SIOCIFDESTROY")
        self.model.destroy_interface(name)


class HostNetworkModel(HostNetwork):
    name = "model"

    def __init__(self, kernel: KernelModel, mutations: Mutations) -> None:
        self.kernel = kernel
        self.mutations = mutations
        self.addrs: dict[str, list[IPInterface]] = {}
        self.route_table: dict[str, list[Route]] = {}
        self.indexes: dict[str, int] = {}  # the interface instance the tables belong to

    def _live(self, ifname: str) -> bool:
        iface = self.kernel.interfaces.get(ifname)
        if iface is None or self.indexes.get(ifname) != iface.index:
            self.addrs.pop(ifname, None)  # gone with the interface (or a new one)
            self.route_table.pop(ifname, None)
            self.indexes.pop(ifname, None)
        if iface is None:
            return False
        self.indexes[ifname] = iface.index
        return True

    def _mutate(self, what: str, ifname: str) -> None:
        if self.mutations.next(f"host {what}"):
            raise KernelError(f"{what}: {os.strerror(errno.EIO)} (model)", errno=errno.EIO)
        if not self._live(ifname):
            raise KernelError(f"{ifname}: no such interface", errno=errno.ENXIO)

    def addresses(self, ifname: str) -> list[IPInterface]:
        return list(self.addrs.get(ifname, [])) if self._live(ifname) else []

    def add_address(self, ifname: str, address: IPInterface, mode: Mode) -> None:
        self._mutate(f"add address {address}", ifname)
        table = self.addrs.setdefault(ifname, [])
        if address in table:
            raise KernelError("address exists", errno=errno.EEXIST)
        table.append(address)
        if mode is Mode.MULTIPOINT or address.network.prefixlen < address.max_prefixlen:
            self.route_table.setdefault(ifname, []).append(Route(address.network))

    def del_address(self, ifname: str, address: IPInterface, mode: Mode) -> None:
        self._mutate(f"delete address {address}", ifname)
        table = self.addrs.get(ifname, [])
        if address not in table:
            raise KernelError("no such address", errno=errno.EADDRNOTAVAIL)
        table.remove(address)
        connected = Route(address.network)
        routes = self.route_table.get(ifname, [])
        if connected in routes:
            routes.remove(connected)

    def routes(self, ifname: str) -> list[Route]:
        return list(self.route_table.get(ifname, [])) if self._live(ifname) else []

    def add_route(self, ifname: str, route: Route) -> None:
        self._mutate(f"add route {route}", ifname)
        table = self.route_table.setdefault(ifname, [])
        if any(r.network == route.network for r in table):
            raise KernelError("route exists", errno=errno.EEXIST)
        table.append(route)

    def del_route(self, ifname: str, route: Route) -> None:
        self._mutate(f"delete route {route}", ifname)
        table = self.route_table.get(ifname, [])
        if route not in table:
            raise KernelError("no such route", errno=errno.ESRCH)
        table.remove(route)

    def snapshot(self) -> dict[str, Any]:
        live = [name for name in self.kernel.interfaces if self._live(name)]
        return {
            "addresses": {k: sorted(map(str, v)) for k, v in self.addrs.items() if k in live},
            "routes": {k: sorted(map(str, v)) for k, v in self.route_table.items() if k in live},
        }


class Rig:
    """One machine: kernel model, host networking, key files, state dirs, ledger."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.mutations = Mutations()
        self.kernel = KernelModel()
        self.transport = CountingTransport(self.kernel, self.mutations)
        self.backend = FreeBSDBackend(transport=self.transport)  # type: ignore[arg-type]
        self.hostnet = HostNetworkModel(self.kernel, self.mutations)
        self.paths = Paths(state_dir=str(tmp / "db"), run_dir=str(tmp / "run"))
        self.ledger = KeyLedger(self.paths.ledger)
        self.keydir = tmp / "keys"
        self.keydir.mkdir(mode=0o700, exist_ok=True)
        self.pools: list[SocketPool] = []

    def key(self, name: str, cipher: Cipher = Cipher.AES_256_GCM) -> str:
        """A fresh key file (`key || iv`, base64, mode 0600); returns its path."""
        path = str(self.keydir / name)
        material = generate_material(cipher)
        write_material(path, material)
        return path

    def pool(self, *, holds_tunnel: bool = False) -> SocketPool:
        pool = SocketPool(holds_tunnel=holds_tunnel, on_open=self.kernel.adopt)
        self.pools.append(pool)
        return pool

    def config(self, text: str) -> TunnelConfig:
        return parse_config(text, source="tunnel.toml", base_dir=str(self.keydir))

    def apply(self, config: TunnelConfig, pool: SocketPool | None = None, **kw: Any) -> Any:
        return apply_config(
            config,
            backend=self.backend,
            hostnet=self.hostnet,
            sockets=pool or self.pool(),
            paths=self.paths,
            ledger=KeyLedger(self.paths.ledger, readonly=True)
            if kw.get("dry_run")
            else self.ledger,
            **kw,
        )

    def readonly_ledger(self) -> KeyLedger:
        return KeyLedger(self.paths.ledger, readonly=True)

    def snapshot(self) -> dict[str, Any]:
        """Everything observable: kernel interfaces, peers, keys, keepalive; host tables."""
        out: dict[str, Any] = {}
        for name, iface in sorted(self.kernel.interfaces.items()):
            peers = {}
            for pid, peer in sorted(iface.peers.items()):
                peers[pid] = {
                    "remote": str(peer.remote),
                    "vpn4": peer.vpn_ipv4,
                    "vpn6": peer.vpn_ipv6,
                    "keepalive": (peer.interval, peer.timeout),
                    "slots": [
                        None if s is None else (s.key_id, s.encrypt.cipher, s.encrypt.key_len)
                        for s in peer.slots
                    ],
                }
            out[name] = {"flags": iface.flags, "link_up": iface.link_up, "peers": peers}
        out["host"] = self.hostnet.snapshot()
        return copy.deepcopy(out)

    def mutating_kernel_calls(self) -> list[str]:
        return [
            c.command or c.ioctl
            for c in self.kernel.calls
            if c.ioctl in ("SIOCSDRVSPEC", "SIOCIFCREATE2", "SIOCIFDESTROY")
        ]

    def close(self) -> None:
        for pool in self.pools:
            pool.close()
        self.backend.close()


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ip(text: str) -> Any:
    return ipaddress.ip_address(text)
