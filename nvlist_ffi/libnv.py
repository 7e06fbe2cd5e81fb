"""The system libnv through cffi in ABI mode: ``pack``/``unpack`` done by FreeBSD's own library.

Why it is built this way:

* ABI mode (``ffi.dlopen``) because appliances have no compiler; nothing is compiled at install
  time (the build step only writes the parsed declarations out as Python, see ``_libnv_build``).
* libnv aborts the process on misuse (a getter on a missing name, flags outside 0..3, a cookie
  getter on a pair of another type). So the binding never looks anything up by name: it walks each
  list with ``nvlist_next`` cookies and reads values with the ``cnvlist_get_*`` getter matching the
  type ``nvlist_next`` reported, and it refuses bad flags itself before calling libnv.
* Both directions are explicit-stack loops, because libnv has no nesting limit and Python's
  recursion limit would otherwise bound the depth we can convert.
* Everything this module creates in C is destroyed in a ``finally``; nested lists are moved into
  their parent (``nvlist_move_nvlist``) so deep trees are built in linear time, and nvlist-array
  elements are copied in (``nvlist_add_nvlist_array``) and then destroyed.
* libnv reports failures as errno values of the running OS, which is exactly what
  :class:`~nvlist_ffi.errors.NVListError` carries; offsets are unknown to libnv, so ``offset`` is
  always None here.

The library is found as ``$NVLIST_LIBNV`` when set (an explicit path, no fallback), else as
``libnv.so.1`` (FreeBSD 14+, ``FreeBSD_``-prefixed symbols) and then ``libnv.so.0`` (older,
unprefixed). The prefix is detected from the symbols, not assumed from the file name.

Looking for libnv must stay cheap, because ``nvlist_ffi``'s ``auto`` backend looks on the first
pack or unpack of every process, and most processes run where no libnv exists (every Linux
host). So each candidate is first opened with ``dlopen(3)`` through ctypes and checked for
libnv's symbols; only a file that has them costs cffi's import, and the declarations come
from the module the build step generated (``_libnv_build.py``, out-of-line ABI mode) unless
none was built, in which case they are parsed here (pycparser: tens of milliseconds). cffi's
own ``dlopen`` is never given a file that may be missing, because on failure it asks
``ctypes.util.find_library``, which runs ldconfig and a compiler in subprocesses.
"""

from __future__ import annotations

import errno as _errno
import importlib
import os
import threading
from dataclasses import dataclass
from typing import Any

from nvlist_ffi import _libnv_cdef
from nvlist_ffi.errors import NVListError
from nvlist_ffi.model import (
    NV_FLAG_PUBLIC_MASK,
    NV_TYPE_BINARY,
    NV_TYPE_BOOL,
    NV_TYPE_BOOL_ARRAY,
    NV_TYPE_NULL,
    NV_TYPE_NUMBER,
    NV_TYPE_NUMBER_ARRAY,
    NV_TYPE_NVLIST,
    NV_TYPE_NVLIST_ARRAY,
    NV_TYPE_STRING,
    NV_TYPE_STRING_ARRAY,
    TYPE_NAME,
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
    "DEFAULT_NAMES",
    "LIBNV_ENV",
    "Libnv",
    "LibnvInfo",
    "LibnvLoadError",
    "available",
    "info",
    "load",
    "open_library",
    "pack",
    "unpack",
]

LIBNV_ENV = "NVLIST_LIBNV"
"""Environment variable naming the libnv shared object to use (an explicit path)."""

DEFAULT_NAMES: tuple[str, ...] = ("libnv.so.1", "libnv.so.0")
"""Library names tried in order when ``$NVLIST_LIBNV`` is unset: FreeBSD 14+, then older."""

_EMPTY_LIST_LE = bytes.fromhex("6c" + "00" * 18)
_EMPTY_LIST_BE = bytes.fromhex("6c0080" + "00" * 16)


class LibnvLoadError(OSError):
    """libnv could not be found, or what was found is not a usable libnv."""


@dataclass(frozen=True)
class LibnvInfo:
    """Which library the binding uses; for diagnostics (``ovpnctl version``, bug reports)."""

    path: str
    prefix: str
    missing_optional: tuple[str, ...]


class _State:
    """Process-wide state: the FFI (declarations parsed once) and the default library, opened
    once per ``$NVLIST_LIBNV`` / ``DEFAULT_NAMES`` setting (failures are remembered too, so that
    ``available()`` stays cheap on machines without libnv)."""

    lock = threading.Lock()
    ffi: Any = None
    key: tuple[str, tuple[str, ...]] | None = None
    value: Libnv | LibnvLoadError | None = None


