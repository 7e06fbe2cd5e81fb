"""From "what the kernel has" and "what the config says" to an ordered list of changes.

Every change is a `Step`: one kernel (or host networking) call, a line of the printed
plan, its effect on the state file, and its `undo` — the step that puts things back, or
`NOTHING` when a later undo covers it (a new peer's key goes away with the peer), or
None when no undo exists. Undo is impossible in exactly these cases, all because key
material must never be installed twice (that restarts the packet counter under the same
key and IV, reusing AES-GCM nonces):

* deleting a peer (re-adding it would re-install its keys);
* deleting a key, or overwriting an occupied slot (the old key cannot come back);
* switching keepalive on where the kernel cannot switch it off again (FreeBSD).

The plan has two phases so that a failure can always be rolled back completely until
the first of those: `prepare` holds every step that can be undone, `commit` the rest, in
an order that keeps the tunnel working throughout (new keys go in before old ones go
out; routes move before peers disappear). Until the first `commit` step succeeds, a
failure anywhere restores the state found at the start.

What the kernel cannot report (FreeBSD: a peer's addresses and keepalive; any kernel:
key material) comes from the state file that the previous apply wrote; a peer the state
file does not describe is re-created, since nothing about it can be trusted.
"""

from __future__ import annotations

import copy
import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Any

from ovpnctl.backend import Backend, Capability
from ovpnctl.config.issues import Issues
from ovpnctl.config.material import KeyTable, LoadedKey, load_key_material, wipe_all
from ovpnctl.config.record import AppliedKey, AppliedPeer, AppliedState
from ovpnctl.config.schema import PeerSpec, TcpRole, TunnelConfig, remote_text
from ovpnctl.endpoint import Endpoint, IPAddress, IPInterface
from ovpnctl.errors import OvpnError, UsageError
from ovpnctl.hostnet import HostNetwork, Route
from ovpnctl.keys import KeySlot
from ovpnctl.ledger import KeyLedger, LedgerEntry, now_iso
from ovpnctl.model import Keepalive, Mode, PeerConfig, PeerState, Transport
from ovpnctl.socketpool import SocketPool

SLOT_NAMES = {KeySlot.PRIMARY: "primary", KeySlot.SECONDARY: "secondary"}
KEEPALIVE_OFF = Keepalive(0, 0)


class _Nothing:
    """The undo of a step whose effect a later undo removes anyway."""

    def __repr__(self) -> str:
        return "NOTHING"


NOTHING = _Nothing()


@dataclass
class ExecContext:
    """What steps act on. `sockets` hands out the transport sockets for new peers."""

    backend: Backend
    hostnet: HostNetwork
    sockets: SocketPool
    ledger: KeyLedger
    mode: Mode
    transport: Transport = Transport.UDP


# -- steps -----------------------------------------------------------------------------


@dataclass(eq=False, kw_only=True)
class Step:
    ifname: str
    undo: Step | _Nothing | None = None

    symbol = "~"
    peer_id: int | None = None

    @property
    def reversible(self) -> bool:
        return self.undo is not None

    def describe(self) -> str:
        raise NotImplementedError

    def run(self, ctx: ExecContext) -> None:
        raise NotImplementedError

    def record(self, rec: AppliedState) -> None:
        """Change the state record the way `run` changed the kernel."""

    def line(self) -> str:
        tail = "" if self.reversible else "  (cannot be undone)"
        return f"{self.symbol} {self.describe()}{tail}"

    def to_json(self) -> dict[str, Any]:
        return {
            "action": type(self).__name__,
            "interface": self.ifname,
            "peer_id": self.peer_id,
            "description": self.describe(),
            "reversible": self.reversible,
        }


@dataclass(eq=False, kw_only=True)
class CreateInterface(Step):
    mode: Mode
    symbol = "+"

    def describe(self) -> str:
        return f"create interface {self.ifname} (mode {self.mode.value})"

    def run(self, ctx: ExecContext) -> None:
        created = ctx.backend.create_interface(self.ifname, self.mode)
        if created != self.ifname:  # cannot happen with an explicit unit; be sure
            ctx.backend.destroy_interface(created)
            raise UsageError(f"the kernel named the new interface {created}, not {self.ifname}")

    def record(self, rec: AppliedState) -> None:
        rec.created = True
        rec.mode = self.mode.value


@dataclass(eq=False, kw_only=True)
class DestroyInterface(Step):
    symbol = "-"

    def describe(self) -> str:
        return f"destroy interface {self.ifname}"

    def run(self, ctx: ExecContext) -> None:
        ctx.backend.destroy_interface(self.ifname)

    def record(self, rec: AppliedState) -> None:
        rec.peers.clear()
        rec.addresses.clear()
        rec.routes.clear()
        rec.created = False


@dataclass(eq=False, kw_only=True)
class StartInterface(Step):
    def describe(self) -> str:
        return f"bring {self.ifname} up"

    def run(self, ctx: ExecContext) -> None:
        ctx.backend.start(self.ifname)


