"""click parameter types that parse straight into the library's model values.

Each type calls the library's own parser, so the CLI and config files accept exactly
the same spellings and a bad value fails with the library's one-line message and exit
65 (EX_DATAERR) while the command line is still being parsed: before any backend exists.
Malformed command lines (unknown option, missing argument) stay click's business (64).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import click
from click.shell_completion import CompletionItem

from ovpnctl.errors import UsageError, ValidationError

if TYPE_CHECKING:
    from ovpnctl.endpoint import Endpoint, IPAddress
    from ovpnctl.keys import Cipher, KeySlot
    from ovpnctl.model import Keepalive, Mode

IFNAMSIZ = 16  # both kernels: 15 characters + NUL
_KEEPALIVE = re.compile(r"^\s*(\S+?)\s*/\s*(\S+)\s*$")


def parse_ifname(text: str) -> str:
    """An interface name either kernel could hold (the kernel decides whether it exists)."""
    if not text:
        raise ValidationError("interface name is empty")
    if len(text.encode("utf-8", "surrogateescape")) >= IFNAMSIZ:
        raise ValidationError(
            f"interface name {text!r} is too long (at most {IFNAMSIZ - 1} characters)"
        )
    if text in (".", "..") or any(ch in text for ch in "/:") or not text.isprintable():
        raise ValidationError(f"interface name {text!r} is not valid")
    if any(ch.isspace() for ch in text):
        raise ValidationError(f"interface name {text!r} contains white space")
    return text


def parse_keepalive(text: str) -> Keepalive:
    from ovpnctl.ids import parse_int  # noqa: PLC0415
    from ovpnctl.model import Keepalive  # noqa: PLC0415

    match = _KEEPALIVE.match(text)
    if match is None:
        raise ValidationError(
            f"keepalive {text!r} is not INTERVAL/TIMEOUT in seconds (for example 10/60)"
        )
    interval = parse_int(match.group(1), "keepalive interval")
    timeout = parse_int(match.group(2), "keepalive timeout")
    return Keepalive(interval, timeout)


class _LibraryType(click.ParamType):  # type: ignore[type-arg]
    """Converts with a library parser; its ValidationError propagates unchanged."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value  # already converted (a default, or a value from a test)
        return self.parse(value)

    def parse(self, text: str) -> Any:
        raise NotImplementedError


class InterfaceName(_LibraryType):
    name = "IFACE"

    def parse(self, text: str) -> str:
        return parse_ifname(text)

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        """Existing DCO interfaces, asked of the selected backend; nothing on failure."""
        try:
            from ovpnctl.backend import get_backend  # noqa: PLC0415

            root = ctx.find_root()
            backend_name = root.params.get("backend")
            with get_backend(backend_name) as backend:
                names = backend.interfaces()
        except Exception:  # completion must never print a traceback
            return []
        return [CompletionItem(name) for name in names if name.startswith(incomplete)]


class PeerId(_LibraryType):
    name = "PEER_ID"

    def parse(self, text: str) -> int:
        from ovpnctl.ids import check_peer_id, parse_int  # noqa: PLC0415

        return check_peer_id(parse_int(text, "peer id"))


class KeyId(_LibraryType):
    name = "N"

    def parse(self, text: str) -> int:
        from ovpnctl.ids import check_key_id, parse_int  # noqa: PLC0415

        return check_key_id(parse_int(text, "key id"))


class EndpointType(_LibraryType):
    """`ADDR:PORT` / `[V6]:PORT`; `port_optional` lets a bare address mean port 0."""

    name = "ADDR:PORT"

    def __init__(self, what: str, *, port_optional: bool = False) -> None:
        self.what = what
        self.port_optional = port_optional

    def parse(self, text: str) -> Endpoint:
        from ovpnctl.endpoint import Endpoint  # noqa: PLC0415

        return Endpoint.parse(text, what=self.what, default_port=0 if self.port_optional else None)


class VpnAddress(_LibraryType):
    def __init__(self, version: int, what: str) -> None:
        self.version = version
        self.what = what
        self.name = "IPV4" if version == 4 else "IPV6"

    def parse(self, text: str) -> IPAddress:
        from ovpnctl.endpoint import parse_vpn_address  # noqa: PLC0415

        return parse_vpn_address(text, self.version, self.what)


class KeepaliveType(_LibraryType):
    name = "INTERVAL/TIMEOUT"

    def parse(self, text: str) -> Keepalive:
        return parse_keepalive(text)


class _ChoiceLike(_LibraryType):
    """A library enum: completes its spellings, parses with the enum's own `parse`."""

    choices: tuple[str, ...] = ()

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        return [CompletionItem(c) for c in self.choices if c.lower().startswith(incomplete.lower())]

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "[" + "|".join(self.choices) + "]"


class CipherType(_ChoiceLike):
    name = "CIPHER"
    choices = ("AES-128-GCM", "AES-192-GCM", "AES-256-GCM", "CHACHA20-POLY1305", "none")

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "CIPHER"

    def parse(self, text: str) -> Cipher:
        from ovpnctl.keys import Cipher  # noqa: PLC0415

        return Cipher.parse(text)


class ModeType(_ChoiceLike):
    name = "MODE"
    choices = ("p2p", "mp")

    def parse(self, text: str) -> Mode:
        from ovpnctl.model import Mode  # noqa: PLC0415

        return Mode.parse(text)


class SlotType(_ChoiceLike):
    name = "SLOT"
    choices = ("primary", "secondary")

    def parse(self, text: str) -> KeySlot:
        from ovpnctl.keys import KeySlot  # noqa: PLC0415

        return KeySlot.parse(text)


IFACE = InterfaceName()
PEER_ID = PeerId()
KEY_ID = KeyId()
KEEPALIVE = KeepaliveType()
CIPHER = CipherType()
MODE = ModeType()
SLOT = SlotType()


def require_one_of(**options: object) -> None:
    """At least one of several optional settings must be given (e.g. `peer set`)."""
    if all(value is None for value in options.values()):
        names = ", ".join("--" + name.replace("_", "-") for name in options)
        raise UsageError(f"nothing to change; give at least one of {names}")
