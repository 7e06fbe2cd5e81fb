"""Ciphers, slots and key directions: lengths per cipher, wiping, and never showing bytes."""

from __future__ import annotations

import pytest

from ovpnctl.errors import ValidationError
from ovpnctl.keys import (
    IMPLICIT_IV_LEN,
    Cipher,
    KeyConfig,
    KeyDirection,
    KeyInfo,
    KeySlot,
    wipe,
)

KEY_LENGTHS = {
    Cipher.NONE: 0,
    Cipher.AES_128_GCM: 16,
    Cipher.AES_192_GCM: 24,
    Cipher.AES_256_GCM: 32,
    Cipher.CHACHA20_POLY1305: 32,
}


def test_cipher_names_are_the_kernel_strings() -> None:
    assert [c.value for c in Cipher] == [
        "none",
        "AES-128-GCM",
        "AES-192-GCM",
        "AES-256-GCM",
        "CHACHA20-POLY1305",
    ]


@pytest.mark.parametrize(("cipher", "length"), KEY_LENGTHS.items())
def test_lengths(cipher: Cipher, length: int) -> None:
    assert cipher.key_length == length
    assert cipher.material_length == (0 if cipher is Cipher.NONE else length + IMPLICIT_IV_LEN)


@pytest.mark.parametrize(
    ("text", "cipher"),
    [
        ("aes-256-gcm", Cipher.AES_256_GCM),
        (" AES_128_GCM ", Cipher.AES_128_GCM),
        ("chacha20_poly1305", Cipher.CHACHA20_POLY1305),
        ("NONE", Cipher.NONE),
    ],
)
def test_cipher_parse(text: str, cipher: Cipher) -> None:
    assert Cipher.parse(text) is cipher


def test_cipher_parse_lists_the_choices() -> None:
    with pytest.raises(ValidationError, match="unknown cipher 'aes-256-cbc'; choose one of none, "):
        Cipher.parse("aes-256-cbc")


@pytest.mark.parametrize(
    ("text", "slot"),
    [
        ("primary", KeySlot.PRIMARY),
        ("0", KeySlot.PRIMARY),
        ("Secondary", KeySlot.SECONDARY),
        ("1", KeySlot.SECONDARY),
    ],
)
def test_slot_parse(text: str, slot: KeySlot) -> None:
    assert KeySlot.parse(text) is slot


def test_slot_parse_error() -> None:
    with pytest.raises(ValidationError, match="choose primary or secondary"):
        KeySlot.parse("2")


@pytest.mark.parametrize("cipher", [c for c in Cipher if c is not Cipher.NONE])
def test_direction_length_checks(cipher: Cipher) -> None:
    n = cipher.key_length
    KeyDirection(cipher, bytearray(n), bytearray(8))
    for key_len, iv_len, message in (
        (n - 1, 8, f"needs a {n}-byte key, got {n - 1} bytes"),
        (n + 1, 8, f"needs a {n}-byte key, got {n + 1} bytes"),
        (n, 7, "implicit IV must be 8 bytes, got 7"),
        (n, 12, "implicit IV must be 8 bytes, got 12"),
    ):
        with pytest.raises(ValidationError, match=message):
            KeyDirection(cipher, bytearray(key_len), bytearray(iv_len))


def test_cipher_none_takes_nothing() -> None:
    assert KeyDirection(Cipher.NONE).key == bytearray()
    with pytest.raises(ValidationError, match="cipher none takes no key material"):
        KeyDirection(Cipher.NONE, bytearray(16), bytearray())


def test_from_material_splits_and_wipes_the_source() -> None:
    material = bytearray(range(40))
    direction = KeyDirection.from_material(Cipher.AES_256_GCM, material)
    assert direction.key == bytearray(range(32)) and direction.iv == bytearray(range(32, 40))
    assert material == bytearray(40)  # wiped


def test_from_material_wrong_length_still_wipes() -> None:
    material = bytearray(b"\x7f" * 39)
    with pytest.raises(
        ValidationError, match=r"must be 40 bytes \(32-byte key \+ 8-byte IV\), got 39"
    ):
        KeyDirection.from_material(Cipher.AES_256_GCM, material)
    assert material == bytearray(39)


def test_wipe_and_repr_never_show_key_bytes() -> None:
    direction = KeyDirection(Cipher.AES_128_GCM, bytearray(b"S" * 16), bytearray(b"I" * 8))
    key = KeyConfig(
        5,
        2,
        KeySlot.SECONDARY,
        direction,
        KeyDirection(Cipher.AES_128_GCM, bytearray(16), bytearray(8)),
    )
    for text in (repr(direction), repr(key), str(key)):
        assert "SSSS" not in text and "83, 83" not in text
    assert repr(key) == "KeyConfig(peer_id=5, key_id=2, slot=SECONDARY, cipher=AES-128-GCM)"
    key.wipe()
    assert direction.key == bytearray(16) and direction.iv == bytearray(8)
    buf = bytearray(b"secret")
    wipe(buf)
    assert buf == bytearray(6)
    view_target = bytearray(b"abcd")
    wipe(memoryview(view_target)[1:3])
    assert view_target == bytearray(b"a\0\0d")


def test_key_config_checks() -> None:
    aes = KeyDirection(Cipher.AES_128_GCM, bytearray(16), bytearray(8))
    chacha = KeyDirection(Cipher.CHACHA20_POLY1305, bytearray(32), bytearray(8))
    with pytest.raises(ValidationError, match="must use the same cipher"):
        KeyConfig(1, 0, KeySlot.PRIMARY, aes, chacha)
    with pytest.raises(ValidationError, match="key id 8 is out of range"):
        KeyConfig(1, 8, KeySlot.PRIMARY, aes, aes)
    with pytest.raises(ValidationError, match="peer id"):
        KeyConfig(1 << 24, 0, KeySlot.PRIMARY, aes, aes)
    assert KeyConfig(1, 7, KeySlot.PRIMARY, aes, aes).cipher is Cipher.AES_128_GCM


def test_key_info_is_a_value() -> None:
    info = KeyInfo(1, KeySlot.PRIMARY, 3, Cipher.AES_256_GCM)
    assert info == KeyInfo(1, KeySlot.PRIMARY, 3, Cipher.AES_256_GCM)
    assert hash(info) == hash(KeyInfo(1, KeySlot.PRIMARY, 3, Cipher.AES_256_GCM))
