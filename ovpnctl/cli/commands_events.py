"""`ovpnctl events`: kernel notifications (peer deleted, key rotation due, peer floated).

The two kernels deliver them in incompatible ways, and the difference matters to a
running openvpn: FreeBSD keeps one queue per interface and *reading removes* the
notification, so by default only the count is shown; Linux multicasts every event to
every listener, so listening is harmless but only sees what happens from now on.
"""

from __future__ import annotations

import click

from ovpnctl.backend import Backend, Capability
from ovpnctl.cli.common import pass_state
from ovpnctl.cli.params import IFACE
from ovpnctl.cli.state import CliState
from ovpnctl.errors import UsageError
from ovpnctl.model import Event, EventKind

CONSUME_WARNING = (
    "reading an event removes it from the kernel's queue, and a running openvpn on this "
    "interface needs them (peer timeouts, key rotation, address changes); "
    "use --consume to read them anyway"
)


@click.command("events")
@click.argument("iface", type=IFACE, required=False)
@click.option("--follow", "-f", is_flag=True, help="Keep printing events as they happen.")
@click.option(
    "--consume",
    is_flag=True,
    help="FreeBSD: read (and so remove) queued events. Linux: no effect, events are "
    "multicast and reading them takes nothing away.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Stop following after SECONDS (implies --follow).",
)
@pass_state
def events(
    state: CliState, iface: str | None, follow: bool, consume: bool, timeout: float | None
) -> None:
    """Show the kernel's notifications for one or all DCO interfaces.

    FreeBSD queues up to 31 notifications per interface, and reading one
    removes it. Without --consume only the count is shown (OVPN_POLL_PKT,
    harmless), and --follow prints the count whenever it changes. With
    --consume they are read (OVPN_GET_PKT until the queue is empty) and
    printed, once or, with --follow, as they arrive.

    Linux multicasts notifications (OVPN_CMD_PEER_DEL_NTF, KEY_SWAP_NTF,
    PEER_FLOAT_NTF) to every listener and keeps no queue, so only --follow
    makes sense there: it subscribes to the "peers" group and prints events
    from now on. Note they arrive in the network namespace of the peer's
    socket.

    With --json each event is one JSON object per line.

    \b
    Examples:
      ovpnctl events
      ovpnctl events ovpn0 --consume
      ovpnctl --json events --follow --timeout 60
    """
    if timeout is not None:
        follow = True
    backend = state.backend()
    queued = Capability.EVENT_QUEUE in backend.capabilities
    if follow:
        if queued and not consume:
            state.output.note(f"note: only counting queued events; {CONSUME_WARNING}")
        _follow(state, backend, iface, consume=consume, timeout=timeout)
        return
    if not queued:
        raise UsageError(
            f"{backend.name}: the kernel keeps no queue of past events; "
            "use --follow (and --timeout SECONDS) to listen for new ones"
        )
    names = [iface] if iface is not None else backend.interfaces()
    if not consume:
        for name in names:
            count = backend.pending_events(name)
            state.output.event(Event(EventKind.PENDING, name, None, raw={"pending": count}))
        state.output.note(f"note: {CONSUME_WARNING}")
        return
    for name in names:
        for event in backend.consume_events(name):
            state.output.event(event)


def _follow(
    state: CliState, backend: Backend, iface: str | None, *, consume: bool, timeout: float | None
) -> None:
    try:
        for event in backend.watch_events(iface, consume=consume, timeout=timeout):
            state.output.event(event)
    except KeyboardInterrupt:
        return  # Ctrl-C is how a follow normally ends
