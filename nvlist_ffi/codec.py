"""The pure-Python backend: libnv's packed format without libnv.

Byte-exact with ``nvlist_pack`` and decision-exact with ``nvlist_unpack`` for every golden
vector; see :mod:`nvlist_ffi.pack` and :mod:`nvlist_ffi.unpack` for how each direction is built.
This module is what :mod:`nvlist_ffi.backend` selects for ``NVLIST_BACKEND=pure``.
"""

from __future__ import annotations

from nvlist_ffi.pack import pack
from nvlist_ffi.unpack import unpack, unpack_strict

__all__ = ["pack", "unpack", "unpack_strict"]
