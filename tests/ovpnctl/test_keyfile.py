"""Key files: format detection by exact length, permissions, stdin, safe creation."""

from __future__ import annotations

import base64
import io
import os
import stat
from pathlib import Path

import pytest

from ovpnctl.errors import ExitCode, KeyMaterialError
from ovpnctl.keyfile import (
    decode_material,
    generate_material,
    read_direction,
    read_material,
    write_material,
)
from ovpnctl.keys import Cipher

MATERIAL = bytes(range(1, 41))  # AES-256-GCM: 32-byte key + 8-byte IV


def private(tmp_path: Path, content: bytes, name: str = "k") -> str:
    path = tmp_path / name
    path.write_bytes(content)
    path.chmod(0o600)
    return str(path)


@pytest.mark.parametrize(
    "encoded",
    [
        MATERIAL,
        MATERIAL.hex().encode(),
        MATERIAL.hex().upper().encode() + b"\n",
        base64.b64encode(MATERIAL) + b"\n",
        b"  " + base64.b64encode(MATERIAL) + b"\r\n",
    ],
    ids=["raw", "hex", "HEX+newline", "base64", "base64+spaces"],
)
def test_formats(tmp_path: Path, encoded: bytes) -> None:
    assert read_material(private(tmp_path, encoded), 40) == bytearray(MATERIAL)


def test_raw_bytes_that_look_like_whitespace_are_kept(tmp_path: Path) -> None:
    raw = b"\n" + bytes(range(2, 40)) + b" "
    assert read_material(private(tmp_path, raw), 40) == bytearray(raw)


@pytest.mark.parametrize(
    "encoded",
    [MATERIAL[:-1], MATERIAL + b"\0", MATERIAL.hex()[:-2].encode(), b"zz" * 40, b""],
    ids=["short-raw", "long-raw", "short-hex", "not-hex", "empty"],
)
def test_wrong_lengths_are_errors(tmp_path: Path, encoded: bytes) -> None:
    with pytest.raises(
        KeyMaterialError,
        match="expected 40 bytes of key material as raw bytes, 80 hex digits or 56 base64 "
        "characters",
    ):
        read_material(private(tmp_path, encoded), 40)


def test_unsafe_permissions_refused(tmp_path: Path) -> None:
    path = private(tmp_path, MATERIAL)
    for mode in (0o640, 0o604, 0o660):
        os.chmod(path, mode)
        with pytest.raises(KeyMaterialError) as info:
            read_material(path, 40)
        assert info.value.message == (
            f"{path}: key file is accessible by group or others (mode {mode:04o}); "
            f"run chmod 600 {path}"
        )
        assert info.value.exit_code is ExitCode.NOPERM
    os.chmod(path, 0o400)
    assert read_material(path, 40) == bytearray(MATERIAL)


def test_missing_file_symlink_and_directory(tmp_path: Path) -> None:
    with pytest.raises(KeyMaterialError, match="no such key file") as info:
        read_material(str(tmp_path / "nope"), 40)
    assert info.value.exit_code is ExitCode.NOINPUT
    target = private(tmp_path, MATERIAL)
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(KeyMaterialError, match="cannot open key file"):
        read_material(str(link), 40)  # O_NOFOLLOW: a symlink could point anywhere
    with pytest.raises(KeyMaterialError, match="not a regular file"):
        read_material(str(tmp_path), 40)


def test_huge_file_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyMaterialError, match="too large to be a key file"):
        read_material(private(tmp_path, b"a" * 10000), 40)


def test_stdin() -> None:
    assert read_material("-", 40, stdin=io.BytesIO(MATERIAL.hex().encode())) == bytearray(MATERIAL)
    with pytest.raises(KeyMaterialError, match=r"^standard input: expected 40 bytes"):
        read_material("-", 40, stdin=io.BytesIO(b"short"))


def test_read_direction(tmp_path: Path) -> None:
    direction = read_direction(private(tmp_path, MATERIAL), Cipher.AES_256_GCM)
    assert direction.key == bytearray(MATERIAL[:32]) and direction.iv == bytearray(MATERIAL[32:])
    assert read_direction("ignored", Cipher.NONE).key == bytearray()
    with pytest.raises(KeyMaterialError, match="expected 24 bytes"):
        read_direction(private(tmp_path, MATERIAL, "k2"), Cipher.AES_128_GCM)


def test_decode_material_returns_a_new_buffer() -> None:
    source = bytearray(MATERIAL)
    decoded = decode_material(source, 40, "x")
    assert decoded == source and decoded is not source


@pytest.mark.parametrize("encoding", ["base64", "hex", "raw"])
def test_write_then_read(tmp_path: Path, encoding: str) -> None:
    path = str(tmp_path / f"key.{encoding}")
    write_material(path, MATERIAL, encoding=encoding)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert read_material(path, 40) == bytearray(MATERIAL)


def test_write_never_overwrites(tmp_path: Path) -> None:
    path = private(tmp_path, b"old")
    with pytest.raises(KeyMaterialError, match="already exists; refusing to overwrite") as info:
        write_material(path, MATERIAL)
    assert info.value.exit_code is ExitCode.CANTCREAT
    assert Path(path).read_bytes() == b"old"
    with pytest.raises(KeyMaterialError, match="cannot create"):
        write_material(str(tmp_path / "missing-dir" / "k"), MATERIAL)
    with pytest.raises(KeyMaterialError, match="unknown key encoding 'pem'"):
        write_material(str(tmp_path / "k3"), MATERIAL, encoding="pem")


def test_write_to_stdout(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    write_material("-", MATERIAL, encoding="hex")
    assert capsysbinary.readouterr().out == MATERIAL.hex().encode() + b"\n"


@pytest.mark.parametrize("cipher", [c for c in Cipher if c is not Cipher.NONE])
def test_generate(cipher: Cipher) -> None:
    first, second = generate_material(cipher), generate_material(cipher)
    assert len(first) == cipher.material_length and first != second


def test_generate_none_refused() -> None:
    with pytest.raises(KeyMaterialError, match="cipher none has no key material"):
        generate_material(Cipher.NONE)