def _get_ffi() -> Any:
    with _State.lock:
        if _State.ffi is None:
            _State.ffi = _new_ffi()
        return _State.ffi


def _new_ffi() -> Any:
    """The FFI holding the declarations: the out-of-line module the build generated from them
    (``_libnv_build.py``; loads without pycparser), else one that parses them here."""
    try:
        return importlib.import_module(_libnv_cdef.abi_module_name()).ffi
    except ImportError:
        pass  # not built (source tree, editable install) or built for another cffi
    import cffi  # noqa: PLC0415 - only once a file with libnv's symbols was found

    ffi = cffi.FFI()
    ffi.cdef(_libnv_cdef.declarations())
    return ffi


def _libnv_error(number: int, what: str) -> NVListError:
    return NVListError(number, f"{what}: {os.strerror(number)}")


def _decode(raw: bytes) -> Name:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw


def _c_text(raw: bytes) -> str | CString:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return CString(raw)


def _encode(text: str | bytes) -> bytes:
    return text.encode() if isinstance(text, str) else bytes(text)


_Path = tuple[Any, "Name | int"] | None
"""Where a list sits, as a (parent path, name or array index) chain; None for the top."""


def _format_path(path: _Path) -> str:
    labels: list[str] = []
    while path is not None:
        path, label = path
        labels.append(f"[{label}]" if isinstance(label, int) else f"/{label!r}")
    return "".join(reversed(labels))


def _refuse_nul(raw: bytes, what: str) -> bytes:
    # A C string stops at its first NUL; libnv would silently store a shorter value.
    if b"\0" in raw:
        raise NVListError("EINVAL", f"{what} {raw!r} contains a NUL byte")
    return raw


