"""One step of the shared tunnel scenario, run inside a jail through the ovpnctl library.

    python -m tests.freebsd.jail_side STEP '{"me": {...}, "other": {...}, ...}'

Prints a JSON answer on stdout; on an ovpnctl error prints its message on stderr and exits
with its sysexits code. The steps are tests/ovpnctl/freebsd/tunnel.py, also run against
the kernel model by tests/ovpnctl/freebsd/test_tunnel_scenario.py.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from ovpnctl.errors import OvpnError
from ovpnctl.freebsd.backend import FreeBSDBackend
from ovpnctl.model import Keepalive
from tests.ovpnctl.freebsd.tunnel import End, bring_up, rotate


def step(name: str, args: dict[str, Any]) -> Any:
    me, other = End.from_json(args["me"]), End.from_json(args["other"])
    with FreeBSDBackend() as backend:
        if name == "up":
            sock = bring_up(backend, me, other)
            sock.close()  # the kernel keeps its own reference
            return {"interfaces": backend.interfaces()}
        if name in ("install", "swap", "retire"):
            rotate(backend, me, other, int(args["key_id"]), name)
            return {}
        if name == "keepalive":
            interval, timeout = args["keepalive"]
            backend.set_keepalive(me.ifname, me.peer_id, Keepalive(interval, timeout))
            return {}
        if name == "del_peer":
            backend.del_peer(me.ifname, me.peer_id)
            return {}
        if name == "state":
            state = backend.state(me.ifname)
            return {
                "up": state.up,
                "mode": state.mode.value if state.mode else None,
                "pending": state.pending_events,
                "counters": {c.name: [c.rx, c.tx] for c in state.counters},
                "peers": {
                    str(p.peer_id): [
                        p.vpn.rx_packets,
                        p.vpn.tx_packets,
                        p.vpn.rx_bytes,
                        p.vpn.tx_bytes,
                    ]
                    for p in state.peers
                    if p.vpn is not None
                },
            }
        if name == "events":
            return [
                {
                    "kind": e.kind.value,
                    "peer_id": e.peer_id,
                    "reason": e.reason.value if e.reason else None,
                }
                for e in backend.consume_events(me.ifname)
            ]
    raise SystemExit(f"unknown step {name!r}")


def main(argv: list[str]) -> int:
    try:
        answer = step(argv[1], json.loads(argv[2]))
    except OvpnError as exc:
        print(f"ovpnctl: {exc.message}", file=sys.stderr)
        return int(exc.exit_code)
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
