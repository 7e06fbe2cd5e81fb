"""LinuxBackend in dry-run mode: one record per request, secrets hidden, nothing sent, no
netlink socket opened (so it works without the ovpn module), and validation before any
request is built."""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Iterator

import pytest

from ovpnctl.backend import Capability, get_backend
from ovpnctl.endpoint import Endpoint
from ovpnctl.errors import ExitCode, UsageError, ValidationError
from ovpnctl.keys import Cipher, KeyConfig, KeyDirection, KeySlot
from ovpnctl.linux import backend as backend_mod
from ovpnctl.linux.backend import LinuxBackend
from ovpnctl.model import Keepalive, Mode, PeerConfig


@pytest.fixture
def dry(monkeypatch: pytest.MonkeyPatch) -> Iterator[LinuxBackend]:
    def no_kernel() -> None:
        raise AssertionError("a dry run must not look up the ovpn family")

    monkeypatch.setattr(backend_mod, "resolve_family", no_kernel)
    monkeypatch.setattr(backend_mod, "NetlinkSocket", no_kernel)
    monkeypatch.setattr(backend_mod, "Links", no_kernel)
    b = LinuxBackend(dry_run=True)
    yield b
    b.close()


@pytest.fixture
def udp() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


def peer(**kw: object) -> PeerConfig:
    values: dict[str, object] = {"peer_id": 10, "remote": Endpoint.parse("192.0.2.1:1194")}
    values.update(kw)
    return PeerConfig(**values)  # type: ignore[arg-type]


def key(cipher: Cipher = Cipher.AES_256_GCM, slot: KeySlot = KeySlot.PRIMARY) -> KeyConfig:
    def d(b: int) -> KeyDirection:
        return KeyDirection(cipher, bytearray([b]) * cipher.key_length, bytearray([b]) * 8)

    return KeyConfig(10, 1, slot, d(1), d(2))


def test_get_backend_builds_a_dry_linux_backend() -> None:
    b = get_backend("linux", dry_run=True)
    assert isinstance(b, LinuxBackend)
    assert b.dry_run


def test_capabilities_say_the_kernel_does_not_hold_the_socket() -> None:
    assert Capability.KERNEL_HOLDS_SOCKET not in LinuxBackend.capabilities
    assert Capability.TCP_TRANSPORT in LinuxBackend.capabilities
    assert Capability.MODE_CHANGE not in LinuxBackend.capabilities


def test_peer_new_record(dry: LinuxBackend) -> None:
    dry.add_peer(
        "ovpn0", peer(vpn_ipv4=ipaddress.IPv4Address("10.8.0.2"), keepalive=Keepalive(10, 60)), None
    )
    assert dry.planned_calls[:1] == [
        {
            "netlink": "genl",
            "family": "ovpn",
            "command": "OVPN_CMD_PEER_NEW",
            "interface": "ovpn0",
            "attrs": {
                "OVPN_A_IFINDEX": "<ifindex of ovpn0>",
                "OVPN_A_PEER": {
                    "OVPN_A_PEER_ID": 10,
                    "OVPN_A_PEER_REMOTE_IPV4": "192.0.2.1",
                    "OVPN_A_PEER_REMOTE_PORT": 1194,
                    "OVPN_A_PEER_SOCKET": "<socket fd>",
                    "OVPN_A_PEER_VPN_IPV4": "10.8.0.2",
                    "OVPN_A_PEER_KEEPALIVE_INTERVAL": 10,
                    "OVPN_A_PEER_KEEPALIVE_TIMEOUT": 60,
                },
            },
        }
    ]
    json.dumps(dry.planned_calls)
    assert dry.held_sockets == {}


