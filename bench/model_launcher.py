"""Bench-only: run the real `ovpnctl` CLI with its FreeBSD backend on the kernel model.

`show` needs a kernel to read from, and benchmarks run where no FreeBSD kernel exists.
Rather than a hidden switch in the product, this launcher (never installed, never
imported by ovpnctl) replaces `ovpnctl.backend.get_backend`, the one function the CLI
asks for a backend, with one that builds `FreeBSDBackend` over the if_ovpn kernel model
from tests/ovpnctl/freebsd/kernel_model.py, populated with a small server: one
multipoint interface with three peers carrying some traffic. Imports happen when the
CLI asks for its backend, as the real path imports the backend lazily too.

Usage: python bench/model_launcher.py [ovpnctl arguments...]
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

if TYPE_CHECKING:
    from ovpnctl.backend import Backend

PEERS = 3
_kept: list[socket.socket] = []  # the peers' socket stays open for the process's life


def model_backend(name: str | None = None, *, dry_run: bool = False) -> Backend:
    """Same signature as `get_backend`; `name` is ignored (always FreeBSD on the model)."""
    from ovpnctl.endpoint import Endpoint
    from ovpnctl.freebsd.backend import FreeBSDBackend
    from ovpnctl.model import Mode, PeerConfig
    from tests.ovpnctl.freebsd.kernel_model import KernelModel

    if dry_run:
        return FreeBSDBackend(dry_run=True)
    model = KernelModel()
    setup = FreeBSDBackend(transport=model)
    ifname = setup.create_interface("ovpn0", Mode.MULTIPOINT)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    model.adopt(sock)
    _kept.append(sock)
    for peer_id in range(1, PEERS + 1):
        remote = Endpoint.parse(f"192.0.2.{peer_id}:1194")
        vpn = Endpoint.parse(f"10.8.0.{peer_id + 1}:0").address
        setup.add_peer(ifname, PeerConfig(peer_id, remote, vpn_ipv4=vpn), sock)
        model.receive(ifname, peer_id, packets=10 * peer_id, size=1200)
    return FreeBSDBackend(transport=model)


def install() -> None:
    import ovpnctl.backend

    ovpnctl.backend.get_backend = model_backend


if __name__ == "__main__":
    install()
    from ovpnctl.cli.main import main

    main()
