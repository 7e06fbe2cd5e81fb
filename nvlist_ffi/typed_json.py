"""Typed JSON for nvlists, exactly the schema of the golden vectors (golden/README.md §1).

An nvlist is ``{"type": "nvlist", "flags": F, "items": [[name, VALUE], ...]}``: ordered pairs,
duplicates kept, flags always present, ``{"hex": ...}`` for names and C strings that are not UTF-8,
and ``"raw"`` on bool arrays holding bytes other than 0/1.

The standard ``json`` module is recursive in C and gives up around a thousand levels, while libnv
has no nesting limit; so the text reader and writer here are explicit-stack loops too, and the
object converters walk iteratively. Building from typed JSON goes through :meth:`NVList.add`, so
``from_obj`` refuses exactly what libnv refuses, with libnv's errno names (descriptors, which a
packed nvlist cannot carry, give EOPNOTSUPP; a descriptor of -1 gives EBADF as in libnv).
"""

from __future__ import annotations

import json
import json.decoder
import re
from collections.abc import Callable
from json.encoder import encode_basestring_ascii
from typing import Any

from nvlist_ffi.errors import NVListError
from nvlist_ffi.model import (
    TYPE_CODE,
    BoolArray,
    CString,
    Name,
    NumberArray,
    NVList,
    NVListArray,
    StringArray,
    type_code,
)

__all__ = ["dump_json", "dumps", "from_obj", "load_json", "loads", "to_obj"]

# The C string scanner behind json.loads (not in the typeshed stubs, but public and stable).
_scanstring: Callable[[str, int, bool], tuple[str, int]] = getattr(json.decoder, "scanstring")  # noqa: B009

JSONObject = dict[str, Any]


def _bad(message: str) -> NVListError:
    return NVListError("EINVAL", f"typed JSON: {message}")


# -- NVList -> objects ---------------------------------------------------------------------------


def _text(value: str | bytes) -> str | JSONObject:
    return value if isinstance(value, str) else {"hex": value.hex()}


def _new_obj(nvl: NVList) -> tuple[JSONObject, list[Any]]:
    items: list[Any] = []
    return {"type": "nvlist", "flags": nvl.flags, "items": items}, items


def to_obj(nvl: NVList) -> JSONObject:
    """The typed-JSON object for ``nvl`` (plain dicts and lists, ready for any JSON writer)."""
    root, items = _new_obj(nvl)
    stack: list[tuple[NVList, list[Any]]] = [(nvl, items)]
    while stack:
        current, out = stack.pop()
        values: list[Any] = current._values
        for name, value in zip(current._names, values, strict=True):
            kind = TYPE_CODE.get(type(value)) or type_code(value)
            entry: JSONObject
            if kind == 3:
                entry = {"type": "number", "value": value}
            elif kind == 5:
                entry, child_items = _new_obj(value)
                stack.append((value, child_items))
            elif kind == 4:
                entry = (
                    {"type": "string", "value": value}
                    if type(value) is str
                    else {"type": "string", "hex": bytes(value).hex()}
                )
            elif kind == 7:
                entry = {"type": "binary", "hex": value.hex()}
            elif kind == 1:
                entry = {"type": "null"}
            elif kind == 2:
                entry = {"type": "bool", "value": value}
            elif kind == 8:
                entry = {"type": "bool_array", "value": [bool(b) for b in value]}
                raw = [int(b) for b in value]
                if any(b > 1 for b in raw):
                    entry["raw"] = raw
            elif kind == 9:
                entry = {"type": "number_array", "value": list(value)}
            elif kind == 10:
                entry = {"type": "string_array", "value": [_text(s) for s in value]}
            else:
                elements = []
                for element in value:
                    element_obj, element_items = _new_obj(element)
                    stack.append((element, element_items))
                    elements.append(element_obj)
                entry = {"type": "nvlist_array", "value": elements}
            out.append([_text(name), entry])
    return root


# -- objects -> NVList ---------------------------------------------------------------------------


def _field(obj: JSONObject, key: str) -> Any:
    try:
        return obj[key]
    except (KeyError, TypeError):
        raise _bad(f"{obj!r:.80} has no {key!r}") from None


def _from_text(value: Any) -> str | bytes:
    if type(value) is str:
        return value
    if isinstance(value, dict) and type(value.get("hex")) is str:
        try:
            return bytes.fromhex(value["hex"])
        except ValueError:
            raise _bad(f"bad hex {value['hex']!r:.80}") from None
    raise _bad(f"expected a string or {{'hex': ...}}, got {value!r:.80}")


def _hex(obj: JSONObject) -> bytes:
    text = _field(obj, "hex")
    if type(text) is not str:
        raise _bad(f"bad hex {text!r:.80}")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise _bad(f"bad hex {text!r:.80}") from None


