"""The supervisor's life: start (apply), serve (signals, control requests, kernel events),
stop (tear down).

One thread and one `select` loop: the control socket, a self-pipe that signal handlers
write to (`signal.set_wakeup_fd`), TCP peers' listening and dialling sockets
(tcplinks.py; a finished connection triggers an apply that adds its peer), and a
timeout after which kernel notifications are read (FreeBSD queues them on the
interface; Linux multicasts them to this process's listener). Work happens between
waits, never in a signal handler, so a SIGHUP arriving during an apply is simply
handled after it.

Re-adding a peer the kernel dropped after its keepalive timeout means installing its
key again, which the ledger refuses (the packet counter would restart under the same
key and IV). `readd_on_timeout` therefore re-applies the config — which succeeds once
the key files hold fresh material (an external rotation agent, or an operator) or when
key reuse was explicitly allowed — and logs the refusal otherwise.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import selectors
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

from ovpnctl.apply import DEFAULT_LOCK_WAIT, apply_config, interface_lock, teardown
from ovpnctl.backend import Backend
from ovpnctl.config import TunnelConfig, load_config
from ovpnctl.config.paths import Paths
from ovpnctl.config.record import AppliedPeer, AppliedState, read_record, write_record
from ovpnctl.endpoint import Endpoint, parse_vpn_address
from ovpnctl.errors import ConfigError, OvpnError, UsageError, ValidationError
from ovpnctl.hostnet import HostNetwork
from ovpnctl.ids import check_peer_id
from ovpnctl.model import DeleteReason, EventKind, Keepalive, PeerConfig, Transport
from ovpnctl.plan import Plan
from ovpnctl.socketpool import SocketPool
from ovpnctl.supervisor.control import ControlServer
from ovpnctl.supervisor.log import EventLog
from ovpnctl.supervisor.tcplinks import RETRY_MAX, TcpLinks

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@dataclass
class UpOptions:
    key_dir: str | None = None
    allow_key_reuse: bool = False
    readd_on_timeout: bool | None = None  # None: as the config says
    poll_interval: float = 1.0
    lock_wait: float = DEFAULT_LOCK_WAIT
    connect_retry: float = RETRY_MAX  # longest wait between two dials of a TCP peer


class Supervisor:
    def __init__(
        self,
        config_path: str,
        *,
        backend: Backend,
        hostnet: HostNetwork,
        paths: Paths,
        log: EventLog,
        options: UpOptions | None = None,
        on_open: Callable[[socket.socket], object] | None = None,
        pool: SocketPool | None = None,
        install_signals: bool = True,
    ) -> None:
        """`pool` (default: a new one) must hold its sockets for the tunnel's lifetime."""
        self.config_path = os.path.abspath(config_path)
        self.backend = backend
        self.hostnet = hostnet
        self.paths = paths
        self.log = log
        self.options = options or UpOptions()
        self.on_open = on_open
        self.install_signals = install_signals
        self.stopping = False
        self.started = False
        self._signals: list[int] = []
        self._previous: dict[int, Any] = {}
        self._previous_wakeup = -1
        self.config: TunnelConfig | None = None
        self.server: ControlServer | None = None
        self.pool: SocketPool | None = None
        self.links: TcpLinks | None = None
        self._given_pool = pool
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)

    @property
    def ifname(self) -> str:
        assert self.config is not None
        return self.config.interface

    # -- lifecycle ---------------------------------------------------------------------
    def run(self) -> int:
        self.start()
        try:
            while not self.stopping:
                self.step(self.options.poll_interval)
        finally:
            self.stop()
        return 0

    def start(self) -> None:
        self.config = load_config(self.config_path, key_dir=self.options.key_dir)
        self.server = ControlServer(self.paths.control_socket(self.config.interface))
        self.pool = self._given_pool or SocketPool(holds_tunnel=True, on_open=self.on_open)
        self.links = TcpLinks(
            self.pool,
            self.log,
            retry_first=min(1.0, self.options.connect_retry),
            retry_max=self.options.connect_retry,
        )
        try:
            if self.install_signals:
                self._install_signals()
            self._apply(self.config, reason="start")
        except BaseException:
            self._close()
            raise
        self.started = True
        self.log.emit(
            "up",
            interface=self.ifname,
            config=self.config_path,
            peers=len(self.config.peers),
            pid=os.getpid(),
            control=self.server.path,
        )

    def step(self, timeout: float | None) -> None:
        """Wait up to `timeout` seconds for something to do, then do it."""
        assert self.server is not None and self.links is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.server, selectors.EVENT_READ, "control")
            selector.register(self._wake_r, selectors.EVENT_READ, "wake")
            self.links.register(selector)
            ready = selector.select(self.links.wait_hint(timeout))
        offered = False
        for key, _ in ready:
            if key.data == "control":
                self.server.serve_one(self._handle)
            elif TcpLinks.owns(key.data):
                offered = self.links.handle(key.data) or offered
            else:
                self._drain_wake()
        self._handle_signals()
        if not self.stopping:
            self._poll_kernel()
            if offered:
                self._apply_connections()
            self.links.tick()

    def stop(self) -> None:
        if self.started and self.config is not None:
            try:
                changes = teardown(
                    self.ifname, backend=self.backend, hostnet=self.hostnet, paths=self.paths
                )
                for line in changes:
                    self.log.emit("teardown", interface=self.ifname, change=line)
            except OvpnError as exc:
                self.log.emit("teardown-failed", level="error", error=exc.message)
            self.log.emit("down", interface=self.ifname)
        self.started = False
        self._close()

    def request_stop(self) -> None:
        """What SIGTERM does, for callers without signals (tests, embedding)."""
        self._signals.append(signal.SIGTERM)
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def request_reload(self) -> None:
        self._signals.append(signal.SIGHUP)
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def _close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        if self.links is not None:
            self.links.close()
            self.links = None
        if self.pool is not None:
            self.pool.close()
            self.pool = None
        self._restore_signals()

    # -- signals -----------------------------------------------------------------------
    def _install_signals(self) -> None:
        for signum in (signal.SIGHUP, *STOP_SIGNALS):
            self._previous[signum] = signal.signal(signum, self._on_signal)
        self._previous_wakeup = signal.set_wakeup_fd(self._wake_w.fileno())

    def _restore_signals(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        if self._previous:
            signal.set_wakeup_fd(self._previous_wakeup)
        self._previous.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signals.append(signum)

    def _drain_wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while self._wake_r.recv(512):
                pass

    def _handle_signals(self) -> None:
        while self._signals:
            signum = self._signals.pop(0)
            if signum in STOP_SIGNALS:
                self.log.emit("signal", name=signal.Signals(signum).name, action="stop")
                self.stopping = True
            elif signum == signal.SIGHUP:
                self.log.emit("signal", name="SIGHUP", action="reload")
                self._reload("sighup")

    # -- applying ----------------------------------------------------------------------
    def _apply(self, config: TunnelConfig, *, reason: str, dry_run: bool = False) -> Plan:
        assert self.pool is not None and self.links is not None
        previous = self.config
        if not dry_run:
            # Listening first: an address that cannot be bound fails before any change.
            self.links.configure(config)
        try:
            result = apply_config(
                config,
                backend=self.backend,
                hostnet=self.hostnet,
                sockets=self.pool,
                paths=self.paths,
                allow_key_reuse=self.options.allow_key_reuse,
                dry_run=dry_run,
                lock_wait=self.options.lock_wait,
            )
        except BaseException:
            if not dry_run and previous is not None and previous is not config:
                with contextlib.suppress(OvpnError):
                    self.links.configure(previous)
            raise
        if dry_run:
            return result.plan
        for step in result.plan.steps:
            self.log.emit("change", interface=config.interface, step=step.describe())
        for note in result.plan.notes:
            self.log.emit("note", interface=config.interface, note=note)
        self.log.emit(
            "applied", interface=config.interface, reason=reason, changes=len(result.plan.steps)
        )
        self.config = config
        self.pool.close_unused(set(config.listen))
        self.links.connected(self.pool.tcp_peers(config.interface))
        return result.plan

    def _apply_connections(self) -> None:
        """A TCP connection waits for its peer: apply the config in force (not the file,
        which may be mid-edit and is read on SIGHUP), so the plan adds that peer."""
        assert self.config is not None and self.links is not None
        try:
            self._apply(self.config, reason="tcp-connection")
        except OvpnError as exc:
            self.log.emit("apply-failed", level="error", reason="tcp-connection", error=exc.message)
            self.links.refused()
            self._release_lost_connections()  # taken by a step that then failed

    def _reload(self, reason: str, path: str | None = None) -> Plan | None:
        path = path or self.config_path
        try:
            config = load_config(path, key_dir=self.options.key_dir)
            if config.interface != self.ifname:
                raise ConfigError(
                    f"{path} describes {config.interface}; this supervisor runs {self.ifname}"
                )
            plan = self._apply(config, reason=reason)
        except OvpnError as exc:
            self.log.emit("apply-failed", level="error", reason=reason, error=exc.message)
            return None
        self.config_path = os.path.abspath(path)
        return plan

    def _is_tcp(self) -> bool:
        return self.config is not None and self.config.transport is Transport.TCP

    def _readd_on_timeout(self) -> bool:
        if self.options.readd_on_timeout is not None:
            return self.options.readd_on_timeout
        return bool(self.config and self.config.readd_on_timeout)

    def _poll_kernel(self) -> None:
        try:
            events = self.backend.consume_events(self.ifname)
        except OvpnError as exc:
            self.log.emit("events-failed", level="error", error=exc.message)
            self._release_lost_connections()  # a lost deletion must not strand a dial
            return
        expired = False
        deleted = False
        for event in events:
            if event.interface not in (None, self.ifname):
                continue
            self.log.kernel_event(event)
            deleted = deleted or event.kind is EventKind.PEER_DELETED
            if (
                event.kind is EventKind.PEER_DELETED
                and event.reason is DeleteReason.EXPIRED
                and self.config is not None
                and self.config.peer(event.peer_id or -1) is not None
            ):
                expired = True
        if deleted:
            self._release_lost_connections()
        if expired and self._readd_on_timeout():
            self._reload("peer-timeout")

    def _release_lost_connections(self) -> None:
        """Close the connections of TCP peers the kernel no longer has, so connecting
        peers are dialled again and accepting ones may reconnect. The kernel is asked,
        rather than trusting the event's peer id: a peer replaced under the same id
        reports the old one's deletion after the new one is in place."""
        assert self.pool is not None
        held = self.pool.tcp_peers(self.ifname)
        if not held:
            return
        try:
            present = {peer.peer_id for peer in self.backend.state(self.ifname).peers}
        except OvpnError as exc:
            self.log.emit("events-failed", level="error", error=exc.message)
            return
        for peer_id in sorted(held - present):
            self.pool.drop_tcp(self.ifname, peer_id)
            self.log.emit("tcp-closed", interface=self.ifname, peer=peer_id, reason="peer gone")

    # -- control requests ----------------------------------------------------------------
    def _handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "status":
            record = read_record(self.paths.state_file(self.ifname))
            return {
                "ok": True,
                "interface": self.ifname,
                "pid": os.getpid(),
                "config": self.config_path,
                "peers": sorted(record.peers) if record else [],
                "tcp": self.links.status() if self.links is not None and self._is_tcp() else None,
            }
        if op in ("apply", "reload"):
            path = request.get("config") if op == "apply" else None
            if path is not None and not isinstance(path, str):
                raise UsageError("apply: 'config' must be a path")
            key_dir = request.get("key_dir", self.options.key_dir)
            if key_dir is not None and not isinstance(key_dir, str):
                raise UsageError("apply: 'key_dir' must be a path")
            if request.get("dry_run"):
                config = load_config(path or self.config_path, key_dir=key_dir)
                plan = self._apply(config, reason="dry-run", dry_run=True)
                return {"ok": True, "plan": plan.to_json(), "lines": plan.lines()}
            allow = bool(request.get("allow_key_reuse"))
            before = self.options.allow_key_reuse
            self.options.allow_key_reuse = before or allow
            try:
                config = load_config(path or self.config_path, key_dir=key_dir)
                if config.interface != self.ifname:
                    raise ConfigError(
                        f"{path} describes {config.interface}; this supervisor runs {self.ifname}"
                    )
                plan = self._apply(config, reason=op)
            finally:
                self.options.allow_key_reuse = before
            if path is not None:
                self.config_path = os.path.abspath(path)
            return {"ok": True, "plan": plan.to_json(), "lines": plan.lines()}
        if op == "peer-add":
            peer = request.get("peer")
            if not isinstance(peer, dict):
                raise UsageError("peer-add: 'peer' must be an object")
            return self._peer_add(peer)
        raise UsageError(f"unknown request {op!r}")

    def _peer_add(self, data: dict[str, Any]) -> dict[str, Any]:
        """A peer added from the command line: on the supervisor's socket, recorded so the
        next apply knows it (and removes it unless the config lists it by then)."""
        assert self.pool is not None and self.config is not None
        peer = peer_from_json(data)
        config = self.config
        if config.transport is Transport.TCP:
            raise UsageError(
                f"{config.interface} carries TCP: a TCP peer is added, keys and all, only once "
                f"its connection exists; add it to {self.config_path} and run `ovpnctl apply "
                f"{self.config_path}` (or send the supervisor SIGHUP)"
            )
        assert peer.remote is not None
        listen = _listen_for(config, peer.remote)
        with interface_lock(self.paths, self.ifname, wait=self.options.lock_wait):
            sock = self.pool.udp(listen)
            self.backend.add_peer(self.ifname, peer, sock)
            path = self.paths.state_file(self.ifname)
            record = read_record(path) or AppliedState(self.ifname, self.backend.name)
            keepalive = peer.keepalive
            record.peers[peer.peer_id] = AppliedPeer(
                peer_id=peer.peer_id,
                remote=str(peer.remote),
                listen=str(listen),
                local=None if peer.local is None else str(peer.local.address),
                vpn_ipv4=None if peer.vpn_ipv4 is None else str(peer.vpn_ipv4),
                vpn_ipv6=None if peer.vpn_ipv6 is None else str(peer.vpn_ipv6),
                keepalive=None if keepalive is None else (keepalive.interval, keepalive.timeout),
            )
            write_record(path, record)
        self.log.emit("peer-added", interface=self.ifname, peer=peer.peer_id, via="control")
        return {"ok": True, "peer": peer.peer_id, "socket": str(listen)}


def _listen_for(config: TunnelConfig, remote: Endpoint) -> Endpoint:
    family = remote.unmapped().family
    for endpoint in config.listen:
        if endpoint.unmapped().family == family:
            return endpoint
    for endpoint in config.listen:
        if family == 4 and endpoint.address == ipaddress.IPv6Address("::"):
            return endpoint
    raise ValidationError(f"no listen address of {config.interface} reaches {remote}")


def peer_to_json(peer: PeerConfig) -> dict[str, Any]:
    """The wire form of a `peer add` request (also what the CLI sends)."""
    out: dict[str, Any] = {"id": peer.peer_id, "remote": str(peer.remote)}
    if peer.local is not None:
        out["local"] = str(peer.local)
    if peer.vpn_ipv4 is not None:
        out["vpn_ipv4"] = str(peer.vpn_ipv4)
    if peer.vpn_ipv6 is not None:
        out["vpn_ipv6"] = str(peer.vpn_ipv6)
    if peer.keepalive is not None:
        out["keepalive"] = [peer.keepalive.interval, peer.keepalive.timeout]
    return out


def peer_from_json(data: dict[str, Any]) -> PeerConfig:
    """Validate a `peer add` request exactly as the command line would have."""
    try:
        peer_id = check_peer_id(data["id"])
        remote = Endpoint.parse(str(data["remote"]), what="remote")
        local = None
        if data.get("local") is not None:
            local = Endpoint.parse(str(data["local"]), default_port=0, what="local")
        vpn4 = data.get("vpn_ipv4")
        vpn6 = data.get("vpn_ipv6")
        keepalive = data.get("keepalive")
        return PeerConfig(
            peer_id=peer_id,
            remote=remote,
            local=local,
            vpn_ipv4=None if vpn4 is None else parse_vpn_address(str(vpn4), 4, "vpn_ipv4"),
            vpn_ipv6=None if vpn6 is None else parse_vpn_address(str(vpn6), 6, "vpn_ipv6"),
            keepalive=None if keepalive is None else Keepalive(keepalive[0], keepalive[1]),
        )
    except (KeyError, TypeError, IndexError) as exc:
        raise ValidationError(f"peer-add: malformed peer ({exc})") from None
