"""FreeBSDBackend against the kernel model: every command, every errno path, every message."""

from __future__ import annotations

import errno
import ipaddress
import socket

import pytest

from nvlist_ffi import NVList
from ovpnctl.backend import Capability
from ovpnctl.endpoint import Endpoint
from ovpnctl.errors import (
    BackendUnavailableError,
    ExitCode,
    KernelError,
    ProtocolError,
    RollbackError,
    UsageError,
    ValidationError,
)
from ovpnctl.freebsd import commands
from ovpnctl.freebsd.backend import FreeBSDBackend
from ovpnctl.freebsd.errors import KernelUsageError
from ovpnctl.keys import Cipher, KeySlot
from ovpnctl.model import (
    DeleteReason,
    EventKind,
    Keepalive,
    Mode,
    PeerConfig,
    Traffic,
)

from .conftest import SocketFactory, key_config
from .kernel_model import KernelModel, KernelPanic

REMOTE = Endpoint.parse("192.0.2.1:1194")


def peer(peer_id: int = 1, remote: str = "192.0.2.1:1194", **kw: object) -> PeerConfig:
    return PeerConfig(peer_id, Endpoint.parse(remote), **kw)  # type: ignore[arg-type]


# -- interfaces ------------------------------------------------------------------------------


def test_create_auto_numbered_and_mode(backend: FreeBSDBackend, kernel: KernelModel) -> None:
    assert backend.create_interface(None, Mode.P2P) == "ovpn0"
    assert backend.create_interface(None, Mode.MULTIPOINT) == "ovpn1"
    assert kernel.issued() == ["SIOCIFCREATE2", "OVPN_SET_IFMODE"] * 2
    assert kernel.interfaces["ovpn0"].flags == 0x8010
    assert kernel.interfaces["ovpn1"].flags == 0x8002
    assert backend.interfaces() == ["ovpn0", "ovpn1"]


def test_interfaces_of_an_opnsense_kernel() -> None:
    kernel = KernelModel(cloner_name="ovpn")  # its interfaces join the group "ovpn"
    backend = FreeBSDBackend(transport=kernel)
    assert backend.interfaces() == []
    backend.create_interface("ovpn2", Mode.P2P)
    assert backend.interfaces() == ["ovpn2"]
    assert kernel.issued().count("SIOCGIFGMEMB") == 4  # both group names, twice


def test_create_named(backend: FreeBSDBackend, kernel: KernelModel) -> None:
    assert backend.create_interface("ovpn5", Mode.MULTIPOINT) == "ovpn5"
    state = backend.state("ovpn5")
    assert (state.mode, state.up, state.mtu, state.peers) == (Mode.MULTIPOINT, False, 1428, ())
    assert state.ifindex == kernel.interfaces["ovpn5"].index


def test_create_refuses_bad_names_before_the_kernel(
    backend: FreeBSDBackend, kernel: KernelModel
) -> None:
    for name in ("openvpn0", "ovpn01", "ovpn123456789012"):
        with pytest.raises(ValidationError):
            backend.create_interface(name, Mode.P2P)
    assert kernel.calls == []


def test_create_unit_taken_by_another_prefix(backend: FreeBSDBackend) -> None:
    backend.create_interface("ovpns1", Mode.P2P)
    with pytest.raises(KernelError) as info:
        backend.create_interface("ovpnc1", Mode.P2P)
    assert info.value.message == (
        "cannot create ovpnc1: an interface of that name exists, or another ovpn interface "
        "already uses its unit number"
    )
    assert info.value.exit_code is ExitCode.DATAERR


def test_create_loads_the_module_when_the_cloner_is_missing() -> None:
    kernel = KernelModel(module_loaded=False)
    backend = FreeBSDBackend(transport=kernel)
    assert backend.create_interface(None, Mode.P2P) == "ovpn0"
    assert kernel.loaded == ["if_ovpn"]
    assert kernel.issued()[:4] == ["SIOCIFCREATE2", "SIOCIFGCLONERS", "kldload", "SIOCIFCREATE2"]


def test_create_einval_with_cloner_present_is_explained_not_loaded() -> None:
    kernel = KernelModel(cloner_name="ovpn")  # OPNsense names its cloner ovpn
    kernel.inject_fault("EINVAL", call="SIOCIFCREATE2")
    with pytest.raises(KernelError, match="no cloner accepts that name") as info:
        FreeBSDBackend(transport=kernel).create_interface(None, Mode.P2P)
    assert kernel.loaded == []
    assert info.value.exit_code is ExitCode.UNAVAILABLE


