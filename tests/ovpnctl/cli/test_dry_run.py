"""`--dry-run`: the exact requests, checked against real-libnv golden vectors.

Each golden `ovpn_*` request was packed by the real libnv the way OpenVPN builds it. The
CLI, given the same values as options, must print the same typed JSON and (with -v) the
same bytes; only the socket descriptor differs (a dry run has none: a placeholder).
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest

from tests.ovpnctl.cli.conftest import Cli, Factory, key_file
from tests.ovpnctl.freebsd.golden import case

FD_PLACEHOLDER = 0xFFFFFFFF


def lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def items(obj: dict[str, Any]) -> dict[str, Any]:
    return dict(obj["items"])


def number(obj: dict[str, Any], name: str) -> int:
    value = items(obj)[name]["value"]
    assert isinstance(value, int)
    return value


def endpoint(sockaddr: dict[str, Any]) -> str:
    fields = items(sockaddr)
    address = ipaddress.ip_address(bytes.fromhex(fields["address"]["hex"]))
    port = int.from_bytes(fields["port"]["value"].to_bytes(2, "little"), "big")
    return f"{address}:{port}" if address.version == 4 else f"[{address}]:{port}"


def dry(run: Cli, *args: str, verbose: bool = True) -> list[dict[str, Any]]:
    flags = ["--json", "--backend", "freebsd", *(["-v"] if verbose else [])]
    result = run(*flags, *args, "--dry-run")
    assert result.exit_code == 0, result.stderr
    return lines(result.stdout)


@pytest.mark.parametrize(
    ("golden_id", "args"),
    [
        ("ovpn_del_peer", ["peer", "del", "ovpn0", "{peerid}"]),
        ("ovpn_swap_keys", ["key", "swap", "ovpn0", "{peerid}"]),
        ("ovpn_del_key", ["key", "del", "ovpn0", "{peerid}", "--slot", "{slot}"]),
        ("ovpn_set_peer", ["peer", "set", "ovpn0", "{peerid}", "--keepalive", "{keepalive}"]),
        ("ovpn_set_ifmode_p2p", ["iface", "mode", "ovpn0", "p2p"]),
        ("ovpn_set_ifmode_subnet", ["iface", "mode", "ovpn0", "subnet"]),
    ],
)
def test_small_requests_match_golden_bytes(
    run: Cli, factory: Factory, golden_id: str, args: list[str]
) -> None:
    golden = case(golden_id)
    fields = items(golden.obj)
    values = {
        "peerid": fields.get("peerid", {}).get("value"),
        "slot": fields.get("slot", {}).get("value"),
    }
    if "interval" in fields:
        values["keepalive"] = f"{fields['interval']['value']}/{fields['timeout']['value']}"
    (record,) = dry(run, *(arg.format(**values) for arg in args))
    assert record == {
        "ioctl": "SIOCSDRVSPEC",
        "interface": "ovpn0",
        "command": golden.command,
        "request": golden.obj,
        "hex": golden.data.hex(),
    }


def test_json_record_has_exactly_the_documented_keys_without_verbose(run: Cli) -> None:
    (record,) = dry(run, "peer", "del", "ovpn0", "1", verbose=False)
    assert list(record) == ["ioctl", "interface", "command", "request"]


@pytest.mark.parametrize(
    "golden_id", ["ovpn_new_peer_v4_client", "ovpn_new_peer_v4_server", "ovpn_new_peer_v6"]
)
def test_new_peer_matches_golden_except_the_descriptor(run: Cli, golden_id: str) -> None:
    golden = case(golden_id)
    fields = items(golden.obj)
    args = ["peer", "add", "ovpn0", str(number(golden.obj, "peerid"))]
    args += ["--remote", endpoint(fields["remote"])]
    if "local" in fields:
        args += ["--local", endpoint(fields["local"])]
    for name in ("vpn_ipv4", "vpn_ipv6"):
        if name in fields:
            address = ipaddress.ip_address(bytes.fromhex(fields[name]["hex"]))
            args += ["--" + name.replace("_", "-"), str(address)]
    (record,) = dry(run, *args, verbose=False)
    expected = json.loads(json.dumps(golden.obj))
    for item in expected["items"]:
        if item[0] == "fd":
            item[1]["value"] = FD_PLACEHOLDER
    assert record["command"] == "OVPN_NEW_PEER"
    assert record["request"] == expected
    assert record["placeholders"] == {"fd": "socket opened at run time"}


def test_keepalive_on_peer_add_plans_set_peer_too(run: Cli) -> None:
    golden = case("ovpn_set_peer")
    peer_id = number(golden.obj, "peerid")
    keepalive = f"{number(golden.obj, 'interval')}/{number(golden.obj, 'timeout')}"
    records = dry(run, "peer", "add", "ovpn0", str(peer_id), "--remote", "192.0.2.1:1194",
                  "--keepalive", keepalive)  # fmt: skip
    assert [r["command"] for r in records] == ["OVPN_NEW_PEER", "OVPN_SET_PEER"]
    assert records[1]["hex"] == golden.data.hex()


def _golden_key_files(tmp_path: Path, golden_id: str, encoding: str) -> tuple[list[str], bytes]:
    golden = case(golden_id)
    fields = items(golden.obj)
    args: list[str] = []
    secret = b""
    for direction in ("encrypt", "decrypt"):
        parts = items(fields[direction])
        cipher = parts["cipher"]["value"]
        if "key" not in parts:
            continue
        material = bytes.fromhex(parts["key"]["hex"]) + bytes.fromhex(parts["iv"]["hex"])
        secret += material
        data = {
            "raw": material,
            "hex": material.hex().encode() + b"\n",
            "base64": __import__("base64").b64encode(material) + b"\n",
        }[encoding]
        args += [f"--{direction}-key", key_file(tmp_path, f"{direction}.key", data)]
    args = [
        "key", "add", "ovpn0", str(number(golden.obj, "peerid")),
        "--cipher", cipher,
        "--key-id", str(number(golden.obj, "keyid")),
        "--slot", ["primary", "secondary"][number(golden.obj, "slot")],
        *args,
    ]  # fmt: skip
    return args, secret


@pytest.mark.parametrize(
    ("golden_id", "encoding"),
    [
        ("ovpn_new_key_aes256gcm", "raw"),
        ("ovpn_new_key_aes128gcm", "hex"),
        ("ovpn_new_key_chacha", "base64"),
    ],
)
def test_new_key_with_show_keys_matches_golden(
    run: Cli, tmp_path: Path, golden_id: str, encoding: str
) -> None:
    args, _secret = _golden_key_files(tmp_path, golden_id, encoding)
    new_key, start = dry(run, *args, "--show-keys")
    golden = case(golden_id)
    assert new_key["request"] == golden.obj
    assert new_key["hex"] == golden.data.hex()
    assert new_key["keys_shown"] is True
    assert start == {
        "ioctl": "SIOCSDRVSPEC",
        "interface": "ovpn0",
        "command": "OVPN_START_VPN",
        "request": None,
        "hex": "",
    }


def test_new_key_cipher_none_matches_golden(run: Cli) -> None:
    golden = case("ovpn_new_key_none")
    new_key, _start = dry(run, "key", "add", "ovpn0", "1", "--cipher", "none", "--key-id", "0")
    assert new_key["request"] == golden.obj
    assert new_key["hex"] == golden.data.hex()


@pytest.mark.parametrize("json_mode", [True, False])
def test_keys_are_hidden_without_show_keys(run: Cli, tmp_path: Path, json_mode: bool) -> None:
    args, secret = _golden_key_files(tmp_path, "ovpn_new_key_aes256gcm", "raw")
    result = run(*(["--json"] if json_mode else []), "-v", "--backend", "freebsd", *args, "-n")
    assert result.exit_code == 0, result.stderr
    shown = result.stdout + result.stderr
    for direction in range(2):
        material = secret[40 * direction : 40 * (direction + 1)]
        for piece in (material[:32], material[32:]):
            assert piece.hex() not in shown
    if json_mode:
        new_key = lines(result.stdout)[0]
        assert new_key["keys_shown"] is False
        assert "hex" not in new_key
        encrypt = items(items(new_key["request"])["encrypt"])
        assert encrypt["key"] == {"type": "binary", "hex": "00" * 32}
    else:
        assert "<32 bytes hidden>" in result.stdout
        assert "add --show-keys to print it" in result.stdout


def test_table_dry_run_explains_freebsd_encodings(run: Cli) -> None:
    result = run("--backend", "freebsd", "peer", "add", "ovpn0", "1",
                 "--remote", "192.0.2.1:1194", "--dry-run")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "SIOCSDRVSPEC ovpn0 OVPN_NEW_PEER" in out
    assert "43524  (port 1194, in network byte order)" in out
    assert "c0000201  (192.0.2.1)" in out
    assert "placeholder: socket opened at run time" in out


def test_create_plans_the_clone_and_the_mode(run: Cli) -> None:
    records = dry(run, "iface", "create", "--mode", "mp", verbose=False)
    assert records[0] == {
        "ioctl": "SIOCIFCREATE2",
        "interface": "ovpn",
        "placeholders": {"interface": "the kernel appends the first free unit number"},
    }
    assert records[1]["command"] == "OVPN_SET_IFMODE"
    assert records[1]["request"] == case("ovpn_set_ifmode_subnet").obj


def test_dry_run_prints_nothing_when_validation_fails(run: Cli, factory: Factory) -> None:
    result = run("--json", "--backend", "freebsd", "peer", "set", "ovpn0", "1",
                 "--keepalive", "0/60", "--dry-run")  # fmt: skip
    assert result.exit_code == 65
    assert result.stdout == ""
    assert result.stderr.startswith("ovpnctl: keepalive 0/60: FreeBSD cannot switch off")
    assert factory.planned == []
