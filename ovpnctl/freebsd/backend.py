"""`FreeBSDBackend`: the Backend contract on top of if_ovpn's ioctls.

Decisions worth knowing:

* START_VPN after every successful NEW_KEY (as OpenVPN does). Until START_VPN the kernel
  drops every transmission, keepalives included, and START_VPN is idempotent, so a `key add`
  yields a working tunnel. `start_after_new_key=False` turns this off.
* NEW_PEER is verified with GET_PEER_STATS: kernels of the 14.0 era answer 0 without
  creating the peer when a different socket is passed while peers exist.
* Keepalive values of 0 are refused on a live peer: FreeBSD does not cancel an armed timer
  with 0 (interval 0 pings every tick; timeout 0 deletes the peer at the next check).
* Reply buffers start at the exact expected size and double on ENOSPC, except GET_PKT,
  whose notification is gone once ENOSPC is returned: it always gets 4096 bytes.
* Dry runs (any OS) record each request (typed JSON + hex) and issue nothing. Values that
  only exist at run time are placeholders, listed in the record's `placeholders`:
  the socket descriptor (`FD_PLACEHOLDER`) and, unless `show_keys=True`, key material
  (zero bytes of the real length, so sizes and shapes stay exact).
* `interfaces()` lists the members of the interface group named after the if_ovpn cloner
  (`openvpn` upstream, `ovpn` on OPNsense): unlike a name-prefix match it also finds
  interfaces OpenVPN renamed (`dev tun0`), and never lists a foreign driver's interface
  that happens to be named ovpn*.
"""

from __future__ import annotations

import dataclasses
import errno
import socket
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from nvlist_ffi import NVList, NVListError, pack, unpack
from ovpnctl.backend import Backend, Capability
from ovpnctl.errors import (
    BackendUnavailableError,
    KernelError,
    OvpnError,
    ProtocolError,
    RollbackError,
    UsageError,
    ValidationError,
)
from ovpnctl.freebsd import commands, replies, requests
from ovpnctl.freebsd.commands import MAX_REQUEST_SIZE, NOTIFICATION_BUFFER, OvpnCommand
from ovpnctl.freebsd.errors import CREATE_ERRORS, DESTROY_ERRORS, kernel_error
from ovpnctl.freebsd.ifdrv import (
    IFF_BROADCAST,
    IFF_POINTOPOINT,
    IFF_UP,
    OVPN_GROUPS,
    OVPN_NAME_PREFIX,
    check_clone_name,
    check_ifname,
)
from ovpnctl.freebsd.transport import (
    IF_OVPN_MODULE,
    DrvSpecTransport,
    DryRunTransport,
    IoctlTransport,
)
from ovpnctl.ids import check_peer_id
from ovpnctl.keys import Cipher, KeyConfig, KeyDirection, KeySlot, wipe
from ovpnctl.model import (
    Event,
    EventKind,
    InterfaceState,
    Keepalive,
    Mode,
    PeerConfig,
)
from ovpnctl.sockets import check_peer_socket, endpoints_for_socket

# (int)0xffffffff == -1: were a dry-run request ever replayed verbatim, the kernel would
# answer EBADF instead of using whatever descriptor 3 happens to be.
FD_PLACEHOLDER = 0xFFFFFFFF
OVPN_CLONER_NAMES = frozenset({"openvpn", "ovpn"})  # upstream / OPNsense
MAX_REPLY_BUFFER = 1 << 24  # 16 MiB: ~51000 peers; beyond that something is wrong
MAX_DRAIN = 4096  # notifications per consume_events call (the queue holds 31)


