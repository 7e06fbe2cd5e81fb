"""A model of FreeBSD's if_ovpn control interface, built from the spec sheet
(shared/spec/freebsd-if_ovpn.md) -- not from the kernel, and not a stand-in for testing on one.

It sits behind the same seam as the real kernel (`DrvSpecTransport`: SIOC[SG]DRVSPEC with
caller-owned buffers, interface create/destroy, cloners, groups, flags) and answers the way
the sheet says the kernel answers:

* requests are unpacked with the *pure* nvlist codec and flags 0, so a request packed with
  NO_UNIQUE / IGNORE_CASE, with duplicate names or with descriptors is refused (EINVAL);
* lookup and privilege come first (ENXIO before EPERM), then E2BIG for requests over
  4096 bytes, then the command's own checks in the sheet's order with its errnos
  (§3.2 NEW_PEER, §3.4 NEW_KEY, ...); a SET command sent as GET or vice versa, and unknown
  commands, get ENOTSUP;
* GET replies are packed like the kernel packs them; a buffer one byte short gets ENOSPC
  with nothing written, and GET_PKT has already dequeued its notification by then;
* peers, key slots, keepalive timers (driven by `advance_time`), counters and the 31-entry
  notification queue are kept; DEL_PEER notifications are queued on requested deletes and
  on keepalive expiry.

Descriptors are a fake fd table (`adopt` records a real socket's family/type/address under
its fileno); passing a non-IP socket raises `KernelPanic`, as the sheet infers the kernel
would. Knobs model the variants the sheet documents: `privileged=False` (EPERM),
`module_loaded=False` (no cloner), `cloner_name="ovpn"` (OPNsense), `silent_socket_change`
(14.0-era kernels answering 0 without adding a peer). `inject_fault` fails the Nth matching
call with any errno.
"""

from __future__ import annotations

import collections
import dataclasses
import errno
import hashlib
import ipaddress
import socket
import sys
from dataclasses import dataclass, field

from nvlist_ffi import NVList, NVListArray, NVListError, codec
from ovpnctl.endpoint import Endpoint
from ovpnctl.freebsd.commands import command_name
from ovpnctl.freebsd.ifdrv import (
    IF_MAXUNIT,
    IFF_BROADCAST,
    IFF_DRV_RUNNING,
    IFF_MULTICAST,
    IFF_POINTOPOINT,
    IFF_UP,
    IFNAMSIZ,
    ovpn_command,
)

FREEBSD_AF_LOCAL = 1
FREEBSD_AF_INET = 2
FREEBSD_AF_INET6 = 28
SOCK_STREAM = 1
SOCK_DGRAM = 2

MAX_REQUEST = 4096
QUEUE_SLOTS = 32  # a ring of 32 holds 31 notifications
DEFAULT_MTU = 1428
KEEPALIVE_PAYLOAD_LEN = 16
CIPHERS = ("none", "AES-128-GCM", "AES-192-GCM", "AES-256-GCM", "CHACHA20-POLY1305")
AES = CIPHERS[1:4]
ROTATE_AT = 0x80000000

NOTIF_DEL_PEER, NOTIF_ROTATE_KEY, NOTIF_FLOAT = 0, 1, 2
REASON_REQUESTED, REASON_TIMEOUT = 0, 1

# if_ovpn.h command numbers, written out from the sheet (§2.3) rather than taken from the
# code under test, so a wrong number in ovpnctl shows up as ENOTSUP here.
CMD = {name: ovpn_command(n) for name, n in (
    ("NEW_PEER", 1), ("DEL_PEER", 2), ("GET_STATS", 3), ("NEW_KEY", 4), ("SWAP_KEYS", 5),
    ("DEL_KEY", 6), ("SET_PEER", 7), ("START_VPN", 8), ("POLL_PKT", 10), ("GET_PKT", 11),
    ("SET_IFMODE", 12), ("GET_PEER_STATS", 13),
)}  # fmt: skip
STATS_KEYS = ("lost_ctrl", "lost_data", "nomem_data", "data", "ctrl", "tunnel", "transport")


