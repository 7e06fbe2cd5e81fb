"""The nvlist data model: an ordered, typed list of name/value pairs that libnv can pack.

Why it looks the way it does:

* Pairs are kept as two parallel lists (names, values) instead of pair objects, because decoding a
  10,000-peer statistics reply creates ~70,000 pairs and per-pair objects would dominate the cost.
  The libnv type of a value is implied by its exact Python type (see ``TYPE_CODE``), so no type
  field is stored either.
* Everything libnv refuses (empty binaries and arrays, over-long names, embedded NULs, numbers out
  of range, duplicates without ``NV_FLAG_NO_UNIQUE``) is refused by :meth:`NVList.add` with the
  errno name libnv records, so a list that exists can always be packed.
* An NVList lives in at most one parent. Adding a list that has no parent moves it in (libnv's
  ``nvlist_move_nvlist``); adding one that already has a parent, or that would make a cycle, adds
  a deep copy (``nvlist_add_nvlist``). So the structure is always a tree and every walk over it
  (equality, repr, pack, typed JSON) can be an explicit-stack loop: depth is bounded only by
  memory, never by Python's recursion limit.
* Names are ``str`` when their bytes are UTF-8 and ``bytes`` otherwise; string values are ``str``
  or :class:`CString` likewise. Normalising at the door makes equality the same as libnv's
  byte-wise equality.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TypeAlias, overload

from nvlist_ffi.errors import NVListError

__all__ = [
    "NV_FLAG_IGNORE_CASE",
    "NV_FLAG_NO_UNIQUE",
    "NV_FLAG_PUBLIC_MASK",
    "NV_NAME_MAX",
    "TYPE_CODE",
    "TYPE_NAME",
    "BoolArray",
    "CString",
    "NVList",
    "NVListArray",
    "Name",
    "NumberArray",
    "StringArray",
    "Value",
]

NV_FLAG_IGNORE_CASE = 0x01
NV_FLAG_NO_UNIQUE = 0x02
NV_FLAG_PUBLIC_MASK = 0x03
NV_NAME_MAX = 2048
"""Bytes a name may occupy on the wire including its NUL; so at most 2047 name bytes."""

NUMBER_MAX = 2**64 - 1

NV_TYPE_NULL = 1
NV_TYPE_BOOL = 2
NV_TYPE_NUMBER = 3
NV_TYPE_STRING = 4
NV_TYPE_NVLIST = 5
NV_TYPE_DESCRIPTOR = 6
NV_TYPE_BINARY = 7
NV_TYPE_BOOL_ARRAY = 8
NV_TYPE_NUMBER_ARRAY = 9
NV_TYPE_STRING_ARRAY = 10
NV_TYPE_NVLIST_ARRAY = 11
NV_TYPE_DESCRIPTOR_ARRAY = 12
NV_TYPE_NVLIST_ARRAY_NEXT = 254
NV_TYPE_NVLIST_UP = 255

TYPE_NAME: dict[int, str] = {
    NV_TYPE_NULL: "null",
    NV_TYPE_BOOL: "bool",
    NV_TYPE_NUMBER: "number",
    NV_TYPE_STRING: "string",
    NV_TYPE_NVLIST: "nvlist",
    NV_TYPE_DESCRIPTOR: "descriptor",
    NV_TYPE_BINARY: "binary",
    NV_TYPE_BOOL_ARRAY: "bool_array",
    NV_TYPE_NUMBER_ARRAY: "number_array",
    NV_TYPE_STRING_ARRAY: "string_array",
    NV_TYPE_NVLIST_ARRAY: "nvlist_array",
    NV_TYPE_DESCRIPTOR_ARRAY: "descriptor_array",
}
"""libnv type code -> the type name used by libnv, the golden typed JSON and ``type_of``."""


class CString(bytes):
    """A string value (or string-array element) whose bytes are not valid UTF-8.

    libnv strings are NUL-terminated byte strings; most are UTF-8 and become ``str``. The rest keep
    their bytes in this ``bytes`` subclass so that they stay distinct from binary values.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"CString({bytes.__repr__(self)})"


