"""How any failure becomes one line on stderr and a sysexits(3) status.

`ovpnctl: <message>` and `ExitCode` for library errors (the message is the library's,
which names the value and why it is wrong); 64 (EX_USAGE) for a malformed command line,
with the command's help named instead of printed; 70 (EX_SOFTWARE) for a bug, with the
traceback only under -vv. Scripts can therefore branch on the status alone.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys

import click

from ovpnctl.errors import ExitCode, OvpnError

PROG = "ovpnctl"


class OutputClosed(Exception):  # noqa: N818 - an event, not an error of the user's
    """Standard output's reader went away (`ovpnctl show | head`).

    Raised instead of BrokenPipeError, which click would turn into status 1.
    """


def report(message: str) -> None:
    click.echo(f"{PROG}: {message}", err=True)


def usage_failure(exc: click.exceptions.UsageError) -> int:
    """One line: what was wrong and where the command's help is."""
    message = exc.format_message().rstrip()
    ctx = exc.ctx
    if isinstance(exc, click.exceptions.NoArgsIsHelpError) and ctx is not None:
        # `ovpnctl peer` alone: the group's help is the most useful answer.
        click.echo(ctx.get_help(), err=True)
        return ExitCode.USAGE
    if ctx is not None:
        where = ctx.command_path
        sub = where.split(" ", 1)[1] if " " in where else ""
        prefix = f"{sub}: " if sub else ""
        report(f"{prefix}{message} (see '{where} --help')")
    else:
        report(message)
    return ExitCode.USAGE


def failure(exc: BaseException, *, verbose: int) -> int:
    """Exit status for an exception escaping a command, after reporting it."""
    if isinstance(exc, click.exceptions.UsageError):
        return usage_failure(exc)
    if isinstance(exc, OvpnError):
        report(exc.message)
        return int(exc.exit_code)
    if isinstance(exc, click.exceptions.Abort | KeyboardInterrupt):
        report("interrupted")
        return 130  # the shell's convention for SIGINT, as every CLI
    if isinstance(exc, click.ClickException):
        report(exc.format_message())
        return ExitCode.USAGE
    if isinstance(exc, OutputClosed | BrokenPipeError) or (
        isinstance(exc, OSError) and exc.errno == errno.EPIPE
    ):
        _silence_stdout()
        return ExitCode.IOERR
    if verbose >= 2:
        import traceback  # noqa: PLC0415 - only for bugs

        traceback.print_exception(exc, file=sys.stderr)
        report(f"internal error: {type(exc).__name__}: {exc} (a bug)")
    else:
        report(f"internal error: {type(exc).__name__}: {exc} (a bug; -vv shows a traceback)")
    return ExitCode.SOFTWARE


def _silence_stdout() -> None:
    """The reader went away (`| head`): no traceback at interpreter shutdown."""
    with contextlib.suppress(OSError):
        sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - for good