@dataclass(eq=False, kw_only=True)
class SetMode(Step):
    mode: Mode

    def describe(self) -> str:
        return f"set {self.ifname} to mode {self.mode.value}"

    def run(self, ctx: ExecContext) -> None:
        ctx.backend.set_mode(self.ifname, self.mode)

    def record(self, rec: AppliedState) -> None:
        rec.mode = self.mode.value


@dataclass(eq=False, kw_only=True)
class AddPeer(Step):
    peer: PeerSpec
    connection: str | None = None  # TCP: "LOCAL -> REMOTE" of the waiting connection
    symbol = "+"

    def __post_init__(self) -> None:
        self.peer_id = self.peer.peer_id

    def describe(self) -> str:
        peer = self.peer
        extra = [f"vpn {a}" for a in (peer.vpn_ipv4, peer.vpn_ipv6) if a is not None]
        if peer.local is not None and self.connection is None:
            extra.append(f"local {peer.local}")
        tail = f" ({', '.join(extra)})" if extra else ""
        if self.connection is not None:
            return f"add peer {peer.peer_id} on TCP connection {self.connection}{tail}"
        via = f" on {peer.listen}" if peer.listen is not None else ""
        return f"add peer {peer.peer_id} remote {peer.remote}{via}{tail}"

    def run(self, ctx: ExecContext) -> None:
        peer = self.peer
        config = peer.peer_config()
        if ctx.transport is Transport.TCP:
            sock = ctx.sockets.take_tcp(self.ifname, peer.peer_id)
        else:
            assert peer.listen is not None  # validated: UDP peers always have a socket
            sock = ctx.sockets.udp(peer.listen)
        try:
            ctx.backend.add_peer(self.ifname, config, sock)
        except BaseException:
            if ctx.transport is Transport.TCP:
                ctx.sockets.drop_tcp(self.ifname, peer.peer_id)
            raise

    def record(self, rec: AppliedState) -> None:
        rec.peers[self.peer.peer_id] = _applied_peer(self.peer)


@dataclass(eq=False, kw_only=True)
class RemovePeer(Step):
    peer_id: int | None = None
    reason: str = ""
    symbol = "-"

    def describe(self) -> str:
        why = f" ({self.reason})" if self.reason else ""
        return f"remove peer {self.peer_id}{why}"

    def run(self, ctx: ExecContext) -> None:
        assert self.peer_id is not None
        ctx.backend.del_peer(self.ifname, self.peer_id)
        if ctx.transport is Transport.TCP:
            ctx.sockets.drop_tcp(self.ifname, self.peer_id)

    def record(self, rec: AppliedState) -> None:
        assert self.peer_id is not None
        rec.peers.pop(self.peer_id, None)


@dataclass(eq=False, kw_only=True)
class UpdatePeer(Step):
    config: PeerConfig
    listen: Endpoint | None = None

    def __post_init__(self) -> None:
        self.peer_id = self.config.peer_id

    def describe(self) -> str:
        c = self.config
        parts = [f"remote {c.remote}"]
        parts += [f"vpn {a}" for a in (c.vpn_ipv4, c.vpn_ipv6) if a is not None]
        if c.local is not None:
            parts.append(f"local {c.local.address}")
        return f"change peer {c.peer_id}: {', '.join(parts)}"

    def run(self, ctx: ExecContext) -> None:
        ctx.backend.update_peer(self.ifname, self.config)

    def record(self, rec: AppliedState) -> None:
        peer = rec.peers.get(self.config.peer_id)
        if peer is None:
            return
        c = self.config
        peer.remote = str(c.remote)
        peer.local = None if c.local is None else str(c.local.address)
        peer.vpn_ipv4 = _str_or_none(c.vpn_ipv4)
        peer.vpn_ipv6 = _str_or_none(c.vpn_ipv6)


@dataclass(eq=False, kw_only=True)
class SetKeepalive(Step):
    peer_id: int | None = None
    keepalive: Keepalive | None

    def describe(self) -> str:
        if self.keepalive is None:
            return f"switch off keepalive of peer {self.peer_id}"
        return f"set keepalive of peer {self.peer_id} to {self.keepalive} s"

    def run(self, ctx: ExecContext) -> None:
        assert self.peer_id is not None
        ctx.backend.set_keepalive(self.ifname, self.peer_id, self.keepalive or KEEPALIVE_OFF)

    def record(self, rec: AppliedState) -> None:
        assert self.peer_id is not None
        peer = rec.peers.get(self.peer_id)
        if peer is not None:
            ka = self.keepalive
            peer.keepalive = None if ka is None else (ka.interval, ka.timeout)


