"""errno + extended ack -> one sentence naming the interface and the peer.

The ovpn driver explains most refusals in its extack message ("ovpn: cannot find peer
with id 999"), but several share an errno (EINVAL covers a P2P peer with a VPN address,
a UDP peer without a remote, a bad key length ...), so each command lists what its
refusals mean, matched on errno and, where needed, on the message; the sheet's error
catalogue (section 4.1) is the source. The sentences follow the FreeBSD backend's
wording for the failures both kernels share, so scripts see the same text on both.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ovpnctl.errors import ExitCode, KernelError, OvpnError
from ovpnctl.linux.genl import Cmd
from ovpnctl.linux.nlsock import ExtAck

DRIVER_PREFIX = "ovpn: "  # every message the driver itself writes starts with this


@dataclass(frozen=True, slots=True)
class Explanation:
    """What one refusal means. `pattern` (a regex) must match the extack message, when
    given; `message` is a str.format template over the request's context."""

    errno_name: str
    message: str
    exit_code: ExitCode = ExitCode.OSERR
    pattern: str | None = None

    def matches(self, err: int, text: str) -> bool:
        if getattr(errno, self.errno_name, None) != err:
            return False
        return self.pattern is None or re.search(self.pattern, text) is not None


def _no_peer(what: str = "") -> Explanation:
    return Explanation("ENOENT", f"{{ifname}} has no peer {{peer_id}}{what}", ExitCode.NOINPUT)


# Every genl request, checked after the command's own list.
COMMON: tuple[Explanation, ...] = (
    Explanation(
        "EPERM",
        "{command} on {ifname}: permission denied; ovpn requests need CAP_NET_ADMIN (root)",
        ExitCode.NOPERM,
    ),
    Explanation(
        "ENODEV",
        "{command}: there is no interface named {ifname} in this network namespace",
        ExitCode.NOINPUT,
    ),
    Explanation(
        "EINVAL",
        "{command}: {ifname} is not an ovpn interface",
        ExitCode.USAGE,
        pattern="is not ovpn",
    ),
    Explanation(
        "EOPNOTSUPP",
        "{command} on {ifname}: this kernel's ovpn driver does not know the request",
        ExitCode.UNAVAILABLE,
    ),
    Explanation("ENOMEM", "{command} on {ifname}: the kernel is out of memory", ExitCode.TEMPFAIL),
)

BY_COMMAND: Mapping[Cmd, tuple[Explanation, ...]] = {
    Cmd.PEER_NEW: (
        Explanation(
            "EEXIST",
            "{ifname} already has a peer {peer_id}; delete it first",
            ExitCode.DATAERR,
        ),
        Explanation(
            "EADDRINUSE",
            "{ifname} refused peer {peer_id}: its VPN address is already assigned to another peer",
            ExitCode.DATAERR,
        ),
        Explanation(
            "ENOTSOCK",
            "{ifname} refused peer {peer_id}: descriptor {fd} is not an open socket",
            ExitCode.SOFTWARE,
            pattern=r"lookup peer socket",
        ),
        Explanation(
            "ENOTSOCK",
            "{ifname} refused peer {peer_id}: the UDP socket already carries another "
            "ovpn interface (or another UDP tunnel); use a socket of its own",
            ExitCode.DATAERR,
            pattern=r"encapsulate socket: -16\b",
        ),
        Explanation(
            "ENOTSOCK",
            "{ifname} refused peer {peer_id}: the TCP socket is not connected; connect "
            "(or accept) it before adding the peer",
            ExitCode.DATAERR,
            pattern=r"encapsulate socket: -22\b",
        ),
        Explanation(
            "ENOTSOCK",
            "{ifname} refused peer {peer_id}: the socket is neither UDP nor TCP",
            ExitCode.DATAERR,
            pattern=r"encapsulate socket",
        ),
        Explanation(
            "EINVAL",
            "{ifname} is multipoint: peer {peer_id} needs a VPN address (IPv4 or IPv6) "
            "so that packets can be routed to it",
            ExitCode.DATAERR,
            pattern=r"VPN IP must be provided|at least one VPN IP",
        ),
    ),
    Cmd.PEER_SET: (
        _no_peer(),
        Explanation(
            "EADDRINUSE",
            "{ifname} refused to change peer {peer_id}: the VPN address is already "
            "assigned to another peer",
            ExitCode.DATAERR,
        ),
    ),
    Cmd.PEER_GET: (_no_peer(),),
    Cmd.PEER_DEL: (_no_peer(),),
    Cmd.KEY_NEW: (
        _no_peer(" to install a key for; add the peer first"),
        Explanation(
            "EINVAL",
            "{ifname} refused the {cipher} key for peer {peer_id}: the kernel does not support it",
            ExitCode.DATAERR,
            pattern=r"unsupported cipher",
        ),
        Explanation(
            "EINVAL",
            "{ifname} refused the {cipher} key for peer {peer_id}: the crypto layer "
            "cannot use a {key_len}-byte key with this cipher",
            ExitCode.DATAERR,
            pattern=r"cannot install new key",
        ),
    ),
    Cmd.KEY_GET: (
        Explanation(
            "ENOENT",
            "{ifname}: peer {peer_id} has no key in the {slot} slot",
            ExitCode.NOINPUT,
            pattern=r"cannot extract key",
        ),
        _no_peer(),
    ),
    Cmd.KEY_SWAP: (_no_peer(),),
    Cmd.KEY_DEL: (_no_peer(),),
}

