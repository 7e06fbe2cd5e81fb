"""The kernel model itself against the sheet: check order, errnos, sizes, queue and timers.

These drive the model with raw packed requests (not through the backend) so that paths the
backend deliberately never takes -- bad flags, wrong directions, malformed keys -- are
covered, and so that a wrong model cannot make the backend tests pass by accident.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator

import pytest

from nvlist_ffi import NV_FLAG_IGNORE_CASE, NV_FLAG_NO_UNIQUE, NVList, codec
from ovpnctl.endpoint import Endpoint
from ovpnctl.freebsd.ifdrv import ovpn_command

from . import kernel_model as km
from .kernel_model import KernelModel

CMD = km.CMD
V4_REMOTE = NVList([("af", 2), ("address", bytes([192, 0, 2, 1])), ("port", 43524)])


def errno_of(call: object, *args: object) -> str | None:
    """The errno name a model call fails with (None when it succeeds)."""
    try:
        call(*args)  # type: ignore[operator]
    except OSError as exc:
        if exc.errno == errno.EOPNOTSUPP:
            return "EOPNOTSUPP"  # errorcode may say ENOTSUP: the same number
        return errno.errorcode[exc.errno or 0]
    return None


def packed(nvl: NVList | None) -> bytearray | None:
    return None if nvl is None else bytearray(codec.pack(nvl))


@pytest.fixture
def model() -> KernelModel:
    k = KernelModel()
    assert k.create_interface("ovpn") == "ovpn0"
    return k


@pytest.fixture
def sock(model: KernelModel) -> Iterator[socket.socket]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    model.adopt(s)
    yield s
    s.close()


def set_(model: KernelModel, cmd: str, nvl: NVList | None, ifname: str = "ovpn0") -> str | None:
    return errno_of(model.set_drvspec, ifname, CMD[cmd], packed(nvl))


def new_peer(fd: int, peer_id: int = 1, remote: NVList = V4_REMOTE, **extra: object) -> NVList:
    nvl = NVList([("remote", remote), ("fd", fd), ("peerid", peer_id)])
    for key, value in extra.items():
        nvl.add(key, value)
    return nvl


def direction(cipher: str = "AES-256-GCM", key: int = 32, iv: int = 8) -> NVList:
    nvl = NVList([("cipher", cipher)])
    if key:
        nvl.add("key", b"k" * key)
    if iv:
        nvl.add("iv", b"i" * iv)
    return nvl


def new_key(
    peer_id: int = 1, slot: int = 0, enc: NVList | None = None, dec: NVList | None = None
) -> NVList:
    return NVList(
        [
            ("slot", slot),
            ("keyid", 0),
            ("peerid", peer_id),
            ("encrypt", enc or direction()),
            ("decrypt", dec or direction()),
        ]
    )


# -- transport-level rules (§1.4, §2.4, §2.5) -------------------------------------------------


def test_lookup_before_privilege() -> None:
    model = KernelModel(privileged=False)
    model.privileged = True
    model.create_interface("ovpn0")
    model.privileged = False
    assert set_(model, "START_VPN", None, "ovpn9") == "ENXIO"
    assert set_(model, "START_VPN", None) == "EPERM"
    assert errno_of(model.get_drvspec, "ovpn0", CMD["POLL_PKT"], bytearray(54)) == "EPERM"
    assert errno_of(model.create_interface, "ovpn1") == "EPERM"


def test_request_size_limit(model: KernelModel) -> None:
    # unknown keys are ignored: pad a valid SET_PEER-less request to exactly 4096 bytes
    base = NVList([("ifmode", 0x8010)])
    pad = 4096 - len(codec.pack(base)) - 19 - len(b"pad\0")
    ok = NVList([("ifmode", 0x8010), ("pad", b"\0" * pad)])
    assert len(codec.pack(ok)) == 4096
    assert set_(model, "SET_IFMODE", ok) is None
    too_big = NVList([("ifmode", 0x8010), ("pad", b"\0" * (pad + 1))])
    assert set_(model, "SET_IFMODE", too_big) == "E2BIG"


@pytest.mark.parametrize("flags", [NV_FLAG_IGNORE_CASE, NV_FLAG_NO_UNIQUE])
def test_request_flags_must_be_zero(model: KernelModel, flags: int) -> None:
    assert set_(model, "SET_IFMODE", NVList([("ifmode", 0x8010)], flags=flags)) == "EINVAL"


def test_duplicate_names_and_descriptors_refused(model: KernelModel) -> None:
    dup = NVList(flags=NV_FLAG_NO_UNIQUE)
    dup.add("ifmode", 0x8010)
    dup.add("ifmode", 0x8002)
    raw = bytearray(codec.pack(dup))
    raw[2] = 0  # claim flags 0: now the duplicate itself must be refused
    assert errno_of(model.set_drvspec, "ovpn0", CMD["SET_IFMODE"], raw) == "EINVAL"
    with_fd = bytearray(codec.pack(NVList([("ifmode", 0x8010)])))
    with_fd[3] = 1  # header descriptor count 1
    assert errno_of(model.set_drvspec, "ovpn0", CMD["SET_IFMODE"], with_fd) == "EINVAL"
    assert errno_of(model.set_drvspec, "ovpn0", CMD["SET_IFMODE"], bytearray(b"junk")) == "EINVAL"


def test_wrong_direction_and_unknown_commands(model: KernelModel) -> None:
    assert set_(model, "GET_STATS", None) == "EOPNOTSUPP"
    assert errno_of(model.get_drvspec, "ovpn0", CMD["NEW_PEER"], bytearray(4096)) == "EOPNOTSUPP"
    assert errno_of(model.set_drvspec, "ovpn0", ovpn_command(9), None) == "EOPNOTSUPP"  # SEND_PKT
    assert errno_of(model.set_drvspec, "ovpn0", ovpn_command(14), None) == "EOPNOTSUPP"


def test_empty_request_is_einval_except_start_vpn(model: KernelModel) -> None:
    for cmd in (
        "NEW_PEER",
        "DEL_PEER",
        "NEW_KEY",
        "SWAP_KEYS",
        "DEL_KEY",
        "SET_PEER",
        "SET_IFMODE",
    ):
        assert set_(model, cmd, None) == "EINVAL", cmd
    assert set_(model, "START_VPN", NVList()) is None
    assert errno_of(model.set_drvspec, "ovpn0", CMD["START_VPN"], bytearray(b"\x6c")) == "EINVAL"


def test_enospc_writes_nothing_and_exact_size_fits(model: KernelModel) -> None:
    short = bytearray(b"\xaa" * 909)
    assert errno_of(model.get_drvspec, "ovpn0", CMD["GET_STATS"], short) == "ENOSPC"
    assert short == bytearray(b"\xaa" * 909)
    exact = bytearray(b"\xaa" * 1000)
    assert model.get_drvspec("ovpn0", CMD["GET_STATS"], exact) == 910
    assert exact[910:] == b"\xaa" * 90  # only the reply's bytes are written


def test_get_pkt_loses_the_notification_on_enospc(model: KernelModel, sock: socket.socket) -> None:
    assert set_(model, "NEW_PEER", new_peer(sock.fileno())) is None
    assert set_(model, "DEL_PEER", NVList([("peerid", 1)])) is None
    assert errno_of(model.get_drvspec, "ovpn0", CMD["GET_PKT"], bytearray(382)) == "ENOSPC"
    assert errno_of(model.get_drvspec, "ovpn0", CMD["GET_PKT"], bytearray(4096)) == "ENOENT"


# -- interface creation (§1.2) -------------------------------------------------------------


def test_clone_naming() -> None:
    model = KernelModel()
    assert model.create_interface("ovpn") == "ovpn0"
    assert model.create_interface("ovpnfoo") == "ovpnfoo1"
    assert model.create_interface("ovpns3") == "ovpns3"
    assert errno_of(model.create_interface, "ovpnc3") == "EEXIST"
    assert errno_of(model.create_interface, "ovpn03") == "EINVAL"
    assert errno_of(model.create_interface, "ovpn3x") == "EINVAL"
    assert errno_of(model.create_interface, "ovpn32768") == "ENOSPC"
    assert errno_of(model.create_interface, "ovpnabcdefghijk") == "ENOSPC"
    assert errno_of(model.create_interface, "openvpn0") == "EINVAL"
    assert sorted(model.group_members("openvpn")) == ["ovpn0", "ovpnfoo1", "ovpns3"]


def test_no_module_no_cloner() -> None:
    model = KernelModel(module_loaded=False)
    assert "openvpn" not in model.cloners()
    assert errno_of(model.create_interface, "ovpn0") == "EINVAL"
    model.load_module("if_ovpn")
    assert "openvpn" in model.cloners()
    assert model.create_interface("ovpn0") == "ovpn0"


def test_destroy_discards_peers_and_queue(model: KernelModel, sock: socket.socket) -> None:
    set_(model, "NEW_PEER", new_peer(sock.fileno()))
    set_(model, "DEL_PEER", NVList([("peerid", 1)]))
    model.destroy_interface("ovpn0")
    assert errno_of(model.destroy_interface, "ovpn0") == "ENXIO"
    assert model.fds[sock.fileno()].hooked_by is None  # type: ignore[union-attr]
    assert model.create_interface("ovpn0") == "ovpn0"
    assert model._poll_pkt(model.interfaces["ovpn0"])["pending"] == 0


# -- OVPN_NEW_PEER (§3.2) --------------------------------------------------------------------


def test_new_peer_check_order(model: KernelModel, sock: socket.socket) -> None:
    fd = sock.fileno()
    bad_remote = NVList([("af", 10), ("address", b"\0" * 16), ("port", 1)])  # Linux AF_INET6
    # 1 -> 2 -> 3 -> 4: each earlier failure hides the later ones
    assert set_(model, "NEW_PEER", NVList([("fd", fd), ("peerid", 1)])) == "EINVAL"
    assert set_(model, "NEW_PEER", new_peer(fd, remote=NVList([("af", 2)]))) == "EINVAL"
    assert set_(model, "NEW_PEER", new_peer(9999, remote=bad_remote)) == "EINVAL"
    assert set_(model, "NEW_PEER", new_peer(9999, vpn_ipv4=b"\0")) == "EBADF"
    assert set_(model, "NEW_PEER", new_peer(0xFFFFFFFF)) == "EBADF"  # (int)-1
    assert set_(model, "NEW_PEER", new_peer(fd, vpn_ipv4=b"\0" * 16)) == "EINVAL"
    assert set_(model, "NEW_PEER", new_peer(fd, vpn_ipv6=b"\0" * 4)) == "EINVAL"
    # optional keys of the wrong type are ignored
    assert set_(model, "NEW_PEER", new_peer(fd, vpn_ipv4="10.8.0.2")) is None
    # 10 (EEXIST) comes before 11 (EPROTOTYPE)
    model.fds[fd].sock_type = km.SOCK_STREAM  # type: ignore[union-attr]
    assert set_(model, "NEW_PEER", new_peer(fd)) == "EEXIST"
    assert set_(model, "NEW_PEER", new_peer(fd, peer_id=2)) == "EPROTOTYPE"


def test_new_peer_descriptor_kinds(model: KernelModel, sock: socket.socket) -> None:
    model.fds[50] = "a regular file"
    assert set_(model, "NEW_PEER", new_peer(50)) == "ENOTSOCK"
    model.fds[sock.fileno()].cap_connect = False  # type: ignore[union-attr]
    expected = "ENOTCAPABLE" if hasattr(errno, "ENOTCAPABLE") else "EPERM"
    assert set_(model, "NEW_PEER", new_peer(sock.fileno())) == expected


def test_new_peer_unbound_and_local_port_substitution(model: KernelModel) -> None:
    unbound = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    bound = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        model.adopt(unbound, local=None)
        assert set_(model, "NEW_PEER", new_peer(unbound.fileno())) == "EINVAL"
        local0 = NVList([("af", 2), ("address", bytes([127, 0, 0, 1])), ("port", 0)])
        assert set_(model, "NEW_PEER", new_peer(unbound.fileno(), local=local0)) == "EINVAL"
        bound.bind(("127.0.0.1", 0))
        model.adopt(bound)
        assert set_(model, "NEW_PEER", new_peer(bound.fileno(), local=local0)) is None
        assert model.interfaces["ovpn0"].peers[1].local.port == bound.getsockname()[1]
    finally:
        unbound.close()
        bound.close()


def test_new_peer_families(model: KernelModel) -> None:
    v6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        v6.bind(("::", 0))
        model.adopt(v6)
        # plain IPv4 remote on an IPv6 socket: check 8
        assert set_(model, "NEW_PEER", new_peer(v6.fileno())) == "EINVAL"
        mapped = NVList(
            [
                ("af", 28),
                ("address", bytes(10) + b"\xff\xff" + bytes([192, 0, 2, 1])),
                ("port", 43524),
            ]
        )
        assert set_(model, "NEW_PEER", new_peer(v6.fileno(), remote=mapped)) is None
        assert model.interfaces["ovpn0"].peers[1].remote == Endpoint.parse("192.0.2.1:1194")
        link_local = NVList(
            [("af", 28), ("address", bytes.fromhex("fe80" + "00" * 13 + "09")), ("port", 1)]
        )
        assert set_(model, "NEW_PEER", new_peer(v6.fileno(), 2, link_local)) == "EHOSTUNREACH"
        link_local.add("scopeid", 1)
        assert set_(model, "NEW_PEER", new_peer(v6.fileno(), 2, link_local)) is None
    finally:
        v6.close()


def test_non_ip_socket_is_a_panic(model: KernelModel) -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        model.adopt(a)
        with pytest.raises(km.KernelPanic):
            model.set_drvspec("ovpn0", CMD["NEW_PEER"], packed(new_peer(a.fileno())))
    finally:
        a.close()
        b.close()


def test_one_socket_per_interface(model: KernelModel, sock: socket.socket) -> None:
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        other.bind(("127.0.0.1", 0))
        model.adopt(other)
        assert set_(model, "NEW_PEER", new_peer(sock.fileno())) is None
        assert set_(model, "NEW_PEER", new_peer(other.fileno(), 2)) == "EBUSY"
        assert set(model.interfaces["ovpn0"].peers) == {1}
        # with no peers left, a different socket replaces the old one
        set_(model, "DEL_PEER", NVList([("peerid", 1)]))
        assert set_(model, "NEW_PEER", new_peer(other.fileno(), 2)) is None
        assert model.interfaces["ovpn0"].socket is model.fds[other.fileno()]
    finally:
        other.close()


def test_old_kernel_answers_zero_without_a_peer(sock: socket.socket) -> None:
    model = KernelModel(silent_socket_change=True)
    model.create_interface("ovpn0")
    model.adopt(sock)
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        other.bind(("127.0.0.1", 0))
        model.adopt(other)
        assert set_(model, "NEW_PEER", new_peer(sock.fileno())) is None
        assert set_(model, "NEW_PEER", new_peer(other.fileno(), 2)) is None
        assert set(model.interfaces["ovpn0"].peers) == {1}
    finally:
        other.close()


# -- OVPN_NEW_KEY / SWAP / DEL_KEY (§3.4-3.6) ------------------------------------------------


@pytest.fixture
def with_peer(model: KernelModel, sock: socket.socket) -> KernelModel:
    assert set_(model, "NEW_PEER", new_peer(sock.fileno())) is None
    return model


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (NVList([("keyid", 0), ("peerid", 1)]), "EINVAL"),  # slot missing
        (new_key(peer_id=7, slot=2), "EINVAL"),  # slot value before the peer lookup
        (new_key(slot=2**32), None),  # (int)2**32 == 0: a valid slot
        (NVList([("slot", 0), ("keyid", 0), ("peerid", 1), ("encrypt", direction())]), "EINVAL"),
        (new_key(enc=direction("aes-256-gcm")), "EINVAL"),  # names are case-sensitive
        (new_key(enc=direction(key=33)), "E2BIG"),
        (new_key(enc=direction(iv=7)), "E2BIG"),
        (new_key(enc=direction(iv=9)), "E2BIG"),
        (new_key(enc=direction(key=0)), "EINVAL"),  # key missing
        (new_key(dec=direction("CHACHA20-POLY1305", key=16)), "EINVAL"),
        (new_key(dec=direction("AES-128-GCM", key=20)), "EOPNOTSUPP"),
        (new_key(dec=direction("AES-128-GCM", key=24)), None),  # the length picks AES-192
        (new_key(peer_id=7, enc=direction(key=33)), "E2BIG"),  # directions before the peer
        (new_key(peer_id=7), "ENOENT"),
        (new_key(enc=direction("none", 0, 0), dec=direction("none", 0, 0)), None),
    ],
)
def test_new_key_check_order(
    with_peer: KernelModel, request_: NVList, expected: str | None
) -> None:
    assert set_(with_peer, "NEW_KEY", request_) == expected


def test_swap_and_del_key(with_peer: KernelModel) -> None:
    assert set_(with_peer, "SWAP_KEYS", NVList([("peerid", 1)])) == "ENOLINK"
    assert set_(with_peer, "SWAP_KEYS", NVList([("peerid", 2)])) == "ENOENT"
    assert set_(with_peer, "NEW_KEY", new_key(slot=1)) is None
    assert set_(with_peer, "SWAP_KEYS", NVList([("peerid", 1)])) is None
    slots = with_peer.interfaces["ovpn0"].peers[1].slots
    assert slots[0] is not None and slots[1] is None
    assert set_(with_peer, "DEL_KEY", NVList([("slot", 2), ("peerid", 1)])) == "EINVAL"
    assert set_(with_peer, "DEL_KEY", NVList([("slot", 0)])) == "EINVAL"
    assert set_(with_peer, "DEL_KEY", NVList([("slot", 0), ("peerid", 9)])) == "ENOENT"
    assert set_(with_peer, "DEL_KEY", NVList([("slot", 1), ("peerid", 1)])) is None


# -- SET_PEER / SET_IFMODE / START_VPN --------------------------------------------------------


def test_set_peer_requires_all_keys(with_peer: KernelModel) -> None:
    assert set_(with_peer, "SET_PEER", NVList([("peerid", 1), ("interval", 1)])) == "EINVAL"
    full = NVList([("peerid", 9), ("interval", 1), ("timeout", 3)])
    assert set_(with_peer, "SET_PEER", full) == "ENOENT"


@pytest.mark.parametrize(
    ("ifmode", "expected"),
    [
        (0x10, None),
        (0x8010, None),
        (0x2, None),
        (0x8002, None),
        (0x8000, "EINVAL"),
        (0x12, "EINVAL"),
        (0x8011, "EINVAL"),
    ],
)
def test_set_ifmode_values(model: KernelModel, ifmode: int, expected: str | None) -> None:
    assert set_(model, "SET_IFMODE", NVList([("ifmode", ifmode)])) == expected


def test_set_ifmode_busy_before_value_check(model: KernelModel) -> None:
    assert set_(model, "START_VPN", None) is None
    assert model.interfaces["ovpn0"].flags & km.IFF_UP
    assert set_(model, "SET_IFMODE", NVList([("ifmode", 0x1234)])) == "EBUSY"
    assert set_(model, "SET_IFMODE", NVList([("mode", 2)])) == "EINVAL"


# -- notifications, timers, counters (§3.13, §4) ----------------------------------------------


def test_queue_holds_31(with_peer: KernelModel) -> None:
    iface = with_peer.interfaces["ovpn0"]
    for _ in range(40):
        with_peer.queue_raw("ovpn0", km.rotate_key_notification(1))
    assert len(iface.queue) == 31
    assert not with_peer.float_peer("ovpn0", 1, Endpoint.parse("192.0.2.9:1"))
    assert iface.peers[1].remote == Endpoint.parse("192.0.2.1:1194")  # float not applied


def test_keepalive_expiry_matches_the_real_kernel(with_peer: KernelModel) -> None:
    """§9: interval 1 / timeout 3 with no traffic: DEL_PEER (reason 1) within 5 s; then
    ENOENT. Pings handed to encryption count in packets.out/bytes.out (2 / 32)."""
    assert set_(with_peer, "NEW_KEY", new_key()) is None
    assert set_(with_peer, "START_VPN", None) is None
    assert (
        set_(with_peer, "SET_PEER", NVList([("peerid", 1), ("interval", 1), ("timeout", 3)]))
        is None
    )
    with_peer.advance_time(5)
    buf = bytearray(4096)
    length = with_peer.get_drvspec("ovpn0", CMD["GET_PKT"], buf)
    notification = codec.unpack(bytes(buf[:length]), 0)
    assert length == 383
    assert notification["del_reason"] == 1
    assert notification["packets"]["out"] == 2 and notification["bytes"]["out"] == 32  # type: ignore[index]
    assert errno_of(with_peer.get_drvspec, "ovpn0", CMD["GET_PKT"], buf) == "ENOENT"


def test_traffic_keeps_a_peer_alive(with_peer: KernelModel) -> None:
    set_(with_peer, "SET_PEER", NVList([("peerid", 1), ("interval", 1), ("timeout", 3)]))
    for _ in range(10):
        with_peer.advance_time(2)
        with_peer.receive("ovpn0", 1)
    assert 1 in with_peer.interfaces["ovpn0"].peers
    with_peer.advance_time(3)
    assert 1 not in with_peer.interfaces["ovpn0"].peers


def test_timeout_zero_does_not_cancel(with_peer: KernelModel) -> None:
    set_(with_peer, "SET_PEER", NVList([("peerid", 1), ("interval", 0), ("timeout", 100)]))
    with_peer.receive("ovpn0", 1)
    set_(with_peer, "SET_PEER", NVList([("peerid", 1), ("interval", 0), ("timeout", 0)]))
    with_peer.advance_time(100)
    assert 1 not in with_peer.interfaces["ovpn0"].peers  # deleted at the next check


def test_rotate_key_after_2_31_packets(with_peer: KernelModel) -> None:
    set_(with_peer, "NEW_KEY", new_key())
    set_(with_peer, "START_VPN", None)
    with_peer.send("ovpn0", 1, packets=0x7FFFFFFE)
    assert not with_peer.interfaces["ovpn0"].queue
    with_peer.send("ovpn0", 1, packets=1)
    with_peer.send("ovpn0", 1, packets=5)
    (only,) = with_peer.interfaces["ovpn0"].queue
    assert codec.pack(only) == codec.pack(km.rotate_key_notification(1))


def test_send_without_start_is_dropped(with_peer: KernelModel) -> None:
    set_(with_peer, "NEW_KEY", new_key())
    with_peer.send("ovpn0", 1, packets=4)
    assert with_peer.interfaces["ovpn0"].counters["lost_data"] == [0, 4]
    assert with_peer.interfaces["ovpn0"].peers[1].packets == [0, 0]


def test_fault_injection_counts_matching_calls(model: KernelModel) -> None:
    model.inject_fault("EIO", nth=2, call="OVPN_START_VPN")
    assert set_(model, "START_VPN", None) is None
    assert errno_of(model.get_drvspec, "ovpn0", CMD["POLL_PKT"], bytearray(54)) is None
    assert set_(model, "START_VPN", None) == "EIO"
    assert set_(model, "START_VPN", None) is None
