"""Identifier ranges both kernels share; checked here so nothing out of range is sent.

FreeBSD stores a 32-bit peer id but only 24 bits survive on the wire (larger ids corrupt
the opcode byte); Linux refuses them with ERANGE. Key ids have 3 bits.
"""

from __future__ import annotations

from ovpnctl.errors import ValidationError

PEER_ID_MAX = 0xFFFFFF
KEY_ID_MAX = 7
KEEPALIVE_MAX = 86400  # Linux 7.x policy limit; also keeps FreeBSD's value*hz within an int


def check_peer_id(peer_id: int) -> int:
    if isinstance(peer_id, bool) or not isinstance(peer_id, int):
        raise ValidationError(f"peer id {peer_id!r} is not an integer")
    if not 0 <= peer_id <= PEER_ID_MAX:
        raise ValidationError(f"peer id {peer_id} is out of range (0-{PEER_ID_MAX})")
    return peer_id


def check_key_id(key_id: int) -> int:
    if isinstance(key_id, bool) or not isinstance(key_id, int):
        raise ValidationError(f"key id {key_id!r} is not an integer")
    if not 0 <= key_id <= KEY_ID_MAX:
        raise ValidationError(f"key id {key_id} is out of range (0-{KEY_ID_MAX})")
    return key_id


def parse_int(text: str, what: str) -> int:
    """Decimal or 0x-hex, with a message naming the option."""
    try:
        return int(text.strip(), 0)
    except ValueError:
        raise ValidationError(f"{what} {text!r} is not a number") from None