def _int(value: Any) -> int:
    if type(value) is not int:
        raise _bad(f"expected an integer, got {value!r:.80}")
    return value


def _flags(obj: JSONObject) -> int:
    if obj.get("type") != "nvlist":
        raise _bad(f"expected an nvlist object, got {obj!r:.80}")
    return _int(_field(obj, "flags"))


def _items(obj: JSONObject) -> list[Any]:
    items = _field(obj, "items")
    if type(items) is not list:
        raise _bad("'items' must be a list of [name, value] pairs")
    return items


def _descriptor_error(value: Any) -> NVListError:
    if value == -1:
        return NVListError("EBADF", "descriptor -1 is not an open descriptor")
    return NVListError("EOPNOTSUPP", "a packed nvlist cannot carry descriptors")


def from_obj(obj: JSONObject) -> NVList:
    """Build an NVList from a typed-JSON object, refusing what libnv refuses."""
    if not isinstance(obj, dict):
        raise _bad("the top level must be an nvlist object")
    root = NVList(flags=_flags(obj))
    stack: list[tuple[NVList, list[Any]]] = [(root, _items(obj))]
    while stack:
        target, items = stack.pop()
        for pair in items:
            if type(pair) is not list or len(pair) != 2 or not isinstance(pair[1], dict):
                raise _bad(f"pair {pair!r:.80} is not [name, value]")
            name: Name = _from_text(pair[0])
            entry: JSONObject = pair[1]
            kind = entry.get("type")
            value: Any
            children: list[tuple[JSONObject, int]] = []
            if kind == "number":
                value = _int(_field(entry, "value"))
            elif kind == "nvlist":
                value = NVList(flags=_flags(entry))
                children.append((entry, 0))
            elif kind == "string":
                value = _field(entry, "value") if "value" in entry else CString(_hex(entry))
                if type(value) is not str and type(value) is not CString:
                    raise _bad(f"string value {value!r:.80} is not a string")
            elif kind == "binary":
                value = _hex(entry)
            elif kind == "null":
                value = None
            elif kind == "bool":
                value = _field(entry, "value")
                if type(value) is not bool:
                    raise _bad(f"bool value {value!r:.80} is not true/false")
            elif kind == "bool_array":
                value = _bool_array(entry)
            elif kind == "number_array":
                value = NumberArray(_int(v) for v in _list(entry))
            elif kind == "string_array":
                value = StringArray([_string_element(v) for v in _list(entry)])
            elif kind == "nvlist_array":
                value = NVListArray()
                for position, element in enumerate(_list(entry)):
                    if not isinstance(element, dict):
                        raise _bad("nvlist_array elements must be nvlist objects")
                    value.append(NVList(flags=_flags(element)))
                    children.append((element, position))
            elif kind == "descriptor":
                raise _descriptor_error(_field(entry, "value"))
            elif kind == "descriptor_array":
                raise NVListError("EOPNOTSUPP", "a packed nvlist cannot carry descriptors")
            else:
                raise _bad(f"unknown value type {kind!r:.80}")
            target.add(name, value)
            if children:
                # Fill the lists actually stored (add() moves fresh lists in, never copies them).
                stored = target._values[-1]
                for child_obj, position in children:
                    child = stored if isinstance(stored, NVList) else stored[position]  # type: ignore[index]
                    stack.append((child, _items(child_obj)))  # type: ignore[arg-type]
    return root


def _list(entry: JSONObject) -> list[Any]:
    value = _field(entry, "value")
    if type(value) is not list:
        raise _bad(f"array value {value!r:.80} is not a list")
    return value


def _string_element(value: Any) -> str | CString:
    if value is None:
        raise NVListError("EINVAL", "string array element is NULL")
    text = _from_text(value)
    return text if isinstance(text, str) else CString(text)


def _bool_array(entry: JSONObject) -> BoolArray:
    values = _list(entry)
    raw = entry.get("raw")
    if raw is None:
        for v in values:
            if type(v) is not bool:
                raise _bad(f"bool array element {v!r:.80} is not true/false")
        return BoolArray(values)
    if type(raw) is not list or len(raw) != len(values):
        raise _bad("bool array 'raw' must list one byte per element")
    out = BoolArray()
    for byte, truth in zip(raw, values, strict=True):
        if type(byte) is not int or not 0 <= byte <= 255 or bool(byte) != truth:
            raise _bad(f"bool array raw byte {byte!r:.80} does not match its value {truth!r}")
        out.append(bool(byte) if byte <= 1 else byte)
    return out


# -- text ----------------------------------------------------------------------------------------