@dataclass(eq=False, kw_only=True)
class InstallKey(Step):
    peer_id: int | None = None
    slot: KeySlot
    key: LoadedKey
    slot_was_empty: bool
    symbol = "+"

    def describe(self) -> str:
        spec = self.key.spec
        files = "" if spec.encrypt is None else f" from {spec.encrypt} / {spec.decrypt}"
        return (
            f"install key id {spec.key_id} ({spec.cipher.value}) into the "
            f"{SLOT_NAMES[self.slot]} slot of peer {self.peer_id}{files}"
        )

    def run(self, ctx: ExecContext) -> None:
        assert self.peer_id is not None
        # Written to the ledger before the kernel sees the key: a crash in between
        # must err on the side of "used".
        entries = {
            fp: LedgerEntry(
                first_used=now_iso(),
                interface=self.ifname,
                peer_id=self.peer_id,
                key_id=self.key.key_id,
                direction=direction,
                file=getattr(self.key.spec, direction),
            )
            for direction, fp in self.key.fingerprints().items()
        }
        ctx.ledger.record(entries)
        ctx.backend.new_key(self.ifname, self.key.key_config(self.peer_id, self.slot))

    def record(self, rec: AppliedState) -> None:
        assert self.peer_id is not None
        peer = rec.peers.get(self.peer_id)
        if peer is not None:
            peer.keys[SLOT_NAMES[self.slot]] = self.key.applied()


@dataclass(eq=False, kw_only=True)
class DeleteKey(Step):
    peer_id: int | None = None
    slot: KeySlot
    symbol = "-"
    what: str = ""

    def describe(self) -> str:
        what = f" ({self.what})" if self.what else ""
        return f"delete the {SLOT_NAMES[self.slot]} key of peer {self.peer_id}{what}"

    def run(self, ctx: ExecContext) -> None:
        assert self.peer_id is not None
        ctx.backend.del_key(self.ifname, self.peer_id, self.slot)

    def record(self, rec: AppliedState) -> None:
        assert self.peer_id is not None
        peer = rec.peers.get(self.peer_id)
        if peer is not None:
            peer.keys.pop(SLOT_NAMES[self.slot], None)


@dataclass(eq=False, kw_only=True)
class SwapKeys(Step):
    peer_id: int | None = None

    def describe(self) -> str:
        return f"swap the primary and secondary keys of peer {self.peer_id}"

    def run(self, ctx: ExecContext) -> None:
        assert self.peer_id is not None
        ctx.backend.swap_keys(self.ifname, self.peer_id)

    def record(self, rec: AppliedState) -> None:
        assert self.peer_id is not None
        peer = rec.peers.get(self.peer_id)
        if peer is None:
            return
        primary = peer.keys.pop("primary", None)
        secondary = peer.keys.pop("secondary", None)
        if secondary is not None:
            peer.keys["primary"] = secondary
        if primary is not None:
            peer.keys["secondary"] = primary


@dataclass(eq=False, kw_only=True)
class AddAddress(Step):
    address: IPInterface
    symbol = "+"

    def describe(self) -> str:
        return f"add address {self.address} to {self.ifname}"

    def run(self, ctx: ExecContext) -> None:
        ctx.hostnet.add_address(self.ifname, self.address, ctx.mode)

    def record(self, rec: AppliedState) -> None:
        if str(self.address) not in rec.addresses:
            rec.addresses.append(str(self.address))


@dataclass(eq=False, kw_only=True)
class DeleteAddress(Step):
    address: IPInterface
    symbol = "-"

    def describe(self) -> str:
        return f"delete address {self.address} from {self.ifname}"

    def run(self, ctx: ExecContext) -> None:
        ctx.hostnet.del_address(self.ifname, self.address, ctx.mode)

    def record(self, rec: AppliedState) -> None:
        if str(self.address) in rec.addresses:
            rec.addresses.remove(str(self.address))


@dataclass(eq=False, kw_only=True)
class AddRoute(Step):
    route: Route
    symbol = "+"

    def describe(self) -> str:
        return f"add route {self.route} on {self.ifname}"

    def run(self, ctx: ExecContext) -> None:
        ctx.hostnet.add_route(self.ifname, self.route)

    def record(self, rec: AppliedState) -> None:
        entry = _route_entry(self.route)
        if entry not in rec.routes:
            rec.routes.append(entry)


@dataclass(eq=False, kw_only=True)
class DeleteRoute(Step):
    route: Route
    symbol = "-"

    def describe(self) -> str:
        return f"delete route {self.route} on {self.ifname}"

    def run(self, ctx: ExecContext) -> None:
        ctx.hostnet.del_route(self.ifname, self.route)

    def record(self, rec: AppliedState) -> None:
        entry = _route_entry(self.route)
        if entry in rec.routes:
            rec.routes.remove(entry)


def _route_entry(route: Route) -> tuple[str, str | None]:
    return (str(route.network), _str_or_none(route.via))


def _str_or_none(value: object | None) -> str | None:
    return None if value is None else str(value)


def _tcp_wait(peer: PeerSpec) -> str:
    """What a TCP peer without a connection waits for (the plan adds it once connected)."""
    if peer.tcp is TcpRole.ACCEPT:
        return (
            f"waits for {remote_text(peer.remote)} to connect to {peer.listen}; added when it does"
        )
    return f"not connected to {peer.remote} yet; added once the connection is made"


def _connection_text(sock: socket.socket) -> str:
    try:
        local = Endpoint.from_sockaddr(sock.getsockname())
        remote = Endpoint.from_sockaddr(sock.getpeername())
    except OSError as exc:
        return f"(gone: {exc.strerror})"
    return f"{local} -> {remote}"


