"""Reading and writing key material files safely.

Keys never come from argv (visible in ps and shell history). A key file readable by group
or others is refused rather than warned about: a DCO key is a long-lived static secret, and
reusing a leaked one with AES-GCM is catastrophic. Files may be raw, hex or base64; the
format is detected from the exact length the cipher needs, so a truncated or padded file is
an error instead of a silently different key.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import stat
import sys
from typing import BinaryIO

from ovpnctl.errors import ExitCode, KeyMaterialError
from ovpnctl.keys import Cipher, KeyDirection, wipe

STDIN_NAME = "-"
_MAX_KEY_FILE = 4096  # far above any real key file; stops reading /dev/zero forever


def read_material(path: str, length: int, *, stdin: BinaryIO | None = None) -> bytearray:
    """Return exactly `length` bytes of key material from `path` (`-` = stdin)."""
    if path == STDIN_NAME:
        source = stdin if stdin is not None else sys.stdin.buffer
        data = bytearray(source.read(_MAX_KEY_FILE + 1))
        where = "standard input"
    else:
        data = _read_private_file(path)
        where = path
    try:
        return decode_material(data, length, where)
    finally:
        wipe(data)


def read_direction(path: str, cipher: Cipher, *, stdin: BinaryIO | None = None) -> KeyDirection:
    """A direction's key + implicit IV from one file (`key || iv`, raw/hex/base64)."""
    if cipher is Cipher.NONE:
        return KeyDirection(cipher)
    return KeyDirection.from_material(
        cipher, read_material(path, cipher.material_length, stdin=stdin)
    )


def decode_material(data: bytearray, length: int, where: str) -> bytearray:
    """Detect raw / hex / base64 by length; return a new buffer the caller owns."""
    if len(data) > _MAX_KEY_FILE:
        raise KeyMaterialError(f"{where}: too large to be a key file")
    text = bytes(data).strip()
    if len(text) == 2 * length and _is_hex(text):
        return bytearray(binascii.unhexlify(text))
    if text and len(text) == _base64_length(length):
        try:
            decoded = base64.b64decode(text, validate=True)
        except binascii.Error:
            decoded = b""
        if len(decoded) == length:
            return bytearray(decoded)
    if len(data) == length:
        return bytearray(data)
    raise KeyMaterialError(
        f"{where}: expected {length} bytes of key material as raw bytes, "
        f"{2 * length} hex digits or {_base64_length(length)} base64 characters "
        f"(found {len(data)} bytes)"
    )


def write_material(path: str, material: bytes | bytearray, *, encoding: str = "base64") -> None:
    """Create `path` with mode 0600 (never overwriting) holding the encoded material."""
    if encoding == "base64":
        body = base64.b64encode(bytes(material)) + b"\n"
    elif encoding == "hex":
        body = binascii.hexlify(bytes(material)) + b"\n"
    elif encoding == "raw":
        body = bytes(material)
    else:
        raise KeyMaterialError(f"unknown key encoding {encoding!r}; use base64, hex or raw")
    if path == STDIN_NAME:
        sys.stdout.buffer.write(body)
        sys.stdout.buffer.flush()
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise KeyMaterialError(
            f"{path}: already exists; refusing to overwrite key material",
            exit_code=ExitCode.CANTCREAT,
        ) from None
    except OSError as exc:
        raise KeyMaterialError(
            f"{path}: cannot create ({exc.strerror})", exit_code=ExitCode.CANTCREAT
        ) from None
    try:
        os.fchmod(fd, 0o600)  # umask cannot widen it, but be explicit
        os.write(fd, body)
    finally:
        os.close(fd)


def generate_material(cipher: Cipher) -> bytearray:
    """Fresh random `key || iv` for one direction of `cipher`."""
    if cipher is Cipher.NONE:
        raise KeyMaterialError("cipher none has no key material to generate")
    return bytearray(secrets.token_bytes(cipher.material_length))


def _read_private_file(path: str) -> bytearray:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise KeyMaterialError(f"{path}: no such key file", exit_code=ExitCode.NOINPUT) from None
    except OSError as exc:
        raise KeyMaterialError(
            f"{path}: cannot open key file ({exc.strerror})", exit_code=ExitCode.NOINPUT
        ) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise KeyMaterialError(f"{path}: not a regular file")
        if st.st_mode & 0o077:
            raise KeyMaterialError(
                f"{path}: key file is accessible by group or others "
                f"(mode {stat.S_IMODE(st.st_mode):04o}); run chmod 600 {path}",
                exit_code=ExitCode.NOPERM,
            )
        data = bytearray(_MAX_KEY_FILE + 1)
        view = memoryview(data)
        got = 0
        while got < len(data):
            n = os.readv(fd, [view[got:]])
            if n == 0:
                break
            got += n
        view.release()
        result = bytearray(data[:got])
        wipe(data)
        return result
    finally:
        os.close(fd)


def _is_hex(text: bytes) -> bool:
    return all(c in b"0123456789abcdefABCDEF" for c in text)


def _base64_length(length: int) -> int:
    return 4 * ((length + 2) // 3)