class KernelPanic(AssertionError):  # noqa: N818 - named after what the kernel does
    """Where the sheet says the real kernel would panic; a test seeing this has found a bug."""


def fail(name: str) -> OSError:
    number = getattr(errno, name)
    return OSError(number, f"{name} (kernel model)")


@dataclass
class FakeSocket:
    """What the kernel knows of a socket. `af` uses FreeBSD values (2, 28, 1)."""

    af: int
    sock_type: int = SOCK_DGRAM
    local: Endpoint | None = None  # None or port 0: not bound
    v6only: bool = True
    cap_connect: bool = True
    hooked_by: str | None = None


@dataclass
class KeyDir:
    cipher: str
    key_len: int
    fingerprint: str = ""  # sha256 of key || iv: lets tests check both ends agree
    tx_counter: int = 1
    rotate_sent: bool = False


@dataclass
class KeySlot:
    key_id: int
    encrypt: KeyDir
    decrypt: KeyDir


@dataclass
class Peer:
    peer_id: int
    remote: Endpoint
    local: Endpoint
    vpn_ipv4: bytes | None = None
    vpn_ipv6: bytes | None = None
    slots: list[KeySlot | None] = field(default_factory=lambda: [None, None])
    interval: int = 0
    timeout: int = 0
    next_ping: float | None = None
    next_check: float | None = None
    last_rx: float | None = None  # "last received" starts at 0 in the kernel
    packets: list[int] = field(default_factory=lambda: [0, 0])  # in, out
    bytes: list[int] = field(default_factory=lambda: [0, 0])


@dataclass
class Interface:
    name: str
    unit: int
    index: int
    flags: int = IFF_POINTOPOINT | IFF_MULTICAST
    mtu: int = DEFAULT_MTU
    link_up: bool = False
    peers: dict[int, Peer] = field(default_factory=dict)
    socket: FakeSocket | None = None
    queue: collections.deque[NVList] = field(default_factory=collections.deque)
    counters: dict[str, list[int]] = field(default_factory=lambda: {k: [0, 0] for k in STATS_KEYS})


@dataclass
class Fault:
    errno_name: str
    remaining: int
    call: str | None  # ioctl or OVPN_* command name to match; None = any


@dataclass(frozen=True)
class Call:
    ioctl: str
    interface: str
    command: str
    size: int = 0  # ifd_len passed in (request bytes for SET, buffer bytes for GET)


# -- reply builders, shaped as if_ovpn.c builds them (tests compare them with golden) ----


def in_out(rx: int, tx: int) -> NVList:
    return NVList([("in", rx), ("out", tx)])


def stats_reply(counters: dict[str, list[int]]) -> NVList:
    """OVPN_GET_STATS. tunnel/transport report `in` twice: the kernel defect (§3.10)."""
    nvl = NVList()
    for key in STATS_KEYS:
        rx, tx = counters[key]
        nvl.add(key, in_out(rx, rx if key in ("tunnel", "transport") else tx))
    return nvl


def peer_stats_reply(peers: list[tuple[int, tuple[int, int], tuple[int, int]]]) -> NVList:
    """OVPN_GET_PEER_STATS: `peers` array in ascending id order; empty list when none."""
    nvl = NVList()
    if peers:
        elements = NVListArray()
        for peer_id, packets, nbytes in sorted(peers):
            elements.append(
                NVList(
                    [("peerid", peer_id), ("packets", in_out(*packets)), ("bytes", in_out(*nbytes))]
                )
            )
        nvl.add("peers", elements)
    return nvl


def poll_reply(pending: int) -> NVList:
    return NVList([("pending", pending)])


def del_peer_notification(
    peer_id: int,
    reason: int,
    packets: tuple[int, int] | None,
    nbytes: tuple[int, int] | None,
) -> NVList:
    nvl = NVList([("peerid", peer_id), ("notification", NOTIF_DEL_PEER), ("del_reason", reason)])
    if packets is not None and nbytes is not None:
        nvl.add("packets", in_out(*packets))
        nvl.add("bytes", in_out(*nbytes))
    return nvl


