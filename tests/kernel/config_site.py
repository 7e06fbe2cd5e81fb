"""One "site" for the config tests on the real Linux driver: a namespace, a LinuxBackend
living in it, the sockets it holds, its own state directories, ledger and key files.

`apply` runs ovpnctl's real planner and executor inside the namespace (netns.py explains
why work runs in a helper thread). Faults: `fail_at = N` makes the Nth state-changing
call (a backend call, or an address/route change) fail with EIO *before* it reaches the
kernel; the rollback that follows, and every check of the result, run against the real
kernel's state as it reads back through netlink.
"""

from __future__ import annotations

import contextlib
import errno
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netns import run_in_netns

from ovpnctl.apply import ApplyResult, apply_config
from ovpnctl.config import TunnelConfig, parse_config
from ovpnctl.config.paths import Paths
from ovpnctl.errors import KernelError
from ovpnctl.hostnet.linux import LinuxHostNetwork
from ovpnctl.keyfile import generate_material, write_material
from ovpnctl.keys import Cipher
from ovpnctl.ledger import KeyLedger
from ovpnctl.linux.backend import LinuxBackend
from ovpnctl.socketpool import SocketPool

BACKEND_CHANGES = frozenset(
    {
        "create_interface",
        "destroy_interface",
        "set_mode",
        "start",
        "add_peer",
        "set_keepalive",
        "update_peer",
        "del_peer",
        "new_key",
        "swap_keys",
        "del_key",
    }
)
HOST_CHANGES = frozenset({"add_address", "del_address", "add_route", "del_route"})


@dataclass
class Faults:
    count: int = 0
    fail_at: int | None = None
    log: list[str] = field(default_factory=list)

    def check(self, what: str) -> None:
        self.count += 1
        self.log.append(what)
        if self.count == self.fail_at:
            raise KernelError(f"{what}: injected fault", errno=errno.EIO, command=what)


class Counting:
    """Forwards to `target`; state-changing methods are counted and may fail first."""

    def __init__(self, target: Any, changes: frozenset[str], faults: Faults) -> None:
        self._target = target
        self._changes = changes
        self._faults = faults

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if name not in self._changes:
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            self._faults.check(name)
            return attr(*args, **kwargs)

        return counted


class ConfigSite:
    def __init__(self, netns: str, tmp: Path) -> None:
        self.netns = netns
        self.faults = Faults()
        self.backend: LinuxBackend = run_in_netns(netns, LinuxBackend)
        self.pool = SocketPool(holds_tunnel=True)
        base = tmp / netns
        self.paths = Paths(state_dir=str(base / "db"), run_dir=str(base / "run"))
        self.ledger = KeyLedger(self.paths.ledger)
        self.keydir = tmp / "keys"  # shared by the sites of one test, as copied keys are
        self.keydir.mkdir(mode=0o700, exist_ok=True)

    def key(self, name: str, cipher: Cipher = Cipher.AES_256_GCM) -> str:
        """Fresh material in `name`, replaced atomically as a rotation agent must: a running
        `ovpnctl up` may re-read the file at any moment (peer timeout), and must never find
        it missing or half-written."""
        path = self.keydir / name
        fresh = self.keydir / f".{name}.new"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(fresh)
        write_material(str(fresh), generate_material(cipher))
        os.replace(fresh, path)
        return str(path)

    def config(self, text: str) -> TunnelConfig:
        return parse_config(text, source="tunnel.toml", base_dir=str(self.keydir))

    def apply(self, text: str, **kw: Any) -> ApplyResult:
        config = self.config(text)

        def work() -> ApplyResult:
            hostnet = LinuxHostNetwork()  # pyroute2 binds its socket to this thread's netns
            try:
                return apply_config(
                    config,
                    backend=Counting(self.backend, BACKEND_CHANGES, self.faults),  # type: ignore[arg-type]
                    hostnet=Counting(hostnet, HOST_CHANGES, self.faults),  # type: ignore[arg-type]
                    sockets=self.pool,
                    paths=self.paths,
                    ledger=self.ledger,
                    **kw,
                )
            finally:
                hostnet.close()

        return run_in_netns(self.netns, work)

    def snapshot(self, ifname: str) -> dict[str, Any]:
        """What the kernel reports (no counters): interface, peers, keys, addresses, routes."""

        def read() -> dict[str, Any]:
            if ifname not in self.backend.interfaces():
                return {"exists": False}
            state = self.backend.state(ifname)
            hostnet = LinuxHostNetwork()
            try:
                addresses = sorted(str(a) for a in hostnet.addresses(ifname))
                routes = sorted(str(r) for r in hostnet.routes(ifname))
            finally:
                hostnet.close()
            peers = {}
            for peer in state.peers:
                ka = peer.keepalive
                peers[peer.peer_id] = {
                    "remote": str(peer.remote),
                    "vpn": (str(peer.vpn_ipv4), str(peer.vpn_ipv6)),
                    "keepalive": None if ka is None else (ka.interval, ka.timeout),
                    "keys": sorted((k.slot.name, k.key_id, k.cipher.value) for k in peer.keys),
                }
            return {
                "exists": True,
                "mode": None if state.mode is None else state.mode.value,
                "up": state.up,
                "peers": peers,
                "addresses": addresses,
                "routes": routes,
            }

        return run_in_netns(self.netns, read)

    def close(self) -> None:
        self.pool.close()
        run_in_netns(self.netns, self.backend.close)