def _applied_peer(peer: PeerSpec) -> AppliedPeer:
    return AppliedPeer(
        peer_id=peer.peer_id,
        remote=str(peer.remote),
        listen=_str_or_none(peer.listen),
        local=_str_or_none(peer.local),
        vpn_ipv4=_str_or_none(peer.vpn_ipv4),
        vpn_ipv6=_str_or_none(peer.vpn_ipv6),
        keepalive=None,
        tcp=None if peer.tcp is None else peer.tcp.value,
    )


# -- the plan --------------------------------------------------------------------------


@dataclass(eq=False)
class Plan:
    config: TunnelConfig
    prepare: list[Step] = field(default_factory=list)
    commit: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    keys: KeyTable = field(default_factory=dict)
    start_record: AppliedState | None = None
    interface_exists: bool = True

    @property
    def steps(self) -> list[Step]:
        return [*self.prepare, *self.commit]

    @property
    def empty(self) -> bool:
        return not self.prepare and not self.commit

    def lines(self) -> list[str]:
        """The plan as a person reads it: one line per change, notes after."""
        if self.empty:
            out = [f"{self.config.interface}: up to date, nothing to change"]
        else:
            out = [f"{self.config.interface}: {len(self.steps)} change(s)"]
            out += [f"  {step.line()}" for step in self.steps]
        out += [f"  note: {note}" for note in self.notes]
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "interface": self.config.interface,
            "steps": [step.to_json() for step in self.steps],
            "first_irreversible": len(self.prepare) if self.commit else None,
            "notes": list(self.notes),
        }

    def wipe(self) -> None:
        wipe_all(self.keys)


# -- what is there now -----------------------------------------------------------------


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()


@dataclass(frozen=True)
class _UnknownKey:
    """A slot holds a key ovpnctl has no record of (`key_id` when the kernel tells)."""

    key_id: int | None


SlotContent = AppliedKey | _UnknownKey


@dataclass
class _Current:
    """One peer as found: kernel facts where the kernel tells, the record elsewhere."""

    peer_id: int
    recorded: bool
    remote: Endpoint | None = None
    listen: Endpoint | None = None
    local: IPAddress | None = None
    vpn_ipv4: IPAddress | None = None
    vpn_ipv6: IPAddress | None = None
    keepalive: Keepalive | None = None
    slots: dict[KeySlot, SlotContent] = field(default_factory=dict)

    def peer_config(self) -> PeerConfig:
        local = None if self.local is None else Endpoint(self.local, 0)
        return PeerConfig(
            peer_id=self.peer_id,
            remote=self.remote,
            local=local,
            vpn_ipv4=self.vpn_ipv4,
            vpn_ipv6=self.vpn_ipv6,
        )


def _parse_endpoint(text: str | None) -> Endpoint | None:
    return None if text is None else Endpoint.parse(text)


def _parse_ip(text: str | None) -> IPAddress | None:
    return None if text is None else ipaddress.ip_address(text)