def test_create_module_load_failure() -> None:
    kernel = KernelModel(module_loaded=False)
    kernel.inject_fault("ENOENT", call="kldload")
    with pytest.raises(BackendUnavailableError) as info:
        FreeBSDBackend(transport=kernel).create_interface(None, Mode.P2P)
    assert info.value.message.startswith(
        "the if_ovpn kernel module is not loaded and loading it failed"
    )
    assert 'if_ovpn_load="YES"' in info.value.message


def test_create_rolls_back_when_the_mode_fails(
    backend: FreeBSDBackend, kernel: KernelModel
) -> None:
    kernel.inject_fault("EINVAL", call="OVPN_SET_IFMODE")
    with pytest.raises(KernelError, match=r"ovpn0 refused p2p mode \(ifmode 0x8010\)"):
        backend.create_interface(None, Mode.P2P)
    assert kernel.interfaces == {}
    assert kernel.issued() == ["SIOCIFCREATE2", "OVPN_SET_IFMODE", "SIOCIFDESTROY"]


def test_create_rollback_failure_is_reported(backend: FreeBSDBackend, kernel: KernelModel) -> None:
    kernel.inject_fault("EINVAL", call="OVPN_SET_IFMODE")
    kernel.inject_fault("EBUSY", call="SIOCIFDESTROY")
    with pytest.raises(RollbackError) as info:
        backend.create_interface("ovpn3", Mode.P2P)
    assert "destroying the new interface ovpn3 failed too" in info.value.message
    assert "a decryption is still in flight" in info.value.message


def test_destroy(backend: FreeBSDBackend, iface: str, kernel: KernelModel) -> None:
    backend.destroy_interface(iface)
    assert kernel.interfaces == {}
    with pytest.raises(KernelError) as info:
        backend.destroy_interface(iface)
    assert info.value.message == "cannot destroy ovpn0: no such interface"
    assert info.value.exit_code is ExitCode.NOINPUT


def test_destroy_busy_is_temporary(
    backend: FreeBSDBackend, iface: str, kernel: KernelModel
) -> None:
    kernel.inject_fault("EBUSY", call="SIOCIFDESTROY")
    with pytest.raises(KernelError) as info:
        backend.destroy_interface(iface)
    assert info.value.exit_code is ExitCode.TEMPFAIL
    assert info.value.errno == errno.EBUSY


@pytest.mark.parametrize("up", ["start", "ifconfig"])
def test_mode_change_when_up(
    backend: FreeBSDBackend, iface: str, kernel: KernelModel, up: str
) -> None:
    if up == "start":
        backend.start(iface)
    else:
        kernel.ifconfig_up(iface)
    with pytest.raises(UsageError) as info:
        backend.set_mode(iface, Mode.MULTIPOINT)
    assert isinstance(info.value, KernelUsageError) and info.value.errno == errno.EBUSY
    assert info.value.message == (
        "cannot set ovpn0 to mp mode: the interface is already up; the mode can only be "
        "chosen before it is brought up (destroy and re-create it)"
    )
    assert info.value.exit_code is ExitCode.USAGE


def test_start_brings_the_interface_up(
    backend: FreeBSDBackend, iface: str, kernel: KernelModel
) -> None:
    backend.start(iface)
    assert kernel.calls[-1].size == 0  # START_VPN carries no nvlist
    assert backend.state(iface).up is True
    assert kernel.interfaces[iface].link_up


def test_unprivileged() -> None:
    kernel = KernelModel()
    FreeBSDBackend(transport=kernel).create_interface("ovpn0", Mode.P2P)
    kernel.privileged = False
    backend = FreeBSDBackend(transport=kernel)
    with pytest.raises(KernelError) as info:
        backend.start("ovpn0")
    assert info.value.message == (
        "OVPN_START_VPN on ovpn0: permission denied; if_ovpn requests need root "
        "(inside a jail: a VNET jail)"
    )
    assert info.value.exit_code is ExitCode.NOPERM
    with pytest.raises(KernelError, match="cannot create ovpn1: permission denied"):
        backend.create_interface("ovpn1", Mode.P2P)
    # the interface lookup comes before the privilege check
    with pytest.raises(KernelError) as missing:
        backend.start("ovpn9")
    assert missing.value.message == "OVPN_START_VPN: there is no interface named ovpn9"