def test_a_keepalive_is_sent_again_once_the_peer_exists(dry: LinuxBackend) -> None:
    dry.add_peer("ovpn0", peer(keepalive=Keepalive(1, 3)), None)
    assert [c["command"] for c in dry.planned_calls] == ["OVPN_CMD_PEER_NEW", "OVPN_CMD_PEER_SET"]
    assert dry.planned_calls[1]["attrs"]["OVPN_A_PEER"] == {
        "OVPN_A_PEER_ID": 10,
        "OVPN_A_PEER_KEEPALIVE_INTERVAL": 1,
        "OVPN_A_PEER_KEEPALIVE_TIMEOUT": 3,
    }
    dry.planned_calls.clear()
    dry.add_peer("ovpn0", peer(peer_id=11, keepalive=Keepalive(0, 0)), None)
    assert [c["command"] for c in dry.planned_calls] == ["OVPN_CMD_PEER_NEW"]


def test_a_real_socket_shows_its_descriptor(dry: LinuxBackend, udp: socket.socket) -> None:
    dry.add_peer("ovpn0", peer(), udp)
    assert dry.planned_calls[0]["attrs"]["OVPN_A_PEER"]["OVPN_A_PEER_SOCKET"] == udp.fileno()


def test_key_new_record_hides_key_bytes(dry: LinuxBackend) -> None:
    dry.new_key("ovpn0", key(Cipher.CHACHA20_POLY1305, KeySlot.SECONDARY))
    (record,) = dry.planned_calls
    assert record["command"] == "OVPN_CMD_KEY_NEW"
    assert record["attrs"]["OVPN_A_KEYCONF"] == {
        "OVPN_A_KEYCONF_PEER_ID": 10,
        "OVPN_A_KEYCONF_SLOT": 1,
        "OVPN_A_KEYCONF_KEY_ID": 1,
        "OVPN_A_KEYCONF_CIPHER_ALG": 2,
        "OVPN_A_KEYCONF_ENCRYPT_DIR": {
            "OVPN_A_KEYDIR_CIPHER_KEY": "<32 bytes hidden>",
            "OVPN_A_KEYDIR_NONCE_TAIL": "<8 bytes hidden>",
        },
        "OVPN_A_KEYCONF_DECRYPT_DIR": {
            "OVPN_A_KEYDIR_CIPHER_KEY": "<32 bytes hidden>",
            "OVPN_A_KEYDIR_NONCE_TAIL": "<8 bytes hidden>",
        },
    }
    assert "0101" not in json.dumps(record)


def test_show_keys_reveals_them(dry: LinuxBackend) -> None:
    dry.show_keys = True
    dry.new_key("ovpn0", key())
    enc = dry.planned_calls[0]["attrs"]["OVPN_A_KEYCONF"]["OVPN_A_KEYCONF_ENCRYPT_DIR"]
    assert enc["OVPN_A_KEYDIR_CIPHER_KEY"] == "01" * 32


def test_the_caller_still_owns_the_key(dry: LinuxBackend) -> None:
    k = key()
    dry.new_key("ovpn0", k)
    assert bytes(k.encrypt.key) == b"\x01" * 32  # not wiped by the backend


def test_every_other_request(dry: LinuxBackend) -> None:
    assert dry.create_interface("ovpn7", Mode.MULTIPOINT) == "ovpn7"
    dry.start("ovpn7")
    dry.set_keepalive("ovpn7", 10, Keepalive(1, 3))
    dry.update_peer("ovpn7", peer(remote=Endpoint.parse("192.0.2.9:1195")))
    dry.swap_keys("ovpn7", 10)
    dry.del_key("ovpn7", 10, KeySlot.SECONDARY)
    dry.del_peer("ovpn7", 10)
    dry.destroy_interface("ovpn7")
    assert [(c["netlink"], c["command"]) for c in dry.planned_calls] == [
        ("rtnl", "RTM_NEWLINK"),
        ("rtnl", "RTM_NEWLINK"),
        ("genl", "OVPN_CMD_PEER_SET"),
        ("genl", "OVPN_CMD_PEER_SET"),
        ("genl", "OVPN_CMD_KEY_SWAP"),
        ("genl", "OVPN_CMD_KEY_DEL"),
        ("genl", "OVPN_CMD_PEER_DEL"),
        ("rtnl", "RTM_DELLINK"),
    ]
    assert dry.planned_calls[0]["attrs"] == {
        "IFLA_IFNAME": "ovpn7",
        "IFLA_LINKINFO": {"IFLA_INFO_KIND": "ovpn", "IFLA_INFO_DATA": {"IFLA_OVPN_MODE": 1}},
    }
    assert dry.planned_calls[3]["attrs"]["OVPN_A_PEER"] == {
        "OVPN_A_PEER_ID": 10,
        "OVPN_A_PEER_REMOTE_IPV4": "192.0.2.9",
        "OVPN_A_PEER_REMOTE_PORT": 1195,
    }


