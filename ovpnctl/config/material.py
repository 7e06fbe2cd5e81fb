"""Reading the key files a config names, once, into buffers that are wiped afterwards.

A plan needs each slot's material twice over: its fingerprint, to tell whether the
kernel already holds it (and whether it was ever used before), and the bytes themselves
for the steps that install it. Reading every file up front also means a missing,
unsafe or wrongly sized key file is reported with all other config errors, before the
kernel is touched.
"""

from __future__ import annotations

from dataclasses import dataclass

from ovpnctl.config.issues import Issues
from ovpnctl.config.locate import KeyPath
from ovpnctl.config.record import AppliedKey
from ovpnctl.config.schema import KeySpec, TunnelConfig
from ovpnctl.errors import OvpnError
from ovpnctl.keyfile import read_direction
from ovpnctl.keys import Cipher, KeyConfig, KeyDirection, KeySlot
from ovpnctl.ledger import KeyLedger

DIRECTIONS = ("encrypt", "decrypt")


@dataclass(eq=False)
class LoadedKey:
    """One slot's key material, read from its files. Call `wipe()` when done."""

    spec: KeySpec
    encrypt: KeyDirection
    decrypt: KeyDirection
    encrypt_fp: str | None
    decrypt_fp: str | None

    @property
    def key_id(self) -> int:
        return self.spec.key_id

    def applied(self) -> AppliedKey:
        """What the state file records about this key once installed (no key bytes)."""
        return AppliedKey(
            key_id=self.spec.key_id,
            cipher=self.spec.cipher.value,
            encrypt_file=self.spec.encrypt,
            decrypt_file=self.spec.decrypt,
            encrypt_fp=self.encrypt_fp,
            decrypt_fp=self.decrypt_fp,
        )

    def matches(self, installed: AppliedKey) -> bool:
        """True when `installed` is this very material under this key id."""
        return installed.key_id == self.spec.key_id and installed.same_material(self.applied())

    def key_config(self, peer_id: int, slot: KeySlot) -> KeyConfig:
        """A request for the backend; it shares this object's buffers (wiped with it)."""
        return KeyConfig(peer_id, self.spec.key_id, slot, self.encrypt, self.decrypt)

    def fingerprints(self) -> dict[str, str]:
        """direction -> fingerprint, for the directions that carry material."""
        out = {}
        if self.encrypt_fp is not None:
            out["encrypt"] = self.encrypt_fp
        if self.decrypt_fp is not None:
            out["decrypt"] = self.decrypt_fp
        return out

    def wipe(self) -> None:
        self.encrypt.wipe()
        self.decrypt.wipe()

    def __repr__(self) -> str:
        return f"LoadedKey(id={self.spec.key_id}, cipher={self.spec.cipher.value})"


KeyTable = dict[tuple[int, KeySlot], LoadedKey]


def load_key_material(config: TunnelConfig, ledger: KeyLedger, issues: Issues) -> KeyTable:
    """Read every key file of `config`; problems go to `issues` (nothing is raised).

    Also refuses material shared between two directions anywhere in the file: two
    senders with one key and IV reuse each other's nonces from the first packet on.
    """
    table: KeyTable = {}
    seen: dict[str, KeyPath] = {}
    for peer in config.peers:
        for slot, spec in peer.keys().items():
            loaded = _load_one(spec, ledger, issues)
            if loaded is None:
                continue
            table[(peer.peer_id, slot)] = loaded
            for direction, fp in loaded.fingerprints().items():
                path = (*spec.where, direction)
                if fp in seen:
                    issues.add(
                        path,
                        f"holds the same key material as {config.where(seen[fp])}; every "
                        "direction of every key needs its own material",
                    )
                else:
                    seen[fp] = path
    return table


def _load_one(spec: KeySpec, ledger: KeyLedger, issues: Issues) -> LoadedKey | None:
    directions: dict[str, KeyDirection] = {}
    for direction in DIRECTIONS:
        path = getattr(spec, direction)
        if spec.cipher is Cipher.NONE:
            directions[direction] = KeyDirection(Cipher.NONE)
            continue
        try:
            directions[direction] = read_direction(path, spec.cipher)
        except OvpnError as exc:
            issues.add((*spec.where, direction), exc.message)
    if len(directions) != len(DIRECTIONS):
        for loaded in directions.values():
            loaded.wipe()
        return None
    enc, dec = directions["encrypt"], directions["decrypt"]
    if spec.cipher is Cipher.NONE:
        return LoadedKey(spec, enc, dec, None, None)
    return LoadedKey(
        spec, enc, dec, ledger.fingerprint(enc.key, enc.iv), ledger.fingerprint(dec.key, dec.iv)
    )


def wipe_all(table: KeyTable) -> None:
    for loaded in table.values():
        loaded.wipe()