def test_state_of_missing_interface(backend: FreeBSDBackend) -> None:
    with pytest.raises(KernelError, match="OVPN_GET_STATS: there is no interface named ovpn7"):
        backend.state("ovpn7")


def test_unknown_command_is_explained(
    backend: FreeBSDBackend, iface: str, kernel: KernelModel
) -> None:
    kernel.inject_fault("EOPNOTSUPP", call="OVPN_POLL_PKT")
    with pytest.raises(KernelError) as info:
        backend.pending_events(iface)
    assert info.value.message == (
        "OVPN_POLL_PKT on ovpn0: the kernel does not know this request (an older if_ovpn, "
        "or ovpn0 is not an ovpn interface)"
    )


def test_unexplained_errno_still_names_command_and_interface(
    backend: FreeBSDBackend, iface: str, kernel: KernelModel
) -> None:
    kernel.inject_fault("EIO", call="OVPN_START_VPN")
    with pytest.raises(KernelError, match=r"OVPN_START_VPN on ovpn0 failed: .* \(EIO\)"):
        backend.start(iface)


def test_capabilities() -> None:
    assert Capability.ONE_SOCKET_PER_INTERFACE in FreeBSDBackend.capabilities
    assert Capability.READ_PEER_CONFIG not in FreeBSDBackend.capabilities
    assert Capability.TCP_TRANSPORT not in FreeBSDBackend.capabilities


def test_real_backend_needs_freebsd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.platform", "linux")
    with pytest.raises(BackendUnavailableError, match="needs FreeBSD"):
        FreeBSDBackend()


# -- peers -----------------------------------------------------------------------------------


def test_add_peer_ipv4(
    backend: FreeBSDBackend, iface: str, kernel: KernelModel, udp: SocketFactory
) -> None:
    sock = udp()
    vpn = ipaddress.IPv4Address("10.8.0.2")
    backend.add_peer(iface, peer(1, vpn_ipv4=vpn), sock)
    model = kernel.interfaces[iface].peers[1]
    assert model.remote == REMOTE
    assert model.local.port == sock.getsockname()[1]
    assert model.vpn_ipv4 == vpn.packed
    assert kernel.issued()[-2:] == ["OVPN_NEW_PEER", "OVPN_GET_PEER_STATS"]
    state = backend.state(iface)
    (only,) = state.peers
    assert only.peer_id == 1 and only.remote is None and only.vpn == Traffic()


def test_add_peer_ipv6_with_scope(
    backend: FreeBSDBackend, iface: str, kernel: KernelModel, udp: SocketFactory
) -> None:
    backend.add_peer(iface, peer(2, f"[fe80::2%{kernel.interfaces[iface].index}]:1194"), udp("::1"))
    remote = kernel.interfaces[iface].peers[2].remote
    assert remote.scope_id == kernel.interfaces[iface].index and remote.port == 1194


def test_dual_stack_socket_gets_a_mapped_remote(
    backend: FreeBSDBackend, iface: str, kernel: KernelModel, udp: SocketFactory
) -> None:
    backend.add_peer(iface, peer(1), udp("::", v6only=False))
    model = kernel.interfaces[iface].peers[1]
    assert model.remote == REMOTE  # the kernel turned ::ffff:192.0.2.1 back into IPv4
    assert model.local.family == 4


def test_v6only_socket_cannot_reach_ipv4(
    backend: FreeBSDBackend, iface: str, kernel: KernelModel, udp: SocketFactory
) -> None:
    calls = len(kernel.calls)
    with pytest.raises(ValidationError, match="is IPv6-only; bind a dual-stack socket on"):
        backend.add_peer(iface, peer(1), udp("::1"))
    with pytest.raises(ValidationError, match="is IPv6 but the socket"):
        backend.add_peer(iface, peer(1, "[2001:db8::1]:1194"), udp())
    assert len(kernel.calls) == calls


