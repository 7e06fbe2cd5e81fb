"""The pure-Python backend: libnv's packed format without libnv.

Byte-exact with ``nvlist_pack`` and decision-exact with ``nvlist_unpack`` for every golden
vector; see :mod:`nvlist_ffi.encoder` and :mod:`nvlist_ffi.decoder` for how each direction is built.
This module is what :mod:`nvlist_ffi.backend` selects for ``NVLIST_BACKEND=pure``.
"""

from __future__ import annotations

from nvlist_ffi.decoder import unpack, unpack_strict
from nvlist_ffi.encoder import pack

__all__ = ["pack", "unpack", "unpack_strict"]
