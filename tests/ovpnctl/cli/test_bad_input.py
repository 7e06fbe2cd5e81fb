"""Bad input never reaches the kernel: one exact stderr line, a sysexits status, no request.

Rows rejected while parsing are run with a factory that has no kernel: a backend is never
even built (the factory would fail the test). Rows the kernel itself refuses (missing
interface, no privilege) run against the kernel model and assert that nothing changed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ovpnctl.linux.backend import LinuxBackend
from tests.ovpnctl.cli.conftest import Cli, Factory, key_file, one_line
from tests.ovpnctl.freebsd.kernel_model import KernelModel

REMOTE = ["--remote", "192.0.2.1:1194"]
PEER_ADD = ["peer", "add", "ovpn0", "1"]
KEY_ADD = ["key", "add", "ovpn0", "1", "--cipher", "AES-256-GCM", "--key-id", "0"]
HEX_KEY = bytes(range(40)).hex()  # 80 hex digits: AES-256-GCM key + IV
B64_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJw=="

PARSE_ERRORS = [
    # addresses and ports
    (
        [*PEER_ADD, "--remote", "1.2.3.999:1194"],
        "--remote '1.2.3.999:1194': '1.2.3.999' is not an IP address",
        65,
    ),
    (
        [*PEER_ADD, "--remote", "192.0.2.1:70000"],
        "--remote '192.0.2.1:70000': port 70000 is out of range (0-65535)",
        65,
    ),
    (
        [*PEER_ADD, "--remote", "192.0.2.1:http"],
        "--remote '192.0.2.1:http': port 'http' is not a number",
        65,
    ),
    (
        [*PEER_ADD, "--remote", "192.0.2.1"],
        "--remote '192.0.2.1': missing port (write ADDRESS:PORT)",
        65,
    ),
    (
        [*PEER_ADD, "--remote", "192.0.2.1:0"],
        "remote 192.0.2.1:0: port 0 cannot be a destination",
        65,
    ),
    (
        [*PEER_ADD, *REMOTE, "--local", "[::1]:5"],
        "local [::1]:5 and remote 192.0.2.1:1194 are of different IP versions",
        65,
    ),
    ([*PEER_ADD, *REMOTE, "--vpn-ipv4", "::1"], "--vpn-ipv4 '::1' is not an IPv4 address", 65),
    (
        [*PEER_ADD, *REMOTE, "--vpn-ipv6", "ff02::1"],
        "--vpn-ipv6 'ff02::1' cannot be a peer's tunnel address",
        65,
    ),
    (
        ["peer", "set", "ovpn0", "1", "--remote", "[2001:db8::1"],
        "--remote '[2001:db8::1': missing ']' after the IPv6 address",
        65,
    ),
    # peer ids
    (
        ["peer", "add", "ovpn0", "16777216", *REMOTE],
        "peer id 16777216 is out of range (0-16777215)",
        65,
    ),
    (["peer", "del", "ovpn0", "abc"], "peer id 'abc' is not a number", 65),
    (["key", "swap", "ovpn0", "0x1000000"], "peer id 16777216 is out of range (0-16777215)", 65),
    # keepalive
    (
        [*PEER_ADD, *REMOTE, "--keepalive", "10"],
        "keepalive '10' is not INTERVAL/TIMEOUT in seconds (for example 10/60)",
        65,
    ),
    (
        ["peer", "set", "ovpn0", "1", "--keepalive", "60/10"],
        "keepalive timeout (10s) must be longer than the interval (60s), "
        "or the peer is dropped between two pings",
        65,
    ),
    (
        ["peer", "set", "ovpn0", "1", "--keepalive", "10/100000"],
        "keepalive timeout 100000 is out of range (0-86400 seconds)",
        65,
    ),
    (
        ["peer", "set", "ovpn0", "1", "--keepalive", "x/60"],
        "keepalive interval 'x' is not a number",
        65,
    ),
    # interface names and modes
    (["peer", "del", "a/b", "1"], "interface name 'a/b' is not valid", 65),
    (
        ["iface", "destroy", "abcdefghijklmnop"],
        "interface name 'abcdefghijklmnop' is too long (at most 15 characters)",
        65,
    ),
    (
        ["iface", "create", "--mode", "ring"],
        "unknown mode 'ring'; choose p2p or mp (alias subnet)",
        65,
    ),
    # keys
    (
        [*KEY_ADD[:-1], "8", "--encrypt-key", "a", "--decrypt-key", "b"],
        "key id 8 is out of range (0-7)",
        65,
    ),
    (
        ["key", "add", "ovpn0", "1", "--cipher", "AES-512-GCM", "--key-id", "0"],
        "unknown cipher 'AES-512-GCM'; choose one of none, AES-128-GCM, AES-192-GCM, "
        "AES-256-GCM, CHACHA20-POLY1305",
        65,
    ),
    (
        ["key", "del", "ovpn0", "1", "--slot", "third"],
        "unknown key slot 'third'; choose primary or secondary",
        65,
    ),
    (
        [*KEY_ADD, "--encrypt-key", "-", "--decrypt-key", "-"],
        "only one of --encrypt-key and --decrypt-key can read standard input (-)",
        64,
    ),
    (
        [*KEY_ADD, "--decrypt-key", "b"],
        "--encrypt-key FILE is required with cipher AES-256-GCM",
        64,
    ),
    # the command line itself
    ([*PEER_ADD], "peer add: Missing option '--remote'. (see 'ovpnctl peer add --help')", 64),
    (
        ["peer", "set", "ovpn0", "1"],
        "nothing to change; give at least one of --keepalive, --remote, --local, "
        "--vpn-ipv4, --vpn-ipv6",
        64,
    ),
    (["bogus"], "No such command 'bogus'. (see 'ovpnctl --help')", 64),
    (
        ["--backend", "bsd", "show"],
        "Invalid value for '--backend': 'bsd' is not one of 'freebsd', 'linux'. "
        "(see 'ovpnctl --help')",
        64,
    ),
    (["genkey", "--cipher", "none"], "cipher none has no key material to generate", 65),
]


@pytest.mark.parametrize(("args", "message", "status"), PARSE_ERRORS)
def test_rejected_before_any_backend_exists(
    run: Cli, factory: Factory, args: list[str], message: str, status: int
) -> None:
    result = run(*args)
    assert result.exit_code == status
    assert one_line(result) == f"ovpnctl: {message}"
    assert result.stdout == ""
    assert factory.made == []


@pytest.mark.parametrize("option", ["--encrypt-key", "--decrypt-key"])
@pytest.mark.parametrize("material", [HEX_KEY, B64_KEY, bytes(range(32)).hex()])
def test_key_material_on_argv_is_refused_and_not_echoed(
    run: Cli, factory: Factory, tmp_path: Path, option: str, material: str
) -> None:
    other = key_file(tmp_path, "other.key", bytes(40))
    other_option = "--decrypt-key" if option == "--encrypt-key" else "--encrypt-key"
    result = run(*KEY_ADD, option, material, other_option, other)
    assert result.exit_code == 64
    assert one_line(result) == (
        f"ovpnctl: {option} takes a file name, but its argument looks like key material; "
        "keys are never read from the command line (ps and shell history show it): put the "
        "key in a mode 0600 file or pass - and pipe it in, and consider it leaked"
    )
    assert material not in result.stderr + result.stdout
    assert factory.made == []


def test_a_file_named_like_a_key_is_still_a_file(
    run: Cli, factory: Factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    key_file(tmp_path, HEX_KEY, bytes(40))
    other = key_file(tmp_path, "other.key", bytes(40))
    result = run(*KEY_ADD, "--encrypt-key", HEX_KEY, "--decrypt-key", other, "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert [call["command"] for call in factory.planned] == ["OVPN_NEW_KEY", "OVPN_START_VPN"]


KEY_FILE_ERRORS = [
    # (file bytes, mode, expected message with {path}, status)
    (
        bytes(31),
        0o600,
        "{path}: expected 40 bytes of key material as raw bytes, 80 hex digits "
        "or 56 base64 characters (found 31 bytes)",
        65,
    ),
    (
        b"zz" * 40,
        0o600,
        "{path}: expected 40 bytes of key material as raw bytes, 80 hex digits "
        "or 56 base64 characters (found 80 bytes)",
        65,
    ),
    (
        bytes(40),
        0o644,
        "{path}: key file is accessible by group or others (mode 0644); run chmod 600 {path}",
        77,
    ),
    (
        bytes(40),
        0o640,
        "{path}: key file is accessible by group or others (mode 0640); run chmod 600 {path}",
        77,
    ),
]


@pytest.mark.parametrize(("data", "mode", "message", "status"), KEY_FILE_ERRORS)
@pytest.mark.parametrize("dry_run", [False, True])
def test_bad_key_files(  # noqa: PLR0917 - pytest fixtures and parameters
    run: Cli,
    factory: Factory,
    tmp_path: Path,
    data: bytes,
    mode: int,
    message: str,
    status: int,
    dry_run: bool,
) -> None:
    good = key_file(tmp_path, "good.key", bytes(40))
    bad = key_file(tmp_path, "bad.key", data, mode)
    extra = ["--dry-run"] if dry_run else []
    result = run(*KEY_ADD, "--encrypt-key", good, "--decrypt-key", bad, *extra)
    assert result.exit_code == status
    assert one_line(result) == "ovpnctl: " + message.format(path=bad)
    assert factory.made == []


def test_missing_key_file(run: Cli, factory: Factory, tmp_path: Path) -> None:
    good = key_file(tmp_path, "good.key", bytes(40))
    missing = str(tmp_path / "missing.key")
    result = run(*KEY_ADD, "--encrypt-key", missing, "--decrypt-key", good)
    assert result.exit_code == 66
    assert one_line(result) == f"ovpnctl: {missing}: no such key file"
    assert factory.made == []


def test_short_key_on_stdin(run: Cli, factory: Factory, tmp_path: Path) -> None:
    good = key_file(tmp_path, "good.key", bytes(40))
    result = run(*KEY_ADD, "--encrypt-key", "-", "--decrypt-key", good, input=b"\x01" * 39)
    assert result.exit_code == 65
    assert one_line(result) == (
        "ovpnctl: standard input: expected 40 bytes of key material as raw bytes, 80 hex "
        "digits or 56 base64 characters (found 39 bytes)"
    )
    assert factory.made == []


# -- refused by the kernel (model): exactly the one refused request, nothing changed -------

KEYS = [
    "--cipher",
    "AES-256-GCM",
    "--key-id",
    "0",
    "--encrypt-key",
    "{enc}",
    "--decrypt-key",
    "{dec}",
]
KERNEL_REFUSALS = [
    # (command, the one call the kernel refuses, what it names on ENXIO)
    (["iface", "destroy", "ovpn9"], "SIOCIFDESTROY", "cannot destroy ovpn9"),
    (["iface", "mode", "ovpn9", "mp"], "OVPN_SET_IFMODE", None),
    (["iface", "up", "ovpn9"], "OVPN_START_VPN", None),
    (["peer", "add", "ovpn9", "1", "--remote", "127.0.0.1:1194"], "OVPN_GET_STATS", None),
    (["peer", "set", "ovpn9", "1", "--keepalive", "10/60"], "OVPN_SET_PEER", None),
    (["peer", "del", "ovpn9", "1"], "OVPN_DEL_PEER", None),
    (["key", "add", "ovpn9", "1", *KEYS], "OVPN_NEW_KEY", None),
    (["key", "swap", "ovpn9", "1"], "OVPN_SWAP_KEYS", None),
    (["key", "del", "ovpn9", "1", "--slot", "primary"], "OVPN_DEL_KEY", None),
    (["show", "ovpn9"], "OVPN_GET_STATS", None),
    (["events", "ovpn9"], "OVPN_POLL_PKT", None),
    (["events", "ovpn9", "--consume"], "OVPN_GET_PKT", None),
]


def _fill(args: list[str], tmp_path: Path) -> list[str]:
    enc = key_file(tmp_path, "enc.key", bytes(range(40)))
    dec = key_file(tmp_path, "dec.key", bytes(range(40, 80)))
    return [arg.format(enc=enc, dec=dec) for arg in args]


Refusal = tuple[list[str], str, str | None]


@pytest.mark.parametrize("refusal", KERNEL_REFUSALS)
def test_missing_interface(run: Cli, kernel: KernelModel, tmp_path: Path, refusal: Refusal) -> None:
    args, call, destroy = refusal
    result = run(*_fill(args, tmp_path))
    assert result.exit_code == 66
    what = (
        f"{destroy}: no such interface" if destroy else f"{call}: there is no interface named ovpn9"
    )
    assert one_line(result) == f"ovpnctl: {what}"
    assert kernel.issued() == [call]
    assert kernel.interfaces == {}


@pytest.mark.parametrize("refusal", KERNEL_REFUSALS)
def test_unprivileged(run: Cli, kernel: KernelModel, tmp_path: Path, refusal: Refusal) -> None:
    args, call, destroy = refusal
    kernel.create_interface("ovpn9")
    kernel.privileged = False
    kernel.calls.clear()
    result = run(*_fill(args, tmp_path))
    assert result.exit_code == 77
    if destroy:
        what = f"{destroy}: permission denied; destroying interfaces needs root"
    else:
        what = (
            f"{call} on ovpn9: permission denied; if_ovpn requests need root "
            "(inside a jail: a VNET jail)"
        )
    assert one_line(result) == f"ovpnctl: {what}"
    assert kernel.issued() == [call]
    iface = kernel.interfaces["ovpn9"]
    assert not iface.peers and not iface.link_up and iface.socket is None


def test_unprivileged_create(run: Cli, kernel: KernelModel) -> None:
    kernel.privileged = False
    result = run("iface", "create")
    assert result.exit_code == 77
    assert one_line(result) == (
        "ovpnctl: cannot create ovpn: permission denied; creating interfaces needs root "
        "(inside a jail: a VNET jail)"
    )
    assert kernel.issued() == ["SIOCIFCREATE2"]
    assert kernel.interfaces == {}


def test_linux_one_shot_peer_add_is_refused_before_any_request(run: Cli, factory: Factory) -> None:
    """Linux drops a peer when the last descriptor of its socket closes: at our exit."""
    built: list[LinuxBackend] = []

    def build(name: str | None, *, dry_run: bool = False) -> LinuxBackend:
        backend = LinuxBackend(dry_run=dry_run)
        built.append(backend)
        return backend

    factory.build = build
    result = run("peer", "add", "ovpn0", "1", "--remote", "192.0.2.1:1194")
    assert result.exit_code == 69
    assert one_line(result) == (
        "ovpnctl: linux: a peer added by a one-shot 'peer add' would vanish when ovpnctl "
        "exits (the kernel does not hold its socket); use 'ovpnctl up CONFIG', which keeps "
        "the socket open"
    )
    assert len(built) == 1
    assert built[0].planned_calls == []
    assert dict(built[0].held_sockets) == {}


def test_second_socket_on_freebsd_is_refused_before_new_peer(run: Cli, kernel: KernelModel) -> None:
    assert run("iface", "create", "ovpn0").exit_code == 0
    assert run("peer", "add", "ovpn0", "1", "--remote", "127.0.0.1:1194").exit_code == 0
    kernel.calls.clear()
    result = run("peer", "add", "ovpn0", "2", "--remote", "127.0.0.1:1195")
    assert result.exit_code == 75
    assert one_line(result) == (
        "ovpnctl: ovpn0 already has peers (1) on another process's UDP socket and the kernel "
        "allows one socket per interface (it would answer EBUSY); add peers from the process "
        "that owns that socket, or delete them first"
    )
    assert "OVPN_NEW_PEER" not in kernel.issued()
    assert set(kernel.interfaces["ovpn0"].peers) == {1}
