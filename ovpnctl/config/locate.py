"""Map key paths of a parsed config file back to the line that wrote them.

tomllib and json return plain data without positions, yet an error that says only
"peer[2].key.encrypt: no such file" sends the reader hunting through a long file. A
second, deliberately small scan of the source records the line of every key (and of
every JSON array element); anything the scan cannot place falls back to the line of the
nearest enclosing key, which is always close enough to find the mistake.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

PathPart = str | int
KeyPath = tuple[PathPart, ...]


def format_path(path: Sequence[PathPart]) -> str:
    """`peer[0].key.encrypt`: how a key path reads in messages (array indexes from 0)."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "(top level)"


@dataclass
class SourceMap:
    """Line numbers (1-based) of the key paths found in one source file."""

    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line_of(self, path: Sequence[PathPart]) -> int | None:
        """The line of `path`, or of its nearest ancestor the scan placed."""
        probe = tuple(path)
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            probe = probe[:-1]
        return None


# -- TOML -----------------------------------------------------------------------------

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def scan_toml(text: str) -> SourceMap:
    """Record the line of each table header and each `key = value` assignment.

    Handles the TOML that config files use: `[table]`, `[[array.of.tables]]`, dotted and
    quoted keys, and values spanning lines (arrays, inline tables, multi-line strings),
    whose continuation lines must not be mistaken for assignments.
    """
    found = SourceMap()
    table: KeyPath = ()
    aot_index: dict[KeyPath, int] = {}  # resolved path of an array of tables -> last index
    lines = text.splitlines()
    lineno = 0
    while lineno < len(lines):
        raw = lines[lineno]
        lineno += 1
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("[["):
            keys = _split_dotted(stripped[2 : stripped.find("]]")])
            base = _resolve(keys[:-1], aot_index)
            array_path = (*base, keys[-1])
            aot_index[array_path] = aot_index.get(array_path, -1) + 1
            table = (*array_path, aot_index[array_path])
            found.lines.setdefault(array_path, lineno)
            found.lines[table] = lineno
            continue
        if stripped.startswith("["):
            keys = _split_dotted(stripped[1 : stripped.find("]")])
            table = _resolve(keys, aot_index)
            found.lines[table] = lineno
            continue
        key_text, value_start = _split_assignment(raw)
        if key_text is None:
            continue
        path = (*table, *_split_dotted(key_text))
        found.lines[path] = lineno
        # Skip continuation lines of a value that spans several lines, noting the line
        # of each element of a multi-line array (one element per line is the habit).
        state = _ValueState()
        is_array = raw[value_start:].lstrip().startswith("[")
        state.feed(raw[value_start:])
        while state.open and lineno < len(lines):
            text = lines[lineno].strip()
            lineno += 1
            if is_array and state.depth == 1 and text and text[0] not in "]#":
                found.lines.setdefault((*path, state.commas), lineno)
            state.feed(lines[lineno - 1])
    return found


def _resolve(keys: Sequence[str], aot_index: dict[KeyPath, int]) -> KeyPath:
    """A header's dotted keys, with the current index inserted after each array of tables."""
    path: KeyPath = ()
    for key in keys:
        path = (*path, key)
        if path in aot_index:
            path = (*path, aot_index[path])
    return path


def _split_dotted(text: str) -> list[str]:
    parts: list[str] = []
    i = 0
    text = text.strip()
    while i < len(text):
        ch = text[i]
        if ch in " \t.":
            i += 1
            continue
        if ch in "\"'":
            end = text.find(ch, i + 1)
            while ch == '"' and end > 0 and text[end - 1] == "\\":
                end = text.find(ch, end + 1)
            if end < 0:
                end = len(text)
            parts.append(text[i + 1 : end])
            i = end + 1
            continue
        match = _BARE_KEY.match(text, i)
        if match is None:
            parts.append(text[i:].strip())
            break
        parts.append(match.group(0))
        i = match.end()
    return parts


def _split_assignment(line: str) -> tuple[str | None, int]:
    """The key part of `key = value` (quotes respected) and where the value begins."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
            continue
        if ch in "\"'":
            quote = ch
        elif ch == "=":
            return line[:i], i + 1
        elif ch == "#":
            return None, 0
    return None, 0


class _ValueState:
    """Tracks brackets and strings across lines, so a value's end can be found."""

    def __init__(self) -> None:
        self.depth = 0
        self.commas = 0  # separators seen directly inside the outermost bracket
        self.multiline: str = ""  # '"""' or "'''" while inside one

    @property
    def open(self) -> bool:
        return self.depth > 0 or bool(self.multiline)

    def feed(self, text: str) -> None:
        i = 0
        while i < len(text):
            if self.multiline:
                end = text.find(self.multiline, i)
                if end < 0:
                    return
                self.multiline = ""
                i = end + 3
                continue
            ch = text[i]
            if text.startswith('"""', i) or text.startswith("'''", i):
                self.multiline = text[i : i + 3]
                i += 3
            elif ch in "\"'":
                i = _skip_string(text, i)
            elif ch == "#":
                return
            elif ch in "[{":
                self.depth += 1
                i += 1
            elif ch in "]}":
                self.depth = max(0, self.depth - 1)
                i += 1
            elif ch == "," and self.depth == 1:
                self.commas += 1
                i += 1
            else:
                i += 1


def _skip_string(text: str, start: int) -> int:
    quote = text[start]
    i = start + 1
    while i < len(text):
        if quote == '"' and text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return i + 1
        i += 1
    return i


# -- JSON -----------------------------------------------------------------------------

_JSON_WS = re.compile(r"[ \t\r\n]*")


def scan_json(text: str) -> SourceMap:
    """Record the line of every object key and array element of valid JSON text."""
    starts = [0]
    starts.extend(m.end() for m in re.finditer("\n", text))
    found = SourceMap()
    decoder = json.JSONDecoder()

    def line(pos: int) -> int:
        return bisect.bisect_right(starts, pos)

    def skip_ws(pos: int) -> int:
        match = _JSON_WS.match(text, pos)
        return match.end() if match else pos

    def value(pos: int, path: KeyPath) -> int:
        pos = skip_ws(pos)
        ch = text[pos]
        if ch == "{":
            pos = skip_ws(pos + 1)
            if text[pos] == "}":
                return pos + 1
            while True:
                pos = skip_ws(pos)
                key, after = decoder.raw_decode(text, pos)
                found.lines[(*path, key)] = line(pos)
                pos = skip_ws(after)  # at ':'
                pos = value(pos + 1, (*path, key))
                pos = skip_ws(pos)
                if text[pos] == "}":
                    return pos + 1
                pos += 1  # ','
        if ch == "[":
            pos = skip_ws(pos + 1)
            if text[pos] == "]":
                return pos + 1
            index = 0
            while True:
                pos = skip_ws(pos)
                found.lines[(*path, index)] = line(pos)
                pos = skip_ws(value(pos, (*path, index)))
                if text[pos] == "]":
                    return pos + 1
                pos += 1
                index += 1
        return int(decoder.raw_decode(text, pos)[1])

    if text.strip():
        value(0, ())
    return found
