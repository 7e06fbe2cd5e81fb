"""Refusals from the sheet's error catalogue (section 4.1) -> the one line the user sees."""

from __future__ import annotations

import errno

import pytest

from ovpnctl.errors import ExitCode, KernelError
from ovpnctl.linux.errors import explain
from ovpnctl.linux.genl import Cmd
from ovpnctl.linux.nlsock import ExtAck

CTX = {"ifname": "ovpn0", "peer_id": 999, "slot": "secondary", "fd": 3,
       "cipher": "AES-256-GCM", "key_len": 16}  # fmt: skip

CATALOGUE = [
    # (command, errno, extack message, expected line, exit code)
    (Cmd.PEER_GET, errno.ENOENT, "ovpn: cannot find peer with id 999",
     "ovpn0 has no peer 999", ExitCode.NOINPUT),
    (Cmd.PEER_DEL, errno.ENOENT, "ovpn: cannot find peer with id 999",
     "ovpn0 has no peer 999", ExitCode.NOINPUT),
    (Cmd.PEER_SET, errno.ENOENT, "ovpn: cannot find peer with id 999",
     "ovpn0 has no peer 999", ExitCode.NOINPUT),
    (Cmd.KEY_NEW, errno.ENOENT, "ovpn: no peer with id 999 to set key for",
     "ovpn0 has no peer 999 to install a key for; add the peer first", ExitCode.NOINPUT),
    (Cmd.KEY_SWAP, errno.ENOENT, "ovpn: no peer with id 999 to swap keys for",
     "ovpn0 has no peer 999", ExitCode.NOINPUT),
    (Cmd.KEY_DEL, errno.ENOENT, "ovpn: no peer with id 999 to delete key for",
     "ovpn0 has no peer 999", ExitCode.NOINPUT),
    (Cmd.KEY_GET, errno.ENOENT, "ovpn: cannot find peer with id 999",
     "ovpn0 has no peer 999", ExitCode.NOINPUT),
    (Cmd.KEY_GET, errno.ENOENT, "ovpn: cannot extract key from slot 1 for peer 999",
     "ovpn0: peer 999 has no key in the secondary slot", ExitCode.NOINPUT),
    (Cmd.KEY_NEW, errno.EINVAL, "ovpn: cannot install new key for peer 999",
     "ovpn0 refused the AES-256-GCM key for peer 999: the crypto layer cannot use a 16-byte "
     "key with this cipher", ExitCode.DATAERR),
    (Cmd.KEY_NEW, errno.EINVAL, "ovpn: unsupported cipher",
     "ovpn0 refused the AES-256-GCM key for peer 999: the kernel does not support it",
     ExitCode.DATAERR),
    (Cmd.PEER_NEW, errno.EEXIST, "ovpn: cannot add new peer (id=999) to hashtable: -17",
     "ovpn0 already has a peer 999; delete it first", ExitCode.DATAERR),
    (Cmd.PEER_NEW, errno.EADDRINUSE, "ovpn: cannot add new peer (id=999) to hashtable: -98",
     "ovpn0 refused peer 999: its VPN address is already assigned to another peer",
     ExitCode.DATAERR),
    (Cmd.PEER_SET, errno.EADDRINUSE, "ovpn: VPN IP is already assigned to another peer",
     "ovpn0 refused to change peer 999: the VPN address is already assigned to another peer",
     ExitCode.DATAERR),
    (Cmd.PEER_NEW, errno.EINVAL, "ovpn: VPN IP must be provided in MP mode",
     "ovpn0 is multipoint: peer 999 needs a VPN address (IPv4 or IPv6) so that packets can "
     "be routed to it", ExitCode.DATAERR),
    (Cmd.PEER_NEW, errno.EINVAL, "ovpn: at least one VPN IP must be configured in MP mode",
     "ovpn0 is multipoint: peer 999 needs a VPN address (IPv4 or IPv6) so that packets can "
     "be routed to it", ExitCode.DATAERR),
    (Cmd.PEER_NEW, errno.EINVAL, "ovpn: unexpected VPN IP in P2P mode",
     "ovpn0 refused peer 999: unexpected VPN IP in P2P mode", ExitCode.DATAERR),
    (Cmd.PEER_NEW, errno.EINVAL, "ovpn: missing remote IP address for UDP socket",
     "ovpn0 refused peer 999: missing remote IP address for UDP socket", ExitCode.DATAERR),
    (Cmd.PEER_NEW, errno.EINVAL, "ovpn: keepalive interval and timeout are required together",
     "ovpn0 refused peer 999: keepalive interval and timeout are required together",
     ExitCode.DATAERR),
    (Cmd.PEER_NEW, errno.ENOTSOCK, "ovpn: cannot lookup peer socket (fd=3): -9",
     "ovpn0 refused peer 999: descriptor 3 is not an open socket", ExitCode.SOFTWARE),
    (Cmd.PEER_NEW, errno.ENOTSOCK, "ovpn: cannot encapsulate socket: -16",
     "ovpn0 refused peer 999: the UDP socket already carries another ovpn interface (or "
     "another UDP tunnel); use a socket of its own", ExitCode.DATAERR),
    (Cmd.PEER_NEW, errno.ENOTSOCK, "ovpn: cannot encapsulate socket: -22",
     "ovpn0 refused peer 999: the TCP socket is not connected; connect (or accept) it before "
     "adding the peer", ExitCode.DATAERR),
    (Cmd.PEER_NEW, errno.ENOTSOCK, "ovpn: cannot encapsulate socket: -95",
     "ovpn0 refused peer 999: the socket is neither UDP nor TCP", ExitCode.DATAERR),
    (Cmd.PEER_DEL, errno.EINVAL, "ovpn: specified interface is not ovpn",
     "OVPN_CMD_PEER_DEL: ovpn0 is not an ovpn interface", ExitCode.USAGE),
    (Cmd.PEER_DEL, errno.ENODEV, "ovpn: ifindex does not match any interface",
     "OVPN_CMD_PEER_DEL: there is no interface named ovpn0 in this network namespace",
     ExitCode.NOINPUT),
    (Cmd.PEER_NEW, errno.EPERM, None,
     "OVPN_CMD_PEER_NEW on ovpn0: permission denied; ovpn requests need CAP_NET_ADMIN (root)",
     ExitCode.NOPERM),
    (Cmd.KEY_NEW, errno.ERANGE, "binary attribute size out of range",
     "OVPN_CMD_KEY_NEW on ovpn0: the kernel rejected the request: binary attribute size out "
     "of range (an ovpnctl/kernel mismatch; please report it)", ExitCode.SOFTWARE),
    (Cmd.PEER_GET, 12345, None, "OVPN_CMD_PEER_GET on ovpn0 failed: Unknown error 12345",
     ExitCode.OSERR),
]  # fmt: skip


@pytest.mark.parametrize(("cmd", "err", "text", "line", "code"), CATALOGUE)
def test_catalogue(cmd: Cmd, err: int, text: str | None, line: str, code: ExitCode) -> None:
    exc = explain(cmd, err, ExtAck(message=text), CTX)
    assert isinstance(exc, KernelError)
    assert exc.message == line
    assert "\n" not in exc.message
    assert exc.exit_code == code
    assert exc.errno == err
    assert exc.command == cmd.kernel_name


def test_missing_attribute_is_reported_as_a_mismatch_with_its_id() -> None:
    exc = explain(Cmd.PEER_NEW, errno.EINVAL, ExtAck(missing_type=6, missing_nest=20), CTX)
    assert exc.message == (
        "OVPN_CMD_PEER_NEW on ovpn0: the kernel rejected the request: required attribute 6 "
        "is missing (an ovpnctl/kernel mismatch; please report it)"
    )
    assert exc.exit_code == ExitCode.SOFTWARE