def test_sockets_the_kernel_must_never_see(
    backend: FreeBSDBackend, iface: str, kernel: KernelModel, udp: SocketFactory
) -> None:
    calls = len(kernel.calls)
    unbound = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    local_a, local_b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    closed = udp()
    closed.close()
    try:
        cases = [
            (unbound, "is not bound to a port"),
            (tcp, "is not a UDP socket"),
            (local_a, "is not an IPv4/IPv6 socket"),
            (closed, "socket is closed"),
        ]
        for sock, message in cases:
            with pytest.raises(ValidationError, match=message):
                backend.add_peer(iface, peer(1), sock)
        assert len(kernel.calls) == calls
        # what the check prevents: the model, like the sheet, treats it as a kernel panic
        kernel.adopt(local_a)
        request = NVList([("remote", NVList([("af", 2), ("address", b"\xc0\0\2\1"), ("port", 1)]))])
        request.add("fd", local_a.fileno())
        request.add("peerid", 1)
        with pytest.raises(KernelPanic):
            backend._set(iface, commands.NEW_PEER, request)
    finally:
        for sock in (unbound, tcp, local_a, local_b):
            sock.close()


def test_add_peer_without_socket_outside_a_dry_run(backend: FreeBSDBackend, iface: str) -> None:
    with pytest.raises(UsageError, match="a bound UDP socket is required"):
        backend.add_peer(iface, peer(1), None)


def test_add_peer_without_remote(backend: FreeBSDBackend, iface: str, udp: SocketFactory) -> None:
    with pytest.raises(ValidationError, match="FreeBSD needs a remote address"):
        backend.add_peer(iface, PeerConfig(1, None), udp())


def test_duplicate_peer(backend: FreeBSDBackend, iface: str, udp: SocketFactory) -> None:
    sock = udp()
    backend.add_peer(iface, peer(1), sock)
    with pytest.raises(KernelError) as info:
        backend.add_peer(iface, peer(1), sock)
    assert info.value.message == (
        "ovpn0 already has a peer 1; delete it first (FreeBSD does not replace peers)"
    )
    assert info.value.errno == errno.EEXIST and info.value.command == "OVPN_NEW_PEER"


def test_second_socket_while_peers_exist(
    backend: FreeBSDBackend, iface: str, kernel: KernelModel, udp: SocketFactory
) -> None:
    backend.add_peer(iface, peer(1), udp())
    with pytest.raises(KernelError) as info:
        backend.add_peer(iface, peer(2), udp())
    assert info.value.message == (
        "ovpn0 refused peer 2: the interface already uses a different UDP socket for its "
        "other peers (one socket per interface), or this socket already belongs to another "
        "ovpn interface"
    )
    assert isinstance(info.value, UsageError)
    assert set(kernel.interfaces[iface].peers) == {1}


def test_socket_of_another_interface(
    backend: FreeBSDBackend, kernel: KernelModel, udp: SocketFactory
) -> None:
    backend.create_interface("ovpn0", Mode.P2P)
    backend.create_interface("ovpn1", Mode.P2P)
    sock = udp()
    backend.add_peer("ovpn0", peer(1), sock)
    with pytest.raises(KernelError, match="already belongs to another ovpn interface"):
        backend.add_peer("ovpn1", peer(1), sock)


def test_old_kernel_silently_ignoring_a_second_socket(udp: SocketFactory) -> None:
    kernel = KernelModel(silent_socket_change=True)
    backend = FreeBSDBackend(transport=kernel)
    backend.create_interface("ovpn0", Mode.P2P)
    first = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    second = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for sock in (first, second):
            sock.bind(("127.0.0.1", 0))
            kernel.adopt(sock)
        backend.add_peer("ovpn0", peer(1), first)
        with pytest.raises(KernelError) as info:
            backend.add_peer("ovpn0", peer(2), second)
    finally:
        first.close()
        second.close()
    assert info.value.message == (
        "ovpn0 accepted peer 2 but did not create it: this kernel silently refuses a "
        "different UDP socket while the interface has peers; add every peer of ovpn0 "
        "through the same socket"
    )
    assert info.value.command == "OVPN_NEW_PEER"


@pytest.mark.parametrize(
    ("fake", "message"),
    [
        (
            {"local": None},
            "ovpn0 refused peer 1: a required field is malformed, the UDP socket is not bound",
        ),
        (
            {"sock_type": 1},
            "ovpn0 refused peer 1: the socket is not UDP (FreeBSD offloads UDP only)",
        ),
    ],
)
def test_new_peer_kernel_refusals(
    backend: FreeBSDBackend, iface: str, udp: SocketFactory, fake: dict[str, object], message: str
) -> None:
    """The kernel disagreeing with what userspace saw of the socket (e.g. it changed)."""
    with pytest.raises(KernelError) as info:
        backend.add_peer(iface, peer(1), udp(**fake))
    assert info.value.message.startswith(message)