def _same_endpoint(a: Endpoint | None, b: Endpoint | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.unmapped() == b.unmapped()


def _cipher_family(name: str) -> str:
    """Linux reports AES-GCM without the key size, so AES-128/192/256 compare equal."""
    upper = name.upper()
    return "AES-GCM" if upper.startswith("AES-") and upper.endswith("-GCM") else upper


def _normal_keepalive(keepalive: Keepalive | None) -> Keepalive | None:
    if keepalive is None or (keepalive.interval == 0 and keepalive.timeout == 0):
        return None
    return keepalive


class Planner:
    """Builds one `Plan`. Raises `ConfigValidationError` (every problem) or `OvpnError`."""

    def __init__(
        self,
        config: TunnelConfig,
        *,
        backend: Backend,
        hostnet: HostNetwork,
        ledger: KeyLedger,
        sockets: SocketPool,
        record: AppliedState | None,
        allow_key_reuse: bool = False,
        dry_run: bool = False,
    ) -> None:
        self.config = config
        self.dry_run = dry_run
        self.backend = backend
        self.hostnet = hostnet
        self.ledger = ledger
        self.sockets = sockets
        self.raw_record = record
        self.allow_key_reuse = allow_key_reuse
        self.caps = backend.capabilities
        self.ifname = config.interface
        self.issues = Issues(config.source, config.lines)
        self.plan = Plan(config)
        self.installs: list[InstallKey] = []
        self.replacement_installs: dict[int, str] = {}  # id(step) -> why re-created

    # The order below is the order the plan runs in; see the module docstring.
    def build(self) -> Plan:
        try:
            self._check_capabilities()
            self.plan.keys = load_key_material(self.config, self.ledger, self.issues)
            self._read_current()
            self._interface_steps()
            self._address_steps()
            self._peer_steps()
            self._route_steps()
            self._check_ledger()
            self.issues.raise_if_any()
        except BaseException:
            self.plan.wipe()
            raise
        self.plan.prepare = self.prepare + self.new_peers + self.route_steps
        self.plan.commit = self.late_keys + self.removals + self.late_adds + self.late_start
        return self.plan

    # -- reading -------------------------------------------------------------------------
    def _check_capabilities(self) -> None:
        config = self.config
        if config.transport is Transport.TCP and Capability.TCP_TRANSPORT not in self.caps:
            self.issues.add(
                ("interface", "transport"),
                f"the {self.backend.name} kernel carries UDP only",
            )
        if Capability.ONE_SOCKET_PER_INTERFACE in self.caps and len(config.listen) > 1:
            self.issues.add(
                ("interface", "listen"),
                f"the {self.backend.name} kernel takes one socket per interface; "
                "configure one listen address (a [::]:PORT socket serves IPv4 and IPv6)",
            )

    def _read_current(self) -> None:
        ifname = self.ifname
        self.exists = ifname in self.backend.interfaces()
        self.plan.interface_exists = self.exists
        self.state = self.backend.state(ifname) if self.exists else None
        record = self.raw_record
        if record is not None and not self._record_usable(record):
            record = None
        start = copy.deepcopy(record) if record is not None else None
        if start is None:
            start = AppliedState(interface=ifname, backend=self.backend.name)
        start.backend = self.backend.name
        start.ledger_salt_id = self.ledger.salt_id
        kernel_peers: dict[int, PeerState] = {}
        if self.state is not None:
            start.ifindex = self.state.ifindex
            kernel_peers = {p.peer_id: p for p in self.state.peers}
        # Forget recorded things that are gone (a peer deleted by keepalive timeout, a
        # route someone removed): the record must describe the kernel as it is.
        start.peers = {pid: p for pid, p in start.peers.items() if pid in kernel_peers}
        self.current_addresses = self.hostnet.addresses(ifname) if self.exists else []
        self.current_routes = self.hostnet.routes(ifname) if self.exists else []
        start.addresses = [
            a for a in start.addresses if ipaddress.ip_interface(a) in self.current_addresses
        ]
        present = {_route_entry(r) for r in self.current_routes}
        start.routes = [r for r in start.routes if tuple(r) in present]
        self.plan.start_record = start
        self.current = {
            pid: self._current_peer(pid, state, start.peers.get(pid))
            for pid, state in sorted(kernel_peers.items())
        }

    def _record_usable(self, record: AppliedState) -> bool:
        state = self.state
        if not self.exists or state is None:
            return False  # the interface the record described is gone
        if record.backend != self.backend.name:
            return False
        if (
            record.ifindex is not None
            and state.ifindex is not None
            and record.ifindex != state.ifindex
        ):
            self.plan.notes.append(
                f"{self.ifname} was re-created since the last apply; its state file is "
                "stale and ignored"
            )
            return False
        if record.ledger_salt_id not in (None, self.ledger.salt_id) and any(
            p.keys for p in record.peers.values()
        ):
            raise OvpnError(
                f"the state file of {self.ifname} was written against another key ledger; "
                "ovpnctl cannot tell whether its keys are still fresh. Restore the ledger "
                f"({self.ledger.path}) or destroy {self.ifname} and apply with fresh keys"
            )
        return True

    def _current_peer(
        self, peer_id: int, state: PeerState, recorded: AppliedPeer | None
    ) -> _Current:
        readable = Capability.READ_PEER_CONFIG in self.caps
        if recorded is None:
            return _Current(peer_id, recorded=False)
        cur = _Current(
            peer_id,
            recorded=True,
            remote=_parse_endpoint(recorded.remote),
            listen=_parse_endpoint(recorded.listen),
            local=_parse_ip(recorded.local),
            vpn_ipv4=_parse_ip(recorded.vpn_ipv4),
            vpn_ipv6=_parse_ip(recorded.vpn_ipv6),
            keepalive=None if recorded.keepalive is None else Keepalive(*recorded.keepalive),
        )
        if readable:
            # The kernel's word wins where it can speak, except for the remote, which
            # floats when the peer's address changes; that is not a config change.
            cur.vpn_ipv4, cur.vpn_ipv6 = state.vpn_ipv4, state.vpn_ipv6
            cur.keepalive = _normal_keepalive(state.keepalive)
            if state.remote is not None and not _same_endpoint(state.remote, cur.remote):
                self.plan.notes.append(
                    f"peer {peer_id} now sends from {state.remote} (it floated from "
                    f"{cur.remote}); left as is"
                )
        for name, key in recorded.keys.items():
            cur.slots[KeySlot.PRIMARY if name == "primary" else KeySlot.SECONDARY] = key
        if Capability.READ_KEYS in self.caps:
            told = {info.slot: info for info in state.keys}
            for slot in KeySlot:
                held = cur.slots.get(slot)
                info = told.get(slot)
                if info is None:
                    cur.slots.pop(slot, None)
                elif not (
                    isinstance(held, AppliedKey)
                    and held.key_id == info.key_id
                    and _cipher_family(held.cipher) == _cipher_family(info.cipher.value)
                ):
                    cur.slots[slot] = _UnknownKey(info.key_id)
        return cur

    # -- interface, addresses, routes ------------------------------------------------------
    def _interface_steps(self) -> None:
        self.prepare: list[Step] = []
        self.late_start: list[Step] = []
        ifname, mode = self.ifname, self.config.mode
        if not self.exists:
            create = CreateInterface(ifname=ifname, mode=mode)
            create.undo = DestroyInterface(ifname=ifname)
            self.prepare += [create, StartInterface(ifname=ifname, undo=NOTHING)]
            return
        state = self.state
        assert state is not None
        if state.mode is not None and state.mode is not mode:
            if Capability.MODE_CHANGE in self.caps and not state.up:
                self.prepare.append(
                    SetMode(ifname=ifname, mode=mode, undo=SetMode(ifname=ifname, mode=state.mode))
                )
            else:
                self.issues.add(
                    ("interface", "mode"),
                    f"{ifname} exists in mode {state.mode.value}, which cannot change while "
                    f"it is up; destroy it (ovpnctl interface destroy {ifname}) and apply again",
                )
        if state.up is False:
            self.late_start.append(StartInterface(ifname=ifname))

    def _address_steps(self) -> None:
        start = self.plan.start_record
        assert start is not None
        owned = [ipaddress.ip_interface(a) for a in start.addresses]
        wanted = list(self.config.addresses)
        for address in owned:
            if address not in wanted:
                self.prepare.append(
                    DeleteAddress(
                        ifname=self.ifname,
                        address=address,
                        undo=AddAddress(ifname=self.ifname, address=address),
                    )
                )
        for address in wanted:
            if address not in self.current_addresses:
                self.prepare.append(
                    AddAddress(
                        ifname=self.ifname,
                        address=address,
                        undo=DeleteAddress(ifname=self.ifname, address=address),
                    )
                )

    def _wanted_routes(self) -> dict[Route, PeerSpec]:
        out: dict[Route, PeerSpec] = {}
        for peer in self.config.peers:
            for network in peer.routes:
                via = None
                if self.config.mode is Mode.MULTIPOINT:
                    via = peer.vpn_ipv4 if network.version == 4 else peer.vpn_ipv6
                out[Route(network, via)] = peer
        return out

    def _route_steps(self) -> None:
        start = self.plan.start_record
        assert start is not None
        self.route_steps: list[Step] = []
        owned = {Route(ipaddress.ip_network(net), _parse_ip(via)) for net, via in start.routes}
        wanted = self._wanted_routes()
        for route in sorted(owned - set(wanted), key=Route.sort_key):
            self.route_steps.append(
                DeleteRoute(
                    ifname=self.ifname, route=route, undo=AddRoute(ifname=self.ifname, route=route)
                )
            )
        current = set(self.current_routes)
        for route, peer in wanted.items():
            if route in current:
                continue
            clash = [r for r in current if r.network == route.network and r not in owned]
            if clash:
                self.issues.add(
                    (*peer.where, "routes"),
                    f"{self.ifname} already has a route to {clash[0]} that ovpnctl did not "
                    "install; remove it first",
                )
                continue
            self.route_steps.append(
                AddRoute(
                    ifname=self.ifname,
                    route=route,
                    undo=DeleteRoute(ifname=self.ifname, route=route),
                )
            )

    # -- peers -----------------------------------------------------------------------------
    def _peer_steps(self) -> None:
        self.new_peers: list[Step] = []
        self.late_keys: list[Step] = []
        self.removals: list[Step] = []
        self.late_adds: list[Step] = []
        wanted = {peer.peer_id: peer for peer in self.config.peers}
        replaced: dict[int, str] = {}
        for peer_id, cur in self.current.items():
            spec = wanted.get(peer_id)
            if spec is None:
                self.removals.append(
                    RemovePeer(ifname=self.ifname, peer_id=peer_id, reason="not in the config")
                )
                continue
            why = self._replace_reason(cur, spec)
            if why is None:
                why = self._change_existing(cur, spec)
            if why is not None:
                replaced[peer_id] = why
                self.removals.append(RemovePeer(ifname=self.ifname, peer_id=peer_id, reason=why))
        kept = [pid for pid in self.current if pid in wanted and pid not in replaced]
        gone = [pid for pid in self.current if pid not in kept]
        self.replaced = replaced
        for peer in self.config.peers:
            if peer.peer_id in kept:
                continue
            wait = self._must_wait(peer, kept, gone)
            if wait is None:
                continue
            steps = self._new_peer_steps(peer, replacing=peer.peer_id in replaced)
            late = wait or peer.peer_id in replaced
            (self.late_adds if late else self.new_peers).extend(steps)

    def _replace_reason(self, cur: _Current, spec: PeerSpec) -> str | None:
        """Why a live peer must be deleted and re-created, or None if it can be changed."""
        if not cur.recorded:
            return "ovpnctl has no record of it"
        if not _same_endpoint(cur.listen, spec.listen):
            return f"its socket changes from {cur.listen} to {spec.listen}"
        if self._addresses_differ(cur, spec):
            if Capability.PEER_UPDATE not in self.caps:
                return f"the {self.backend.name} kernel cannot change a live peer's addresses"
            if self.config.transport is Transport.TCP:
                return "a TCP peer's addresses belong to its connection"
            if cur.remote is None or any(
                getattr(cur, name) is not None and getattr(spec, name) is None
                for name in ("local", "vpn_ipv4", "vpn_ipv6")
            ):
                return "an address is removed, which the kernel cannot do on a live peer"
        clearable = Capability.PEER_UPDATE in self.caps
        if spec.keepalive is None and cur.keepalive is not None and not clearable:
            return f"the {self.backend.name} kernel cannot switch keepalive off"
        return None

    @staticmethod
    def _addresses_differ(cur: _Current, spec: PeerSpec) -> bool:
        return (
            not _same_endpoint(cur.remote, spec.remote)
            or cur.local != spec.local
            or cur.vpn_ipv4 != spec.vpn_ipv4
            or cur.vpn_ipv6 != spec.vpn_ipv6
        )

    def _change_existing(self, cur: _Current, spec: PeerSpec) -> str | None:
        """Steps for a kept peer; a reason string when it has to be re-created after all."""
        ifname, pid = self.ifname, spec.peer_id
        steps: list[Step] = []
        if self._addresses_differ(cur, spec):
            old, new = cur.peer_config(), spec.peer_config()
            # PEER_SET changes only the fields it carries, so an address that did not exist
            # before cannot be taken away again: such a change is one-way.
            one_way = any(
                getattr(old, name) is None and getattr(new, name) is not None
                for name in ("local", "vpn_ipv4", "vpn_ipv6")
            )
            back = None if one_way else UpdatePeer(ifname=ifname, config=old)
            steps.append(UpdatePeer(ifname=ifname, config=new, undo=back))
        if _normal_keepalive(spec.keepalive) != cur.keepalive:
            undo: Step | None = None
            if cur.keepalive is not None or Capability.PEER_UPDATE in self.caps:
                undo = SetKeepalive(ifname=ifname, peer_id=pid, keepalive=cur.keepalive)
            steps.append(
                SetKeepalive(ifname=ifname, peer_id=pid, keepalive=spec.keepalive, undo=undo)
            )
        keys = self._key_steps(cur, spec)
        if isinstance(keys, str):
            return keys
        steps += keys
        # Everything from the first step that cannot be undone runs in the commit phase.
        first = next((i for i, s in enumerate(steps) if not s.reversible), len(steps))
        self.prepare += steps[:first]
        self.late_keys += steps[first:]
        return None

    def _key_steps(self, cur: _Current, spec: PeerSpec) -> list[Step] | str:
        """Key changes for a kept peer (the README's rotation workflow, in kernel calls).

        A new primary always enters through the secondary slot and a swap, so the old key
        keeps decrypting until the very end; only then is a key no longer configured
        deleted.
        """
        pid = spec.peer_id
        want_p = self.plan.keys.get((pid, KeySlot.PRIMARY))
        want_s = self.plan.keys.get((pid, KeySlot.SECONDARY))
        if spec.key is None or want_p is None:
            return []  # not managed by this config, or its files failed (already reported)
        have_p = cur.slots.get(KeySlot.PRIMARY)
        have_s = cur.slots.get(KeySlot.SECONDARY)
        if _holds(have_p, want_p):
            return self._fix_secondary(pid, have_s, want_s)
        if _holds(have_s, want_p):  # promote the prepared key; the old one stays behind it
            return [_swap(self.ifname, pid), *self._fix_secondary(pid, have_p, want_s)]
        if have_p is None:
            install = self._install(pid, KeySlot.PRIMARY, want_p, empty=True)
            return [install, *self._fix_secondary(pid, have_s, want_s)]
        if have_p.key_id is None or have_p.key_id == want_p.key_id:
            if isinstance(have_p, _UnknownKey):
                return "its installed key is not the one in the state file"
            self.issues.add(
                (*want_p.spec.where, "id"),
                f"the key changed but its id is still {want_p.key_id}: during a rotation the "
                "receiver tells the old and new key apart by id, so give the new key "
                f"another id (e.g. {(want_p.key_id + 1) % 8})",
            )
            return []
        install = self._install(pid, KeySlot.SECONDARY, want_p, empty=have_s is None)
        return [install, _swap(self.ifname, pid), *self._fix_secondary(pid, have_p, want_s)]

    def _fix_secondary(
        self, pid: int, have: SlotContent | None, want: LoadedKey | None
    ) -> list[Step]:
        """Make the secondary slot hold `want` (or nothing), given it now holds `have`."""
        if want is None:
            if have is None:
                return []
            return [
                DeleteKey(
                    ifname=self.ifname, peer_id=pid, slot=KeySlot.SECONDARY, what="retired key"
                )
            ]
        if _holds(have, want):
            return []
        return [self._install(pid, KeySlot.SECONDARY, want, empty=have is None)]

    def _install(self, pid: int, slot: KeySlot, key: LoadedKey, *, empty: bool) -> InstallKey:
        undo = DeleteKey(ifname=self.ifname, peer_id=pid, slot=slot) if empty else None
        step = InstallKey(
            ifname=self.ifname, peer_id=pid, slot=slot, key=key, slot_was_empty=empty, undo=undo
        )
        self.installs.append(step)
        return step

    def _new_peer_steps(self, peer: PeerSpec, *, replacing: bool) -> list[Step]:
        ifname = self.ifname
        add = AddPeer(ifname=ifname, peer=peer)
        sock = self.sockets.tcp_ready(ifname, peer.peer_id)
        if sock is not None:
            add.connection = _connection_text(sock)
        add.undo = RemovePeer(ifname=ifname, peer_id=peer.peer_id, reason="undo")
        steps: list[Step] = [add]
        for slot in (KeySlot.PRIMARY, KeySlot.SECONDARY):
            key = self.plan.keys.get((peer.peer_id, slot))
            if key is not None:
                install = self._install(peer.peer_id, slot, key, empty=True)
                install.undo = NOTHING
                if replacing:
                    self.replacement_installs[id(install)] = self.replaced[peer.peer_id]
                steps.append(install)
        if peer.keepalive is not None:
            steps.append(
                SetKeepalive(
                    ifname=ifname, peer_id=peer.peer_id, keepalive=peer.keepalive, undo=NOTHING
                )
            )
        return steps

    def _must_wait(self, peer: PeerSpec, kept: list[int], gone: list[int]) -> bool | None:
        """Whether a new peer can only be added after the removals (None: cannot at all)."""
        if self.config.transport is Transport.UDP:
            assert peer.listen is not None
            if Capability.KERNEL_HOLDS_SOCKET not in self.caps and not self.sockets.holds_tunnel:
                return self._cannot_add(
                    peer,
                    f"the {self.backend.name} kernel removes a peer as soon as its socket "
                    "closes, and this command exits when done; run `ovpnctl up` (the "
                    "supervisor holds the sockets) to add peers",
                )
            if (
                Capability.ONE_SOCKET_PER_INTERFACE in self.caps
                and not self.sockets.has_udp(peer.listen)
                and self.current
            ):
                if kept:
                    return self._cannot_add(
                        peer,
                        f"{self.ifname} already carries peers on a socket this process does "
                        "not hold, and the kernel takes one socket per interface; add peers "
                        "through the `ovpnctl up` supervisor that created them",
                    )
                return True  # a fresh socket is accepted once the old peers are gone
        elif not self.sockets.holds_tunnel:
            return self._cannot_add(
                peer, "a TCP peer lives only as long as its connection; run `ovpnctl up` to add it"
            )
        elif self.sockets.tcp_ready(self.ifname, peer.peer_id) is None:
            self.plan.notes.append(f"peer {peer.peer_id}: {_tcp_wait(peer)}")
            return None
        if self.config.mode is Mode.P2P and gone:
            return True  # p2p: one peer at a time
        taken = set()
        for pid in gone:
            cur = self.current[pid]
            taken |= {cur.vpn_ipv4, cur.vpn_ipv6} - {None}
        return bool({peer.vpn_ipv4, peer.vpn_ipv6} & taken)

    def _cannot_add(self, peer: PeerSpec, reason: str) -> bool | None:
        """A peer this process cannot add: an error, or in a dry run a note (the plan is
        still shown, since `ovpnctl up` would carry it out)."""
        if self.dry_run:
            self.plan.notes.append(f"peer {peer.peer_id}: {reason}")
            return False
        self.issues.add(peer.where, reason)
        return None

    # -- ledger ----------------------------------------------------------------------------
    def _check_ledger(self) -> None:
        wanted: dict[str, tuple[InstallKey, str]] = {}
        for step in self.installs:
            for direction, fp in step.key.fingerprints().items():
                wanted.setdefault(fp, (step, direction))
        if not wanted or self.allow_key_reuse:
            return
        used = self.ledger.lookup(wanted)
        for fp, (step, direction) in wanted.items():
            entry = used.get(fp)
            if entry is None:
                continue
            context = ""
            reason = self.replacement_installs.get(id(step))
            if reason is not None:
                context = f" (peer {step.peer_id} must be re-created because {reason})"
            self.issues.add(
                (*step.key.spec.where, direction),
                f"this key material was already installed on {entry.first_used} "
                f"({entry.interface} peer {entry.peer_id}, key id {entry.key_id}, "
                f"{entry.direction}){context}; installing it again restarts the packet "
                "counter under the same key and IV and reuses AES-GCM nonces. Generate "
                "fresh keys (ovpnctl genkey) or, knowing the risk, pass --allow-key-reuse",
            )


def _holds(content: SlotContent | None, key: LoadedKey | None) -> bool:
    return isinstance(content, AppliedKey) and key is not None and key.matches(content)


def _swap(ifname: str, pid: int) -> SwapKeys:
    step = SwapKeys(ifname=ifname, peer_id=pid)
    step.undo = SwapKeys(ifname=ifname, peer_id=pid)
    return step


def build_plan(
    config: TunnelConfig,
    *,
    backend: Backend,
    hostnet: HostNetwork,
    ledger: KeyLedger,
    sockets: SocketPool,
    record: AppliedState | None,
    allow_key_reuse: bool = False,
    dry_run: bool = False,
) -> Plan:
    """`dry_run`: only for showing; what this process could not carry out becomes a note."""
    planner = Planner(
        config,
        backend=backend,
        hostnet=hostnet,
        ledger=ledger,
        sockets=sockets,
        record=record,
        allow_key_reuse=allow_key_reuse,
        dry_run=dry_run,
    )
    return planner.build()
