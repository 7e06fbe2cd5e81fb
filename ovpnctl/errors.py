"""Errors every layer raises, each carrying the sysexits(3) code the CLI exits with.

One module owns the mapping from "what went wrong" to "what the shell sees", so a script
driving ovpnctl can branch on the exit status without parsing messages, and every
backend reports the same failure the same way.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """sysexits(3) values; the CLI exits with exactly these."""

    OK = 0
    USAGE = 64  # the command line was wrong
    DATAERR = 65  # input data (addresses, keys, config) was wrong
    NOINPUT = 66  # an input file or interface does not exist
    UNAVAILABLE = 69  # the kernel facility (if_ovpn / ovpn) is missing
    SOFTWARE = 70  # internal error: a bug in ovpnctl
    OSERR = 71  # the kernel refused for a reason that is not the user's input
    CANTCREAT = 73  # an output file could not be created
    IOERR = 74
    TEMPFAIL = 75  # try again later (busy, locked)
    PROTOCOL = 76  # the kernel answered something we cannot parse
    NOPERM = 77  # needs root / capability
    CONFIG = 78  # configuration file is wrong


class OvpnError(Exception):
    """Base class: a one-line, user-facing message plus an exit code."""

    exit_code: ExitCode = ExitCode.SOFTWARE

    def __init__(self, message: str, *, exit_code: ExitCode | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self.args[0])


class UsageError(OvpnError):
    """Options that cannot be combined or are missing; caught before any I/O."""

    exit_code = ExitCode.USAGE


class ValidationError(OvpnError):
    """A value the kernel would refuse (or silently mangle); caught before any I/O."""

    exit_code = ExitCode.DATAERR


class KeyMaterialError(OvpnError):
    """Key file missing, unsafe, or of the wrong length. Never includes key bytes."""

    exit_code = ExitCode.DATAERR


class ConfigError(OvpnError):
    """A configuration file is wrong; the message names file, key path and reason."""

    exit_code = ExitCode.CONFIG


class BackendUnavailableError(OvpnError):
    """The selected kernel backend cannot run here (wrong OS, module missing, no pyroute2)."""

    exit_code = ExitCode.UNAVAILABLE


class KernelError(OvpnError):
    """The kernel refused a request. `errno` is the raw OS error; the message explains it."""

    exit_code = ExitCode.OSERR

    def __init__(
        self,
        message: str,
        *,
        errno: int | None = None,
        command: str | None = None,
        exit_code: ExitCode | None = None,
    ) -> None:
        super().__init__(message, exit_code=exit_code)
        self.errno = errno
        self.command = command


class ProtocolError(OvpnError):
    """The kernel's reply did not have the documented shape."""

    exit_code = ExitCode.PROTOCOL


class RollbackError(OvpnError):
    """A multi-step change failed and undoing it failed too: the state is now mixed."""

    exit_code = ExitCode.SOFTWARE
