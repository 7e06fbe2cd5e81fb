"""Choose between the pure codec and the system libnv for ``nvlist_ffi.pack``/``unpack``.

``NVLIST_BACKEND`` is ``auto`` (default: libnv when the binding loads, else pure), ``libnv``
(insist: an unusable libnv is an error, never a silent fallback) or ``pure``. The binding module
``nvlist_ffi.libnv`` is imported only when it may be used, and it imports cffi only once it has
found a file with libnv's symbols, so machines without libnv (and without a working cffi) pay
for one ``dlopen`` per candidate name. The choice is made once, on first use; :func:`reset`
forgets it (tests that change the environment call it).
"""

from __future__ import annotations

import importlib
import os
from typing import Protocol, cast

from nvlist_ffi import codec
from nvlist_ffi.errors import NVListError
from nvlist_ffi.model import NVList

__all__ = ["BACKEND_ENV", "backend_name", "pack", "reset", "unpack"]

BACKEND_ENV = "NVLIST_BACKEND"
_CHOICES = ("auto", "libnv", "pure")
_LIBNV_MODULE = "nvlist_ffi.libnv"


class Backend(Protocol):
    """What a backend module provides."""

    def pack(self, nvl: NVList, /) -> bytes: ...

    def unpack(self, data: bytes, flags: int = 0, /) -> NVList: ...


_current: Backend | None = None
_current_name = ""


def _load_libnv(required: bool) -> Backend | None:
    try:
        module = importlib.import_module(_LIBNV_MODULE)
    except ImportError as exc:
        if exc.name not in (_LIBNV_MODULE, "cffi") and not required:
            raise
        if required:
            raise NVListError(
                "ENOENT", f"{BACKEND_ENV}=libnv, but the libnv binding cannot be imported: {exc}"
            ) from None
        return None
    if not module.available():
        if required:
            try:
                module.load()
            except NVListError:
                raise
            except ImportError as exc:  # cffi, imported once a libnv file was found
                raise NVListError(
                    "ENOENT",
                    f"{BACKEND_ENV}=libnv, but the libnv binding cannot be imported: {exc}",
                ) from None
            except Exception as exc:
                raise NVListError(
                    "ENOENT", f"{BACKEND_ENV}=libnv, but libnv cannot be loaded: {exc}"
                ) from None
            raise NVListError("ENOENT", f"{BACKEND_ENV}=libnv, but libnv is not available")
        return None
    return cast(Backend, module)


def _select() -> Backend:
    global _current, _current_name
    choice = os.environ.get(BACKEND_ENV, "").strip().lower() or "auto"
    if choice not in _CHOICES:
        raise NVListError("EINVAL", f"{BACKEND_ENV}={choice!r} is not one of {', '.join(_CHOICES)}")
    backend: Backend | None = None
    if choice != "pure":
        backend = _load_libnv(required=choice == "libnv")
    if backend is None:
        _current, _current_name = cast(Backend, codec), "pure"
    else:
        _current, _current_name = backend, "libnv"
    return _current


def backend_name() -> str:
    """``"pure"`` or ``"libnv"``: the backend ``pack``/``unpack`` use."""
    if _current is None:
        _select()
    return _current_name


def reset() -> None:
    """Forget the backend choice; the next call re-reads ``NVLIST_BACKEND``."""
    global _current, _current_name
    _current, _current_name = None, ""


def pack(nvl: NVList) -> bytes:
    """Packed bytes of ``nvl``, identical to libnv's ``nvlist_pack`` on a little-endian host."""
    return (_current or _select()).pack(nvl)


def unpack(data: bytes | bytearray | memoryview, flags: int = 0) -> NVList:
    """Decode a packed nvlist as ``nvlist_unpack(data, len(data), flags)``; NVListError only."""
    return (_current or _select()).unpack(bytes(data), flags)
