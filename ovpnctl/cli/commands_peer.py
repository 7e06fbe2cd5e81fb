"""`ovpnctl peer`: add, change and delete peers of a DCO interface."""

from __future__ import annotations

import click

from ovpnctl.backend import Backend, Capability
from ovpnctl.cli.common import dry_run_option, pass_state
from ovpnctl.cli.params import IFACE, KEEPALIVE, PEER_ID, EndpointType, VpnAddress, require_one_of
from ovpnctl.cli.state import CliState
from ovpnctl.cli.supervised import supervised_peer_add
from ovpnctl.endpoint import Endpoint, IPAddress
from ovpnctl.errors import BackendUnavailableError, ExitCode, OvpnError
from ovpnctl.model import Keepalive, PeerConfig
from ovpnctl.sockets import check_peer_socket, open_udp_socket

REMOTE_HELP = "The peer's transport address (UDP): A.B.C.D:PORT or [IPV6]:PORT."
LOCAL_HELP = (
    "Local transport address to send from: ADDR:PORT or ADDR (port 0: the socket's). "
    "With a one-shot 'peer add' the UDP socket is bound here."
)
VPN4_HELP = "The peer's tunnel IPv4 address; mp interfaces route to the peer by it."
VPN6_HELP = "The peer's tunnel IPv6 address; mp interfaces route to the peer by it."
KEEPALIVE_HELP = (
    "Kernel keepalive: send a ping after INTERVAL idle seconds, delete the peer after "
    "TIMEOUT seconds without traffic (e.g. 10/60)."
)


class SocketOwnershipError(OvpnError):
    """A one-shot `peer add` that the kernel could not keep (see the two cases below)."""


@click.group("peer")
def peer() -> None:
    """Add, change and delete the peers of a DCO interface.

    A peer is the other end of a tunnel: its id (carried in every packet),
    its UDP address, its tunnel addresses (mp) and the kernel keepalive.

    \b
    Example:
      ovpnctl peer add ovpn0 1 --remote 192.0.2.1:1194 --keepalive 10/60
    """


@peer.command("add")
@click.argument("iface", type=IFACE)
@click.argument("peer_id", type=PEER_ID)
@click.option("--remote", required=True, type=EndpointType("--remote"), help=REMOTE_HELP)
@click.option("--local", type=EndpointType("--local", port_optional=True), help=LOCAL_HELP)
@click.option("--vpn-ipv4", type=VpnAddress(4, "--vpn-ipv4"), help=VPN4_HELP)
@click.option("--vpn-ipv6", type=VpnAddress(6, "--vpn-ipv6"), help=VPN6_HELP)
@click.option("--keepalive", type=KEEPALIVE, help=KEEPALIVE_HELP)
@dry_run_option
@pass_state
def add(  # noqa: PLR0917 - one parameter per click option
    state: CliState,
    iface: str,
    peer_id: int,
    remote: Endpoint,
    local: Endpoint | None,
    vpn_ipv4: IPAddress | None,
    vpn_ipv6: IPAddress | None,
    keepalive: Keepalive | None,
    dry_run: bool,
) -> None:
    """Add peer PEER_ID (0-16777215) to IFACE, sending to --remote over UDP.

    ovpnctl binds a UDP socket (to --local, else any address and a free port)
    and hands it to the kernel with the peer. FreeBSD: OVPN_NEW_PEER (then
    OVPN_SET_PEER for --keepalive); the kernel keeps the socket after ovpnctl
    exits, and allows one socket per interface, so this is refused when the
    interface already has peers on another process's socket.

    Linux: the kernel drops a peer as soon as the process that passed its
    socket exits, so a one-shot "peer add" is refused (exit 69). Use
    "ovpnctl up CONFIG", which holds the socket, or --dry-run to see the
    OVPN_CMD_PEER_NEW request.

    When "ovpnctl up" runs IFACE, it adds the peer itself, on the socket it
    holds (on both kernels), until its next apply.

    Control packets (the TLS handshake) arriving on the socket are not read
    by anyone: install keys with "ovpnctl key add".

    \b
    Examples:
      ovpnctl peer add ovpn0 1 --remote 192.0.2.1:1194 --local 0.0.0.0:1194
      ovpnctl peer add ovpns0 7 --remote [2001:db8::7]:1194 --vpn-ipv4 10.8.0.7 \\
          --keepalive 10/60
    """
    config = PeerConfig(peer_id, remote, local, vpn_ipv4, vpn_ipv6, keepalive)
    if not dry_run and supervised_peer_add(state, iface, config):
        return  # `ovpnctl up` runs IFACE: it added the peer on the socket it holds
    with state.change(dry_run=dry_run) as backend:
        if dry_run:
            backend.add_peer(iface, config, None)
            return
        _refuse_unkept_socket(backend, iface)
        sock = open_udp_socket(_bind_address(config))
        try:
            where = check_peer_socket(sock).local
            backend.add_peer(iface, config, sock)
        finally:
            sock.close()  # the kernel holds its own reference now
    state.output.note(f"peer {peer_id} on {iface}: UDP socket {where}, now held by the kernel")


