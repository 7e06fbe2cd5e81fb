"""The key ledger: fingerprints of every key material ever installed on this host.

Static AES-GCM / ChaCha20-Poly1305 keys are safe only while each (key, IV, packet id)
nonce is used once. Both kernels restart a freshly installed key's packet counter at 1,
so installing the same `key || iv` a second time — after a reboot, a re-created peer,
a restored config backup — encrypts new packets under nonces already spent, which leaks
the plaintext XOR and, for GCM, the authentication key. The kernel cannot notice; only
the installer can. So `apply` and `up` look every direction's material up here before
installing it and refuse a match unless told otherwise (`--allow-key-reuse`).

The ledger never holds keys: each entry is a keyed BLAKE2b hash of the material under
a random per-ledger salt, so the file reveals nothing about the keys and cannot be
matched against another host's ledger. Both directions are recorded: the decrypt
material is the other end's encrypt material, and it must not come back as ours.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from ovpnctl.config.paths import ensure_private_dir, write_atomic
from ovpnctl.errors import ExitCode, OvpnError

LEDGER_FORMAT = "ovpnctl-key-ledger"
LEDGER_VERSION = 1
SALT_BYTES = 32
_PERSON = b"ovpnctl-key-use"  # BLAKE2b personalisation: these hashes mean only this


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """Where a material was first installed: enough to tell the operator what clashed."""

    first_used: str  # ISO 8601 UTC
    interface: str
    peer_id: int
    key_id: int
    direction: str  # "encrypt" | "decrypt"
    file: str | None


class LedgerError(OvpnError):
    """The ledger file is unreadable or damaged; never silently start a fresh one."""

    exit_code = ExitCode.IOERR


class KeyLedger:
    """A ledger file; every change re-reads and rewrites it under an exclusive lock."""

    def __init__(self, path: str, *, readonly: bool = False) -> None:
        """`readonly` (dry runs): never create or change the file; a missing ledger reads
        as empty with a throw-away salt."""
        self.path = path
        self.readonly = readonly
        self._salt: bytes | None = None
        self._ephemeral: dict[str, Any] | None = None

    # -- fingerprints ---------------------------------------------------------------
    @property
    def salt(self) -> bytes:
        if self._salt is None:
            with self._locked() as data:
                self._salt = bytes.fromhex(data["salt"])
        return self._salt

    @property
    def salt_id(self) -> str:
        """A short public name for the salt, stamped into state files that hold fingerprints:
        fingerprints from another ledger cannot be compared."""
        return hashlib.blake2b(self.salt, digest_size=8, person=b"ovpnctl-salt-id").hexdigest()

    def fingerprint(self, *parts: bytes | bytearray | memoryview) -> str:
        """The keyed hash of one direction's `key || iv` (32 hex digits).

        Pass key and IV separately: hashing them in turn equals hashing the concatenation,
        without making an immutable (unwipeable) copy of the key.
        """
        digest = hashlib.blake2b(digest_size=16, key=self.salt, person=_PERSON)
        for part in parts:
            digest.update(part)
        return digest.hexdigest()

    # -- queries and updates -----------------------------------------------------------
    def lookup(self, fingerprints: Iterable[str]) -> dict[str, LedgerEntry]:
        """The entries among `fingerprints` that were used before."""
        wanted = set(fingerprints)
        with self._locked() as data:
            keys: dict[str, Any] = data["keys"]
            return {fp: LedgerEntry(**keys[fp]) for fp in wanted if fp in keys}

    def record(self, entries: dict[str, LedgerEntry]) -> None:
        """Add entries (first use wins: an existing entry is kept as it was)."""
        if not entries:
            return
        with self._locked(write=True) as data:
            for fp, entry in entries.items():
                data["keys"].setdefault(fp, asdict(entry))

    def forget(self, fingerprints: Iterable[str]) -> None:
        """Drop entries for material proven never to have encrypted a packet (rollback)."""
        drop = set(fingerprints)
        if not drop:
            return
        with self._locked(write=True) as data:
            for fp in drop:
                data["keys"].pop(fp, None)

    def __len__(self) -> int:
        with self._locked() as data:
            return len(data["keys"])

    # -- file handling -----------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self, *, write: bool = False) -> Iterator[dict[str, Any]]:
        if self.readonly:
            if write:
                raise LedgerError(f"{self.path}: opened read-only (dry run)")
            data = self._read()
            if data is None:
                if self._ephemeral is None:
                    self._ephemeral = _empty_ledger()
                data = self._ephemeral
            yield data
            return
        directory = os.path.dirname(self.path) or "."
        ensure_private_dir(directory)
        lock_fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            data = self._read()
            created = data is None
            if data is None:
                data = _empty_ledger()
            yield data
            if write or created:
                body = json.dumps(data, indent=1, sort_keys=True).encode() + b"\n"
                write_atomic(self.path, body, mode=0o600)
        finally:
            os.close(lock_fd)

    def _read(self) -> dict[str, Any] | None:
        try:
            with open(self.path, "rb") as handle:
                raw = handle.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise LedgerError(f"{self.path}: cannot read key ledger ({exc.strerror})") from None
        try:
            data = json.loads(raw)
            valid = (
                isinstance(data, dict)
                and data.get("format") == LEDGER_FORMAT
                and data.get("version") == LEDGER_VERSION
                and isinstance(data.get("keys"), dict)
                and len(bytes.fromhex(data.get("salt", ""))) == SALT_BYTES
            )
        except ValueError:
            valid = False
        if not valid:
            raise LedgerError(
                f"{self.path}: not a valid key ledger; refusing to start a new one over it "
                "(that would forget which keys were used). Move it aside to continue."
            )
        return dict(data)


def _empty_ledger() -> dict[str, Any]:
    return {
        "format": LEDGER_FORMAT,
        "version": LEDGER_VERSION,
        "salt": secrets.token_hex(SALT_BYTES),
        "keys": {},
    }


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
