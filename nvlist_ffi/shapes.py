"""Compiled layouts of recurring nvlist shapes: one struct call instead of one per pair.

Kernel traffic repeats itself. Every element of an OVPN_GET_PEER_STATS reply has the same names,
types and sizes; every OVPN_NEW_KEY request for one cipher is laid out identically. A *shape* is
the canonical encoding of such a structure with the varying parts (numbers, string and binary
contents, and, for array elements, the position-dependent header size fields) cut out. With it, a
region is decoded by one ``struct`` call for the fixed bytes (compared with the expected bytes),
one for the varying fields, and a short loop per list; encoding is one ``struct.pack``.

Shapes only ever *accept less* than the general codec: a region matches only when every fixed byte
equals the canonical encoding (so odd header fields, markers and version bytes never match), and
every varying field passes the same validity checks the decoder applies. A region that matches
therefore decodes to exactly what the general decoder would produce; anything else takes the
general path. Shapes are compiled from lists that are free of carried-through header fields
(``_wire``) and whose names are unique where their flags demand it. The fuzz and property tests
hold the shaped paths to the general ones.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from operator import itemgetter
from typing import Any

from nvlist_ffi.model import (
    NAME_BYTES,
    NV_FLAG_IGNORE_CASE,
    NV_FLAG_NO_UNIQUE,
    TYPE_CODE,
    BoolArray,
    CString,
    Name,
    NumberArray,
    NVList,
    NVListArray,
    StringArray,
    fold_name,
    name_bytes,
)
from nvlist_ffi.wire import HEADER_SIZE, MARKER_NEXT, MARKER_SIZE

__all__ = ["MAX_SHAPE_BYTES", "Shape", "compile_shape"]

# Kinds of cut-out (varying) fields.
_NUMBER = 3
_NULL = 1
_BOOL = 2
_STRING = 4
_BINARY = 7
_BOOL_ARRAY = 8
_NUMBER_ARRAY = 9
_STRING_ARRAY = 10
_LIST_ARRAY = 11  # pack-time length check only: an nvlist array's element count
_SIZE = 100  # a list header's "bytes to the end" field in a relative (array element) shape
_CONST = -1

# How a build step gathers its values from the pool (see Shape._build).
_EMPTY, _SLICE, _PICK, _ONE = range(4)

_ARRAY_REF = 1 << 30
"""Recipe entries >= this refer to an nvlist array (index - _ARRAY_REF in ``arrays``)."""

_BOOL_ELEMENT: tuple[bool | int, ...] = (False, True, *range(2, 256))

MAX_SHAPE_BYTES = 1 << 14
"""Whole-buffer shapes are for requests and small replies; large replies use element shapes."""


class Shape:
    """A compiled canonical layout (see the module docstring)."""

    __slots__ = (
        "args_template",
        "const_expected",
        "const_iter",
        "const_reader",
        "conversions",
        "length",
        "plan",
        "sizes",
        "steps",
        "var_iter",
        "var_reader",
        "writer",
    )

    length: int
    const_reader: Callable[[bytes, int], tuple[Any, ...]]
    const_expected: tuple[Any, ...]
    var_reader: Callable[[bytes, int], tuple[Any, ...]]
    var_iter: Callable[[Any], Any]
    const_iter: Callable[[Any], Any]
    sizes: tuple[tuple[int, int], ...]
    conversions: tuple[tuple[int, int, int], ...]
    steps: tuple[tuple[int, tuple[Name, ...] | None, int, Any], ...]
    writer: Callable[..., bytes] | None
    args_template: list[Any]
    plan: tuple[tuple[Any, ...], ...]

    # -- decoding ---------------------------------------------------------------------------------

    def decode(self, buf: bytes, offset: int, end: int, owned: bool) -> NVList | None:
        """The list encoded at ``offset`` if the region matches this shape, else None."""
        room = end - offset
        # Whole-buffer shapes (the ones with a packing plan) must span exactly the rest.
        if room < self.length or (room != self.length and self.plan):
            return None
        if self.const_reader(buf, offset) != self.const_expected:
            return None
        return self._build(self.var_reader(buf, offset), offset, end, owned)

    def decode_run(self, buf: bytes, offset: int, count: int, end: int) -> list[NVList]:
        """Decode up to ``count`` consecutive regions from ``offset``; stops at the first miss."""
        length = self.length
        count = min(count, (end - offset) // length)
        if count <= 0:
            return []
        view = memoryview(buf)[offset : offset + count * length]
        out: list[NVList] = []
        expected = self.const_expected
        build = self._build
        position = offset
        for fixed, varying in zip(self.const_iter(view), self.var_iter(view), strict=True):
            if fixed != expected:
                break
            nvl = build(varying, position, end, True)
            if nvl is None:
                break
            out.append(nvl)
            position += length
        return out

    def _build(self, values: tuple[Any, ...], offset: int, end: int, owned: bool) -> NVList | None:
        for index, after_header in self.sizes:
            if values[index] != end - offset - after_header:
                return None
        pool: list[Any] = list(values)
        if self.conversions:
            for index, kind, count in self.conversions:
                raw = pool[index]
                if kind == _STRING:
                    if raw.find(0) != len(raw) - 1:
                        return None
                    try:
                        pool[index] = raw[:-1].decode()
                    except UnicodeDecodeError:
                        pool[index] = CString(raw[:-1])
                elif kind == _BOOL:
                    if raw > 1:
                        return None
                    pool[index] = raw == 1
                elif kind == _NULL:
                    pool[index] = None
                elif kind == _BOOL_ARRAY:
                    table = _BOOL_ELEMENT
                    pool[index] = BoolArray([table[b] for b in raw])
                elif kind == _NUMBER_ARRAY:
                    pool[index] = NumberArray(struct.unpack(f"<{count}Q", raw))
                else:  # _STRING_ARRAY
                    if raw[-1] != 0 or raw.count(0) != count:
                        return None
                    pool[index] = StringArray([_c_string(s) for s in raw[:-1].split(b"\0")])
        new = NVList.__new__
        append = pool.append
        for flags, names, mode, source in self.steps:
            if mode == _SLICE:
                items = pool[source]
            elif mode == _PICK:
                items = list(source(pool))
            elif mode == _ONE:
                items = [pool[source]]
            else:
                items = []
            if names is None:
                append(NVListArray(items))
                continue
            nvl = new(NVList)
            nvl._names = list(names)
            nvl._values = items
            nvl._flags = flags
            nvl._index = None
            nvl._owned = True
            nvl._wire = None
            append(nvl)
        top: NVList = pool[-1]
        top._owned = owned
        return top

    # -- encoding ---------------------------------------------------------------------------------

    def encode(self, top: NVList) -> bytes | None:
        """Packed bytes of ``top`` if it has exactly this shape, else None."""
        writer = self.writer
        if writer is None:
            return None
        args = self.args_template.copy()
        seen: list[NVList] = []
        for parent, position, element, flags, names, types, numbers, sized, others in self.plan:
            if parent < 0:
                nvl = top
            else:
                holder: Any = seen[parent]._values[position]
                nvl = holder if element < 0 else holder[element]
            if nvl._flags != flags or nvl._names != names or nvl._wire is not None:
                return None
            values: list[Any] = nvl._values
            if tuple(map(type, values)) != types:
                return None
            for position_in_list, slot in numbers:
                args[slot] = values[position_in_list]
            for position_in_list, slot, width in sized:
                value = values[position_in_list]
                if type(value) is str:
                    value = value.encode()
                    if len(value) != width - 1:
                        return None
                elif len(value) != width:
                    return None
                args[slot] = value
            for position_in_list, kind, slot, width, count in others:
                value = values[position_in_list]
                if kind == _STRING:  # a CString
                    data = bytes(value)
                    if len(data) != width - 1:
                        return None
                    args[slot] = data
                elif kind == _LIST_ARRAY:
                    if len(value) != count:
                        return None
                elif kind == _BOOL_ARRAY:
                    data = bytes(value)
                    if len(data) != width:
                        return None
                    args[slot] = data
                elif kind == _NUMBER_ARRAY:
                    if len(value) != count:
                        return None
                    args[slot] = struct.pack(f"<{count}Q", *value)
                elif kind == _STRING_ARRAY:
                    data = b"".join(
                        (s.encode() if type(s) is str else bytes(s)) + b"\0" for s in value
                    )
                    if len(data) != width or data.count(0) != count or len(value) != count:
                        return None
                    args[slot] = data
            seen.append(nvl)
        try:
            return writer(*args)
        except (struct.error, TypeError, OverflowError):
            return None


def _steps(
    lists: list[tuple[int, tuple[Name, ...], list[int]]],
    arrays: list[list[int]],
    variables: int,
) -> tuple[tuple[int, tuple[Name, ...] | None, int, Any], ...]:
    """Turn post-order lists into build steps over one pool: the varying values first, then
    each built list (and each nvlist array, right after its last element) in order."""
    closes_array = {members[-1]: number for number, members in enumerate(arrays)}
    pool_of_list: dict[int, int] = {}
    pool_of_array: dict[int, int] = {}
    steps: list[tuple[int, tuple[Name, ...] | None, int, Any]] = []
    for number, (flags, names, recipe) in enumerate(lists):
        refs = [
            r if r >= 0 else pool_of_list[~r] if r > -_ARRAY_REF else pool_of_array[-r - _ARRAY_REF]
            for r in recipe
        ]
        steps.append((flags, names, *_gather(refs)))
        pool_of_list[number] = variables + len(steps) - 1
        if number in closes_array:
            array = closes_array[number]
            steps.append((0, None, *_gather([pool_of_list[m] for m in arrays[array]])))
            pool_of_array[array] = variables + len(steps) - 1
    return tuple(steps)


def _gather(refs: list[int]) -> tuple[int, Any]:
    if not refs:
        return _EMPTY, None
    if refs == list(range(refs[0], refs[0] + len(refs))):
        return _SLICE, slice(refs[0], refs[-1] + 1)
    if len(refs) == 1:
        return _ONE, refs[0]
    return _PICK, itemgetter(*refs)


def _plan_entry(entry: tuple[Any, ...], slot_of_var: dict[int, int]) -> tuple[Any, ...]:
    """Split a list's value checks by kind so encoding handles the common kinds in tight loops."""
    parent, position, element, flags, names, types, checks = entry
    numbers = []
    sized = []
    others = []
    for index, kind, var, width, count in checks:
        slot = slot_of_var.get(var, -1)
        if kind in (_NUMBER, _BOOL):
            numbers.append((index, slot))
        elif kind == _BINARY or (kind == _STRING and types[index] is str):
            sized.append((index, slot, width))
        elif kind != _NULL:
            others.append((index, kind, slot, width, count))
    return (
        parent,
        position,
        element,
        flags,
        names,
        types,
        tuple(numbers),
        tuple(sized),
        tuple(others),
    )