class FreeBSDBackend(Backend):
    name: ClassVar[str] = "freebsd"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.INTERFACE_COUNTERS,
            Capability.KERNEL_HOLDS_SOCKET,
            Capability.ONE_SOCKET_PER_INTERFACE,
            Capability.MODE_CHANGE,
            Capability.EVENT_QUEUE,
        }
    )

    def __init__(
        self,
        *,
        dry_run: bool = False,
        transport: DrvSpecTransport | None = None,
        start_after_new_key: bool = True,
        show_keys: bool = False,
        poll_interval: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(dry_run=dry_run)
        self._recorder: DryRunTransport | None = None
        if transport is None:
            if dry_run:
                self._recorder = DryRunTransport(self.planned_calls)
                transport = self._recorder
            else:
                if not _running_on_freebsd():
                    raise BackendUnavailableError(
                        "the freebsd backend needs FreeBSD with if_ovpn; "
                        "use --dry-run to preview its requests elsewhere"
                    )
                transport = IoctlTransport()
        elif isinstance(transport, DryRunTransport):
            self._recorder = transport
        self._transport = transport
        self.start_after_new_key = start_after_new_key
        self.show_keys = show_keys
        self.poll_interval = poll_interval
        self._sleep = sleep
        self._clock = clock
        self._peer_count: dict[str, int] = {}  # sizing hint for GET_PEER_STATS

    # -- the two ioctl paths ------------------------------------------------------------
    def _set(
        self, ifname: str, command: OvpnCommand, request: NVList | None, **context: Any
    ) -> None:
        buf: bytearray | None = None
        if request is not None:
            try:
                buf = bytearray(pack(request))
            except NVListError as exc:
                raise ValidationError(f"{command.name}: cannot encode the request: {exc}") from None
        try:
            if buf is not None and len(buf) > MAX_REQUEST_SIZE:
                raise ValidationError(
                    f"{command.name} on {ifname}: the request is {len(buf)} bytes; the kernel "
                    f"accepts at most {MAX_REQUEST_SIZE}"
                )
            self._transport.set_drvspec(ifname, command.number, buf)
        except OSError as exc:
            raise kernel_error(
                command.name, exc, command.errors, ifname=ifname, **context
            ) from None
        finally:
            if buf is not None:
                wipe(buf)

    def _get(self, ifname: str, command: OvpnCommand, peers: int = 0) -> NVList:
        if self.dry_run:
            raise UsageError(f"a dry run cannot read {command.name} from {ifname}")
        assert command.reply_size is not None
        size = command.reply_size(peers)
        while True:
            buf = bytearray(size)
            try:
                length = self._transport.get_drvspec(ifname, command.number, buf)
            except OSError as exc:
                if exc.errno == errno.ENOSPC and command.grows:
                    size *= 2
                    if size > MAX_REPLY_BUFFER:
                        raise ProtocolError(
                            f"{command.name} on {ifname}: the reply does not fit "
                            f"{MAX_REPLY_BUFFER} bytes"
                        ) from None
                    continue
                raise kernel_error(
                    command.name, exc, command.errors, ifname=ifname, size=size
                ) from None
            if not 0 < length <= len(buf):
                raise ProtocolError(
                    f"{command.name} on {ifname}: reply length {length} for a "
                    f"{len(buf)}-byte buffer"
                )
            try:
                return unpack(bytes(buf[:length]), 0)
            except NVListError as exc:
                raise ProtocolError(
                    f"{command.name} on {ifname}: undecodable reply: {exc}"
                ) from None

    def _annotate(self, placeholders: dict[str, str]) -> None:
        if self._recorder is not None and placeholders:
            self._recorder.annotate(placeholders)

    # -- interfaces -----------------------------------------------------------------------
    def interfaces(self) -> list[str]:
        if self.dry_run:
            return []
        names: set[str] = set()
        for group in OVPN_GROUPS:
            try:
                names.update(self._transport.group_members(group))
            except OSError as exc:
                raise KernelError(
                    f"cannot list the {group} interface group: {exc.strerror or exc}",
                    errno=exc.errno,
                    command="SIOCGIFGMEMB",
                ) from None
        return sorted(names)

    def state(self, ifname: str) -> InterfaceState:
        check_ifname(ifname)
        if self.dry_run:
            raise UsageError(f"a dry run cannot read the state of {ifname}")
        counters = replies.stats(self._get(ifname, commands.GET_STATS))
        peers = self._peer_stats(ifname)
        pending = replies.pending(self._get(ifname, commands.POLL_PKT))
        flags = self._query(ifname, "SIOCGIFFLAGS", self._transport.interface_flags)
        mtu = self._query(ifname, "SIOCGIFMTU", self._transport.interface_mtu)
        index = self._query(ifname, "if_nametoindex", self._transport.interface_index)
        mode = None
        if flags & IFF_POINTOPOINT:
            mode = Mode.P2P
        elif flags & IFF_BROADCAST:
            mode = Mode.MULTIPOINT
        return InterfaceState(
            name=ifname,
            backend=self.name,
            mode=mode,
            up=bool(flags & IFF_UP),
            ifindex=index,
            mtu=mtu,
            counters=counters,
            peers=peers,
            pending_events=pending,
        )

    def _query(self, ifname: str, what: str, call: Callable[[str], int]) -> int:
        try:
            return call(ifname)
        except OSError as exc:
            raise KernelError(
                f"cannot read {what} of {ifname}: {exc.strerror or exc}",
                errno=exc.errno,
                command=what,
            ) from None

    def _peer_stats(self, ifname: str) -> tuple[Any, ...]:
        hint = max(self._peer_count.get(ifname, 1), 1)
        peers = replies.peer_stats(self._get(ifname, commands.GET_PEER_STATS, hint))
        self._peer_count[ifname] = len(peers)
        return peers

    def create_interface(self, name: str | None, mode: Mode) -> str:
        requested = check_clone_name(name) if name is not None else OVPN_NAME_PREFIX
        created = self._create(requested)
        if self.dry_run and created == OVPN_NAME_PREFIX:
            self._annotate({"interface": "the kernel appends the first free unit number"})
        try:
            self.set_mode(created, mode)
        except OvpnError as exc:
            self._rollback_create(created, exc)
            raise
        return created

    def _create(self, requested: str) -> str:
        try:
            return self._transport.create_interface(requested)
        except OSError as exc:
            if exc.errno != errno.EINVAL or self.dry_run or not self._cloner_missing():
                raise kernel_error("SIOCIFCREATE2", exc, CREATE_ERRORS, ifname=requested) from None
        self._load_module()
        try:
            return self._transport.create_interface(requested)
        except OSError as exc:
            raise kernel_error("SIOCIFCREATE2", exc, CREATE_ERRORS, ifname=requested) from None

    def _cloner_missing(self) -> bool:
        try:
            return not OVPN_CLONER_NAMES & set(self._transport.cloners())
        except OSError:
            return True  # cannot tell: loading an already loaded module is harmless

    def _load_module(self) -> None:
        """What ifconfig does for `ifconfig ovpn create`: kldload if_ovpn, then retry."""
        try:
            self._transport.load_module(IF_OVPN_MODULE)
        except OSError as exc:
            raise BackendUnavailableError(
                f"the {IF_OVPN_MODULE} kernel module is not loaded and loading it failed "
                f"({exc.strerror or exc}); run kldload {IF_OVPN_MODULE} or add "
                f'{IF_OVPN_MODULE}_load="YES" to /boot/loader.conf'
            ) from None

    def _rollback_create(self, ifname: str, cause: OvpnError) -> None:
        try:
            self.destroy_interface(ifname)
        except OvpnError as exc:
            raise RollbackError(
                f"{cause.message}; destroying the new interface {ifname} failed too: {exc.message}"
            ) from None

    def destroy_interface(self, ifname: str) -> None:
        check_ifname(ifname)
        try:
            self._transport.destroy_interface(ifname)
        except OSError as exc:
            raise kernel_error("SIOCIFDESTROY", exc, DESTROY_ERRORS, ifname=ifname) from None
        self._peer_count.pop(ifname, None)

    def set_mode(self, ifname: str, mode: Mode) -> None:
        check_ifname(ifname)
        request = requests.set_ifmode(mode)
        self._set(
            ifname,
            commands.SET_IFMODE,
            request,
            mode=mode.value,
            ifmode=hex(requests.IFMODE_BY_MODE[mode]),
        )

    def start(self, ifname: str) -> None:
        check_ifname(ifname)
        self._set(ifname, commands.START_VPN, None)

    # -- peers ----------------------------------------------------------------------------
    def add_peer(self, ifname: str, peer: PeerConfig, sock: socket.socket | None) -> None:
        check_ifname(ifname)
        if peer.remote is None:
            raise ValidationError(
                f"peer {peer.peer_id}: FreeBSD needs a remote address (it has no TCP transport)"
            )
        placeholders: dict[str, str] = {}
        if sock is None:
            if not self.dry_run:
                raise UsageError(f"peer {peer.peer_id}: a bound UDP socket is required")
            fd = FD_PLACEHOLDER
            placeholders["fd"] = "socket opened at run time"
            wired = peer
        else:
            info = check_peer_socket(sock)
            fd = info.fd
            remote, local = endpoints_for_socket(info, peer.remote, peer.local)
            wired = dataclasses.replace(peer, remote=remote, local=local)
        context = {"peer_id": peer.peer_id, "fd": fd, "remote": str(wired.remote)}
        self._set(ifname, commands.NEW_PEER, requests.new_peer(wired, fd), **context)
        self._annotate(placeholders)
        if not self.dry_run:
            self._verify_peer_added(ifname, peer.peer_id)
        keepalive = peer.keepalive
        if keepalive is not None and (keepalive.interval or keepalive.timeout):
            try:
                self._set_peer(ifname, peer.peer_id, keepalive)
            except OvpnError as exc:
                self._rollback_add(ifname, peer.peer_id, exc)
                raise

    def _verify_peer_added(self, ifname: str, peer_id: int) -> None:
        self._peer_count[ifname] = self._peer_count.get(ifname, 0) + 1
        present = {p.peer_id for p in self._peer_stats(ifname)}
        if peer_id not in present:
            raise KernelError(
                f"{ifname} accepted peer {peer_id} but did not create it: this kernel "
                "silently refuses a different UDP socket while the interface has peers; "
                f"add every peer of {ifname} through the same socket",
                errno=None,
                command="OVPN_NEW_PEER",
            )

    def _rollback_add(self, ifname: str, peer_id: int, cause: OvpnError) -> None:
        try:
            self.del_peer(ifname, peer_id)
        except OvpnError as exc:
            raise RollbackError(
                f"{cause.message}; removing the half-added peer {peer_id} from {ifname} "
                f"failed too: {exc.message}"
            ) from None

    def set_keepalive(self, ifname: str, peer_id: int, keepalive: Keepalive) -> None:
        check_ifname(ifname)
        check_peer_id(peer_id)
        if not keepalive.interval or not keepalive.timeout:
            raise ValidationError(
                f"keepalive {keepalive}: FreeBSD cannot switch off an armed keepalive "
                "timer (0 means ping every clock tick or drop the peer at the next check); "
                "delete and re-add the peer instead"
            )
        self._set_peer(ifname, peer_id, keepalive)

    def _set_peer(self, ifname: str, peer_id: int, keepalive: Keepalive) -> None:
        request = requests.set_peer(peer_id, keepalive)
        self._set(ifname, commands.SET_PEER, request, peer_id=peer_id)

    def del_peer(self, ifname: str, peer_id: int) -> None:
        check_ifname(ifname)
        check_peer_id(peer_id)
        self._set(ifname, commands.DEL_PEER, requests.peer_only(peer_id), peer_id=peer_id)
        if ifname in self._peer_count:
            self._peer_count[ifname] = max(self._peer_count[ifname] - 1, 0)

    # -- keys -----------------------------------------------------------------------------
    def new_key(self, ifname: str, key: KeyConfig) -> None:
        check_ifname(ifname)
        for label, direction in (("encrypt", key.encrypt), ("decrypt", key.decrypt)):
            direction.check(label)
        placeholders: dict[str, str] = {}
        sent = key
        if self.dry_run and not self.show_keys and key.cipher is not Cipher.NONE:
            sent = _hidden_copy(key)
            for label in ("encrypt", "decrypt"):
                placeholders[f"{label}.key"] = "key material, hidden (zeros of the real length)"
                placeholders[f"{label}.iv"] = "implicit IV, hidden (zeros of the real length)"
        try:
            request = requests.new_key(sent)
            self._set(
                ifname,
                commands.NEW_KEY,
                request,
                peer_id=key.peer_id,
                slot=key.slot.name.lower(),
                cipher=key.cipher.value,
                key_len=len(key.encrypt.key),
            )
            del request
        finally:
            if sent is not key:
                sent.wipe()
        self._annotate(placeholders)
        if self.start_after_new_key:
            self.start(ifname)

    def swap_keys(self, ifname: str, peer_id: int) -> None:
        check_ifname(ifname)
        check_peer_id(peer_id)
        self._set(ifname, commands.SWAP_KEYS, requests.peer_only(peer_id), peer_id=peer_id)

    def del_key(self, ifname: str, peer_id: int, slot: KeySlot) -> None:
        check_ifname(ifname)
        check_peer_id(peer_id)
        request = requests.del_key(peer_id, KeySlot(slot))
        self._set(ifname, commands.DEL_KEY, request, peer_id=peer_id, slot=slot.name.lower())

    # -- events ---------------------------------------------------------------------------
    def pending_events(self, ifname: str) -> int | None:
        check_ifname(ifname)
        return replies.pending(self._get(ifname, commands.POLL_PKT))

    def consume_events(self, ifname: str) -> list[Event]:
        """Drain the queue with GET_PKT until ENOENT. Destructive: a running openvpn on this
        interface will not see these notifications."""
        check_ifname(ifname)
        if self.dry_run:
            raise UsageError(f"a dry run cannot read notifications from {ifname}")
        events: list[Event] = []
        for _ in range(MAX_DRAIN):
            buf = bytearray(NOTIFICATION_BUFFER)
            try:
                length = self._transport.get_drvspec(ifname, commands.GET_PKT.number, buf)
            except OSError as exc:
                if exc.errno == errno.ENOENT:
                    return events
                raise kernel_error(
                    commands.GET_PKT.name,
                    exc,
                    commands.GET_PKT.errors,
                    ifname=ifname,
                    size=len(buf),
                ) from None
            if not 0 < length <= len(buf):
                raise ProtocolError(f"OVPN_GET_PKT on {ifname}: reply length {length}")
            try:
                nvl = unpack(bytes(buf[:length]), 0)
            except NVListError as exc:
                raise ProtocolError(f"OVPN_GET_PKT on {ifname}: undecodable reply: {exc}") from None
            events.append(replies.notification(nvl, ifname))
        return events

    def watch_events(
        self, ifname: str | None, *, consume: bool, timeout: float | None
    ) -> Iterator[Event]:
        """Poll OVPN_POLL_PKT every `poll_interval` seconds.

        consume=True drains the queue (GET_PKT) and yields each notification. consume=False
        never issues GET_PKT (openvpn may own the queue): it yields a PENDING event whenever
        the number of queued notifications changes to a non-zero value.
        """
        if self.dry_run:
            raise UsageError("a dry run cannot watch kernel notifications")
        deadline = None if timeout is None else self._clock() + timeout
        seen: dict[str, int] = {}
        while True:
            names = [check_ifname(ifname)] if ifname is not None else self.interfaces()
            for name in names:
                try:
                    count = self.pending_events(name) or 0
                    drained = self.consume_events(name) if count and consume else []
                except KernelError as exc:
                    if ifname is None and exc.errno == errno.ENXIO:
                        continue  # destroyed between listing and reading
                    raise
                if drained:
                    yield from drained
                    count = 0
                elif count and not consume and count != seen.get(name):
                    yield Event(EventKind.PENDING, name, None, raw={"pending": count})
                seen[name] = count
            if deadline is not None:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    return
                self._sleep(min(self.poll_interval, remaining))
            else:
                self._sleep(self.poll_interval)

    def close(self) -> None:
        self._transport.close()


def _hidden_copy(key: KeyConfig) -> KeyConfig:
    def zeros(direction: KeyDirection) -> KeyDirection:
        return KeyDirection(
            direction.cipher, bytearray(len(direction.key)), bytearray(len(direction.iv))
        )

    return KeyConfig(key.peer_id, key.key_id, key.slot, zeros(key.encrypt), zeros(key.decrypt))


def _running_on_freebsd() -> bool:
    platform: str = sys.platform  # a plain str: mypy would otherwise fix it to the build host
    return platform.startswith("freebsd")