def test_auto_named_interface_picks_a_free_name(dry: LinuxBackend) -> None:
    name = dry.create_interface(None, Mode.P2P)
    assert name.startswith("ovpn")
    assert name not in {n for _, n in socket.if_nameindex()}
    assert dry.planned_calls[0]["attrs"]["IFLA_LINKINFO"]["IFLA_INFO_DATA"] == {"IFLA_OVPN_MODE": 0}


def test_reads_are_refused_in_a_dry_run(dry: LinuxBackend) -> None:
    for call in (
        lambda: dry.state("ovpn0"),
        lambda: dry.key_info("ovpn0", 1),
        lambda: dry.consume_events("ovpn0"),
        lambda: dry.peer_states("ovpn0"),
    ):
        with pytest.raises(UsageError):
            call()
    assert dry.interfaces() == []
    assert dry.pending_events("ovpn0") is None


def test_set_mode_explains_that_linux_fixes_the_mode(dry: LinuxBackend) -> None:
    with pytest.raises(UsageError) as info:
        dry.set_mode("ovpn0", Mode.MULTIPOINT)
    assert info.value.message == (
        "cannot set ovpn0 to mp mode: Linux fixes an ovpn interface's mode when it is "
        "created; destroy ovpn0 and create it again in mp mode"
    )
    assert info.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda b: b.add_peer("ovpn0", peer(keepalive=Keepalive(5, 0)), None),
         "peer 10: keepalive interval and timeout go together; set both (got 5/0), or both to 0 "
         "to switch it off"),
        (lambda b: b.set_keepalive("ovpn0", 10, Keepalive(0, 5)),
         "peer 10: keepalive interval and timeout go together; set both (got 0/5), or both to 0 "
         "to switch it off"),
        (lambda b: b.new_key("ovpn0", KeyConfig(10, 0, KeySlot.PRIMARY,
                                                 KeyDirection(Cipher.NONE),
                                                 KeyDirection(Cipher.NONE))),
         "peer 10: cipher none cannot be installed; the Linux ovpn driver offloads AES-GCM and "
         "ChaCha20-Poly1305 only"),
        (lambda b: b.add_peer("ovpn0", peer(remote=None), None),
         "peer 10: without a socket a dry run assumes UDP, which needs a remote"),
        (lambda b: b.del_peer("ovpn0", 0x1000000),
         "peer id 16777216 is out of range (0-16777215)"),
        (lambda b: b.del_peer("this-name-is-too-long", 1),
         "interface name 'this-name-is-too-long' must be 1-15 bytes long"),
        (lambda b: b.add_peer("ovpn0", peer(), None, tx_id=0x1000000),
         "peer id 16777216 is out of range (0-16777215)"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_before_any_request(
    dry: LinuxBackend, call: object, message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        call(dry)  # type: ignore[operator]
    assert info.value.message == message
    assert dry.planned_calls == []


def test_a_key_mangled_after_validation_is_still_refused(dry: LinuxBackend) -> None:
    k = key()
    k.encrypt.key = bytearray(16)
    with pytest.raises(ValidationError, match="needs a 32-byte key and an 8-byte IV"):
        dry.new_key("ovpn0", k)
    assert dry.planned_calls == []
