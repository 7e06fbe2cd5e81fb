"""``python -m nvlist_ffi decode FILE|-``: show what a packed nvlist holds.

A debugging aid for captured ioctl payloads: a table by default (rich, imported only for it), or
the golden typed JSON with ``--json`` so the output can be diffed against the vectors. Exit codes
follow sysexits(3): 64 usage, 65 undecodable data, 66 unreadable input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import IO, Any, NoReturn

from nvlist_ffi import backend, typed_json
from nvlist_ffi.errors import NVListError
from nvlist_ffi.model import TYPE_NAME, CString, NVList, type_code

EX_OK = 0
EX_USAGE = 64
EX_DATAERR = 65
EX_NOINPUT = 66

_BINARY_SHOWN = 64
"""Binary values longer than this are shown abbreviated in the table (``--json`` is complete)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EX_USAGE, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m nvlist_ffi", description="Inspect FreeBSD libnv packed nvlists."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    decode = commands.add_parser("decode", help="decode a packed nvlist file ('-' for stdin)")
    decode.add_argument("file", help="packed nvlist, or - to read standard input")
    decode.add_argument("--json", action="store_true", help="print typed JSON (golden schema)")
    decode.add_argument("--hex", action="store_true", help="the input is hex text, not bytes")
    decode.add_argument(
        "--flags",
        type=lambda text: int(text, 0),
        default=None,
        help="nvlist_unpack flags (0-3); default: the flags in the buffer's own header",
    )
    return parser


def _read(path: str, as_hex: bool) -> bytes:
    data = sys.stdin.buffer.read() if path == "-" else open(path, "rb").read()  # noqa: SIM115
    if as_hex:
        return bytes.fromhex(data.decode("ascii"))
    return data


def _text(value: str | bytes) -> str:
    if isinstance(value, str):
        return value
    return "0x" + value.hex() + " (not UTF-8)"


def _value_text(value: Any) -> str:
    kind = type_code(value)
    if kind == 3:
        return f"{value} (0x{value:x})"
    if kind == 4:
        return repr(value) if type(value) is str else f"{bytes(value).hex()} (not UTF-8)"
    if kind == 7:
        shown: str = value[:_BINARY_SHOWN].hex()
        return shown + (f"… ({len(value)} bytes)" if len(value) > _BINARY_SHOWN else "")
    if kind == 8:
        return "[" + ", ".join(str(b) if type(b) is bool else f"raw {b}" for b in value) + "]"
    if kind == 10:
        return "[" + ", ".join(repr(s) if type(s) is str else repr(CString(s)) for s in value) + "]"
    if kind == 9:
        return "[" + ", ".join(str(n) for n in value) + "]"
    if kind == 1:
        return ""
    return str(value)


def rows(nvl: NVList) -> list[tuple[int, str, str, str]]:
    """(depth, name, type, value) rows in wire order, without recursion."""
    out: list[tuple[int, str, str, str]] = []
    stack: list[tuple[int, Any]] = [(0, nvl)]
    while stack:
        depth, item = stack.pop()
        if isinstance(item, tuple):
            out.append(item)
            continue
        pending: list[tuple[int, Any]] = []
        for name, value in item.items():
            kind = type_code(value)
            label = _text(name)
            if kind == 5:
                pending.append((depth, (depth, label, _flagged("nvlist", value), "")))
                pending.append((depth + 1, value))
            elif kind == 11:
                pending.append((depth, (depth, label, "nvlist_array", f"{len(value)} elements")))
                for position, element in enumerate(value):
                    row = (depth + 1, f"[{position}]", _flagged("nvlist", element), "")
                    pending.append((depth + 1, row))
                    pending.append((depth + 2, element))
            else:
                pending.append((depth, (depth, label, TYPE_NAME[kind], _value_text(value))))
        stack.extend(reversed(pending))
    return out


def _flagged(kind: str, nvl: NVList) -> str:
    return f"{kind} flags=0x{nvl.flags:x}" if nvl.flags else kind


def _table(nvl: NVList, size: int, out: IO[str]) -> None:
    from rich.console import Console  # noqa: PLC0415 - rich only for tables
    from rich.table import Table  # noqa: PLC0415

    table = Table(title=f"nvlist, {size} bytes, flags 0x{nvl.flags:x}, backend {_backend()}")
    table.add_column("name", no_wrap=True)
    table.add_column("type", style="cyan", no_wrap=True)
    table.add_column("value", overflow="fold")
    for depth, name, kind, value in rows(nvl):
        table.add_row("  " * depth + name, kind, value)
    Console(file=out, soft_wrap=False).print(table)


def _backend() -> str:
    return backend.backend_name()


def main(argv: Sequence[str] | None = None, stdout: IO[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    out = stdout if stdout is not None else sys.stdout
    try:
        data = _read(args.file, args.hex)
    except OSError as exc:
        print(f"nvlist_ffi: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return EX_NOINPUT
    except (ValueError, UnicodeDecodeError):
        print(f"nvlist_ffi: {args.file} is not hex text", file=sys.stderr)
        return EX_DATAERR
    flags = args.flags
    if flags is None:
        flags = data[2] & 0x03 if len(data) > 2 else 0
    try:
        nvl = backend.unpack(data, flags)
    except NVListError as exc:
        print(f"nvlist_ffi: {args.file}: {exc}", file=sys.stderr)
        return EX_DATAERR
    if args.json:
        out.write(typed_json.dumps(nvl, indent=2) + "\n")
    else:
        _table(nvl, len(data), out)
    return EX_OK


if __name__ == "__main__":
    sys.exit(main())
