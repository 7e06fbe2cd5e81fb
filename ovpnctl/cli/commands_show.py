"""`ovpnctl show`: what the kernel reports about its DCO interfaces."""

from __future__ import annotations

import click

from ovpnctl.cli.common import pass_state
from ovpnctl.cli.params import IFACE
from ovpnctl.cli.state import CliState


@click.command("show")
@click.argument("iface", type=IFACE, required=False)
@pass_state
def show(state: CliState, iface: str | None) -> None:
    """Show interfaces, their peers and counters, as the kernel reports them.

    Read-only. FreeBSD: OVPN_GET_STATS (interface counters), OVPN_GET_PEER_STATS
    (peers and their tunnel traffic) and OVPN_POLL_PKT (queued events, without
    consuming them). Linux: RTM_GETLINK, OVPN_CMD_PEER_GET (dump) and
    OVPN_CMD_KEY_GET. Both need root.

    What a kernel cannot report is shown as a dash (null in --json), never as 0:
    FreeBSD cannot read back a peer's addresses, keepalive or keys. FreeBSD's
    "tunnel" and "transport" counters report "out" equal to "in" (a kernel
    defect); they are marked.

    \b
    Examples:
      ovpnctl show
      ovpnctl show ovpn0
      ovpnctl --json show | jq '.interfaces[].peers[].peer_id'
    """
    backend = state.backend()
    names = [iface] if iface is not None else backend.interfaces()
    states = [backend.state(name) for name in names]
    capabilities = [capability.value for capability in backend.capabilities]
    state.output.interfaces(states, backend.name, capabilities)
