"""Build step: the libnv declarations as a cffi out-of-line ABI-mode module.

In-line ABI mode (``cffi.FFI().cdef(...)``) imports pycparser and parses the declarations in
every process that binds libnv, which costs more than the rest of a short ``ovpnctl`` command.
Out-of-line ABI mode parses them once, when the package is built, into a pure-Python module
(``_libnv_cdef.abi_module_name()``) that holds the parsed types. No compiler is involved, so
this still suits appliances without one. Where no build ran (a source tree, an editable install
that did not generate it), :mod:`nvlist_ffi.libnv` parses at run time as before.

setuptools runs this through ``cffi_modules`` in setup.py. cffi executes the file rather than
importing it, with the project root as the working directory and the package not necessarily
importable, so ``_libnv_cdef`` is loaded from its path. ``python nvlist_ffi/_libnv_build.py``
writes the module into the source tree.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import cffi

_PACKAGE_DIR = Path(__file__).resolve().parent


def _load_cdef() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "nvlist_ffi_build_cdef", _PACKAGE_DIR / "_libnv_cdef.py"
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {_PACKAGE_DIR / '_libnv_cdef.py'}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_builder() -> Any:
    """An FFI builder holding the binding's declarations, set up to emit the ABI module."""
    cdef = _load_cdef()
    builder = cffi.FFI()
    builder.cdef(cdef.declarations())
    builder.set_source(cdef.abi_module_name(), None)
    return builder


ffibuilder = make_builder()

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=str(_PACKAGE_DIR.parent), verbose=True)