def _scalar_text(value: Any) -> str:
    if type(value) is str:
        return encode_basestring_ascii(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if type(value) is int:
        return int.__repr__(value)
    if type(value) is float:
        return json.dumps(value)
    raise _bad(f"cannot write {type(value).__name__} as JSON")


def dump_json(obj: Any, indent: int | None = None) -> str:
    """Serialise plain JSON data like ``json.dumps(obj, indent=indent)``, without recursion."""
    parts: list[str] = []
    # Entries are (value, level) to write, or str tokens to copy through.
    stack: list[Any] = [(obj, 0)]
    while stack:
        item = stack.pop()
        if type(item) is str:
            parts.append(item)
            continue
        value, level = item
        if isinstance(value, dict):
            entries: list[tuple[str | None, Any]] = list(value.items())
            opener, closer = "{", "}"
        elif isinstance(value, list | tuple):
            entries = [(None, v) for v in value]
            opener, closer = "[", "]"
        else:
            parts.append(_scalar_text(value))
            continue
        if not entries:
            parts.append(opener + closer)
            continue
        if indent is None:
            lead, separator, end = "", ", ", closer
        else:
            lead = "\n" + " " * (indent * (level + 1))
            separator = ","
            end = "\n" + " " * (indent * level) + closer
        parts.append(opener)
        stack.append(end)
        for position in range(len(entries) - 1, -1, -1):
            key, child = entries[position]
            stack.append((child, level + 1))
            prefix = (separator if position else "") + lead
            if key is not None:
                if type(key) is not str:
                    raise _bad(f"object key {key!r:.80} is not a string")
                prefix += encode_basestring_ascii(key) + ": "
            stack.append(prefix)
    return "".join(parts)


_WHITESPACE = re.compile(r"[ \t\n\r]+")
_NUMBER = re.compile(r"(-?(?:0|[1-9][0-9]*))(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_LITERALS = {"true": True, "false": False, "null": None}


def load_json(text: str) -> Any:
    """Parse JSON text like ``json.loads``, without recursion (any nesting depth)."""
    skip = _skip
    number = _NUMBER.match
    length = len(text)
    at = skip(text, 0)
    # Open containers: [container, pending key (dicts only)].
    stack: list[list[Any]] = []
    while True:
        char = text[at : at + 1]
        value: Any
        if char == "{":
            at = skip(text, at + 1)
            if text[at : at + 1] == "}":
                value, at = {}, at + 1
            else:
                key, at = _key(text, at, skip)
                stack.append([{}, key])
                continue
        elif char == "[":
            at = skip(text, at + 1)
            if text[at : at + 1] == "]":
                value, at = [], at + 1
            else:
                stack.append([[], None])
                continue
        elif char == '"':
            value, at = _string(text, at + 1)
        elif (match := number(text, at)) is not None:
            integer, fraction, exponent = match.groups()
            value = float(match.group()) if fraction or exponent else int(integer)
            at = match.end()
        else:
            for word, literal in _LITERALS.items():
                if text.startswith(word, at):
                    value, at = literal, at + len(word)
                    break
            else:
                raise _bad(f"unexpected {char!r} at character {at}")
        # A complete value: attach it, closing as many containers as the text closes.
        while True:
            if not stack:
                at = skip(text, at)
                if at != length:
                    raise _bad(f"extra data at character {at}")
                return value
            frame = stack[-1]
            container = frame[0]
            if type(container) is dict:
                container[frame[1]] = value
                closer = "}"
            else:
                container.append(value)
                closer = "]"
            at = skip(text, at)
            char = text[at : at + 1]
            if char == ",":
                at = skip(text, at + 1)
                if closer == "}":
                    frame[1], at = _key(text, at, skip)
                break
            if char != closer:
                raise _bad(f"expected ',' or {closer!r} at character {at}")
            at += 1
            stack.pop()
            value = container


def _string(text: str, at: int) -> tuple[str, int]:
    try:
        return _scanstring(text, at, True)
    except ValueError as exc:
        raise _bad(str(exc)) from None


def _skip(text: str, at: int) -> int:
    match = _WHITESPACE.match(text, at)
    return at if match is None else match.end()


def _key(text: str, at: int, skip: Callable[[str, int], int]) -> tuple[str, int]:
    if text[at : at + 1] != '"':
        raise _bad(f"expected a string key at character {at}")
    key, at = _string(text, at + 1)
    at = skip(text, at)
    if text[at : at + 1] != ":":
        raise _bad(f"expected ':' at character {at}")
    return key, skip(text, at + 1)


def dumps(nvl: NVList, indent: int | None = None) -> str:
    """Typed JSON text for ``nvl``."""
    return dump_json(to_obj(nvl), indent)


def loads(text: str | bytes) -> NVList:
    """Build an NVList from typed JSON text."""
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode()
        except UnicodeDecodeError:
            raise _bad("text is not UTF-8") from None
    return from_obj(load_json(text))