# Driver messages that are already the whole explanation once the peer is named; the
# remaining EINVAL refusals of PEER_NEW/PEER_SET read well as "<ifname> refused ...".
_REFUSED = "{ifname} refused peer {peer_id}: {reason}"


def strip_prefix(text: str) -> str:
    return text[len(DRIVER_PREFIX) :] if text.startswith(DRIVER_PREFIX) else text


def explain(cmd: Cmd, err: int, ext: ExtAck, context: Mapping[str, Any]) -> OvpnError:
    """The OvpnError for a refused request; `context` fills the message templates
    (ifname, peer_id, slot, fd, cipher, key_len)."""
    text = ext.message or ""
    fields: dict[str, Any] = {
        "command": cmd.kernel_name,
        "ifname": "?",
        "peer_id": "?",
        "slot": "?",
        "fd": "?",
        "cipher": "?",
        "key_len": "?",
        **context,
        "reason": _reason(err, ext),
    }
    for explanation in (*BY_COMMAND.get(cmd, ()), *COMMON):
        if explanation.matches(err, text):
            return _error(explanation.message.format(**fields), err, cmd, explanation.exit_code)
    if cmd in (Cmd.PEER_NEW, Cmd.PEER_SET) and err == errno.EINVAL and text:
        return _error(_REFUSED.format(**fields), err, cmd, ExitCode.DATAERR)
    if ext.missing_type is not None or err == errno.ERANGE:
        # ovpnctl validates ranges and always sends required attributes, so this is a
        # disagreement between ovpnctl and the kernel, not the user's input.
        return _error(
            "{command} on {ifname}: the kernel rejected the request: {reason} "
            "(an ovpnctl/kernel mismatch; please report it)".format(**fields),
            err,
            cmd,
            ExitCode.SOFTWARE,
        )
    return _error("{command} on {ifname} failed: {reason}".format(**fields), err, cmd, None)


def _reason(err: int, ext: ExtAck) -> str:
    parts = []
    if ext.message:
        parts.append(strip_prefix(ext.message))
    if ext.missing_type is not None:
        parts.append(f"required attribute {ext.missing_type} is missing")
    if not parts:
        parts.append(os.strerror(err))
    return "; ".join(parts)


def _error(message: str, err: int, cmd: Cmd, exit_code: ExitCode | None) -> OvpnError:
    return KernelError(message, errno=err, command=cmd.kernel_name, exit_code=exit_code)
