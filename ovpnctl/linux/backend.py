"""`LinuxBackend`: the Backend contract on the in-tree Linux `ovpn` driver (6.16+)."""

from __future__ import annotations

import errno
import operator
import socket
import time
import types
import weakref
from collections import deque
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from ovpnctl.backend import Backend, Capability
from ovpnctl.errors import (
    ExitCode,
    KernelError,
    OvpnError,
    ProtocolError,
    RollbackError,
    UsageError,
    ValidationError,
)
from ovpnctl.ids import check_peer_id
from ovpnctl.keys import IMPLICIT_IV_LEN, Cipher, KeyConfig, KeyInfo, KeySlot, wipe
from ovpnctl.linux import messages
from ovpnctl.linux.errors import explain
from ovpnctl.linux.events import EVENT_RCVBUF, EventListener
from ovpnctl.linux.genl import (
    CIPHER_ALG,
    FAMILY_NAME,
    SLOT_NAMES,
    Cmd,
    Family,
    Features,
    decode_genl,
    encode_request,
    resolve_family,
)
from ovpnctl.linux.messages import Request
from ovpnctl.linux.nla import Placeholder
from ovpnctl.linux.nlsock import NETLINK_GENERIC, NetlinkRequestError, NetlinkSocket
from ovpnctl.linux.rtnl import STATS64_COUNTERS, LinkInfo, Links, check_ifname
from ovpnctl.linux.rtnl import newlink_record as rtnl_newlink_record
from ovpnctl.linux.transport import SocketInfo, check_peer_for_socket, inspect_socket
from ovpnctl.model import (
    CounterPair,
    Event,
    EventKind,
    InterfaceState,
    Keepalive,
    Mode,
    PeerConfig,
    PeerState,
    Transport,
)

AUTO_NAME_PREFIX = "ovpn"
AUTO_NAME_TRIES = 64


def check_keepalive(keepalive: Keepalive, what: str) -> Keepalive:
    """Both or none: the kernel needs the pair together, and only a pair of non-zero
    values arms the timers; one zero would silently disable the other value."""
    if (keepalive.interval == 0) != (keepalive.timeout == 0):
        raise ValidationError(
            f"{what}: keepalive interval and timeout go together; set both "
            f"(got {keepalive.interval}/{keepalive.timeout}), or both to 0 to switch it off"
        )
    return keepalive


