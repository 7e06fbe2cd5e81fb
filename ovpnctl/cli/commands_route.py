"""`ovpnctl route`: routes and pf policy routing toward a peer's tunnel address.

A multipoint DCO interface picks the peer for a packet from routing, so "send
10.1.0.0/16 to peer 3" is a route via peer 3's VPN address. The routes themselves are
the system's: this group renders route(8) / ip-route(8) / pf.conf(5) text with
`ovpnctl.routes` and runs the system tool, or with --dry-run only prints the command.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from ovpnctl.cli.common import dry_run_option, pass_state
from ovpnctl.cli.params import IFACE
from ovpnctl.cli.state import CliState
from ovpnctl.errors import UsageError, ValidationError
from ovpnctl.routes import (
    FREEBSD_NETSTAT,
    PolicyRoute,
    Route,
    System,
    check_anchor,
    current_system,
    freebsd_routes,
    load_pf_anchor,
    parse_network,
    render_pf_anchor,
    render_route,
    run,
)

if TYPE_CHECKING:
    from ovpnctl.endpoint import IPAddress, IPNetwork

VIA_HELP = (
    "The peer's tunnel (VPN) address: the kernel sends the traffic to the peer that has "
    "it. Without --via the route points at the interface (fine with a single peer)."
)


def _address(text: str | None, what: str) -> IPAddress | None:
    if text is None:
        return None
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        raise ValidationError(f"{what} {text!r} is not an IP address") from None


def _network(text: str | None, what: str) -> IPNetwork | None:
    return None if text is None else parse_network(text, what)


def _system(state: CliState) -> System:
    """Whose route syntax: the --backend given, else the running OS."""
    if state.backend_name == "freebsd":
        return "freebsd"
    if state.backend_name == "linux":
        return "linux"
    return current_system()


def _execute(
    state: CliState, argv: Sequence[str], *, dry_run: bool, stdin: str | None = None
) -> None:
    if dry_run:
        if state.json:
            state.output.record({"run": list(argv), "stdin": stdin})
        else:
            state.output.text("dry run: " + " ".join(argv))
            if stdin:
                state.output.text(stdin.rstrip("\n"))
        return
    run(argv, state.command_runner, stdin=stdin)


@click.group("route")
def route() -> None:
    """Route traffic to peers of a DCO interface (route(8), ip(8), pf(4)).

    \b
    Example:
      ovpnctl route add ovpns0 10.1.0.0/16 --via 10.8.0.7 --dry-run
    """


def _route_command(action: str) -> click.Command:
    verb = "Add" if action == "add" else "Delete"

    @click.command(action if action == "add" else "del")
    @click.argument("iface", type=IFACE)
    @click.argument("destination", metavar="DEST")
    @click.option("--via", metavar="ADDRESS", help=VIA_HELP)
    @dry_run_option
    @pass_state
    def command(
        state: CliState, iface: str, destination: str, via: str | None, dry_run: bool
    ) -> None:
        route_ = Route(parse_network(destination), iface, _address(via, "--via"))
        argv = render_route(route_, _system(state), "add" if action == "add" else "delete")
        _execute(state, argv, dry_run=dry_run)

    command.help = (
        f"{verb} a route to DEST (a network or address) through IFACE.\n\n"
        "Runs route(8) on FreeBSD and ip-route(8) on Linux (see --dry-run). In mp mode "
        "give --via the peer's tunnel address: FreeBSD matches the route's gateway "
        "against each peer's --vpn-ipv4/--vpn-ipv6, Linux uses it as the next hop.\n\n"
        "\b\nExample:\n"
        f"  ovpnctl route {command.name} ovpns0 10.1.0.0/16 --via 10.8.0.7"
    )
    return command


route.add_command(_route_command("add"))
route.add_command(_route_command("delete"))


@route.command("show")
@click.argument("iface", type=IFACE)
@pass_state
def show(state: CliState, iface: str) -> None:
    """Show the routes through IFACE, as the system's routing tool prints them.

    Linux: ip route show dev IFACE, both families. FreeBSD: the lines of
    netstat -rn -W that name IFACE. With --json, the tool's own JSON objects
    under "routes": ip -j's on Linux, netstat --libxo json's rt-entry objects
    whose interface-name is IFACE on FreeBSD.

    \b
    Example:
      ovpnctl --json route show ovpns0
    """
    if _system(state) == "linux":
        _show_linux(state, iface)
    else:
        _show_freebsd(state, iface)


def _show_linux(state: CliState, iface: str) -> None:
    json_flag = ["-j"] if state.json else []
    outputs = [
        run(["ip", *json_flag, family, "route", "show", "dev", iface], state.command_runner).stdout
        for family in ("-4", "-6")
    ]
    if state.json:
        routes = [entry for text in outputs for entry in (json.loads(text) if text.strip() else [])]
        state.output.document({"interface": iface, "routes": routes})
        return
    for text in outputs:
        if text.strip():
            state.output.text(text.rstrip("\n"))


def _show_freebsd(state: CliState, iface: str) -> None:
    if state.json:
        routes = [found.entry for found in freebsd_routes(iface, state.command_runner)]
        state.output.document({"interface": iface, "routes": routes})
        return
    for family in ("inet", "inet6"):
        argv = [FREEBSD_NETSTAT, "-rn", "-W", "-f", family]
        lines = run(argv, state.command_runner).stdout.splitlines()
        header = [line for line in lines if line.startswith("Destination")]
        mine = [line for line in lines if iface in line.split()]
        if mine:
            state.output.text("\n".join(header[:1] + mine))


@route.command("pf-rules")
@click.argument("iface", type=IFACE)
@click.option("--via", metavar="ADDRESS", required=True, help="The peer's tunnel address.")
@click.option("--from", "source", metavar="NET", help="Only traffic from NET (default any).")
@click.option("--to", "destination", metavar="NET", help="Only traffic to NET (default any).")
@click.option(
    "--in", "arriving_on", type=IFACE, help="Only traffic arriving on this interface (a LAN)."
)
@click.option("--anchor", metavar="NAME", help="pf anchor to load the rule into (with --load).")
@click.option("--load", is_flag=True, help="Load the rule: pfctl -a NAME -f - (replaces it).")
@dry_run_option
@pass_state
def pf_rules(  # noqa: PLR0917 - one parameter per click option
    state: CliState,
    iface: str,
    via: str,
    source: str | None,
    destination: str | None,
    arriving_on: str | None,
    anchor: str | None,
    load: bool,
    dry_run: bool,
) -> None:
    """Print (or load) a pf route-to rule sending traffic to one peer.

    Policy routing with pf(4) on FreeBSD: route-to (IFACE ADDRESS) hands
    packets to if_ovpn with the peer's tunnel address as gateway. pf's IPv6
    route-to path lets that gateway select the peer; for IPv4, with several
    peers, the packet's destination decides, so also add a route via the same
    peer ("ovpnctl route add"). The printed anchor repeats this caveat.

    \b
    Examples:
      ovpnctl route pf-rules ovpns0 --via 10.8.0.7 --from 192.168.10.0/24 --in em1
      ovpnctl route pf-rules ovpns0 --via 10.8.0.7 --anchor ovpn/peer7 --load
    """
    gateway = _address(via, "--via")
    assert gateway is not None
    rule = PolicyRoute(
        iface,
        gateway,
        source=_network(source, "--from"),
        destination=_network(destination, "--to"),
        arriving_on=arriving_on,
    )
    if anchor is not None:
        check_anchor(anchor)
    if load or dry_run:
        if anchor is None:
            raise UsageError("--load needs --anchor NAME (the pf anchor whose rules it replaces)")
        if dry_run:
            argv = ["pfctl", "-a", anchor, "-f", "-"]
            _execute(state, argv, dry_run=True, stdin=render_pf_anchor([rule]))
        else:
            load_pf_anchor(anchor, [rule], runner=state.command_runner)
        return
    text = render_pf_anchor([rule])
    if state.json:
        state.output.record({"anchor": anchor, "text": text})
    else:
        state.output.text(text.rstrip("\n"))
