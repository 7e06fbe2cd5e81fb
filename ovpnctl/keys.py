"""Data-channel keys: ciphers, slots, key ids and per-direction key material.

Both kernels use the same AEAD construction (12-byte nonce = 4-byte packet id + an 8-byte
implicit IV / "nonce tail") and the same slot/key-id scheme, so one model serves both.
Key bytes live only in `bytearray`s owned here, so they can be wiped after the kernel has
them, and no `repr` or error message ever shows them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ovpnctl.errors import ValidationError
from ovpnctl.ids import check_key_id, check_peer_id

IMPLICIT_IV_LEN = 8  # OVPN nonce tail / FreeBSD "iv"


class Cipher(enum.Enum):
    """The AEAD ciphers the kernels accept, named as OpenVPN and FreeBSD name them."""

    NONE = "none"
    AES_128_GCM = "AES-128-GCM"
    AES_192_GCM = "AES-192-GCM"
    AES_256_GCM = "AES-256-GCM"
    CHACHA20_POLY1305 = "CHACHA20-POLY1305"

    @property
    def key_length(self) -> int:
        """Key bytes per direction; FreeBSD picks AES-128/192/256 by this length alone."""
        return _KEY_LENGTH[self]

    @property
    def material_length(self) -> int:
        """Bytes in a direction key file: the key followed by the 8-byte implicit IV."""
        return 0 if self is Cipher.NONE else self.key_length + IMPLICIT_IV_LEN

    @classmethod
    def parse(cls, text: str) -> Cipher:
        """Case-insensitive, accepting `_` for `-` (`aes-256-gcm`, `chacha20_poly1305`)."""
        wanted = text.strip().upper().replace("_", "-")
        for cipher in cls:
            if cipher.value.upper() == wanted:
                return cipher
        names = ", ".join(c.value for c in cls)
        raise ValidationError(f"unknown cipher {text!r}; choose one of {names}")


_KEY_LENGTH = {
    Cipher.NONE: 0,
    Cipher.AES_128_GCM: 16,
    Cipher.AES_192_GCM: 24,
    Cipher.AES_256_GCM: 32,
    Cipher.CHACHA20_POLY1305: 32,
}


class KeySlot(enum.IntEnum):
    """Two slots per peer: TX uses PRIMARY; RX accepts whichever slot holds the key id."""

    PRIMARY = 0
    SECONDARY = 1

    @classmethod
    def parse(cls, text: str) -> KeySlot:
        wanted = text.strip().lower()
        for slot in cls:
            if slot.name.lower() == wanted or str(slot.value) == wanted:
                return slot
        raise ValidationError(f"unknown key slot {text!r}; choose primary or secondary")


@dataclass(slots=True, eq=False)
class KeyDirection:
    """One direction's key and implicit IV. Owns its buffers; call `wipe()` when done."""

    cipher: Cipher
    key: bytearray = field(default_factory=bytearray)
    iv: bytearray = field(default_factory=bytearray)

    def __post_init__(self) -> None:
        self.check()

    def check(self, label: str = "") -> None:
        """Key and IV lengths per cipher. Backends call it again before a key reaches the
        kernel, since the buffers are mutable after construction; `label` names the
        direction in the message."""
        prefix = f"{label}: " if label else ""
        if self.cipher is Cipher.NONE:
            if self.key or self.iv:
                raise ValidationError(f"{prefix}cipher none takes no key material")
            return
        if len(self.key) != self.cipher.key_length:
            raise ValidationError(
                f"{prefix}{self.cipher.value} needs a {self.cipher.key_length}-byte key, "
                f"got {len(self.key)} bytes"
            )
        if len(self.iv) != IMPLICIT_IV_LEN:
            raise ValidationError(
                f"{prefix}the implicit IV must be {IMPLICIT_IV_LEN} bytes, got {len(self.iv)}"
            )

    @classmethod
    def from_material(cls, cipher: Cipher, material: bytearray) -> KeyDirection:
        """Split a key file's `key || iv` bytes; the caller's buffer is wiped."""
        try:
            if len(material) != cipher.material_length:
                raise ValidationError(
                    f"{cipher.value} key material must be {cipher.material_length} bytes "
                    f"({cipher.key_length}-byte key + {IMPLICIT_IV_LEN}-byte IV), "
                    f"got {len(material)}"
                )
            klen = cipher.key_length
            # slicing a bytearray already copies: wrapping it in bytearray() again would
            # leave an unwiped temporary copy of the key behind
            return cls(cipher, material[:klen], material[klen:])
        finally:
            wipe(material)

    def wipe(self) -> None:
        wipe(self.key)
        wipe(self.iv)

    def __repr__(self) -> str:
        return f"KeyDirection(cipher={self.cipher.value}, key=<{len(self.key)} bytes hidden>)"


@dataclass(slots=True, eq=False)
class KeyConfig:
    """A key pair (encrypt + decrypt) destined for one slot of one peer."""

    peer_id: int
    key_id: int
    slot: KeySlot
    encrypt: KeyDirection
    decrypt: KeyDirection

    def __post_init__(self) -> None:
        check_peer_id(self.peer_id)
        check_key_id(self.key_id)
        if self.encrypt.cipher is not self.decrypt.cipher:
            raise ValidationError(
                "encrypt and decrypt must use the same cipher "
                f"({self.encrypt.cipher.value} != {self.decrypt.cipher.value})"
            )

    @property
    def cipher(self) -> Cipher:
        return self.encrypt.cipher

    def wipe(self) -> None:
        self.encrypt.wipe()
        self.decrypt.wipe()

    def __repr__(self) -> str:
        return (
            f"KeyConfig(peer_id={self.peer_id}, key_id={self.key_id}, slot={self.slot.name}, "
            f"cipher={self.cipher.value})"
        )


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What a kernel reports about an installed key: never the key bytes."""

    peer_id: int
    slot: KeySlot
    key_id: int
    cipher: Cipher


def wipe(buf: bytearray | memoryview) -> None:
    """Overwrite a buffer we own with zeros (best effort: Python may have copied it)."""
    buf[:] = bytes(len(buf))
