"""FreeBSD libnv packed nvlists in Python: a typed model, a pure codec and a libnv binding.

The pure codec is byte-exact with libnv's ``nvlist_pack``/``nvlist_unpack``; the binding (cffi,
ABI mode) uses the system libnv where one exists. ``pack``/``unpack`` dispatch to the backend
chosen by ``NVLIST_BACKEND`` (see :mod:`nvlist_ffi.backend`).
"""

from nvlist_ffi.backend import backend_name, pack, unpack
from nvlist_ffi.errors import NVListError
from nvlist_ffi.model import (
    NV_FLAG_IGNORE_CASE,
    NV_FLAG_NO_UNIQUE,
    NV_NAME_MAX,
    BoolArray,
    CString,
    Name,
    NumberArray,
    NVList,
    NVListArray,
    StringArray,
    Value,
)

__all__ = [
    "NV_FLAG_IGNORE_CASE",
    "NV_FLAG_NO_UNIQUE",
    "NV_NAME_MAX",
    "BoolArray",
    "CString",
    "NVList",
    "NVListArray",
    "NVListError",
    "Name",
    "NumberArray",
    "StringArray",
    "Value",
    "backend_name",
    "pack",
    "unpack",
]