def _c_string(raw: bytes) -> str | CString:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return CString(raw)


def _names_unique(nvl: NVList) -> bool:
    names = nvl._names
    if nvl._flags & NV_FLAG_NO_UNIQUE or len(names) < 2:
        return True
    keys = [fold_name(n) for n in names] if nvl._flags & NV_FLAG_IGNORE_CASE else names
    return len(set(keys)) == len(keys)


def compile_shape(nvl: NVList, region: bytes, canonical: bytes, relative: bool) -> Shape | None:
    """Compile the shape of ``nvl``, the list encoded as ``region``.

    ``canonical`` is ``pack(nvl)``. ``relative``: the region is an nvlist-array element inside a
    larger buffer (it ends with the "next" marker and its header size fields depend on where it
    sits); otherwise it is a whole buffer. Returns None when ``nvl`` cannot be shaped or the fixed
    bytes of ``region`` differ from the canonical encoding.
    """
    if relative:
        canonical += MARKER_NEXT
    if not relative and len(region) > MAX_SHAPE_BYTES:
        return None
    segments: list[tuple[int, int, int]] = []  # (width, kind, count) in byte order
    var_of_segment: list[int] = []
    lists: list[tuple[int, tuple[Name, ...], list[int]]] = []
    arrays: list[list[int]] = []
    plan: list[tuple[int, int, int, int, list[Name], tuple[type, ...], list[Any]]] = []
    variables = 0
    position = 0

    def cut(width: int, kind: int, count: int = 0) -> int:
        nonlocal variables, position
        segments.append((width, kind, count))
        var_of_segment.append(variables)
        variables += 1
        position += width
        return variables - 1

    def fixed(width: int) -> None:
        nonlocal position
        segments.append((width, _CONST, 0))
        var_of_segment.append(-1)
        position += width

    # Frames: [list, next pair, recipe, plan index, checks, closing marker?, parent frame,
    #          parent recipe slot, array bookkeeping (array index, element index) or None]
    def open_list(
        target: NVList, parent_plan: int, value_position: int, element: int, marker: bool
    ) -> list[Any] | None:
        if target._wire is not None or not _names_unique(target):
            return None
        if relative:
            fixed(11)
            cut(8, _SIZE)
        else:
            fixed(HEADER_SIZE)
        plan.append(
            (
                parent_plan,
                value_position,
                element,
                target._flags,
                list(target._names),
                tuple(map(type, target._values)),
                [],
            )
        )
        return [target, 0, [], len(plan) - 1, marker]

    root = open_list(nvl, -1, 0, -1, relative)
    if root is None:
        return None
    stack: list[list[Any]] = [root]
    # Per open frame, where its list number goes when it closes: None (the root),
    # ("recipe", recipe, slot), or ("array", array number, element, holder frame, position, array).
    pending: list[tuple[Any, ...] | None] = [None]
    while stack:
        frame = stack[-1]
        target: NVList = frame[0]
        index: int = frame[1]
        if index == len(target._names):
            if frame[4]:
                fixed(MARKER_SIZE)
            lists.append((target._flags, tuple(target._names), frame[2]))
            number = len(lists) - 1
            stack.pop()
            slot = pending.pop()
            if slot is None:
                continue
            if slot[0] == "recipe":
                slot[1][slot[2]] = ~number
                continue
            _, array_number, element, holder_frame, value_position, array = slot
            arrays[array_number][element] = number
            if element + 1 < len(array):
                child = open_list(
                    array[element + 1], holder_frame[3], value_position, element + 1, True
                )
                if child is None:
                    return None
                stack.append(child)
                pending.append(
                    ("array", array_number, element + 1, holder_frame, value_position, array)
                )
            continue
        frame[1] = index + 1
        name = target._names[index]
        value: Any = target._values[index]
        raw_name = NAME_BYTES.get(name) or name_bytes(name)[1]
        fixed(HEADER_SIZE + len(raw_name))
        kind = TYPE_CODE.get(type(value))
        recipe: list[int] = frame[2]
        checks: list[Any] = plan[frame[3]][6]
        if kind == _NUMBER:
            slot_index = cut(8, _NUMBER)
        elif kind == _BINARY:
            slot_index = cut(len(value), _BINARY)
        elif kind == _STRING:
            data = value.encode() if type(value) is str else bytes(value)
            slot_index = cut(len(data) + 1, _STRING)
        elif kind == _BOOL:
            slot_index = cut(1, _BOOL)
        elif kind == _NULL:
            slot_index = cut(0, _NULL)
        elif kind == _BOOL_ARRAY:
            slot_index = cut(len(value), _BOOL_ARRAY)
        elif kind == _NUMBER_ARRAY:
            slot_index = cut(8 * len(value), _NUMBER_ARRAY, len(value))
        elif kind == _STRING_ARRAY:
            data = b"".join((s.encode() if type(s) is str else bytes(s)) + b"\0" for s in value)
            slot_index = cut(len(data), _STRING_ARRAY, len(value))
        elif kind == 5:  # nested nvlist
            recipe.append(0)
            child = open_list(value, frame[3], index, -1, True)
            if child is None:
                return None
            stack.append(child)
            pending.append(("recipe", recipe, len(recipe) - 1))
            continue
        elif kind == _LIST_ARRAY and value:
            recipe.append(-(_ARRAY_REF + len(arrays)))
            arrays.append([0] * len(value))
            checks.append((index, _LIST_ARRAY, -1, 0, len(value)))
            child = open_list(value[0], frame[3], index, 0, True)
            if child is None:
                return None
            stack.append(child)
            pending.append(("array", len(arrays) - 1, 0, frame, index, value))
            continue
        else:
            return None
        recipe.append(slot_index)
        width, var_kind, count = segments[-1]
        checks.append((index, var_kind, slot_index, width, count))

    if position != len(region):
        return None
    shape = _assemble(
        segments=segments,
        var_of_segment=var_of_segment,
        lists=lists,
        arrays=arrays,
        plan=plan,
        region=region,
        relative=relative,
    )
    # Only canonical regions make shapes (see the module docstring). Absolute shapes must also
    # decode their own region; relative ones are tried on the buffer by the caller.
    if shape.const_reader(canonical, 0) != shape.const_expected:
        return None
    if not relative and shape.decode(region, 0, len(region), False) is None:
        return None
    return shape