class Libnv:
    """One loaded libnv: the resolved functions plus pack/unpack built on them."""

    def __init__(self, path: str, ffi: Any, lib: Any, libc: Any, prefix: str) -> None:
        self.path = path
        self.prefix = prefix
        self._ffi = ffi
        self._free = libc.free
        missing: list[str] = []
        # A symbol the library lacks: AttributeError from an FFI that parsed the declarations,
        # ffi.error from the generated out-of-line module's.
        absent = (AttributeError, getattr(ffi, "error", AttributeError))
        for name in _libnv_cdef.REQUIRED + _libnv_cdef.OPTIONAL:
            try:
                function = getattr(lib, prefix + name)
            except absent:
                if name in _libnv_cdef.REQUIRED:
                    raise LibnvLoadError(
                        _errno.ENOSYS,
                        f"{path} has no {prefix}{name}; it is not a usable FreeBSD libnv",
                    ) from None
                missing.append(prefix + name)
                function = None
            setattr(self, "_" + name, function)
        self.missing_optional = tuple(missing)
        self._self_test()

    # Resolved C functions (set in __init__; None for an absent optional one).
    _nvlist_create: Any
    _nvlist_destroy: Any
    _nvlist_error: Any
    _nvlist_flags: Any
    _nvlist_pack: Any
    _nvlist_unpack: Any
    _nvlist_next: Any
    _nvlist_add_null: Any
    _nvlist_add_bool: Any
    _nvlist_add_number: Any
    _nvlist_add_string: Any
    _nvlist_add_binary: Any
    _nvlist_move_nvlist: Any
    _nvlist_add_bool_array: Any
    _nvlist_add_number_array: Any
    _nvlist_add_string_array: Any
    _nvlist_add_nvlist_array: Any
    _cnvlist_get_bool: Any
    _cnvlist_get_number: Any
    _cnvlist_get_string: Any
    _cnvlist_get_nvlist: Any
    _cnvlist_get_binary: Any
    _cnvlist_get_bool_array: Any
    _cnvlist_get_number_array: Any
    _cnvlist_get_string_array: Any
    _cnvlist_get_nvlist_array: Any

    def _self_test(self) -> None:
        """Refuse a library that merely has the right symbol names: an empty list must pack to
        libnv's 19-byte header and unpack again."""
        try:
            packed = self.pack(NVList())
            self.unpack(packed)
        except NVListError as exc:
            raise LibnvLoadError(
                _errno.ENOEXEC, f"{self.path} failed the empty-nvlist self-test: {exc}"
            ) from None
        if packed not in (_EMPTY_LIST_LE, _EMPTY_LIST_BE):
            raise LibnvLoadError(
                _errno.ENOEXEC,
                f"{self.path} packs an empty nvlist as {packed.hex()}, not as libnv does",
            )

    def info(self) -> LibnvInfo:
        """Path, symbol prefix and absent optional functions of this library."""
        return LibnvInfo(self.path, self.prefix, self.missing_optional)

    def _optional(self, name: str) -> Any:
        function = getattr(self, "_" + name)
        if function is None:
            raise NVListError(
                "EOPNOTSUPP",
                f"{self.path} has no {self.prefix}{name} (array types need FreeBSD 12 or later)",
            )
        return function

    # -- NVList -> nvlist_t -> bytes ----------------------------------------------------------

    def pack(self, nvl: NVList) -> bytes:
        """``nvlist_pack`` of ``nvl`` as built with libnv's own ``nvlist_add_*`` calls."""
        ffi = self._ffi
        owned: set[Any] = set()
        try:
            top = self._build(nvl, owned)
            sizep = ffi.new("size_t *")
            ffi.errno = 0
            buf = self._nvlist_pack(top, sizep)
            if buf == ffi.NULL:
                raise _libnv_error(ffi.errno or _errno.ENOMEM, "libnv could not pack the nvlist")
            try:
                return bytes(ffi.buffer(buf, sizep[0]))
            finally:
                self._free(buf)
        finally:
            for handle in owned:
                self._nvlist_destroy(handle)

    def _create(self, flags: int, owned: set[Any]) -> Any:
        if type(flags) is not int or flags & ~NV_FLAG_PUBLIC_MASK:
            # nvlist_create() aborts on other flags; the model never holds them, but be sure.
            raise NVListError("EINVAL", f"nvlist flags {flags!r} are not a subset of 0x03")
        handle = self._nvlist_create(flags)
        if handle == self._ffi.NULL:
            raise _libnv_error(self._ffi.errno or _errno.ENOMEM, "nvlist_create failed")
        owned.add(handle)
        return handle

    def _check(self, handle: Any, path: _Path) -> None:
        error = self._nvlist_error(handle)
        if error:
            where = f" (in {_format_path(path)})" if path else ""
            raise _libnv_error(error, f"libnv refused to build the nvlist{where}")

    def _build(self, root: NVList, owned: set[Any]) -> Any:
        """Build ``root`` in C depth-first with an explicit stack; returns the top handle.

        Every handle we still own is in ``owned`` (the caller destroys them all); a child moved
        into its parent leaves the set because the parent now owns it.
        """
        ffi = self._ffi
        add_number = self._nvlist_add_number
        add_string = self._nvlist_add_string
        add_bool = self._nvlist_add_bool
        cnames: dict[Name, bytes] = {}
        top = self._create(root.flags, owned)
        # Frame: [handle, pairs, next position, completion, path]. Completion: None (top),
        # ("nvlist", parent, name), ("element", job, index) or ("array", job) for the frame
        # below an array's elements. Paths are (parent path, label) chains, formatted only
        # for an error message.
        stack: list[list[Any]] = [[top, root.items(), 0, None, None]]
        while stack:
            frame = stack[-1]
            handle, pairs, position = frame[0], frame[1], frame[2]
            if position == len(pairs):
                stack.pop()
                self._complete(frame, owned)
                continue
            frame[2] = position + 1
            name, value = pairs[position]
            cname = cnames.get(name)
            if cname is None:
                cname = cnames[name] = _refuse_nul(_encode(name), "name")
            kind = type(value)
            if kind is int:
                add_number(handle, cname, value)
            elif kind is str or kind is CString:
                add_string(handle, cname, _refuse_nul(_encode(value), "string"))
            elif kind is bool:
                add_bool(handle, cname, value)
            elif value is None:
                self._nvlist_add_null(handle, cname)
            elif kind is bytes:
                self._nvlist_add_binary(handle, cname, ffi.from_buffer(value), len(value))
            elif isinstance(value, NVList):
                child = self._create(value.flags, owned)
                path = (frame[4], name)
                stack.append([child, value.items(), 0, ("nvlist", handle, cname), path])
            elif isinstance(value, NVListArray):
                self._push_array(stack, (handle, cname, (frame[4], name)), value, owned)
            else:
                self._add_flat_array(handle, cname, value)
        return top

    def _complete(self, frame: list[Any], owned: set[Any]) -> None:
        handle, done, path = frame[0], frame[3], frame[4]
        if done is None:
            self._check(handle, path)
        elif done[0] == "nvlist":
            # Check both first: libnv's move into a list already in error leaves the value
            # alone, and a child in error would only hand its error to the parent.
            parent, cname = done[1], done[2]
            self._check(handle, path)
            self._check(parent, path)
            owned.discard(handle)
            self._nvlist_move_nvlist(parent, cname, handle)
        elif done[0] == "element":
            self._check(handle, path)
            done[1]["elements"][done[2]] = handle
        else:
            self._finish_array(done[1], owned)

    def _push_array(
        self,
        stack: list[list[Any]],
        target: tuple[Any, bytes, _Path],
        elements: NVListArray,
        owned: set[Any],
    ) -> None:
        """Queue an nvlist array: one frame per element, and below them the frame that adds
        the finished elements to ``target`` (parent handle, name, path for messages)."""
        parent, cname, path = target
        add = self._optional("nvlist_add_nvlist_array")
        job: dict[str, Any] = {
            "parent": parent,
            "name": cname,
            "elements": [None] * len(elements),
            "add": add,
        }
        # The finisher sits below the elements, so it runs after the last one completes.
        stack.append([None, (), 0, ("array", job), path])
        for index in range(len(elements) - 1, -1, -1):
            element = elements[index]
            child = self._create(element.flags, owned)
            stack.append([child, element.items(), 0, ("element", job, index), (path, index)])

    def _finish_array(self, job: dict[str, Any], owned: set[Any]) -> None:
        handles = job["elements"]
        array = self._ffi.new("nvlist_t *[]", handles)
        job["add"](job["parent"], job["name"], array, len(handles))
        # nvlist_add_nvlist_array copied them.
        for handle in handles:
            owned.discard(handle)
            self._nvlist_destroy(handle)

    def _add_flat_array(self, handle: Any, cname: bytes, value: Value) -> None:
        # Wrappers are plain lists: a caller may have appended anything since `add`
        # checked them, and cffi would raise its own OverflowError/TypeError for it.
        try:
            self._add_flat_array_checked(handle, cname, value)
        except (OverflowError, TypeError) as exc:
            raise NVListError(
                "EINVAL", f"array {cname.decode(errors='replace')!r} holds a bad element: {exc}"
            ) from None

    def _add_flat_array_checked(self, handle: Any, cname: bytes, value: Value) -> None:
        ffi = self._ffi
        if isinstance(value, NumberArray):
            add = self._optional("nvlist_add_number_array")
            add(handle, cname, ffi.new("uint64_t[]", value), len(value))
        elif isinstance(value, BoolArray):
            add = self._optional("nvlist_add_bool_array")
            raw = [int(item) for item in value]
            add(handle, cname, ffi.new("uint8_t[]", raw), len(raw))
        elif isinstance(value, StringArray):
            add = self._optional("nvlist_add_string_array")
            keep = [ffi.new("char[]", _refuse_nul(_encode(item), "string")) for item in value]
            add(handle, cname, ffi.new("char *[]", keep), len(keep))
        else:
            raise NVListError(
                "EINVAL", f"the libnv binding cannot add a value of type {type(value).__name__}"
            )

    # -- bytes -> nvlist_t -> NVList ----------------------------------------------------------

    def unpack(self, data: bytes | bytearray | memoryview, flags: int = 0) -> NVList:
        """``nvlist_unpack(data, len(data), flags)`` converted to an :class:`NVList`."""
        ffi = self._ffi
        if type(flags) is not int or flags & ~NV_FLAG_PUBLIC_MASK:
            # nvlist_unpack() aborts the process on any other flags.
            raise NVListError("EINVAL", f"unpack flags {flags!r} are not a subset of 0x03")
        try:
            raw = bytes(data)
        except TypeError:
            raise NVListError(
                "EINVAL", f"cannot unpack a {type(data).__name__}; bytes are needed"
            ) from None
        ffi.errno = 0
        top = self._nvlist_unpack(ffi.from_buffer(raw), len(raw), flags)
        if top == ffi.NULL:
            error = ffi.errno
            if error in (0, _errno.ENOENT):
                # Some rejections (a marker at top level) leave errno unset, or holding the
                # ENOENT of an internal lookup; neither is a verdict on the buffer.
                error = _errno.EINVAL
            raise _libnv_error(error, "libnv rejected the packed nvlist")
        try:
            return self._walk(top)
        finally:
            self._nvlist_destroy(top)

    def _walk(self, top: Any) -> NVList:
        """Convert a C nvlist tree depth-first with an explicit stack of cookie iterators."""
        ffi = self._ffi
        null = ffi.NULL
        next_pair = self._nvlist_next
        get_number = self._cnvlist_get_number
        get_string = self._cnvlist_get_string
        list_flags = self._nvlist_flags
        to_bytes = ffi.string
        typep = ffi.new("int *")
        sizep = ffi.new("size_t *")
        names: dict[bytes, Name] = {}
        # Cookie cells of finished frames, reused: allocating one per list costs more than
        # everything else done for a small list.
        spare: list[Any] = []

        def cookie_cell() -> Any:
            if spare:
                cell = spare.pop()
                cell[0] = null
                return cell
            return ffi.new("void **")

        root = NVList(flags=list_flags(top))
        # Frame: [C list, cookie, model, completion]; completion None (top),
        # ("nvlist", parent model, name) or ("element", slots, index). An nvlist array has a
        # frame of its own: [None, None, model, [parent model, name, C elements, slots, next]].
        stack: list[list[Any]] = [[top, ffi.new("void **"), root, None]]
        while stack:
            frame = stack[-1]
            model: NVList = frame[2]
            if frame[0] is None:
                array = frame[3]
                index = array[4]
                if index < len(array[3]):
                    array[4] = index + 1
                    element = array[2][index]
                    element_model = NVList(flags=list_flags(element))
                    completion = ("element", array[3], index)
                    stack.append([element, cookie_cell(), element_model, completion])
                else:
                    stack.pop()
                    array[0].add(array[1], NVListArray(array[3]))
                continue
            cookiep = frame[1]
            name_p = next_pair(frame[0], typep, cookiep)
            if name_p == null:
                stack.pop()
                spare.append(cookiep)
                done = frame[3]
                if done is None:
                    continue
                if done[0] == "nvlist":
                    model._owned = True  # a fresh list: adopting it needs no copy
                    done[1]._append_unchecked(done[2], model)
                else:
                    done[1][done[2]] = model
                continue
            raw_name = to_bytes(name_p)
            name = names.get(raw_name)
            if name is None:
                name = names[raw_name] = _decode(raw_name)
            cookie = cookiep[0]
            kind = typep[0]
            # Scalars come checked from libnv (name, value and uniqueness under the list's
            # flags): append them as they are. Nested lists and arrays still go through
            # `add`, which adopts children and builds the array wrappers.
            if kind == NV_TYPE_NUMBER:
                model._append_unchecked(name, int(get_number(cookie)))
            elif kind == NV_TYPE_NVLIST:
                child = self._cnvlist_get_nvlist(cookie)
                child_model = NVList(flags=list_flags(child))
                stack.append([child, cookie_cell(), child_model, ("nvlist", model, name)])
            elif kind == NV_TYPE_STRING:
                model._append_unchecked(name, _c_text(to_bytes(get_string(cookie))))
            elif kind == NV_TYPE_BOOL:
                model._append_unchecked(name, bool(self._cnvlist_get_bool(cookie)))
            elif kind == NV_TYPE_NULL:
                model._append_unchecked(name, None)
            elif kind == NV_TYPE_BINARY:
                data = self._cnvlist_get_binary(cookie, sizep)
                model.add(name, bytes(ffi.buffer(data, sizep[0])))
            elif kind == NV_TYPE_NVLIST_ARRAY:
                elements = self._optional("cnvlist_get_nvlist_array")(cookie, sizep)
                count = sizep[0]
                # One frame for the whole array; it enters the elements one at a time.
                stack.append([None, None, model, [model, name, elements, [None] * count, 0]])
            else:
                model.add(name, self._flat_array(kind, cookie, sizep))
        return root

    def _flat_array(self, kind: int, cookie: Any, sizep: Any) -> Value:
        ffi = self._ffi
        if kind == NV_TYPE_NUMBER_ARRAY:
            items = self._optional("cnvlist_get_number_array")(cookie, sizep)
            return NumberArray(ffi.unpack(items, sizep[0]))
        if kind == NV_TYPE_BOOL_ARRAY:
            items = self._optional("cnvlist_get_bool_array")(cookie, sizep)
            # Bytes other than 0/1 are kept as ints: libnv re-packs them unchanged.
            raw = bytes(ffi.buffer(items, sizep[0]))
            return BoolArray(byte if byte > 1 else bool(byte) for byte in raw)
        if kind == NV_TYPE_STRING_ARRAY:
            items = self._optional("cnvlist_get_string_array")(cookie, sizep)
            return StringArray(_c_text(ffi.string(items[i])) for i in range(sizep[0]))
        raise NVListError(
            "EOPNOTSUPP",
            f"libnv returned a {TYPE_NAME.get(kind, f'type {kind}')} pair, which a packed nvlist "
            "cannot carry",
        )