def test_descriptor_the_kernel_does_not_know(
    backend: FreeBSDBackend, iface: str, udp: SocketFactory
) -> None:
    sock = udp(adopt=False)
    with pytest.raises(KernelError) as info:
        backend.add_peer(iface, peer(1), sock)
    assert info.value.message == (
        f"ovpn0 refused peer 1: descriptor {sock.fileno()} is not open in this process"
    )


def test_descriptor_that_is_not_a_socket(
    backend: FreeBSDBackend, iface: str, kernel: KernelModel, udp: SocketFactory
) -> None:
    sock = udp()
    kernel.fds[sock.fileno()] = "regular file"
    with pytest.raises(KernelError, match=f"descriptor {sock.fileno()} is not a socket"):
        backend.add_peer(iface, peer(1), sock)


def test_descriptor_without_capability(
    backend: FreeBSDBackend, iface: str, udp: SocketFactory
) -> None:
    expected = "lacks CAP_CONNECT" if hasattr(errno, "ENOTCAPABLE") else "permission denied"
    with pytest.raises(KernelError, match=expected):
        backend.add_peer(iface, peer(1), udp(cap_connect=False))


def test_ipv6_remote_without_route(backend: FreeBSDBackend, iface: str, udp: SocketFactory) -> None:
    with pytest.raises(KernelError) as info:
        backend.add_peer(iface, peer(1, "[fe80::9]:1194"), udp("::"))
    assert info.value.message == (
        "ovpn0 refused peer 1: no route to [fe80::9]:1194 to pick an IPv6 source address "
        "(a link-local remote needs its %interface scope)"
    )


def test_keepalive_with_the_peer(
    backend: FreeBSDBackend, iface: str, kernel: KernelModel, udp: SocketFactory
) -> None:
    backend.add_peer(iface, peer(1, keepalive=Keepalive(10, 60)), udp())
    model = kernel.interfaces[iface].peers[1]
    assert (model.interval, model.timeout) == (10, 60)
    assert kernel.issued()[-1] == "OVPN_SET_PEER"


def test_keepalive_zero_at_creation_sends_nothing(
    backend: FreeBSDBackend, iface: str, kernel: KernelModel, udp: SocketFactory
) -> None:
    backend.add_peer(iface, peer(1, keepalive=Keepalive(0, 0)), udp())
    assert "OVPN_SET_PEER" not in kernel.issued()


def test_keepalive_failure_removes_the_new_peer(
    backend: FreeBSDBackend, iface: str, kernel: KernelModel, udp: SocketFactory
) -> None:
    kernel.inject_fault("ENOMEM", call="OVPN_SET_PEER")
    with pytest.raises(KernelError, match="OVPN_SET_PEER on ovpn0: the kernel is out of memory"):
        backend.add_peer(iface, peer(1, keepalive=Keepalive(10, 60)), udp())
    assert kernel.interfaces[iface].peers == {}
    assert kernel.issued()[-1] == "OVPN_DEL_PEER"


def test_keepalive_failure_and_failed_rollback(
    backend: FreeBSDBackend, iface: str, kernel: KernelModel, udp: SocketFactory
) -> None:
    kernel.inject_fault("ENOMEM", call="OVPN_SET_PEER")
    kernel.inject_fault("ENOMEM", call="OVPN_DEL_PEER")
    with pytest.raises(RollbackError, match="removing the half-added peer 1 from ovpn0 failed too"):
        backend.add_peer(iface, peer(1, keepalive=Keepalive(10, 60)), udp())


def test_set_keepalive(
    backend: FreeBSDBackend, iface: str, kernel: KernelModel, udp: SocketFactory
) -> None:
    backend.add_peer(iface, peer(1), udp())
    backend.set_keepalive(iface, 1, Keepalive(5, 30))
    assert kernel.interfaces[iface].peers[1].timeout == 30
    with pytest.raises(KernelError) as info:
        backend.set_keepalive(iface, 2, Keepalive(5, 30))
    assert info.value.message == "ovpn0 has no peer 2"
    assert info.value.exit_code is ExitCode.NOINPUT


@pytest.mark.parametrize("keepalive", [Keepalive(0, 30), Keepalive(5, 0), Keepalive(0, 0)])
def test_set_keepalive_refuses_zero(
    backend: FreeBSDBackend, iface: str, kernel: KernelModel, keepalive: Keepalive
) -> None:
    calls = len(kernel.calls)
    with pytest.raises(ValidationError, match="cannot switch off an armed keepalive"):
        backend.set_keepalive(iface, 1, keepalive)
    assert len(kernel.calls) == calls