class BoolArray(list[bool | int]):
    """libnv bool array. Elements are ``bool``; an ``int`` 2..255 keeps a raw byte that libnv
    accepted on unpack (libnv does not range-check bool-array bytes and re-packs them unchanged)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"BoolArray({list.__repr__(self)})"


class NumberArray(list[int]):
    """libnv number array: unsigned 64-bit integers."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"NumberArray({list.__repr__(self)})"


class StringArray(list["str | CString"]):
    """libnv string array: ``str`` elements, or :class:`CString` for non-UTF-8 ones."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"StringArray({list.__repr__(self)})"


class NVListArray(list["NVList"]):
    """libnv nvlist array."""

    __slots__ = ()

    def __repr__(self) -> str:
        return _repr_tree(self)


Name: TypeAlias = str | bytes
_AnyMapping: TypeAlias = "Mapping[str, object] | Mapping[bytes, object] | Mapping[Name, object]"
Value: TypeAlias = (
    "bool | int | str | CString | bytes | NVList | BoolArray | NumberArray | StringArray"
    " | NVListArray | None"
)

TYPE_CODE: dict[type, int] = {
    type(None): NV_TYPE_NULL,
    bool: NV_TYPE_BOOL,
    int: NV_TYPE_NUMBER,
    str: NV_TYPE_STRING,
    CString: NV_TYPE_STRING,
    bytes: NV_TYPE_BINARY,
    BoolArray: NV_TYPE_BOOL_ARRAY,
    NumberArray: NV_TYPE_NUMBER_ARRAY,
    StringArray: NV_TYPE_STRING_ARRAY,
    NVListArray: NV_TYPE_NVLIST_ARRAY,
}
"""Exact Python type of a stored value -> libnv type code (NVList is added below its class)."""

_ARRAY_TYPES = (BoolArray, NumberArray, StringArray, NVListArray)

# Validated names -> their wire bytes including the NUL. Shared with the codec so that packing a
# name that has been added or decoded before costs one dict lookup. Bounded: cleared when full.
NAME_BYTES: dict[Name, bytes] = {}
_NAME_CACHE_MAX = 4096


def _einval(message: str) -> NVListError:
    return NVListError("EINVAL", message)


def name_bytes(name: object) -> tuple[Name, bytes]:
    """Validate a pair name; return (normalised name, wire bytes with NUL)."""
    if type(name) is str:
        cached = NAME_BYTES.get(name)
        if cached is not None:
            return name, cached
        try:
            raw = name.encode()
        except UnicodeEncodeError:
            raise _einval(f"name {name!r} cannot be encoded as UTF-8") from None
        norm: Name = name
    elif isinstance(name, bytes | bytearray | memoryview):
        raw = bytes(name)
        try:
            norm = raw.decode()
        except UnicodeDecodeError:
            norm = raw
    elif isinstance(name, str):
        return name_bytes(str.__str__(name))
    else:
        raise _einval(f"a name must be str or bytes, not {type(name).__name__}")
    if b"\0" in raw:
        raise _einval(f"name {norm!r} contains a NUL byte")
    if len(raw) >= NV_NAME_MAX:
        raise NVListError(
            "ENAMETOOLONG", f"name of {len(raw)} bytes is too long (libnv allows at most 2047)"
        )
    wire = raw + b"\0"
    if len(NAME_BYTES) >= _NAME_CACHE_MAX:
        NAME_BYTES.clear()
    NAME_BYTES[norm] = wire
    return norm, wire


def fold_name(name: Name) -> Name:
    """Case-fold a name the way strcasecmp() does in the C locale: ASCII letters only."""
    if type(name) is str:
        return name.lower() if name.isascii() else name.encode().lower().decode()
    return name.lower()


def c_string(value: str | bytes) -> str | CString:
    """Normalise a C string value: ``str`` when UTF-8, else :class:`CString`; refuse NULs."""
    if isinstance(value, str):
        if "\0" in value:
            raise _einval("string contains a NUL byte")
        try:
            value.encode()
        except UnicodeEncodeError:
            raise _einval(f"string {value!r} cannot be encoded as UTF-8") from None
        return value if type(value) is str else str.__str__(value)
    raw = bytes(value)
    if b"\0" in raw:
        raise _einval("string contains a NUL byte")
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return CString(raw)


def _number(value: int) -> int:
    value = int(value)
    if not 0 <= value <= NUMBER_MAX:
        raise _einval(f"number {value} is outside 0..2**64-1")
    return value


def _bool_element(value: object) -> bool | int:
    if type(value) is bool:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if value in (0, 1):
            return bool(value)
        if 2 <= value <= 255:
            return int(value)
    raise _einval(f"bool array element {value!r} is neither a bool nor a raw byte 0..255")


def _array_kind(items: list[object] | tuple[object, ...]) -> type:
    if all(type(x) is bool for x in items):
        return BoolArray
    if all(isinstance(x, int) and not isinstance(x, bool) for x in items):
        return NumberArray
    if all(isinstance(x, str | bytes) for x in items):
        return StringArray
    if all(isinstance(x, NVList) for x in items):
        return NVListArray
    raise _einval("a list value must hold only bools, only ints, only strs or only NVLists")


class NVList:
    """An ordered libnv name/value list (see the module docstring for the design)."""

    __slots__ = ("__weakref__", "_flags", "_index", "_names", "_owned", "_values", "_wire")

    _names: list[Name]
    _values: list[Value]
    _flags: int
    _index: dict[Name, int] | None
    _owned: bool
    _wire: dict[int, int] | None

    def __init__(
        self,
        items: Iterable[tuple[Name, object]] | _AnyMapping | NVList | None = None,
        flags: int = 0,
    ) -> None:
        if type(flags) is not int or flags & ~NV_FLAG_PUBLIC_MASK:
            raise _einval(f"nvlist flags must be a combination of 0x01 and 0x02, not {flags!r}")
        self._names = []
        self._values = []
        self._flags = flags
        self._index = None
        self._owned = False
        # Pair index -> the raw nitems (scalars, nvlists) or datasize (nvlist arrays) read from a
        # buffer where libnv would carry a non-canonical value through to its repack.
        self._wire = None
        if items is None:
            return
        pairs: Iterable[tuple[Name, object]] = (
            items.items() if isinstance(items, NVList | Mapping) else items
        )
        for name, value in pairs:
            self.add(name, value)

    # -- building -------------------------------------------------------------------------------

    def add(self, name: Name, value: object) -> None:
        """Append a pair, refusing what libnv would refuse (errno names as libnv records them)."""
        stored, adopt = self._coerce(value)
        norm, _ = name_bytes(name)
        flags = self._flags
        key = fold_name(norm) if flags & NV_FLAG_IGNORE_CASE else norm
        index = self._index
        position = len(self._names)
        if not flags & NV_FLAG_NO_UNIQUE:
            if index is None:
                index = self._build_index()
            if key in index:
                raise NVListError("EEXIST", f"name {norm!r} already exists in the nvlist")
            index[key] = position
        elif index is not None and key not in index:
            index[key] = position
        for child in adopt:
            child._owned = True
        self._names.append(norm)
        self._values.append(stored)

    def _append_unchecked(self, name: Name, value: Value) -> None:
        """Append a pair a libnv unpack produced: the name is already normalised and
        valid, the value already in stored form, and uniqueness already enforced by libnv
        under this list's flags. Skips `add`'s checks (most of the binding's conversion
        time), but keeps an index that an earlier `add` built up to date."""
        index = self._index
        if index is not None:
            key = fold_name(name) if self._flags & NV_FLAG_IGNORE_CASE else name
            index.setdefault(key, len(self._names))
        self._names.append(name)
        self._values.append(value)

    def _coerce(self, value: object) -> tuple[Value, list[NVList]]:
        kind = type(value)
        if kind is int:
            return _number(value), []  # type: ignore[arg-type]
        if value is None or kind is bool:
            return value, []  # type: ignore[return-value]
        if kind is str or kind is CString:
            return c_string(value), []  # type: ignore[arg-type]
        if isinstance(value, NVList):
            child = self._adoptable(value)
            return child, [child]
        if isinstance(value, bytes | bytearray | memoryview) and not isinstance(value, CString):
            raw = bytes(value)
            if not raw:
                raise _einval("an empty binary value cannot be packed by libnv")
            return raw, []
        if isinstance(value, int):
            return _number(value), []
        if isinstance(value, str):
            return c_string(value), []
        if isinstance(value, list | tuple):
            if not value:
                raise _einval("an empty array cannot be packed by libnv")
            array_type = type(value) if isinstance(value, _ARRAY_TYPES) else _array_kind(value)
            return self._coerce_array(array_type, value)
        raise _einval(f"values of type {kind.__name__} cannot be stored in an nvlist")

    def _coerce_array(
        self, array_type: type, items: list[object] | tuple[object, ...]
    ) -> tuple[Value, list[NVList]]:
        if not items:
            raise _einval("an empty array cannot be packed by libnv")
        if array_type is BoolArray:
            return BoolArray(_bool_element(x) for x in items), []
        if array_type is NumberArray:
            for x in items:
                if not isinstance(x, int):
                    raise _einval(f"number array element {x!r} is not an int")
            return NumberArray(_number(x) for x in items), []  # type: ignore[arg-type]
        if array_type is StringArray:
            out = StringArray()
            for x in items:
                if not isinstance(x, str | bytes):
                    raise _einval(f"string array element {x!r} is not a string")
                out.append(c_string(x))
            return out, []
        elements = NVListArray()
        seen: set[int] = set()
        for x in items:
            if not isinstance(x, NVList):
                raise _einval(f"nvlist array element {x!r} is not an NVList")
            child = x.copy() if id(x) in seen else self._adoptable(x)
            seen.add(id(child))
            elements.append(child)
        return elements, list(elements)

    def _adoptable(self, child: NVList) -> NVList:
        """The list to store for ``child``: itself if it is free, else a copy (no sharing, no
        cycles)."""
        if child._owned or child is self or (self._owned and _reaches(child, self)):
            return child.copy()
        return child

    def _build_index(self) -> dict[Name, int]:
        index: dict[Name, int] = {}
        if self._flags & NV_FLAG_IGNORE_CASE:
            for position, name in enumerate(self._names):
                index.setdefault(fold_name(name), position)
        else:
            for position, name in enumerate(self._names):
                index.setdefault(name, position)
        self._index = index
        return index

    def _key(self, name: object) -> Name | None:
        if type(name) is not str:
            if isinstance(name, bytes | bytearray | memoryview):
                raw = bytes(name)
                try:
                    name = raw.decode()
                except UnicodeDecodeError:
                    name = raw
            elif isinstance(name, str):
                name = str.__str__(name)
            else:
                return None
        if self._flags & NV_FLAG_IGNORE_CASE:
            try:
                return fold_name(name)
            except UnicodeEncodeError:
                return None
        return name

    def copy(self) -> NVList:
        """Deep copy (arrays and nested lists copied, immutable values shared)."""
        root = NVList(flags=self._flags)
        stack: list[tuple[NVList, NVList]] = [(self, root)]
        while stack:
            source, target = stack.pop()
            values: list[Value] = []
            for value in source._values:
                kind = type(value)
                if kind is NVList:
                    child = _blank(value._flags)  # type: ignore[union-attr]
                    stack.append((value, child))  # type: ignore[arg-type]
                    values.append(child)
                elif kind is NVListArray:
                    elements = NVListArray()
                    for element in value:  # type: ignore[union-attr]
                        child = _blank(element._flags)  # type: ignore[union-attr]
                        stack.append((element, child))  # type: ignore[arg-type]
                        elements.append(child)
                    values.append(elements)
                elif kind in _ARRAY_TYPES:
                    values.append(kind(value))  # type: ignore[arg-type]
                else:
                    values.append(value)
            target._names = list(source._names)
            target._values = values
            target._index = None if source._index is None else dict(source._index)
            target._wire = None if source._wire is None else dict(source._wire)
        return root

    def __copy__(self) -> NVList:
        return self.copy()

    def __deepcopy__(self, memo: dict[int, object]) -> NVList:
        return self.copy()

    # -- reading --------------------------------------------------------------------------------

    @property
    def flags(self) -> int:
        """``NV_FLAG_IGNORE_CASE`` / ``NV_FLAG_NO_UNIQUE`` bits of this list."""
        return self._flags

    def __getitem__(self, name: Name) -> Value:
        key = self._key(name)
        index = self._index if self._index is not None else self._build_index()
        position = index.get(key) if key is not None else None
        if position is None:
            raise KeyError(name)
        return self._values[position]

    @overload
    def get(self, name: Name) -> Value: ...
    @overload
    def get(self, name: Name, default: object) -> object: ...
    def get(self, name: Name, default: object = None) -> object:
        """First value called ``name`` (case-insensitively with IGNORE_CASE), else ``default``."""
        try:
            return self[name]
        except KeyError:
            return default

    def get_all(self, name: Name) -> list[Value]:
        """Every value called ``name``, in order (more than one only with NO_UNIQUE)."""
        key = self._key(name)
        if key is None:
            return []
        if self._flags & NV_FLAG_IGNORE_CASE:
            return [v for n, v in self.items() if fold_name(n) == key]
        return [v for n, v in self.items() if n == key]

    def __contains__(self, name: object) -> bool:
        key = self._key(name)
        if key is None:
            return False
        index = self._index if self._index is not None else self._build_index()
        return key in index

    def type_of(self, name: Name) -> str | None:
        """libnv type name of the first pair called ``name``, or None when absent."""
        try:
            value = self[name]
        except KeyError:
            return None
        return TYPE_NAME[type_code(value)]

    def items(self) -> list[tuple[Name, Value]]:
        """All pairs in order, duplicates included."""
        return list(zip(self._names, self._values, strict=True))

    def names(self) -> list[Name]:
        """All names in order, duplicates included."""
        return list(self._names)

    keys = names

    def values(self) -> list[Value]:
        """All values in order."""
        return list(self._values)

    def __iter__(self) -> Iterator[Name]:
        return iter(list(self._names))

    def __len__(self) -> int:
        return len(self._names)

    def __bool__(self) -> bool:
        return True

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NVList):
            return NotImplemented
        stack: list[tuple[NVList, NVList]] = [(self, other)]
        while stack:
            a, b = stack.pop()
            if a is b:
                continue
            if a._flags != b._flags or a._names != b._names:
                return False
            for x, y in zip(a._values, b._values, strict=True):
                kind = type(x)
                if kind is not type(y):
                    return False
                if kind is NVList:
                    stack.append((x, y))  # type: ignore[arg-type]
                elif isinstance(x, NVListArray) and isinstance(y, NVListArray):
                    if len(x) != len(y):
                        return False
                    stack.extend(zip(x, y, strict=True))
                elif x != y:
                    return False
        return True

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return _repr_tree(self)


TYPE_CODE[NVList] = NV_TYPE_NVLIST


def type_code(value: object) -> int:
    """libnv type code of a stored value."""
    code = TYPE_CODE.get(type(value))
    if code is not None:
        return code
    if isinstance(value, NVList):
        return NV_TYPE_NVLIST
    raise _einval(f"values of type {type(value).__name__} cannot be stored in an nvlist")


def _blank(flags: int) -> NVList:
    """An empty list already marked as having a parent (for copy and decode)."""
    nvl = NVList.__new__(NVList)
    nvl._names = []
    nvl._values = []
    nvl._flags = flags
    nvl._index = None
    nvl._owned = True
    nvl._wire = None
    return nvl


def _reaches(start: NVList, target: NVList) -> bool:
    """Whether ``target`` is ``start`` or lies anywhere inside it."""
    stack = [start]
    while stack:
        nvl = stack.pop()
        if nvl is target:
            return True
        for value in nvl._values:
            if isinstance(value, NVList):
                stack.append(value)
            elif type(value) is NVListArray:
                stack.extend(value)
    return False


def _repr_tree(root: NVList | NVListArray) -> str:
    parts: list[str] = []
    stack: list[object] = [root]
    while stack:
        item = stack.pop()
        if type(item) is str:
            parts.append(item)
        elif isinstance(item, NVList):
            parts.append("NVList([")
            stack.append(f"], flags={item._flags})" if item._flags else "])")
            for position in range(len(item._names) - 1, -1, -1):
                value = item._values[position]
                stack.append(")")
                if isinstance(value, NVList | NVListArray):
                    stack.append(value)
                else:
                    stack.append(repr(value))
                lead = ", (" if position else "("
                stack.append(f"{lead}{item._names[position]!r}, ")
        elif isinstance(item, NVListArray):
            parts.append("NVListArray([")
            stack.append("])")
            for position in range(len(item) - 1, -1, -1):
                stack.append(item[position])
                if position:
                    stack.append(", ")
        else:
            parts.append(repr(item))
    return "".join(parts)