def _bind_address(config: PeerConfig) -> Endpoint:
    """--local, else the wildcard address of the remote's IP version and a free port."""
    if config.local is not None:
        return config.local
    assert config.remote is not None
    wildcard = "0.0.0.0:0" if config.remote.unmapped().family == 4 else "[::]:0"
    return Endpoint.parse(wildcard)


def _refuse_unkept_socket(backend: Backend, iface: str) -> None:
    """Refuse, before any request, the one-shot adds a kernel would not keep."""
    if Capability.KERNEL_HOLDS_SOCKET not in backend.capabilities:
        raise BackendUnavailableError(
            f"{backend.name}: a peer added by a one-shot 'peer add' would vanish when "
            "ovpnctl exits (the kernel does not hold its socket); use 'ovpnctl up CONFIG', "
            "which keeps the socket open"
        )
    if Capability.ONE_SOCKET_PER_INTERFACE in backend.capabilities:
        existing = backend.state(iface).peers
        if existing:
            ids = ", ".join(str(p.peer_id) for p in existing[:5])
            more = ", ..." if len(existing) > 5 else ""
            raise SocketOwnershipError(
                f"{iface} already has peers ({ids}{more}) on another process's UDP socket and "
                f"the kernel allows one socket per interface (it would answer EBUSY); add "
                f"peers from the process that owns that socket, or delete them first",
                exit_code=ExitCode.TEMPFAIL,
            )


@peer.command("set")
@click.argument("iface", type=IFACE)
@click.argument("peer_id", type=PEER_ID)
@click.option("--keepalive", type=KEEPALIVE, help=KEEPALIVE_HELP)
@click.option("--remote", type=EndpointType("--remote"), help=REMOTE_HELP)
@click.option("--local", type=EndpointType("--local", port_optional=True), help=LOCAL_HELP)
@click.option("--vpn-ipv4", type=VpnAddress(4, "--vpn-ipv4"), help=VPN4_HELP)
@click.option("--vpn-ipv6", type=VpnAddress(6, "--vpn-ipv6"), help=VPN6_HELP)
@dry_run_option
@pass_state
def set_peer(  # noqa: PLR0917 - one parameter per click option
    state: CliState,
    iface: str,
    peer_id: int,
    keepalive: Keepalive | None,
    remote: Endpoint | None,
    local: Endpoint | None,
    vpn_ipv4: IPAddress | None,
    vpn_ipv6: IPAddress | None,
    dry_run: bool,
) -> None:
    """Change a live peer's keepalive or addresses.

    FreeBSD: OVPN_SET_PEER sets the keepalive; a peer's addresses cannot be
    changed (delete and re-add it). An interval or timeout of 0 does not
    stop timers already running on FreeBSD. Linux: OVPN_CMD_PEER_SET
    changes any of them; only the options given are sent.

    \b
    Examples:
      ovpnctl peer set ovpn0 1 --keepalive 10/60
      ovpnctl peer set ovpns0 7 --vpn-ipv4 10.8.0.9
    """
    require_one_of(
        keepalive=keepalive, remote=remote, local=local, vpn_ipv4=vpn_ipv4, vpn_ipv6=vpn_ipv6
    )
    addresses = (remote, local, vpn_ipv4, vpn_ipv6)
    update = None
    if any(value is not None for value in addresses):
        update = PeerConfig(peer_id, remote, local, vpn_ipv4, vpn_ipv6)
    with state.change(dry_run=dry_run) as backend:
        if update is not None:
            backend.update_peer(iface, update)
        if keepalive is not None:
            backend.set_keepalive(iface, peer_id, keepalive)


@peer.command("del")
@click.argument("iface", type=IFACE)
@click.argument("peer_id", type=PEER_ID)
@dry_run_option
@pass_state
def delete(state: CliState, iface: str, peer_id: int, dry_run: bool) -> None:
    """Delete a peer and its keys.

    FreeBSD: OVPN_DEL_PEER (queues a DEL_PEER event with reason "requested").
    Linux: OVPN_CMD_PEER_DEL (every listener gets a PEER_DEL_NTF "userspace").

    \b
    Example:
      ovpnctl peer del ovpn0 1
    """
    with state.change(dry_run=dry_run) as backend:
        backend.del_peer(iface, peer_id)