class LinuxBackend(Backend):
    """Peers, keys, counters and notifications of Linux `ovpn` interfaces.

    Socket ownership: the Linux kernel keeps a peer only while some process holds its
    transport socket open; it takes no reference of its own, and closing the last
    descriptor removes every peer on that socket (PEER_DEL_NTF, reason
    TRANSPORT_DISCONNECT). So `add_peer` keeps a reference to the socket object it was
    given (`held_sockets`), and the peers live exactly as long as this process holds the
    backend (or the caller keeps its own reference). A process that exits drops its
    peers. One-shot tools must therefore not add peers and exit; check
    `Capability.KERNEL_HOLDS_SOCKET` (absent here) rather than the OS name.

    Namespaces: every netlink socket belongs to the network namespace of the process
    that created it, and so does this backend: interface names and indexes are those of
    the process's namespace. Notifications are multicast in the namespace of each peer's
    *transport socket*, so this backend sees the events of peers whose socket was
    created in its namespace.

    Dry runs (`dry_run=True`) encode every request exactly as for the kernel, record it
    in `planned_calls` as `{"netlink": "genl", "family": "ovpn", "command":
    "OVPN_CMD_...", "interface": name, "attrs": {...}}` (key bytes shown as
    "<N bytes hidden>", run-time values such as the ifindex as placeholders), and open
    no netlink socket at all, so they work without the ovpn module (or on another OS).
    """

    name: ClassVar[str] = "linux"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.READ_PEER_CONFIG,
            Capability.READ_KEYS,
            Capability.TCP_TRANSPORT,
            Capability.EVENT_MULTICAST,
            Capability.PEER_UPDATE,
        }
    )

    def __init__(
        self,
        *,
        dry_run: bool = False,
        subscribe: bool = True,
        event_buffer: int = EVENT_RCVBUF,
    ) -> None:
        """`subscribe`: join the `peers` group as soon as the kernel is first contacted,
        so events that happen after that are never missed. `event_buffer`: the
        listener's receive buffer in bytes (SO_RCVBUFFORCE)."""
        super().__init__(dry_run=dry_run)
        self.subscribe = subscribe
        self.event_buffer = event_buffer
        self._family: Family | None = None
        self._genl: NetlinkSocket | None = None
        self._listener: EventListener | None = None
        self._links: Links | None = None
        self._held: dict[tuple[str, int], socket.socket] = {}
        self._index_cache: dict[str, int] = {}
        self._name_cache: dict[int, str] = {}
        self._ciphers: dict[tuple[str, int, KeySlot], Cipher] = {}
        self._queue: deque[Event] = deque()
        # The last UDP socket inspected (by weak reference, so it can still close).
        self._last_socket: tuple[weakref.ref[socket.socket], SocketInfo] | None = None
        self._lost = False

    # -- connections ----------------------------------------------------------------------
    def _connect(self) -> tuple[NetlinkSocket, Family]:
        if self._genl is None or self._family is None:
            family = resolve_family()
            genl = NetlinkSocket(NETLINK_GENERIC)
            try:
                if self.subscribe and self._listener is None:
                    self._listener = EventListener(
                        family.id, family.peers_group, rcvbuf=self.event_buffer
                    )
            except BaseException:
                genl.close()
                raise
            self._family, self._genl = family, genl
        return self._genl, self._family

    @property
    def features(self) -> Features:
        """What the running driver supports (TX_ID, float notifications)."""
        if self.dry_run:
            raise UsageError("a dry run does not contact the kernel, so it cannot tell")
        return self._connect()[1].features

    @property
    def links(self) -> Links:
        if self._links is None:
            self._links = Links()
        return self._links

    def close(self) -> None:
        """Close the netlink sockets. Held transport sockets stay held (see the class
        docstring): dropping them here would silently delete the peers."""
        for closable in (self._genl, self._listener, self._links):
            if closable is not None:
                closable.close()
        self._genl = self._listener = self._links = None
        self._family = None

    @property
    def held_sockets(self) -> Mapping[tuple[str, int], socket.socket]:
        """(interface, peer id) -> the transport socket this backend keeps open."""
        return types.MappingProxyType(self._held)

    def forget_socket(self, ifname: str, peer_id: int) -> socket.socket | None:
        """Stop holding a peer's socket (hand it over, or let it close: the peer then
        goes away unless someone else holds the socket)."""
        return self._held.pop((ifname, peer_id), None)

    # -- requests -------------------------------------------------------------------------
    def _ifindex(self, ifname: str) -> int | Placeholder:
        cached = self._index_cache.get(ifname)  # names in the cache were checked
        if cached is not None:
            return cached
        check_ifname(ifname)
        if self.dry_run:
            return Placeholder(f"<ifindex of {ifname}>")
        try:
            index = socket.if_nametoindex(ifname)
        except OSError:
            raise KernelError(
                f"there is no interface named {ifname} in this network namespace",
                errno=errno.ENODEV,
                exit_code=ExitCode.NOINPUT,
            ) from None
        self._index_cache[ifname] = index
        self._name_cache[index] = ifname
        return index

    def _forget_interface(self, ifname: str) -> None:
        """Drop name -> index; index -> name stays, so that notifications about a deleted
        interface (TEARDOWN) still carry its name (the kernel does not reuse indexes)."""
        self._index_cache.pop(ifname, None)

    def _record(self, ifname: str, request: Request) -> None:
        attrs = request.render(show_secrets=bool(getattr(self, "show_keys", False)))
        record: dict[str, Any] = {
            "netlink": "genl",
            "family": FAMILY_NAME,
            "command": request.cmd.kernel_name,
            "interface": ifname,
            "attrs": attrs,
        }
        if request.dump:
            record["dump"] = True
        self.planned_calls.append(record)

    def _send(
        self, ifname: str, build: Any, context: dict[str, Any], *args: Any
    ) -> list[dict[str, Any]]:
        """Build the request with `build(ifindex, *args)`, send it, decode the replies."""
        return [
            decode_genl(payload)[1] for payload in self._send_raw(ifname, build, context, *args)
        ]

    def _send_raw(
        self, ifname: str, build: Any, context: dict[str, Any], *args: Any
    ) -> list[bytes]:
        """`_send` without decoding: the replies' payloads (genl header included).

        ENODEV with a cached ifindex means the interface was re-created: look the name up
        again and retry once.
        """
        for attempt in (0, 1):
            request: Request = build(self._ifindex(ifname), *args)
            try:
                return self._send_request(ifname, request)
            except NetlinkRequestError as exc:
                if exc.errno == errno.ENODEV and attempt == 0 and ifname in self._index_cache:
                    self._forget_interface(ifname)
                    continue
                raise explain(
                    request.cmd, exc.errno, exc.ext, {"ifname": ifname, **context}
                ) from None
        raise AssertionError("unreachable")

    def _send_request(self, ifname: str, request: Request) -> list[bytes]:
        buf = encode_request(request.cmd, request.items)
        try:
            if self.dry_run:
                self._record(ifname, request)
                return []
            genl, family = self._genl, self._family
            if genl is None or family is None:
                genl, family = self._connect()
            replies = genl.transact(family.id, buf, dump=request.dump)
        finally:
            if request.cmd is Cmd.KEY_NEW:  # the only request that carries key material
                wipe(buf)
        return [reply.payload for reply in replies]

    # -- interfaces -----------------------------------------------------------------------
    def interfaces(self) -> list[str]:
        if self.dry_run:
            return []
        return sorted(link.name for link in self.links.dump() if link.is_ovpn)

    def _ovpn_link(self, ifname: str, what: str) -> LinkInfo:
        check_ifname(ifname)
        link = self.links.get(ifname)
        if link is None:
            raise KernelError(
                f"{what}: there is no interface named {ifname}",
                errno=errno.ENODEV,
                exit_code=ExitCode.NOINPUT,
            )
        if not link.is_ovpn:
            kind = f" (its kind is {link.kind})" if link.kind else ""
            raise UsageError(f"{what}: {ifname} is not an ovpn interface{kind}")
        self._index_cache[ifname] = link.index
        self._name_cache[link.index] = ifname
        return link

    def state(self, ifname: str) -> InterfaceState:
        if self.dry_run:
            raise UsageError(f"a dry run cannot read the state of {ifname}")
        link = self._ovpn_link(ifname, f"cannot read {ifname}")
        counters = tuple(
            CounterPair(name, link.stats[rx], link.stats[tx])
            for name, rx, tx in STATS64_COUNTERS
            if rx in link.stats
        )
        return InterfaceState(
            name=ifname,
            backend=self.name,
            mode=link.mode,
            up=link.up,
            ifindex=link.index,
            mtu=link.mtu,
            counters=counters,
            peers=tuple(self.peer_states(ifname)),
            pending_events=self.pending_events(ifname),
        )

    def create_interface(self, name: str | None, mode: Mode) -> str:
        if name is None:
            name = self._free_name()
        check_ifname(name)
        if self.dry_run:
            self.planned_calls.append(rtnl_newlink_record(name, mode))
            return name
        self.links.create(name, mode)
        self._forget_interface(name)
        return name

    def _free_name(self) -> str:
        taken = {name for _index, name in socket.if_nameindex()}
        for unit in range(AUTO_NAME_TRIES * 1024):
            candidate = f"{AUTO_NAME_PREFIX}{unit}"
            if candidate not in taken:
                return candidate
        raise UsageError("no free ovpnN interface name; name the interface explicitly")

    def destroy_interface(self, ifname: str) -> None:
        if self.dry_run:
            check_ifname(ifname)
            self.planned_calls.append(
                {
                    "netlink": "rtnl",
                    "command": "RTM_DELLINK",
                    "interface": ifname,
                    "attrs": {"ifindex": f"<ifindex of {ifname}>"},
                }
            )
            return
        link = self._ovpn_link(ifname, f"cannot destroy {ifname}")
        self.links.delete(ifname, link.index)
        self._forget_interface(ifname)
        for key in [key for key in self._held if key[0] == ifname]:
            del self._held[key]
        for ckey in [ckey for ckey in self._ciphers if ckey[0] == ifname]:
            del self._ciphers[ckey]

    def set_mode(self, ifname: str, mode: Mode) -> None:
        """The Linux driver fixes the mode at creation (IFLA_OVPN_MODE); asking for the
        mode it already has is accepted, anything else explains how to get there."""
        check_ifname(ifname)
        if not self.dry_run:
            link = self._ovpn_link(ifname, f"cannot set the mode of {ifname}")
            if link.mode is mode:
                return
        raise UsageError(
            f"cannot set {ifname} to {mode.value} mode: Linux fixes an ovpn interface's mode "
            f"when it is created; destroy {ifname} and create it again in {mode.value} mode"
        )

    def start(self, ifname: str) -> None:
        """Bring the link up; Linux has no separate "start the VPN" step."""
        if self.dry_run:
            check_ifname(ifname)
            self.planned_calls.append(
                {
                    "netlink": "rtnl",
                    "command": "RTM_NEWLINK",
                    "interface": ifname,
                    "attrs": {"ifindex": f"<ifindex of {ifname}>", "flags": "IFF_UP"},
                }
            )
            return
        link = self._ovpn_link(ifname, f"cannot bring {ifname} up")
        self.links.set_up(ifname, link.index)

    # -- peers ----------------------------------------------------------------------------
    def add_peer(
        self,
        ifname: str,
        peer: PeerConfig,
        sock: socket.socket | None,
        *,
        tx_id: int | None = None,
    ) -> None:
        """Create a peer on `sock` (a bound UDP socket, or a connected TCP socket) and
        hold the socket for as long as this backend lives (see the class docstring).

        `tx_id`: the id put on outgoing packets when it differs from `peer.peer_id`
        (OVPN_A_PEER_TX_ID; newer kernels only).
        """
        if peer.keepalive is not None:
            check_keepalive(peer.keepalive, f"peer {peer.peer_id}")
        if tx_id is not None:
            self._check_tx_id(tx_id, f"peer {peer.peer_id}")
        fd: int | Placeholder
        if sock is None:
            if not self.dry_run:
                raise UsageError(f"peer {peer.peer_id}: a socket is required to add a peer")
            fd = Placeholder("<socket fd>")
            if peer.remote is None:
                raise ValidationError(
                    f"peer {peer.peer_id}: without a socket a dry run assumes UDP, which needs "
                    "a remote"
                )
        else:
            info = self._inspect(sock, peer.peer_id)
            peer = check_peer_for_socket(peer, info)
            fd = info.fd
        context = {"peer_id": peer.peer_id, "fd": fd}
        self._send_raw(ifname, messages.peer_new, context, peer, fd, tx_id)
        if sock is not None and not self.dry_run:
            self._held[(ifname, peer.peer_id)] = sock
        if peer.keepalive is not None and peer.keepalive.interval:
            self._rearm_keepalive(ifname, peer.peer_id, peer.keepalive)

    def _rearm_keepalive(self, ifname: str, peer_id: int, keepalive: Keepalive) -> None:
        """Send the keepalive again with PEER_SET, now that the peer exists.

        Seen on 6.17 under QEMU: PEER_NEW stores the keepalive and kicks the driver's
        keepalive worker *before* it inserts the peer; when the worker runs in between it
        finds no peer and does not reschedule itself, so no keepalive is ever sent and the
        peer never expires. A PEER_SET after the insertion kicks the worker again. If it
        fails, the half-configured peer is removed again.
        """
        try:
            self._send(
                ifname, messages.peer_set_keepalive, {"peer_id": peer_id}, peer_id, keepalive
            )
        except OvpnError as exc:
            try:
                self.del_peer(ifname, peer_id)
            except OvpnError as undo:
                raise RollbackError(
                    f"{exc.message}; removing the half-added peer {peer_id} from {ifname} "
                    f"failed too: {undo.message}"
                ) from None
            raise

    def _inspect(self, sock: socket.socket, peer_id: int) -> SocketInfo:
        """inspect_socket, remembered for the last bound UDP socket (its family, type and
        port cannot change; a closed one changes its fileno), so that adding many peers on
        one socket does not repeat five system calls each time."""
        last = self._last_socket
        if last is not None and last[0]() is sock and last[1].fd == sock.fileno():
            return last[1]
        info = inspect_socket(sock, peer_id)
        if info.transport is Transport.UDP:
            self._last_socket = (weakref.ref(sock), info)
        return info

    def _check_tx_id(self, tx_id: int, what: str) -> None:
        check_peer_id(tx_id)
        if not self.dry_run and not self.features.tx_id:
            raise UsageError(
                f"{what}: this kernel's ovpn driver has no TX_ID attribute, so the id on "
                "outgoing packets is always the peer id (asymmetric ids need a newer kernel)"
            )

    def set_keepalive(self, ifname: str, peer_id: int, keepalive: Keepalive) -> None:
        check_peer_id(peer_id)
        check_keepalive(keepalive, f"peer {peer_id}")
        self._send(ifname, messages.peer_set_keepalive, {"peer_id": peer_id}, peer_id, keepalive)

    def update_peer(self, ifname: str, peer: PeerConfig, *, tx_id: int | None = None) -> None:
        """PEER_SET: change the remote, local address, VPN addresses, keepalive (and TX_ID
        on newer kernels) of a live peer. Fields left None are not changed; the socket
        cannot be changed."""
        what = f"peer {peer.peer_id}"
        if peer.keepalive is not None:
            check_keepalive(peer.keepalive, what)
        if tx_id is not None:
            self._check_tx_id(tx_id, what)
        self._send_raw(ifname, messages.peer_set, {"peer_id": peer.peer_id}, peer, tx_id)

    def del_peer(self, ifname: str, peer_id: int) -> None:
        check_peer_id(peer_id)
        self._send(ifname, messages.peer_del, {"peer_id": peer_id}, peer_id)
        self._peer_gone(ifname, peer_id)

    def _peer_gone(self, ifname: str, peer_id: int) -> None:
        self._held.pop((ifname, peer_id), None)
        for slot in KeySlot:
            self._ciphers.pop((ifname, peer_id, slot), None)

    def peer_state(self, ifname: str, peer_id: int, *, with_keys: bool = True) -> PeerState:
        """One peer's configuration and counters (PEER_GET), and its keys (KEY_GET)."""
        check_peer_id(peer_id)
        if self.dry_run:
            raise UsageError(f"a dry run cannot read peer {peer_id} of {ifname}")
        replies = self._send_raw(ifname, messages.peer_get, {"peer_id": peer_id}, peer_id)
        if not replies:
            raise ProtocolError("the kernel answered PEER_GET without a peer")
        values = messages.peer_values(replies[0])
        keys = self._key_infos(ifname, peer_id) if with_keys else ()
        return messages.peer_state(values, keys)

    def peer_states(self, ifname: str, *, with_keys: bool = True) -> list[PeerState]:
        """Every peer of the interface (one PEER_GET dump), sorted by id; `with_keys`
        adds two KEY_GET requests per peer."""
        if self.dry_run:
            raise UsageError(f"a dry run cannot read the peers of {ifname}")
        peers = [
            messages.peer_values(reply)
            for reply in self._send_raw(ifname, messages.peer_get, {}, None)
        ]
        shared: dict[Any, Any] = {}
        if not with_keys:
            out = [messages.peer_state(values, (), shared) for values in peers]
        else:
            out = []
            for values in peers:
                keys: tuple[KeyInfo, ...] = ()
                try:
                    keys = self._key_infos(ifname, values[messages.PEER_ID])
                except KernelError as exc:
                    if exc.errno != errno.ENOENT:  # deleted since the dump: report it keyless
                        raise
                out.append(messages.peer_state(values, keys, shared))
        out.sort(key=_BY_PEER_ID)
        return out

    # -- keys -----------------------------------------------------------------------------
    def new_key(self, ifname: str, key: KeyConfig) -> None:
        cipher = key.encrypt.cipher
        if cipher is Cipher.NONE:
            raise ValidationError(
                f"peer {key.peer_id}: cipher none cannot be installed; the Linux ovpn driver "
                "offloads AES-GCM and ChaCha20-Poly1305 only"
            )
        key_length = cipher.key_length
        for direction in (key.encrypt, key.decrypt):
            if (
                direction.cipher is not cipher
                or len(direction.key) != key_length
                or len(direction.iv) != IMPLICIT_IV_LEN
            ):
                raise ValidationError(
                    f"peer {key.peer_id}: {cipher.value} needs a {key_length}-byte key and an "
                    f"{IMPLICIT_IV_LEN}-byte IV per direction"
                )
        context = {
            "peer_id": key.peer_id,
            "slot": SLOT_NAMES[key.slot],
            "cipher": cipher.value,
            "key_len": key_length,
        }
        self._send_raw(ifname, messages.key_new, context, key)
        if not self.dry_run:
            self._ciphers[(ifname, key.peer_id, key.slot)] = cipher

    def swap_keys(self, ifname: str, peer_id: int) -> None:
        check_peer_id(peer_id)
        self._send(ifname, messages.key_swap, {"peer_id": peer_id}, peer_id)
        primary = self._ciphers.pop((ifname, peer_id, KeySlot.PRIMARY), None)
        secondary = self._ciphers.pop((ifname, peer_id, KeySlot.SECONDARY), None)
        if secondary is not None:
            self._ciphers[(ifname, peer_id, KeySlot.PRIMARY)] = secondary
        if primary is not None:
            self._ciphers[(ifname, peer_id, KeySlot.SECONDARY)] = primary

    def del_key(self, ifname: str, peer_id: int, slot: KeySlot) -> None:
        check_peer_id(peer_id)
        context = {"peer_id": peer_id, "slot": KeySlot(slot).name.lower()}
        self._send(ifname, messages.key_del, context, peer_id, KeySlot(slot))
        self._ciphers.pop((ifname, peer_id, KeySlot(slot)), None)

    def key_info(self, ifname: str, peer_id: int) -> tuple[KeyInfo, ...] | None:
        """Slot, key id and cipher of each installed key (KEY_GET; never key bytes).

        The kernel reports AES-GCM without its key size: a key this backend installed
        reads back with its exact cipher, any other AES-GCM key as AES-256-GCM."""
        check_peer_id(peer_id)
        if self.dry_run:
            raise UsageError(f"a dry run cannot read the keys of peer {peer_id} on {ifname}")
        return self._key_infos(ifname, peer_id)

    def _key_infos(self, ifname: str, peer_id: int) -> tuple[KeyInfo, ...]:
        out = []
        for slot in KeySlot:
            try:
                replies = self._send(
                    ifname,
                    messages.key_get,
                    {"peer_id": peer_id, "slot": slot.name.lower()},
                    peer_id,
                    slot,
                )
            except KernelError as exc:
                if exc.errno == errno.ENOENT and "no key in the" in exc.message:
                    continue  # an empty slot is not an error when listing
                raise
            for reply in replies:
                info = messages.key_info(reply.get("OVPN_A_KEYCONF") or {})
                known = self._ciphers.get((ifname, peer_id, slot))
                if known is not None and CIPHER_ALG[known] == CIPHER_ALG[info.cipher]:
                    info = KeyInfo(info.peer_id, info.slot, info.key_id, known)
                out.append(info)
        return tuple(out)

    # -- events ---------------------------------------------------------------------------
    def _listener_or_fail(self) -> EventListener:
        if self.dry_run:
            raise UsageError("a dry run cannot read kernel notifications")
        self._connect()
        if self._listener is None:
            family = self._family
            assert family is not None
            self._listener = EventListener(family.id, family.peers_group, rcvbuf=self.event_buffer)
        return self._listener

    def _interface_name(self, ifindex: int | None) -> str:
        if ifindex is None:
            return "?"
        name = self._name_cache.get(ifindex)
        if name is None:
            try:
                name = socket.if_indextoname(ifindex)
            except OSError:
                return f"ifindex {ifindex}"
        return name

    def _pump(self) -> None:
        listener = self._listener_or_fail()
        notifications, lost = listener.drain()
        for cmd, attrs in notifications:
            ev = messages.event(cmd, attrs, self._interface_name(attrs.get("OVPN_A_IFINDEX")))
            if ev.kind is EventKind.PEER_DELETED and ev.peer_id is not None:
                self._release_if_gone(ev.interface, ev.peer_id)
            self._queue.append(ev)
        self._lost = self._lost or lost

    def _release_if_gone(self, ifname: str, peer_id: int) -> None:
        """A peer we hold a socket for was deleted: let the socket go, unless a peer of the
        same id exists again (a P2P peer replaced by one with the same id sends TEARDOWN
        for the old one after the new one is in place)."""
        if (ifname, peer_id) not in self._held:
            return
        try:
            self._send(ifname, messages.peer_get, {"peer_id": peer_id}, peer_id)
        except KernelError as exc:
            if exc.errno in (errno.ENOENT, errno.ENODEV):
                self._peer_gone(ifname, peer_id)
                return
            raise

    def _raise_if_lost(self) -> None:
        if self._lost:
            self._lost = False
            raise KernelError(
                "events were lost: the kernel dropped notifications because the listener's "
                "receive buffer overflowed; re-read the peers (ovpnctl show) to resynchronise",
                errno=errno.ENOBUFS,
                exit_code=ExitCode.TEMPFAIL,
            )

    def _take(self, ifname: str | None) -> list[Event]:
        taken = [ev for ev in self._queue if ifname is None or ev.interface == ifname]
        if taken:
            self._queue = deque(
                ev for ev in self._queue if not (ifname is None or ev.interface == ifname)
            )
        return taken

    def pending_events(self, ifname: str) -> int | None:
        """Notifications for `ifname` this process has received but not yet consumed."""
        if self.dry_run:
            return None
        self._pump()
        return sum(1 for ev in self._queue if ev.interface == ifname)

    def consume_events(self, ifname: str) -> list[Event]:
        """Events for `ifname` received by this backend's listener since it subscribed
        (when the kernel was first contacted). Reading takes nothing from other
        listeners: the kernel multicasts every event to every subscriber."""
        check_ifname(ifname)
        self._pump()
        self._raise_if_lost()
        return self._take(ifname)

    def watch_events(
        self, ifname: str | None, *, consume: bool, timeout: float | None
    ) -> Iterator[Event]:
        """Yield events (for `ifname`, or all when None) as they arrive, until `timeout`
        seconds pass (None: forever). `consume` makes no difference on Linux: other
        listeners get their own copy of every event. Raises KernelError (ENOBUFS) when
        events were lost."""
        if ifname is not None:
            check_ifname(ifname)
        listener = self._listener_or_fail()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._pump()
            self._raise_if_lost()
            yield from self._take(ifname)
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return
            listener.wait(remaining)


_BY_PEER_ID = operator.attrgetter("peer_id")