def test_del_peer(
    backend: FreeBSDBackend, iface: str, kernel: KernelModel, udp: SocketFactory
) -> None:
    backend.add_peer(iface, peer(1), udp())
    backend.del_peer(iface, 1)
    assert kernel.interfaces[iface].peers == {}
    (event,) = backend.consume_events(iface)
    assert (event.kind, event.peer_id, event.reason) == (
        EventKind.PEER_DELETED,
        1,
        DeleteReason.REQUESTED,
    )
    with pytest.raises(KernelError, match=r"^ovpn0 has no peer 1$"):
        backend.del_peer(iface, 1)


def test_peer_id_range_checked(backend: FreeBSDBackend, iface: str, kernel: KernelModel) -> None:
    with pytest.raises(ValidationError, match="out of range"):
        backend.del_peer(iface, 1 << 24)
    assert kernel.issued() == ["SIOCIFCREATE2", "OVPN_SET_IFMODE"]


# -- keys ------------------------------------------------------------------------------------


@pytest.fixture
def with_peer(backend: FreeBSDBackend, iface: str, udp: SocketFactory) -> str:
    backend.add_peer(iface, peer(1), udp())
    return iface


@pytest.mark.parametrize("cipher", list(Cipher))
def test_new_key_every_cipher_then_start(
    backend: FreeBSDBackend, with_peer: str, kernel: KernelModel, cipher: Cipher
) -> None:
    backend.new_key(with_peer, key_config(cipher=cipher, key_id=3))
    slot = kernel.interfaces[with_peer].peers[1].slots[0]
    assert slot is not None and slot.key_id == 3
    assert (slot.encrypt.cipher, slot.encrypt.key_len) == (cipher.value, cipher.key_length)
    assert kernel.issued()[-2:] == ["OVPN_NEW_KEY", "OVPN_START_VPN"]
    assert kernel.interfaces[with_peer].link_up


def test_new_key_without_start(kernel: KernelModel, udp: SocketFactory) -> None:
    backend = FreeBSDBackend(transport=kernel, start_after_new_key=False)
    backend.create_interface("ovpn0", Mode.P2P)
    backend.add_peer("ovpn0", peer(1), udp())
    backend.new_key("ovpn0", key_config())
    assert kernel.issued()[-1] == "OVPN_NEW_KEY"
    assert not kernel.interfaces["ovpn0"].link_up


def test_new_key_for_missing_peer(backend: FreeBSDBackend, iface: str) -> None:
    with pytest.raises(KernelError) as info:
        backend.new_key(iface, key_config(peer_id=4))
    assert info.value.message == "ovpn0 has no peer 4 to install a key for; add the peer first"


def test_key_length_checked_before_the_ioctl(
    backend: FreeBSDBackend, with_peer: str, kernel: KernelModel
) -> None:
    key = key_config()
    del key.decrypt.key[-1]  # the buffers are mutable after construction
    calls = len(kernel.calls)
    with pytest.raises(ValidationError, match="decrypt: AES-256-GCM needs a 32-byte key, got 31"):
        backend.new_key(with_peer, key)
    key.decrypt.key.append(0)
    del key.encrypt.iv[0]
    with pytest.raises(ValidationError, match="encrypt: the implicit IV must be 8 bytes, got 7"):
        backend.new_key(with_peer, key)
    assert len(kernel.calls) == calls


@pytest.mark.parametrize(
    ("errno_name", "message", "code"),
    [
        (
            "E2BIG",
            "ovpn0 refused the key for peer 1: the key is longer than 32 bytes or the "
            "implicit IV is not 8 bytes",
            ExitCode.DATAERR,
        ),
        (
            "EOPNOTSUPP",
            "ovpn0 refused the key for peer 1: the kernel's crypto layer does not support "
            "AES-256-GCM with a 32-byte key",
            ExitCode.UNAVAILABLE,
        ),
        (
            "EINVAL",
            "ovpn0 refused the AES-256-GCM key for peer 1: malformed request, bad slot, or a "
            "32-byte key the crypto layer cannot use with this cipher",
            ExitCode.DATAERR,
        ),
    ],
)
def test_new_key_kernel_refusals(  # noqa: PLR0917 - fixtures + parameters
    backend: FreeBSDBackend,
    with_peer: str,
    kernel: KernelModel,
    errno_name: str,
    message: str,
    code: ExitCode,
) -> None:
    kernel.inject_fault(errno_name, call="OVPN_NEW_KEY")
    with pytest.raises(KernelError) as info:
        backend.new_key(with_peer, key_config())
    assert info.value.message == message
    assert info.value.exit_code is code
    assert kernel.issued()[-1] == "OVPN_NEW_KEY"  # no START_VPN after a failure


