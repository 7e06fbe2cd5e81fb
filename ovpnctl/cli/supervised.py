"""Hooks other commands call to hand work to a running `ovpnctl up` for an interface.

Kept import-light: the supervisor modules load only when a supervisor actually answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ovpnctl.cli.state import CliState
    from ovpnctl.model import PeerConfig


def supervised_peer_add(state: CliState, iface: str, peer: PeerConfig) -> bool:
    """Add `peer` through the supervisor that runs `iface`, if there is one.

    True: done (the supervisor's socket carries the peer, which therefore outlives this
    command on Linux and can join an interface that already has peers on FreeBSD).
    False: no supervisor runs `iface`; the caller goes on by itself.
    """
    from ovpnctl.config.paths import Paths  # noqa: PLC0415
    from ovpnctl.supervisor.control import (  # noqa: PLC0415
        raise_for_reply,
        request,
        supervisor_listening,
    )
    from ovpnctl.supervisor.run import peer_to_json  # noqa: PLC0415

    path = Paths.from_env().control_socket(iface)
    if not supervisor_listening(path):
        return False
    reply = raise_for_reply(request(path, {"op": "peer-add", "peer": peer_to_json(peer)}))
    state.output.note(
        f"peer {peer.peer_id} on {iface}: added by the ovpnctl up supervisor on its UDP "
        f"socket {reply.get('socket')}; it lasts until the next apply unless the config "
        "lists it"
    )
    return True
