"""`ovpnctl iface`: create, destroy, set the mode of and start DCO interfaces."""

from __future__ import annotations

import click

from ovpnctl.cli.common import dry_run_option, pass_state
from ovpnctl.cli.params import IFACE, MODE
from ovpnctl.cli.state import CliState
from ovpnctl.model import Mode


@click.group("iface")
def iface() -> None:
    """Create, destroy, switch the mode of, or start DCO interfaces.

    A DCO interface carries the tunnel's plaintext packets; the kernel encrypts
    them for the peer chosen by mode (p2p: the one peer; mp: by VPN address).

    \b
    Example:
      ovpnctl iface create ovpn0 --mode p2p && ovpnctl iface up ovpn0
    """


@iface.command("create")
@click.argument("name", type=IFACE, required=False)
@click.option(
    "--mode",
    type=MODE,
    default="p2p",
    show_default=True,
    help="p2p: one peer (IFF_POINTOPOINT / OVPN_MODE_P2P); mp: a server with many "
    "peers routed by their VPN addresses (IFF_BROADCAST / OVPN_MODE_MP); "
    "'subnet' is accepted for mp.",
)
@dry_run_option
@pass_state
def create(state: CliState, name: str | None, mode: Mode, dry_run: bool) -> None:
    """Create a DCO interface and print its name.

    FreeBSD: SIOCIFCREATE2 on the "openvpn" cloner (NAME must start with
    "ovpn"; without NAME the kernel picks ovpnN), then OVPN_SET_IFMODE.
    The if_ovpn module must be loaded (kldload if_ovpn). Linux: RTM_NEWLINK
    of kind "ovpn" with IFLA_OVPN_MODE; the mode cannot change later.

    \b
    Examples:
      ovpnctl iface create ovpn0
      ovpnctl iface create ovpns0 --mode mp
    """
    with state.change(dry_run=dry_run) as backend:
        created = backend.create_interface(name, mode)
    if dry_run:
        return
    if state.json:
        state.output.record({"interface": created, "mode": mode.value})
    else:
        state.output.text(created)


@iface.command("destroy")
@click.argument("name", type=IFACE)
@dry_run_option
@pass_state
def destroy(state: CliState, name: str, dry_run: bool) -> None:
    """Destroy a DCO interface, and with it all its peers and keys.

    FreeBSD: SIOCIFDESTROY (queued events are discarded; the kernel releases
    the UDP socket it held). Linux: RTM_DELLINK (every peer is removed with
    reason "teardown" and a notification each).

    \b
    Example:
      ovpnctl iface destroy ovpn0
    """
    with state.change(dry_run=dry_run) as backend:
        backend.destroy_interface(name)


@iface.command("mode")
@click.argument("name", type=IFACE)
@click.argument("mode", type=MODE)
@dry_run_option
@pass_state
def set_mode(state: CliState, name: str, mode: Mode, dry_run: bool) -> None:
    """Switch an interface between p2p and mp (multipoint).

    FreeBSD: OVPN_SET_IFMODE, which the kernel refuses (EBUSY) once the
    interface is up, so do it right after "iface create". Linux fixes the
    mode when the link is created; there this command fails.

    \b
    Example:
      ovpnctl iface mode ovpn0 mp
    """
    with state.change(dry_run=dry_run) as backend:
        backend.set_mode(name, mode)


@iface.command("up")
@click.argument("name", type=IFACE)
@dry_run_option
@pass_state
def up(state: CliState, name: str, dry_run: bool) -> None:
    """Start the data channel: from now on packets are encrypted and sent.

    FreeBSD: OVPN_START_VPN, which sets the interface up and its link state
    UP; until then every packet and keepalive is dropped. There is no "down".
    Linux: sets the link administratively up (RTM_NEWLINK with IFF_UP).

    \b
    Example:
      ovpnctl iface up ovpn0
    """
    with state.change(dry_run=dry_run) as backend:
        backend.start(name)