def _candidates() -> tuple[list[str], bool]:
    explicit = os.environ.get(LIBNV_ENV, "").strip()
    if explicit:
        return [explicit], True
    return list(DEFAULT_NAMES), False


def _locate(name: str) -> str:
    """The file ``dlopen(3)`` is given for ``name``.

    A name with a dot or a slash is a file name, opened as is. A bare library name (``"nv"``,
    only ever given explicitly) is resolved by ``ctypes.util.find_library`` as cffi and ctypes
    resolve one; that runs subprocesses, which is why the default names are file names.
    """
    if "." in name or "/" in name or os.sep in name:
        return name
    import ctypes.util  # noqa: PLC0415 - only for an explicit bare name

    found = ctypes.util.find_library(name)
    if found is None:
        raise OSError(_errno.ENOENT, f"ctypes.util.find_library finds no library called {name!r}")
    return found


def _probe(file: str) -> tuple[Any, str]:
    """Open ``file`` with ``dlopen(3)`` alone and find libnv's symbol prefix in it.

    Returns a ctypes handle (which keeps the file loaded while cffi opens it again) and the
    prefix; raises OSError carrying ``dlerror()``'s text or saying which symbols are missing.
    Nothing here parses declarations, so a miss costs one ``dlopen``.
    """
    import ctypes  # noqa: PLC0415 - not needed until something is looked for

    handle = ctypes.CDLL(file)
    for prefix in _libnv_cdef.PREFIXES:
        if hasattr(handle, prefix + "nvlist_create"):
            return handle, prefix
    tried = " or ".join(f"{prefix}nvlist_create" for prefix in _libnv_cdef.PREFIXES)
    raise OSError(_errno.ENOEXEC, f"has neither {tried}")


