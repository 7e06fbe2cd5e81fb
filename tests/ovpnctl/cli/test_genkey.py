"""`ovpnctl genkey`: fresh material that `key add` reads back, written safely."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from ovpnctl.keyfile import read_material
from tests.ovpnctl.cli.conftest import Cli, Factory, one_line


@pytest.mark.parametrize(
    "cipher_length",
    [("AES-128-GCM", 24), ("aes-192-gcm", 32), ("AES-256-GCM", 40), ("chacha20_poly1305", 40)],
)
@pytest.mark.parametrize("encoding", ["base64", "hex", "raw"])
def test_file_is_private_and_readable_by_key_add(
    run: Cli, factory: Factory, tmp_path: Path, cipher_length: tuple[str, int], encoding: str
) -> None:
    cipher, length = cipher_length
    path = tmp_path / "a.key"
    result = run("genkey", "--cipher", cipher, "-o", str(path), "--encoding", encoding)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    material = read_material(str(path), length)
    assert len(material) == length
    assert factory.made == []  # genkey touches no kernel


def test_two_keys_differ(run: Cli, tmp_path: Path) -> None:
    first = run("genkey", "--cipher", "AES-256-GCM").stdout
    second = run("genkey", "--cipher", "AES-256-GCM").stdout
    assert len(base64.b64decode(first)) == 40
    assert first != second


def test_refuses_to_overwrite(run: Cli, tmp_path: Path) -> None:
    path = tmp_path / "a.key"
    path.write_bytes(b"keep me")
    result = run("genkey", "--cipher", "AES-256-GCM", "-o", str(path))
    assert result.exit_code == 73
    assert one_line(result) == (
        f"ovpnctl: {path}: already exists; refusing to overwrite key material"
    )
    assert path.read_bytes() == b"keep me"


def test_refuses_to_follow_a_symlink(run: Cli, tmp_path: Path) -> None:
    link = tmp_path / "link.key"
    os.symlink(tmp_path / "elsewhere", link)
    result = run("genkey", "--cipher", "AES-256-GCM", "-o", str(link))
    assert result.exit_code == 73
    assert not (tmp_path / "elsewhere").exists()


def test_json(run: Cli, tmp_path: Path) -> None:
    out = json.loads(run("--json", "genkey", "--cipher", "AES-128-GCM", "--encoding", "hex").stdout)
    assert out["cipher"] == "AES-128-GCM" and out["encoding"] == "hex"
    assert len(bytes.fromhex(out["material"])) == 24
    path = tmp_path / "k"
    described = json.loads(
        run("--json", "genkey", "--cipher", "AES-128-GCM", "-o", str(path)).stdout
    )
    assert described == {
        "cipher": "AES-128-GCM",
        "encoding": "base64",
        "file": str(path),
        "bytes": 24,
    }


def test_raw_bytes_never_go_into_json(run: Cli) -> None:
    result = run("--json", "genkey", "--cipher", "AES-128-GCM", "--encoding", "raw")
    assert result.exit_code == 64
    assert one_line(result) == (
        "ovpnctl: raw key bytes cannot go to a terminal or into JSON; use -o FILE"
    )