def test_key_buffers_are_wiped_after_the_ioctl(
    backend: FreeBSDBackend, with_peer: str, kernel: KernelModel
) -> None:
    seen: list[bytearray] = []
    original = kernel.set_drvspec

    def spy(ifname: str, cmd: int, request: bytearray | None) -> None:
        if request is not None:
            seen.append(request)
            assert bytes([0x11] * 32) in request  # the key really was in the buffer
        original(ifname, cmd, request)

    kernel.set_drvspec = spy  # type: ignore[method-assign]
    key = key_config()
    backend.new_key(with_peer, key)
    assert seen and not any(seen[0])
    assert key.encrypt.key == bytearray([0x11] * 32)  # the caller's key is the caller's to wipe


def test_swap_and_delete_keys(backend: FreeBSDBackend, with_peer: str, kernel: KernelModel) -> None:
    backend.new_key(with_peer, key_config(key_id=0))
    with pytest.raises(KernelUsageError) as info:
        backend.swap_keys(with_peer, 1)
    assert info.value.message == (
        "cannot swap the keys of peer 1 on ovpn0: the secondary slot holds no complete key; "
        "install one into the secondary slot first"
    )
    assert info.value.exit_code is ExitCode.USAGE
    backend.new_key(with_peer, key_config(key_id=1, slot=KeySlot.SECONDARY))
    backend.swap_keys(with_peer, 1)
    slots = kernel.interfaces[with_peer].peers[1].slots
    assert [s.key_id if s else None for s in slots] == [1, 0]
    backend.del_key(with_peer, 1, KeySlot.SECONDARY)
    assert kernel.interfaces[with_peer].peers[1].slots[1] is None
    backend.del_key(with_peer, 1, KeySlot.SECONDARY)  # deleting an empty slot succeeds
    with pytest.raises(KernelError, match=r"^ovpn0 has no peer 2$"):
        backend.del_key(with_peer, 2, KeySlot.PRIMARY)
    with pytest.raises(KernelError, match=r"^ovpn0 has no peer 2$"):
        backend.swap_keys(with_peer, 2)


def test_oversized_request_never_reaches_the_kernel(
    backend: FreeBSDBackend, iface: str, kernel: KernelModel
) -> None:
    calls = len(kernel.calls)
    with pytest.raises(ValidationError) as info:
        backend._set(iface, commands.SET_PEER, NVList([("padding", b"\0" * 4096)]))
    assert info.value.message == (
        "OVPN_SET_PEER on ovpn0: the request is 4142 bytes; the kernel accepts at most 4096"
    )
    assert len(kernel.calls) == calls


# -- replies and notifications ----------------------------------------------------------------


def test_peer_stats_buffer_grows_on_enospc(
    backend: FreeBSDBackend, iface: str, kernel: KernelModel, udp: SocketFactory
) -> None:
    sock = udp()
    for peer_id in range(13):  # 13 peers need 4269 bytes: more than 4096
        backend.add_peer(iface, peer(peer_id), sock)
    fresh = FreeBSDBackend(transport=kernel)  # no peer-count hint yet
    kernel.calls.clear()
    assert len(fresh.state(iface).peers) == 13
    sizes = [c.size for c in kernel.calls if c.command == "OVPN_GET_PEER_STATS"]
    assert sizes == [369, 738, 1476, 2952, 5904]
    kernel.calls.clear()
    fresh.state(iface)  # now the hint is right: one call of the exact size
    sizes = [c.size for c in kernel.calls if c.command == "OVPN_GET_PEER_STATS"]
    assert sizes == [commands.peer_stats_reply_size(13)]


def test_get_buffers_start_at_the_exact_size(
    backend: FreeBSDBackend, iface: str, kernel: KernelModel
) -> None:
    kernel.calls.clear()
    backend.state(iface)
    sizes = {c.command: c.size for c in kernel.calls if c.ioctl == "SIOCGDRVSPEC"}
    assert sizes == {"OVPN_GET_STATS": 910, "OVPN_GET_PEER_STATS": 369, "OVPN_POLL_PKT": 54}


