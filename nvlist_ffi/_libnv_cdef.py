"""C declarations for the cffi ABI-mode binding to FreeBSD's libnv.

Only what :mod:`nvlist_ffi.libnv` calls is declared, grouped by the header that declares it. Every
function template has a ``{p}`` where the symbol prefix goes: FreeBSD 14's ``libnv.so.1`` exports
``FreeBSD_nvlist_create`` (``sys/nv_namespace.h`` renames every public name), older ``libnv.so.0``
exports ``nvlist_create``. ABI mode resolves a declaration by its exact name, so the binding
declares both spellings and picks the one the library has.

Deliberate deviations from the headers, all ABI-identical on every FreeBSD platform:

* ``bool`` arrays are ``uint8_t`` arrays, because libnv does not range-check bool-array bytes on
  unpack and cffi refuses to read a ``_Bool`` other than 0 or 1.
* ``nvlist_unpack``'s buffer is ``const char *`` so that ``ffi.from_buffer`` data passes directly.

Not declared on purpose: variadic functions (``nvlist_add_stringf``, ``nvlist_add_stringv``), which
ABI mode cannot call portably, and ``nvlist_free_binary_array``, which ``nv.h`` declares but libnv
does not implement. Nothing from ``dnv.h`` is needed: the binding never looks a name up.
"""

from __future__ import annotations

import zlib

COMMON = """
typedef struct nvlist nvlist_t;
"""
"""Types shared by every prefix; declared once per FFI instance."""

LIBC = """
void free(void *ptr);
"""
"""Buffers returned by ``nvlist_pack`` are malloc'ed and must go back to the C library."""

NV_H = """
nvlist_t *{p}nvlist_create(int flags);
void {p}nvlist_destroy(nvlist_t *nvl);
int {p}nvlist_error(const nvlist_t *nvl);
int {p}nvlist_flags(const nvlist_t *nvl);
void *{p}nvlist_pack(const nvlist_t *nvl, size_t *sizep);
nvlist_t *{p}nvlist_unpack(const char *buf, size_t size, int flags);
const char *{p}nvlist_next(const nvlist_t *nvl, int *typep, void **cookiep);
void {p}nvlist_add_null(nvlist_t *nvl, const char *name);
void {p}nvlist_add_bool(nvlist_t *nvl, const char *name, bool value);
void {p}nvlist_add_number(nvlist_t *nvl, const char *name, uint64_t value);
void {p}nvlist_add_string(nvlist_t *nvl, const char *name, const char *value);
void {p}nvlist_add_binary(nvlist_t *nvl, const char *name, const void *value, size_t size);
void {p}nvlist_move_nvlist(nvlist_t *nvl, const char *name, nvlist_t *value);
void {p}nvlist_add_bool_array(nvlist_t *nvl, const char *name, const uint8_t *value,
    size_t nitems);
void {p}nvlist_add_number_array(nvlist_t *nvl, const char *name, const uint64_t *value,
    size_t nitems);
void {p}nvlist_add_string_array(nvlist_t *nvl, const char *name, const char * const *value,
    size_t nitems);
void {p}nvlist_add_nvlist_array(nvlist_t *nvl, const char *name,
    const nvlist_t * const *value, size_t nitems);
"""
"""``<sys/nv.h>`` subset."""

CNV_H = """
bool {p}cnvlist_get_bool(const void *cookie);
uint64_t {p}cnvlist_get_number(const void *cookie);
const char *{p}cnvlist_get_string(const void *cookie);
const nvlist_t *{p}cnvlist_get_nvlist(const void *cookie);
const void *{p}cnvlist_get_binary(const void *cookie, size_t *sizep);
const uint8_t *{p}cnvlist_get_bool_array(const void *cookie, size_t *nitemsp);
const uint64_t *{p}cnvlist_get_number_array(const void *cookie, size_t *nitemsp);
const char * const *{p}cnvlist_get_string_array(const void *cookie, size_t *nitemsp);
const nvlist_t * const *{p}cnvlist_get_nvlist_array(const void *cookie, size_t *nitemsp);
"""
"""``<sys/cnv.h>`` subset: getters that take the cookie ``nvlist_next`` hands out, so pairs are
read by position (duplicate names under ``NV_FLAG_NO_UNIQUE`` included) and never by a name that
might be missing (libnv aborts on those)."""

PREFIXES = ("FreeBSD_", "")
"""Symbol prefixes in the order the binding tries them: FreeBSD 14 and later, then older."""

REQUIRED = (
    "nvlist_create",
    "nvlist_destroy",
    "nvlist_error",
    "nvlist_flags",
    "nvlist_pack",
    "nvlist_unpack",
    "nvlist_next",
    "nvlist_add_null",
    "nvlist_add_bool",
    "nvlist_add_number",
    "nvlist_add_string",
    "nvlist_add_binary",
    "nvlist_move_nvlist",
    "cnvlist_get_bool",
    "cnvlist_get_number",
    "cnvlist_get_string",
    "cnvlist_get_nvlist",
    "cnvlist_get_binary",
)
"""Functions without which the binding cannot work (libnv has had them since FreeBSD 11.1)."""

OPTIONAL = (
    "nvlist_add_bool_array",
    "nvlist_add_number_array",
    "nvlist_add_string_array",
    "nvlist_add_nvlist_array",
    "cnvlist_get_bool_array",
    "cnvlist_get_number_array",
    "cnvlist_get_string_array",
    "cnvlist_get_nvlist_array",
)
"""Functions detected at load time and never called when absent: the array types arrived in
FreeBSD 12's libnv, so an older ``libnv.so.0`` can still pack and unpack lists without arrays."""


def declarations() -> str:
    """The complete cdef text: shared types, libc, and both symbol spellings of every function."""
    functions = "".join((NV_H + CNV_H).format(p=prefix) for prefix in PREFIXES)
    return COMMON + LIBC + functions


def abi_module_name() -> str:
    """The module the build step (``_libnv_build.py``) generates from :func:`declarations`.

    The name carries a digest of the declarations, so a module generated before they changed
    (left in a source tree by an in-place build) is never found, and the binding falls back to
    parsing them at run time instead of binding stale ones.
    """
    return f"nvlist_ffi._libnv_abi_{zlib.crc32(declarations().encode()):08x}"
