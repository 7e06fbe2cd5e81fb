"""The `ovpnctl` root group: global options, lazy subcommands, failures -> exit codes.

Subcommands are imported by name from `main.COMMANDS` only when used. Failures are
turned into one stderr line and a sysexits status in `OvpnctlGroup.main`, which both
the console script and click's test runner go through.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Any

import click

from ovpnctl import __version__
from ovpnctl.cli import exits
from ovpnctl.cli.main import COMMANDS
from ovpnctl.cli.state import CliState

BACKEND_CHOICES = ("freebsd", "linux")  # ovpnctl.backend.BACKEND_NAMES, without importing it
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class OvpnctlGroup(click.Group):
    """Root group: lazy subcommands, and one place that maps failures to exit codes."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module = importlib.import_module(entry[0])
        command = getattr(module, entry[1])
        assert isinstance(command, click.Command)
        return command

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        try:
            result = super().main(
                argv,
                exits.PROG,  # also under test runners, which pass the function's name
                complete_var,
                standalone_mode=False,
                **extra,
            )
            code = result if isinstance(result, int) and not isinstance(result, bool) else 0
        except BaseException as exc:  # every failure becomes a status
            if isinstance(exc, SystemExit):
                raise
            code = exits.failure(exc, verbose=_verbosity(argv))
        if standalone_mode:
            sys.exit(code)
        return code


def _verbosity(argv: Sequence[str]) -> int:
    """-v count from the raw arguments (the context may not exist when parsing failed)."""
    count = 0
    for arg in argv:
        if arg == "--":
            break
        if arg == "--verbose":
            count += 1
        elif arg.startswith("-") and not arg.startswith("--") and set(arg[1:]) == {"v"}:
            count += len(arg) - 1
    return count


def _print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"ovpnctl {__version__}")
        ctx.exit(0)


@click.group(cls=OvpnctlGroup, context_settings=CONTEXT_SETTINGS)
@click.option(
    "--backend",
    type=click.Choice(BACKEND_CHOICES),
    default=None,
    help="Kernel to drive: freebsd (if_ovpn ioctls) or linux (ovpn netlink). "
    "Default: the running OS. With --dry-run, freebsd works on any OS.",
)
@click.option(
    "--json",
    "json_mode",
    is_flag=True,
    help="Machine-readable output: one JSON document (show) or one JSON object per "
    "line (events, --dry-run). The schemas are stable and listed in ovpnctl(8).",
)
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="More detail: -v adds the packed request bytes to --dry-run; -vv prints "
    "tracebacks of internal errors.",
)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Print the version and exit.",
)
@click.pass_context
def cli(ctx: click.Context, backend: str | None, json_mode: bool, verbose: int) -> None:
    """Inspect and configure the kernel's OpenVPN data channel offload (DCO).

    ovpnctl talks to the kernel directly: on FreeBSD to if_ovpn through
    SIOCSDRVSPEC/SIOCGDRVSPEC ioctls carrying libnv nvlists, on Linux to the
    ovpn driver through rtnetlink and generic netlink. It creates interfaces,
    adds peers, installs keys and reads counters and events, like wg(8) does
    for WireGuard. It does not do the TLS handshake: keys come from files.

    Every command that changes the kernel accepts --dry-run, which prints the
    exact requests instead of sending them.

    \b
    Examples:
      ovpnctl show
      ovpnctl iface create ovpn0 --mode p2p
      ovpnctl --backend freebsd peer add ovpn0 1 --remote 192.0.2.1:1194 --dry-run
    """
    state = ctx.ensure_object(CliState)
    state.backend_name = backend
    state.json = json_mode
    state.verbose = verbose
    ctx.call_on_close(state.close)