def _assemble(
    *,
    segments: list[tuple[int, int, int]],
    var_of_segment: list[int],
    lists: list[tuple[int, tuple[Name, ...], list[int]]],
    arrays: list[list[int]],
    plan: list[tuple[int, int, int, int, list[Name], tuple[type, ...], list[Any]]],
    region: bytes,
    relative: bool,
) -> Shape:
    # Merge neighbouring fixed segments.
    merged: list[tuple[int, int, int, int]] = []  # (width, kind, count, var index)
    for (width, kind, count), var in zip(segments, var_of_segment, strict=True):
        if kind == _CONST and merged and merged[-1][1] == _CONST:
            merged[-1] = (merged[-1][0] + width, _CONST, 0, -1)
        else:
            merged.append((width, kind, count, var))
    const_format = ["<"]
    var_format = ["<"]
    write_format = ["<"]
    args_template: list[Any] = []
    slot_of_var: dict[int, int] = {}
    sizes: list[tuple[int, int]] = []
    conversions: list[tuple[int, int, int]] = []
    offset = 0
    for width, kind, count, var in merged:
        if kind == _CONST:
            const_format.append(f"{width}s")
            var_format.append(f"{width}x")
            write_format.append(f"{width}s")
            args_template.append(region[offset : offset + width])
        else:
            const_format.append(f"{width}x")
            if kind in (_NUMBER, _SIZE):
                var_format.append("Q")
                write_format.append("Q")
            elif kind == _BOOL:
                var_format.append("B")
                write_format.append("?")
            else:
                var_format.append(f"{width}s")
                write_format.append(f"{width}s")
            slot_of_var[var] = len(args_template)
            args_template.append(b"" if kind == _NULL else None)
            if kind == _SIZE:
                sizes.append((var, offset + width))
            elif kind not in (_NUMBER, _BINARY):
                conversions.append((var, kind, count))
        offset += width
    shape = Shape()
    shape.length = len(region)
    const_struct = struct.Struct("".join(const_format))
    var_struct = struct.Struct("".join(var_format))
    shape.const_reader = const_struct.unpack_from
    shape.const_iter = const_struct.iter_unpack
    shape.const_expected = const_struct.unpack_from(region, 0)
    shape.var_reader = var_struct.unpack_from
    shape.var_iter = var_struct.iter_unpack
    shape.sizes = tuple(sizes)
    shape.conversions = tuple(conversions)
    shape.steps = _steps(lists, arrays, variables=len(slot_of_var))
    if relative:
        shape.writer = None
        shape.args_template = []
        shape.plan = ()
    else:
        shape.writer = struct.Struct("".join(write_format)).pack
        shape.args_template = args_template
        shape.plan = tuple(_plan_entry(entry, slot_of_var) for entry in plan)
    return shape
