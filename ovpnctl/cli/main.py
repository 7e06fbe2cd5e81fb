"""The console-script entry point (`ovpnctl`, `python -m ovpnctl`) and the command table.

This module imports no click: `ovpnctl --version` alone, which scripts run to detect
the tool, is answered here without loading the CLI. Everything else goes to the root
group in `root`, which `cli` here also names (imported on first use).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    import click

# name -> (module, attribute). A new command group is one module plus one row here.
COMMANDS: dict[str, tuple[str, str]] = {
    "show": ("ovpnctl.cli.commands_show", "show"),
    "iface": ("ovpnctl.cli.commands_iface", "iface"),
    "peer": ("ovpnctl.cli.commands_peer", "peer"),
    "key": ("ovpnctl.cli.commands_key", "key"),
    "genkey": ("ovpnctl.cli.commands_genkey", "genkey"),
    "events": ("ovpnctl.cli.commands_events", "events"),
    "route": ("ovpnctl.cli.commands_route", "route"),
    "completion": ("ovpnctl.cli.commands_completion", "completion"),
    "apply": ("ovpnctl.cli.commands_config", "apply"),
    "showconf": ("ovpnctl.cli.commands_config", "showconf"),
    "up": ("ovpnctl.cli.commands_up", "up"),
}


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Run the CLI and exit with its status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:
        from ovpnctl import __version__  # noqa: PLC0415

        sys.stdout.write(f"ovpnctl {__version__}\n")
        sys.exit(0)
    from ovpnctl.cli.exits import PROG  # noqa: PLC0415
    from ovpnctl.cli.root import cli  # noqa: PLC0415

    cli.main(args=args, prog_name=PROG)
    raise AssertionError("unreachable: main() always exits")  # pragma: no cover


def __getattr__(name: str) -> click.Group:
    """`from ovpnctl.cli.main import cli`: the root group, loaded on first use."""
    if name == "cli":
        from ovpnctl.cli.root import cli  # noqa: PLC0415

        return cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
