"""Packed-nvlist layout facts shared by the encoder and the decoder (libnv sheet §§2-4).

One table of struct layouts and constants, so the header formats are written down once.
"""

from __future__ import annotations

import struct

from nvlist_ffi.model import (
    NV_FLAG_IGNORE_CASE,
    NV_FLAG_NO_UNIQUE,
    NV_TYPE_NVLIST_ARRAY_NEXT,
    NV_TYPE_NVLIST_UP,
)

__all__ = [
    "HEADER_FLAGS_ALLOWED",
    "HEADER_SIZE",
    "LIST_BE",
    "LIST_LE",
    "MARKER_NEXT",
    "MARKER_SIZE",
    "MARKER_UP",
    "NVLIST_MAGIC",
    "NV_FLAG_BIG_ENDIAN",
    "PAIR_BE",
    "PAIR_LE",
    "U64_BE",
    "U64_LE",
]

HEADER_SIZE = 19
"""Size of both the list header and the pair header."""

NVLIST_MAGIC = 0x6C
NV_FLAG_BIG_ENDIAN = 0x80
HEADER_FLAGS_ALLOWED = NV_FLAG_IGNORE_CASE | NV_FLAG_NO_UNIQUE | NV_FLAG_BIG_ENDIAN

LIST_LE = struct.Struct("<BBBQQ")
"""List header: magic, version, flags, descriptor count, bytes after this header to the end."""
LIST_BE = struct.Struct(">BBBQQ")
PAIR_LE = struct.Struct("<BHQQ")
"""Pair header: type, name size with NUL, data size, item count."""
PAIR_BE = struct.Struct(">BHQQ")
U64_LE = struct.Struct("<Q")
U64_BE = struct.Struct(">Q")

MARKER_UP = PAIR_LE.pack(NV_TYPE_NVLIST_UP, 1, 0, 0) + b"\0"
"""Closes a nested nvlist."""
MARKER_NEXT = PAIR_LE.pack(NV_TYPE_NVLIST_ARRAY_NEXT, 1, 0, 0) + b"\0"
"""Closes each nvlist-array element."""
MARKER_SIZE = len(MARKER_UP)
