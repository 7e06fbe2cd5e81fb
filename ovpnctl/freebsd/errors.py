"""errno -> one sentence that names the interface/peer and the likely cause.

The kernel answers every if_ovpn request with a bare errno, and several mean different
things per command (EBUSY on SET_IFMODE: the interface is up; on NEW_PEER: a second
socket). Each command lists its explanations in the sheet's check order (in `commands`);
this module holds the ones every request shares and turns a failure into an `OvpnError`.

Errnos are matched by *name* via the running OS's `errno` module: on FreeBSD that gives
the kernel's numbers, and the kernel model used in tests raises the same names.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ovpnctl.errors import ExitCode, KernelError, UsageError


@dataclass(frozen=True, slots=True)
class Explanation:
    """What one errno means for one request. `message` is a str.format template."""

    errno_name: str
    message: str
    exit_code: ExitCode = ExitCode.OSERR
    usage: bool = False  # a refusal caused by doing things in the wrong order

    @property
    def errno(self) -> int | None:
        value: int | None = getattr(errno, self.errno_name, None)
        return value


class KernelUsageError(KernelError, UsageError):
    """The kernel refused because of the order of operations (e.g. mode change when up).

    It is both: callers catching `UsageError` (the Backend contract for set_mode) and
    callers catching `KernelError` (wanting the errno) see it.
    """

    exit_code = ExitCode.USAGE


# Shared by every SIOC[SG]DRVSPEC request, in the order the kernel checks them.
DRVSPEC_ERRORS: tuple[Explanation, ...] = (
    Explanation("ENXIO", "{command}: there is no interface named {ifname}", ExitCode.NOINPUT),
    Explanation(
        "EPERM",
        "{command} on {ifname}: permission denied; if_ovpn requests need root "
        "(inside a jail: a VNET jail)",
        ExitCode.NOPERM,
    ),
    Explanation(
        "E2BIG",
        "{command} on {ifname}: the request exceeds the kernel's 4096-byte limit",
        ExitCode.SOFTWARE,
    ),
    Explanation(
        "EOPNOTSUPP",
        "{command} on {ifname}: the kernel does not know this request "
        "(an older if_ovpn, or {ifname} is not an ovpn interface)",
        ExitCode.UNAVAILABLE,
    ),
    Explanation(
        "EFAULT",
        "{command} on {ifname}: the kernel could not read or write the request buffer",
        ExitCode.SOFTWARE,
    ),
    Explanation("ENOMEM", "{command} on {ifname}: the kernel is out of memory", ExitCode.TEMPFAIL),
    Explanation(
        "EINVAL",
        "{command} on {ifname}: the kernel refused the request as malformed "
        "(or {ifname} is not an ovpn interface)",
        ExitCode.OSERR,
    ),
)

CREATE_ERRORS: tuple[Explanation, ...] = (
    Explanation(
        "EPERM",
        "cannot create {ifname}: permission denied; creating interfaces needs root "
        "(inside a jail: a VNET jail)",
        ExitCode.NOPERM,
    ),
    Explanation(
        "EINVAL",
        "cannot create {ifname}: no cloner accepts that name (is the if_ovpn module "
        "loaded? kldload if_ovpn)",
        ExitCode.UNAVAILABLE,
    ),
    Explanation(
        "EEXIST",
        "cannot create {ifname}: an interface of that name exists, or another ovpn "
        "interface already uses its unit number",
        ExitCode.DATAERR,
    ),
    Explanation(
        "ENOSPC",
        "cannot create {ifname}: the unit number is too large or the name does not fit",
        ExitCode.DATAERR,
    ),
)

DESTROY_ERRORS: tuple[Explanation, ...] = (
    Explanation("ENXIO", "cannot destroy {ifname}: no such interface", ExitCode.NOINPUT),
    Explanation(
        "EPERM",
        "cannot destroy {ifname}: permission denied; destroying interfaces needs root",
        ExitCode.NOPERM,
    ),
    Explanation(
        "EBUSY",
        "cannot destroy {ifname} yet: a decryption is still in flight; try again",
        ExitCode.TEMPFAIL,
    ),
    Explanation(
        "EINVAL",
        "cannot destroy {ifname}: it is not a cloned interface",
        ExitCode.DATAERR,
    ),
)


def explain(errnum: int | None, explanations: Sequence[Explanation]) -> Explanation | None:
    """The first explanation for `errnum`, in the given (check) order."""
    for candidate in explanations:
        if errnum is not None and candidate.errno == errnum:
            return candidate
    return None


def kernel_error(
    command: str,
    exc: OSError,
    explanations: Sequence[Explanation],
    **context: Any,
) -> KernelError:
    """The `KernelError` for `exc`: command-specific meaning first, then the shared ones."""
    context = {"command": command, **context}
    found = explain(exc.errno, explanations) or explain(
        exc.errno, DRVSPEC_ERRORS if command.startswith("OVPN_") else ()
    )
    name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
    if found is None:
        reason = exc.strerror or name
        return KernelError(
            f"{command} on {context.get('ifname', '?')} failed: {reason} ({name})",
            errno=exc.errno,
            command=command,
        )
    message = found.message.format_map(_Context(context))
    cls = KernelUsageError if found.usage else KernelError
    return cls(message, errno=exc.errno, command=command, exit_code=found.exit_code)


class _Context(dict[str, Any]):
    """Unknown template fields render as '?', so a missing detail never hides the error."""

    def __missing__(self, key: str) -> str:
        return "?"