def open_library(path: str | None = None) -> Libnv:
    """Open and check a libnv: ``path`` if given, else ``$NVLIST_LIBNV``, else the default names.

    Not cached (see :func:`load` for the process-wide instance). Raises :class:`LibnvLoadError`
    naming every file tried and why each failed.
    """
    if path is not None:
        names, explicit = [path], True
    else:
        names, explicit = _candidates()
    failures: list[str] = []
    for name in names:
        try:
            file = _locate(name)
            handle, prefix = _probe(file)
            ffi = _get_ffi()
            lib = ffi.dlopen(file)  # loaded already, so cffi finds it without a search
        except OSError as exc:
            failures.append(f"{name} ({exc.strerror or exc})")
            continue
        del handle  # cffi holds its own reference to the library now
        return Libnv(name, ffi, lib, ffi.dlopen(None), prefix)
    source = f" (from ${LIBNV_ENV})" if explicit and path is None else ""
    raise LibnvLoadError(_errno.ENOENT, f"no usable libnv{source}; tried " + "; ".join(failures))


def _default() -> Libnv:
    key = (os.environ.get(LIBNV_ENV, "").strip(), DEFAULT_NAMES)
    with _State.lock:
        cached = _State.value if key == _State.key else None
    if cached is None:
        try:
            cached = open_library()
        except LibnvLoadError as exc:
            cached = exc
        with _State.lock:
            _State.key, _State.value = key, cached
    value = cached
    if isinstance(value, LibnvLoadError):
        raise LibnvLoadError(value.errno, value.strerror)
    return value


def load() -> None:
    """Make sure libnv is loaded; raises :class:`LibnvLoadError` (an OSError) saying what was
    tried when it cannot be."""
    _default()


def available() -> bool:
    """Whether libnv can be used. Never raises."""
    try:
        _default()
    except Exception:
        return False
    return True


def info() -> LibnvInfo:
    """Which libnv is in use (loads it first)."""
    return _default().info()


def pack(nvl: NVList) -> bytes:
    """Pack ``nvl`` with the system libnv: ``nvlist_create``, ``nvlist_add_*``, ``nvlist_pack``."""
    return _default().pack(nvl)


def unpack(data: bytes | bytearray | memoryview, flags: int = 0) -> NVList:
    """Unpack with the system libnv's ``nvlist_unpack``; raises NVListError only (once loaded)."""
    return _default().unpack(data, flags)