def rotate_key_notification(peer_id: int) -> NVList:
    return NVList([("peerid", peer_id), ("notification", NOTIF_ROTATE_KEY)])


def kernel_sockaddr(endpoint: Endpoint, byteorder: str = sys.byteorder) -> NVList:
    """Kernel order: af, port, address, then scopeid for IPv6 (always)."""
    af = FREEBSD_AF_INET if endpoint.family == 4 else FREEBSD_AF_INET6
    port = int.from_bytes(endpoint.port.to_bytes(2, "big"), byteorder)  # type: ignore[arg-type]
    nvl = NVList([("af", af), ("port", port), ("address", endpoint.packed)])
    if endpoint.family == 6:
        nvl.add("scopeid", endpoint.scope_id)
    return nvl


def float_notification(peer_id: int, endpoint: Endpoint) -> NVList:
    return NVList(
        [("peerid", peer_id), ("notification", NOTIF_FLOAT), ("address", kernel_sockaddr(endpoint))]
    )


def _int32(value: int) -> int:
    """`(int)` of a uint64 nvlist number, as the kernel truncates it."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def _has(nvl: NVList | None, key: str, kind: str) -> bool:
    return nvl is not None and nvl.type_of(key) == kind


class KernelModel:
    """One VNET's worth of if_ovpn: interfaces, peers, keys, timers, notification queues."""

    def __init__(
        self,
        *,
        privileged: bool = True,
        module_loaded: bool = True,
        cloner_name: str = "openvpn",
        silent_socket_change: bool = False,
        float_support: bool = True,
        hz: int = 1000,
    ) -> None:
        self.privileged = privileged
        self.module_loaded = module_loaded
        self.cloner_name = cloner_name
        self.silent_socket_change = silent_socket_change
        self.float_support = float_support
        self.hz = hz
        self.interfaces: dict[str, Interface] = {}
        self.fds: dict[int, FakeSocket | str] = {}
        self.now = 0.0
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self.loaded: list[str] = []
        self.other_ifindexes = {1}  # lo0: link-local scopes that exist besides ovpn ones
        self.unreachable: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
        self.source_v6 = ipaddress.IPv6Address("2001:db8:ffff::1")
        self._next_index = 2
        self.closed = False

    # -- test-side controls ------------------------------------------------------------
    def adopt(self, sock: socket.socket, **overrides: object) -> int:
        """Record a real socket's family/type/bound address under its descriptor number."""
        family = {socket.AF_INET: FREEBSD_AF_INET, socket.AF_INET6: FREEBSD_AF_INET6}.get(
            sock.family, FREEBSD_AF_LOCAL
        )
        kind = SOCK_DGRAM if sock.type == socket.SOCK_DGRAM else SOCK_STREAM
        local = None
        v6only = True
        if family != FREEBSD_AF_LOCAL:
            name = sock.getsockname()
            local = Endpoint(ipaddress.ip_address(name[0].split("%")[0]), name[1])
            if family == FREEBSD_AF_INET6:
                v6only = bool(sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY))
        fake = FakeSocket(family, kind, local, v6only)
        for key, value in overrides.items():
            setattr(fake, key, value)
        self.fds[sock.fileno()] = fake
        return sock.fileno()

    def issued(self) -> list[str]:
        """Every call so far by name: the OVPN_* command for SIOC[SG]DRVSPEC, else the ioctl."""
        return [c.command or c.ioctl for c in self.calls]

    def inject_fault(self, errno_name: str, *, nth: int = 1, call: str | None = None) -> None:
        """Fail the `nth` next call matching `call` (an ioctl or OVPN_* name) with errno."""
        getattr(errno, errno_name)  # typo guard
        self.faults.append(Fault(errno_name, nth, call))

    def ifconfig_up(self, ifname: str) -> None:
        """`ifconfig ovpn0 up`: sets IFF_UP (blocks SET_IFMODE) but not the link state."""
        self.interfaces[ifname].flags |= IFF_UP

    def receive(self, ifname: str, peer_id: int, packets: int = 1, size: int = 100) -> None:
        """Data packets from the peer decrypted OK: counters and "last received" move."""
        iface = self.interfaces[ifname]
        peer = iface.peers[peer_id]
        peer.packets[0] += packets
        peer.bytes[0] += packets * size
        peer.last_rx = self.now
        iface.counters["data"][0] += packets
        iface.counters["tunnel"][0] += packets * size
        iface.counters["transport"][0] += packets * (size + 8 + 24)

    def send(self, ifname: str, peer_id: int, packets: int = 1, size: int = 100) -> None:
        """Plaintext packets handed to encryption toward the peer (needs link up + key)."""
        iface = self.interfaces[ifname]
        peer = iface.peers[peer_id]
        primary = peer.slots[0]
        if not iface.link_up or primary is None:
            iface.counters["lost_data"][1] += packets
            return
        peer.packets[1] += packets
        peer.bytes[1] += packets * size
        iface.counters["data"][1] += packets
        iface.counters["tunnel"][1] += packets * size  # tracked, not exported (§3.10)
        direction = primary.encrypt
        before = direction.tx_counter
        direction.tx_counter += packets
        if before < ROTATE_AT <= direction.tx_counter and not direction.rotate_sent:
            direction.rotate_sent = True
            self._queue(iface, rotate_key_notification(peer_id))

    def float_peer(self, ifname: str, peer_id: int, remote: Endpoint) -> bool:
        """A data packet from a new source address authenticated (§4.9)."""
        iface = self.interfaces[ifname]
        peer = iface.peers[peer_id]
        if not self.float_support:
            return False
        if not self._queue(iface, float_notification(peer_id, remote)):
            return False  # remote updated only if the notification could be queued
        peer.remote = remote
        return True

    def queue_raw(self, ifname: str, nvl: NVList) -> bool:
        """Queue an arbitrary notification (e.g. a type newer kernels may add)."""
        return self._queue(self.interfaces[ifname], nvl)

    def advance_time(self, seconds: float) -> None:
        """Run keepalive timers up to now + seconds, in time order."""
        target = self.now + seconds
        while True:
            due = self._next_timer(target)
            if due is None:
                break
            when, iface, peer, which = due
            self.now = when
            if which == "ping":
                self._ping(iface, peer)
            else:
                self._check(iface, peer)
        self.now = target

    # -- DrvSpecTransport ---------------------------------------------------------------
    def set_drvspec(self, ifname: str, cmd: int, request: bytearray | None) -> None:
        self._enter("SIOCSDRVSPEC", ifname, command_name(cmd), len(request or b""))
        iface = self._lookup(ifname)
        self._privilege()
        nvl = None
        if request:  # ifd_len != 0
            if len(request) > MAX_REQUEST:
                raise fail("E2BIG")
            try:
                nvl = codec.unpack(bytes(request), 0)
            except NVListError:
                raise fail("EINVAL") from None
        handler = {
            CMD["NEW_PEER"]: self._new_peer,
            CMD["DEL_PEER"]: self._del_peer,
            CMD["NEW_KEY"]: self._new_key,
            CMD["SWAP_KEYS"]: self._swap_keys,
            CMD["DEL_KEY"]: self._del_key,
            CMD["SET_PEER"]: self._set_peer,
            CMD["START_VPN"]: self._start_vpn,
            CMD["SET_IFMODE"]: self._set_ifmode,
        }.get(cmd)
        if handler is None:
            raise fail("EOPNOTSUPP")
        handler(iface, nvl)

    def get_drvspec(self, ifname: str, cmd: int, buf: bytearray) -> int:
        self._enter("SIOCGDRVSPEC", ifname, command_name(cmd), len(buf))
        iface = self._lookup(ifname)
        self._privilege()
        handler = {
            CMD["GET_STATS"]: self._get_stats,
            CMD["GET_PEER_STATS"]: self._get_peer_stats,
            CMD["POLL_PKT"]: self._poll_pkt,
            CMD["GET_PKT"]: self._get_pkt,
        }.get(cmd)
        if handler is None:
            raise fail("EOPNOTSUPP")
        reply = codec.pack(handler(iface))
        if len(reply) > len(buf):
            raise fail("ENOSPC")  # nothing written, ifd_len not copied back
        buf[: len(reply)] = reply
        return len(reply)

    def create_interface(self, name: str) -> str:
        self._enter("SIOCIFCREATE2", name, "")
        self._privilege()
        if not self.module_loaded or not name.startswith("ovpn"):
            raise fail("EINVAL")  # no cloner matches
        digit = next((i for i, c in enumerate(name) if c.isdigit()), None)
        if digit is None:
            unit = 0
            while unit in self._units():
                unit += 1
            final = f"{name}{unit}"
        else:
            text = name[digit:]
            if not text.isdigit() or (len(text) > 1 and text[0] == "0"):
                raise fail("EINVAL")
            unit = int(text)
            if unit > IF_MAXUNIT:
                raise fail("ENOSPC")
            if unit in self._units():
                raise fail("EEXIST")  # units are shared by the whole cloner
            final = name
        if len(final) >= IFNAMSIZ:
            raise fail("ENOSPC")
        if final in self.interfaces:
            raise fail("EEXIST")
        self.interfaces[final] = Interface(final, unit, self._next_index)
        self._next_index += 1
        return final

    def destroy_interface(self, name: str) -> None:
        self._enter("SIOCIFDESTROY", name, "")
        self._privilege()
        iface = self._lookup(name)
        iface.peers.clear()  # their DEL_PEER notifications go with the queue
        iface.queue.clear()
        if iface.socket is not None:
            iface.socket.hooked_by = None
        del self.interfaces[name]

    def cloners(self) -> list[str]:
        self._enter("SIOCIFGCLONERS", "", "")
        names = ["epair", "lo", "tun"]
        if self.module_loaded:
            names.append(self.cloner_name)
        return sorted(names)

    def load_module(self, module: str) -> None:
        self._enter("kldload", module, "")
        self._privilege()
        if module != "if_ovpn":
            raise fail("ENOENT")
        self.loaded.append(module)
        self.module_loaded = True

    def group_members(self, group: str) -> list[str]:
        self._enter("SIOCGIFGMEMB", group, "")
        return list(self.interfaces) if group == self.cloner_name else []  # group = cloner

    def interface_flags(self, ifname: str) -> int:
        self._enter("SIOCGIFFLAGS", ifname, "")
        return self._lookup(ifname).flags

    def interface_mtu(self, ifname: str) -> int:
        self._enter("SIOCGIFMTU", ifname, "")
        return self._lookup(ifname).mtu

    def interface_index(self, ifname: str) -> int:
        self._enter("if_nametoindex", ifname, "")
        return self._lookup(ifname).index

    def close(self) -> None:
        self.closed = True

    # -- plumbing -------------------------------------------------------------------------
    def _enter(self, ioctl: str, interface: str, command: str, size: int = 0) -> None:
        self.calls.append(Call(ioctl, interface, command, size))
        for fault in self.faults:
            if fault.call in (None, ioctl, command):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self.faults.remove(fault)
                    raise fail(fault.errno_name)
                break

    def _lookup(self, ifname: str) -> Interface:
        iface = self.interfaces.get(ifname)
        if iface is None:
            raise fail("ENXIO")
        return iface

    def _privilege(self) -> None:
        if not self.privileged:
            raise fail("EPERM")

    def _units(self) -> set[int]:
        return {i.unit for i in self.interfaces.values()}

    def _queue(self, iface: Interface, nvl: NVList) -> bool:
        if len(iface.queue) >= QUEUE_SLOTS - 1:
            return False  # silently dropped
        iface.queue.append(nvl)
        return True

    def _sockaddr(self, nvl: NVList) -> Endpoint:
        """§3.1, as the kernel parses `remote`/`local`/FLOAT addresses."""
        if not (_has(nvl, "af", "number") and _has(nvl, "address", "binary")):
            raise fail("EINVAL")
        if not _has(nvl, "port", "number"):
            raise fail("EINVAL")
        af = nvl["af"]
        raw = nvl["address"]
        assert isinstance(raw, bytes) and isinstance(af, int)
        if af not in (FREEBSD_AF_INET, FREEBSD_AF_INET6):
            raise fail("EINVAL")
        if len(raw) != (4 if af == FREEBSD_AF_INET else 16):
            raise fail("EINVAL")
        port_value = nvl["port"]
        assert isinstance(port_value, int)
        port = int.from_bytes((port_value & 0xFFFF).to_bytes(2, sys.byteorder), "big")
        scope = 0
        if af == FREEBSD_AF_INET6 and _has(nvl, "scopeid", "number"):
            scope_value = nvl["scopeid"]
            assert isinstance(scope_value, int)
            scope = scope_value & 0xFFFFFFFF
        return Endpoint(ipaddress.ip_address(raw), port, scope)

    def _peer(self, iface: Interface, nvl: NVList) -> Peer:
        value = nvl["peerid"]
        assert isinstance(value, int)
        peer = iface.peers.get(value & 0xFFFFFFFF)
        if peer is None:
            raise fail("ENOENT")
        return peer

    def _notify_deleted(self, iface: Interface, peer: Peer, reason: int) -> None:
        del iface.peers[peer.peer_id]
        self._queue(
            iface,
            del_peer_notification(
                peer.peer_id,
                reason,
                (peer.packets[0], peer.packets[1]),
                (peer.bytes[0], peer.bytes[1]),
            ),
        )

    # -- SET commands, each in the sheet's check order ----------------------------------
    def _new_peer(self, iface: Interface, nvl: NVList | None) -> None:
        # 1. required keys
        if not (
            nvl is not None
            and _has(nvl, "peerid", "number")
            and _has(nvl, "fd", "number")
            and _has(nvl, "remote", "nvlist")
        ):
            raise fail("EINVAL")
        # 2. remote sockaddr
        remote_nvl = nvl["remote"]
        assert isinstance(remote_nvl, NVList)
        remote = self._sockaddr(remote_nvl)
        # 3. descriptor
        fd_value = nvl["fd"]
        assert isinstance(fd_value, int)
        entry = self.fds.get(_int32(fd_value))
        if entry is None:
            raise fail("EBADF")
        if not isinstance(entry, FakeSocket):
            raise fail("ENOTSOCK")
        if not entry.cap_connect:
            raise fail("ENOTCAPABLE" if hasattr(errno, "ENOTCAPABLE") else "EPERM")
        sock = entry
        # 4. tunnel addresses
        vpn4 = nvl["vpn_ipv4"] if _has(nvl, "vpn_ipv4", "binary") else None
        vpn6 = nvl["vpn_ipv6"] if _has(nvl, "vpn_ipv6", "binary") else None
        if (vpn4 is not None and len(vpn4) != 4) or (vpn6 is not None and len(vpn6) != 16):  # type: ignore[arg-type]
            raise fail("EINVAL")
        # 5. the socket's own address: only IP sockets have one the hook understands
        if sock.af not in (FREEBSD_AF_INET, FREEBSD_AF_INET6):
            raise KernelPanic("Unsupported address family (non-IP socket passed to NEW_PEER)")
        unspecified = "0.0.0.0" if sock.af == FREEBSD_AF_INET else "::"
        bound = sock.local or Endpoint(ipaddress.ip_address(unspecified), 0)
        # 6. local
        local = bound
        if _has(nvl, "local", "nvlist"):
            local_nvl = nvl["local"]
            assert isinstance(local_nvl, NVList)
            local = self._sockaddr(local_nvl)
            if local.port == 0:
                local = dataclasses.replace(local, port=bound.port)
        # 7. bound?
        if local.port == 0:
            raise fail("EINVAL")
        # v4-mapped remote: both ends become AF_INET
        if remote.is_v4_mapped:
            remote = remote.unmapped()
            if local.family == 6:
                local = (
                    Endpoint(ipaddress.IPv4Address(0), local.port)
                    if local.address.is_unspecified
                    else local.unmapped()
                )
        # 8. families
        if local.family != remote.family:
            raise fail("EINVAL")
        # 9. IPv6 source selection
        if local.family == 6 and local.address.is_unspecified:
            reachable = remote.address not in self.unreachable and (
                not remote.address.is_link_local or remote.scope_id in self._scopes()
            )
            if not reachable:
                raise fail("EHOSTUNREACH")
            local = Endpoint(self.source_v6, local.port)
        # 10. duplicate id
        peer_id = nvl["peerid"]
        assert isinstance(peer_id, int)
        peer_id &= 0xFFFFFFFF
        if peer_id in iface.peers:
            raise fail("EEXIST")
        # 11. UDP only
        if sock.sock_type != SOCK_DGRAM:
            raise fail("EPROTOTYPE")
        # 12. one socket per interface
        if iface.socket is not None and iface.socket is not sock and iface.peers:
            if self.silent_socket_change:
                return  # 14.0-era: "success", no peer
            raise fail("EBUSY")
        peer = Peer(peer_id, remote, local, vpn4, vpn6)  # type: ignore[arg-type]
        iface.peers[peer_id] = peer
        if iface.socket is not sock:
            if sock.hooked_by not in (None, iface.name):
                raise fail("EBUSY")  # inferred: peer inserted, hook installation fails
            if iface.socket is not None:
                iface.socket.hooked_by = None
            sock.hooked_by = iface.name
            iface.socket = sock

    def _del_peer(self, iface: Interface, nvl: NVList | None) -> None:
        if not _has(nvl, "peerid", "number"):
            raise fail("EINVAL")
        assert nvl is not None
        self._notify_deleted(iface, self._peer(iface, nvl), REASON_REQUESTED)

    def _key_dir(self, nvl: NVList) -> KeyDir:
        if not _has(nvl, "cipher", "string"):
            raise fail("EINVAL")
        cipher = nvl["cipher"]
        if cipher not in CIPHERS:
            raise fail("EINVAL")
        assert isinstance(cipher, str)
        if cipher == "none":
            return KeyDir(cipher, 0)
        if not _has(nvl, "key", "binary"):
            raise fail("EINVAL")
        key = nvl["key"]
        assert isinstance(key, bytes)
        if len(key) > 32:
            raise fail("E2BIG")
        if not _has(nvl, "iv", "binary"):
            raise fail("EINVAL")
        iv = nvl["iv"]
        assert isinstance(iv, bytes)
        if len(iv) != 8:
            raise fail("E2BIG")
        # crypto session creation (§3.4, confirmed on a real kernel in §9)
        if cipher == "CHACHA20-POLY1305" and len(key) != 32:
            raise fail("EINVAL")
        if cipher in AES and len(key) not in (16, 24, 32):
            raise fail("EOPNOTSUPP")
        return KeyDir(cipher, len(key), hashlib.sha256(key + iv).hexdigest())

    def _new_key(self, iface: Interface, nvl: NVList | None) -> None:
        if not (
            nvl is not None
            and _has(nvl, "slot", "number")
            and _has(nvl, "keyid", "number")
            and _has(nvl, "peerid", "number")
        ):
            raise fail("EINVAL")
        slot = nvl["slot"]
        assert isinstance(slot, int)
        slot = _int32(slot)
        if slot not in (0, 1):
            raise fail("EINVAL")
        if not (_has(nvl, "encrypt", "nvlist") and _has(nvl, "decrypt", "nvlist")):
            raise fail("EINVAL")
        encrypt = self._key_dir(nvl["encrypt"])  # type: ignore[arg-type]
        decrypt = self._key_dir(nvl["decrypt"])  # type: ignore[arg-type]
        peer = self._peer(iface, nvl)
        key_id = nvl["keyid"]
        assert isinstance(key_id, int)
        peer.slots[slot] = KeySlot(key_id & 0xFF, encrypt, decrypt)

    def _swap_keys(self, iface: Interface, nvl: NVList | None) -> None:
        if not _has(nvl, "peerid", "number"):
            raise fail("EINVAL")
        assert nvl is not None
        peer = self._peer(iface, nvl)
        if peer.slots[1] is None:
            raise fail("ENOLINK")
        peer.slots.reverse()

    def _del_key(self, iface: Interface, nvl: NVList | None) -> None:
        if not (_has(nvl, "peerid", "number") and _has(nvl, "slot", "number")):
            raise fail("EINVAL")
        assert nvl is not None
        slot = nvl["slot"]
        assert isinstance(slot, int)
        slot = _int32(slot)
        if slot not in (0, 1):
            raise fail("EINVAL")
        self._peer(iface, nvl).slots[slot] = None

    def _set_peer(self, iface: Interface, nvl: NVList | None) -> None:
        if not all(_has(nvl, k, "number") for k in ("interval", "timeout", "peerid")):
            raise fail("EINVAL")
        assert nvl is not None
        peer = self._peer(iface, nvl)
        interval, timeout = nvl["interval"], nvl["timeout"]
        assert isinstance(interval, int) and isinstance(timeout, int)
        peer.interval = interval & 0xFFFFFFFF
        peer.timeout = timeout & 0xFFFFFFFF
        # a value of 0 does not cancel an armed timer (§4.1, inferred)
        if peer.interval > 0:
            peer.next_ping = self.now + peer.interval
        if peer.timeout > 0:
            peer.next_check = self.now + peer.timeout

    def _start_vpn(self, iface: Interface, nvl: NVList | None) -> None:
        iface.flags |= IFF_UP | IFF_DRV_RUNNING
        iface.link_up = True

    def _set_ifmode(self, iface: Interface, nvl: NVList | None) -> None:
        if not _has(nvl, "ifmode", "number"):
            raise fail("EINVAL")
        assert nvl is not None
        value = nvl["ifmode"]
        assert isinstance(value, int)
        ifmode = _int32(value)
        if iface.flags & IFF_UP:
            raise fail("EBUSY")
        if ifmode & ~IFF_MULTICAST not in (IFF_POINTOPOINT, IFF_BROADCAST):
            raise fail("EINVAL")
        iface.flags &= ~(IFF_BROADCAST | IFF_POINTOPOINT | IFF_MULTICAST)
        iface.flags |= ifmode

    # -- GET commands ---------------------------------------------------------------------
    def _get_stats(self, iface: Interface) -> NVList:
        return stats_reply(iface.counters)

    def _get_peer_stats(self, iface: Interface) -> NVList:
        return peer_stats_reply(
            [
                (p.peer_id, (p.packets[0], p.packets[1]), (p.bytes[0], p.bytes[1]))
                for p in iface.peers.values()
            ]
        )

    def _poll_pkt(self, iface: Interface) -> NVList:
        return poll_reply(len(iface.queue))

    def _get_pkt(self, iface: Interface) -> NVList:
        if not iface.queue:
            raise fail("ENOENT")
        return iface.queue.popleft()  # dequeued before the size check: ENOSPC loses it

    # -- timers ---------------------------------------------------------------------------
    def _scopes(self) -> set[int]:
        return self.other_ifindexes | {i.index for i in self.interfaces.values()}

    def _next_timer(self, limit: float) -> tuple[float, Interface, Peer, str] | None:
        best: tuple[float, Interface, Peer, str] | None = None
        for iface in self.interfaces.values():
            for peer in iface.peers.values():
                # at equal times the timeout check runs first (§9: 2 pings in 3 s, then gone)
                for when, which in ((peer.next_check, "check"), (peer.next_ping, "ping")):
                    if when is not None and when <= limit and (best is None or when < best[0]):
                        best = (when, iface, peer, which)
        return best

    def _ping(self, iface: Interface, peer: Peer) -> None:
        primary = peer.slots[0]
        if iface.link_up and primary is not None:  # no key / link down: not sent (§4.1)
            peer.packets[1] += 1
            peer.bytes[1] += KEEPALIVE_PAYLOAD_LEN
        period = peer.interval if peer.interval > 0 else 1 / self.hz  # 0: every tick
        peer.next_ping = self.now + period

    def _check(self, iface: Interface, peer: Peer) -> None:
        if peer.timeout > 0 and peer.last_rx is not None and self.now - peer.last_rx < peer.timeout:
            peer.next_check = peer.last_rx + peer.timeout
            return
        peer.next_ping = peer.next_check = None
        self._notify_deleted(iface, peer, REASON_TIMEOUT)