def test_reply_that_never_fits(backend: FreeBSDBackend, iface: str, kernel: KernelModel) -> None:
    for _ in range(25):
        kernel.inject_fault("ENOSPC", call="OVPN_GET_STATS")
    with pytest.raises(ProtocolError, match="the reply does not fit 16777216 bytes"):
        backend.state(iface)


def test_state_counters_and_defect_note(
    backend: FreeBSDBackend, with_peer: str, kernel: KernelModel
) -> None:
    backend.new_key(with_peer, key_config())
    kernel.send(with_peer, 1, packets=3, size=100)
    kernel.receive(with_peer, 1, packets=2, size=50)
    state = backend.state(with_peer)
    counters = {c.name: c for c in state.counters}
    assert (counters["data"].rx, counters["data"].tx) == (2, 3)
    assert counters["tunnel"].rx == counters["tunnel"].tx == 100  # tx really was 300
    assert counters["tunnel"].note is not None and "defect" in counters["tunnel"].note
    assert state.peers[0].vpn == Traffic(rx_packets=2, tx_packets=3, rx_bytes=100, tx_bytes=300)


def test_events_are_drained_in_order_and_polling_is_harmless(
    backend: FreeBSDBackend, with_peer: str, kernel: KernelModel
) -> None:
    kernel.float_peer(with_peer, 1, Endpoint.parse("198.51.100.9:4000"))
    kernel.queue_raw(with_peer, NVList([("peerid", 1), ("notification", 9)]))
    backend.del_peer(with_peer, 1)
    assert backend.pending_events(with_peer) == 3
    assert backend.pending_events(with_peer) == 3
    events = backend.consume_events(with_peer)
    assert [e.kind for e in events] == [EventKind.FLOAT, EventKind.UNKNOWN, EventKind.PEER_DELETED]
    assert events[0].address == Endpoint.parse("198.51.100.9:4000")
    assert events[1].raw_type == 9
    assert backend.pending_events(with_peer) == 0
    assert backend.consume_events(with_peer) == []
    assert all(c.size == 4096 for c in kernel.calls if c.command == "OVPN_GET_PKT")


def test_notification_too_big_is_lost_and_reported(
    backend: FreeBSDBackend, iface: str, kernel: KernelModel
) -> None:
    kernel.queue_raw(iface, NVList([("peerid", 1), ("notification", 7), ("blob", b"x" * 5000)]))
    with pytest.raises(KernelError) as info:
        backend.consume_events(iface)
    assert info.value.message == (
        "ovpn0: a notification did not fit the 4096-byte buffer; the kernel dropped it"
    )
    assert backend.pending_events(iface) == 0


def test_keepalive_expiry_reaches_watchers(
    backend: FreeBSDBackend, with_peer: str, kernel: KernelModel
) -> None:
    backend.set_keepalive(with_peer, 1, Keepalive(1, 3))
    events = list(backend.watch_events(with_peer, consume=True, timeout=5))
    (event,) = events
    assert (event.kind, event.peer_id, event.reason) == (
        EventKind.PEER_DELETED,
        1,
        DeleteReason.EXPIRED,
    )
    assert event.final is not None


def test_watch_without_consume_never_reads_the_queue(
    backend: FreeBSDBackend, with_peer: str, kernel: KernelModel
) -> None:
    backend.set_keepalive(with_peer, 1, Keepalive(1, 3))
    events = list(backend.watch_events(None, consume=False, timeout=6))
    assert [(e.kind, e.interface, e.raw) for e in events] == [
        (EventKind.PENDING, "ovpn0", {"pending": 1})
    ]
    assert "OVPN_GET_PKT" not in kernel.issued()
    assert backend.pending_events(with_peer) == 1


def test_watch_all_interfaces_skips_vanished_ones(
    backend: FreeBSDBackend, iface: str, kernel: KernelModel
) -> None:
    kernel.inject_fault("ENXIO", call="OVPN_POLL_PKT")
    assert list(backend.watch_events(None, consume=True, timeout=1)) == []
    kernel.inject_fault("ENXIO", call="OVPN_POLL_PKT")
    with pytest.raises(KernelError, match="no interface named ovpn0"):
        list(backend.watch_events(iface, consume=True, timeout=1))
