"""FreeBSD host networking against the model of ifconfig(8), route(8) and netstat(1).

The model (freebsd_tools.py) answers only the exact command lines ovpnctl sends, in the
output formats of FreeBSD's sources; what FreeBSDHostNetwork makes of those answers, and
what it asks, is what these tests check.
"""

from __future__ import annotations

import errno
import ipaddress
import json
from collections.abc import Sequence

import pytest

from ovpnctl.errors import BackendUnavailableError, KernelError, RollbackError, ValidationError
from ovpnctl.hostnet import Route
from ovpnctl.hostnet.freebsd import IFCONFIG, FreeBSDHostNetwork
from ovpnctl.model import Mode
from ovpnctl.routes import FREEBSD_ROUTE, NETSTAT_ROUTES_JSON, RunResult
from tests.ovpnctl.hostnet.freebsd_tools import FreeBSDTools

P2P, MP = "ovpn0", "ovpns0"


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


def iface(text: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    return ipaddress.ip_interface(text)


def route(network: str, via: str | None = None) -> Route:
    return Route(ipaddress.ip_network(network), None if via is None else ip(via))


def system(tools: FreeBSDTools) -> FreeBSDTools:
    """A host with an uplink em0 (its default route) and a p2p and an mp DCO interface."""
    tools.create("em0", p2p=False)
    tools.configure("em0", "192.0.2.10/24")
    tools.configure("em0", "2001:db8:ffff::10/64")
    tools.seed_route("-inet", "-net", "0.0.0.0/0", "192.0.2.1")
    tools.create(P2P, p2p=True)
    tools.create(MP, p2p=False)
    return tools


@pytest.fixture
def tools() -> FreeBSDTools:
    return system(FreeBSDTools())


@pytest.fixture
def host(tools: FreeBSDTools) -> FreeBSDHostNetwork:
    return FreeBSDHostNetwork(tools)


# -- addresses -------------------------------------------------------------------------------


def test_addresses_from_netmask_and_prefixlen(
    tools: FreeBSDTools, host: FreeBSDHostNetwork
) -> None:
    tools.configure(MP, "10.8.0.1/24")
    tools.configure(MP, "10.9.0.1/17")
    tools.configure(MP, "2001:db8::1/64")
    status = tools([IFCONFIG, MP]).stdout.splitlines()
    assert status[1:5] == [
        "\tinet6 fe80::4%ovpns0 prefixlen 64 scopeid 0x4",  # the kernel's link-local: skipped
        "\tinet 10.8.0.1 netmask 0xffffff00 broadcast 10.8.0.255",
        "\tinet 10.9.0.1 netmask 0xffff8000 broadcast 10.9.127.255",
        "\tinet6 2001:db8::1 prefixlen 64",
    ]
    assert host.addresses(MP) == [
        iface("10.8.0.1/24"),
        iface("10.9.0.1/17"),
        iface("2001:db8::1/64"),
    ]


def test_addresses_of_a_point_to_point_interface(
    tools: FreeBSDTools, host: FreeBSDHostNetwork
) -> None:
    tools.configure(P2P, "10.9.0.1/32", destination="10.9.0.2")
    tools.configure(P2P, "fd00::1/128", destination="fd00::2")
    status = tools([IFCONFIG, P2P]).stdout
    assert "\tinet 10.9.0.1 --> 10.9.0.2 netmask 0xffffffff\n" in status
    assert "\tinet6 fd00::1 --> fd00::2 prefixlen 128\n" in status
    assert host.addresses(P2P) == [iface("10.9.0.1/32"), iface("fd00::1/128")]


def test_a_missing_interface_has_no_addresses(host: FreeBSDHostNetwork) -> None:
    assert host.addresses("ovpn9") == []


def test_other_ifconfig_failures_are_kernel_errors() -> None:
    def refusing(argv: Sequence[str], *, stdin: str | None = None) -> RunResult:
        return RunResult(1, "", "ifconfig: socket(AF_INET, SOCK_DGRAM): Protocol not supported\n")

    with pytest.raises(KernelError, match="Protocol not supported"):
        FreeBSDHostNetwork(refusing).addresses(P2P)


def test_p2p_address_brings_its_prefix_route(tools: FreeBSDTools, host: FreeBSDHostNetwork) -> None:
    host.add_address(P2P, iface("10.8.0.1/24"), Mode.P2P)
    host.add_address(P2P, iface("fd00::1/64"), Mode.P2P)
    host.add_address(P2P, iface("10.8.9.9/32"), Mode.P2P)  # a host address needs no prefix
    assert tools.calls == [
        [IFCONFIG, P2P, "inet", "10.8.0.1/24", "alias"],
        [FREEBSD_ROUTE, "-n", "add", "-inet", "-net", "10.8.0.0/24", "-interface", P2P],
        [IFCONFIG, P2P, "inet6", "fd00::1/64", "alias"],
        [FREEBSD_ROUTE, "-n", "add", "-inet6", "-net", "fd00::/64", "-interface", P2P],
        [IFCONFIG, P2P, "inet", "10.8.9.9/32", "alias"],
    ]
    assert host.addresses(P2P) == [iface("10.8.0.1/24"), iface("10.8.9.9/32"), iface("fd00::1/64")]
    assert host.routes(P2P) == [route("10.8.0.0/24"), route("fd00::/64")]

    tools.calls.clear()
    host.del_address(P2P, iface("10.8.0.1/24"), Mode.P2P)
    host.del_address(P2P, iface("fd00::1/64"), Mode.P2P)
    assert tools.calls == [
        [FREEBSD_ROUTE, "-n", "delete", "-inet", "-net", "10.8.0.0/24", "-interface", P2P],
        [IFCONFIG, P2P, "inet", "10.8.0.1", "-alias"],
        [FREEBSD_ROUTE, "-n", "delete", "-inet6", "-net", "fd00::/64", "-interface", P2P],
        [IFCONFIG, P2P, "inet6", "fd00::1", "-alias"],
    ]
    assert host.addresses(P2P) == [iface("10.8.9.9/32")]
    assert host.routes(P2P) == []


def test_mp_mode_leaves_the_prefix_route_to_the_kernel(
    tools: FreeBSDTools, host: FreeBSDHostNetwork
) -> None:
    host.add_address(MP, iface("10.8.0.1/24"), Mode.MULTIPOINT)
    assert tools.calls == [[IFCONFIG, MP, "inet", "10.8.0.1/24", "alias"]]
    assert host.routes(MP) == [route("10.8.0.0/24")]  # the kernel's, flags U
    tools.calls.clear()
    host.del_address(MP, iface("10.8.0.1/24"), Mode.MULTIPOINT)
    assert tools.calls == [[IFCONFIG, MP, "inet", "10.8.0.1", "-alias"]]
    assert host.routes(MP) == []


def test_failed_prefix_route_takes_the_address_back(
    tools: FreeBSDTools, host: FreeBSDHostNetwork
) -> None:
    tools.seed_route("-inet", "-net", "10.8.0.0/24", "-interface", P2P)  # left over
    with pytest.raises(KernelError) as info:
        host.add_address(P2P, iface("10.8.0.1/24"), Mode.P2P)
    assert info.value.errno == errno.EEXIST
    assert "route already in table" in info.value.message
    assert tools.calls[-1] == [IFCONFIG, P2P, "inet", "10.8.0.1", "-alias"]
    assert host.addresses(P2P) == []


def test_failed_take_back_is_a_rollback_error(tools: FreeBSDTools) -> None:
    def no_removals(argv: Sequence[str], *, stdin: str | None = None) -> RunResult:
        if argv[-1] == "-alias":
            return RunResult(1, "", "ifconfig: ioctl (SIOCDIFADDR): Operation not permitted\n")
        return tools(argv, stdin=stdin)

    tools.seed_route("-inet", "-net", "10.8.0.0/24", "-interface", P2P)
    with pytest.raises(RollbackError, match=r"route already in table, but removing 10\.8\.0\.1/24"):
        FreeBSDHostNetwork(no_removals).add_address(P2P, iface("10.8.0.1/24"), Mode.P2P)


@pytest.mark.parametrize("netlink", [True, False], ids=["netlink", "routing-socket"])
def test_deleting_an_address_whose_prefix_route_is_gone(netlink: bool) -> None:
    tools = system(FreeBSDTools(netlink=netlink))
    host = FreeBSDHostNetwork(tools)
    host.add_address(P2P, iface("10.8.0.1/24"), Mode.P2P)
    host.del_route(P2P, route("10.8.0.0/24"))  # someone removed it already
    host.del_address(P2P, iface("10.8.0.1/24"), Mode.P2P)
    assert host.addresses(P2P) == []


# -- routes ----------------------------------------------------------------------------------


def test_routes_of_an_mp_interface(tools: FreeBSDTools, host: FreeBSDHostNetwork) -> None:
    tools.configure(MP, "10.8.0.1/24")
    tools.configure(MP, "fd00::1/64")
    tools.seed_route("-inet", "-net", "10.1.0.0/16", "10.8.0.7")
    tools.seed_route("-inet", "-host", "10.1.2.3", "10.8.0.9")
    tools.seed_route("-inet6", "-net", "::/0", "fd00::7")
    tools.seed_route("-inet6", "-net", "2001:db8:9::/48", f"fe80::7%{MP}")
    shown = {e["destination"]: e for e in tools.entries(MP)}
    assert shown["default"]["gateway"] == "fd00::7"
    assert shown["10.8.0.0/24"]["gateway"] == "link#4"
    assert shown["2001:db8:9::/48"]["gateway"] == "fe80::7%ovpns0"
    assert "fe80::%ovpns0/64" in shown  # the link-local prefix, not ovpnctl's
    found = host.routes(MP)
    assert found == [
        route("10.1.0.0/16", "10.8.0.7"),
        route("10.1.2.3/32", "10.8.0.9"),
        route("10.8.0.0/24"),
        route("::/0", "fd00::7"),
        route("2001:db8:9::/48", "fe80::7"),
        route("fd00::/64"),
    ]
    assert str(found[4].via) == "fe80::7"  # no zone left on the gateway
    assert host.routes("em0") == [route("0.0.0.0/0", "192.0.2.1"), route("192.0.2.0/24"),
                                  route("2001:db8:ffff::/64")]  # fmt: skip


def test_routes_of_a_p2p_interface(tools: FreeBSDTools, host: FreeBSDHostNetwork) -> None:
    tools.configure(P2P, "10.9.0.1/32", destination="10.9.0.2")
    tools.seed_route("-inet", "-net", "0.0.0.0/0", "-interface", P2P)
    tools.seed_route("-inet6", "-net", "::/0", "-interface", P2P)
    shown = [(e["destination"], e["gateway"], e["flags"]) for e in tools.entries(P2P)]
    assert shown[:2] == [("default", "link#3", "US"), ("10.9.0.2", "link#3", "UH")]
    assert host.routes(P2P) == [route("0.0.0.0/0"), route("10.9.0.2/32"), route("::/0")]


@pytest.mark.parametrize("netlink", [True, False], ids=["netlink", "routing-socket"])
def test_adding_a_route_twice_is_eexist(netlink: bool) -> None:
    tools = system(FreeBSDTools(netlink=netlink))
    host = FreeBSDHostNetwork(tools)
    tools.configure(MP, "10.8.0.1/24")
    host.add_route(MP, route("10.1.0.0/16", "10.8.0.7"))
    with pytest.raises(KernelError) as info:
        host.add_route(MP, route("10.1.0.0/16", "10.8.0.7"))
    assert info.value.errno == errno.EEXIST
    assert info.value.message == (
        "route add 10.1.0.0/16 via 10.8.0.7 on ovpns0: "
        "add net 10.1.0.0: gateway 10.8.0.7 fib 0: route already in table"
    )
    assert tools.calls[-1] == [
        FREEBSD_ROUTE,
        "-n",
        "add",
        "-inet",
        "-net",
        "10.1.0.0/16",
        "10.8.0.7",
    ]


@pytest.mark.parametrize(
    ("netlink", "said"),
    [
        (True, "add net 10.1.0.0: gateway 10.99.0.7 fib 0: Network is unreachable"),
        (False, "route: writing to routing socket: Network is unreachable"),
    ],
    ids=["netlink", "routing-socket"],
)
def test_other_route_refusals_carry_no_errno(netlink: bool, said: str) -> None:
    host = FreeBSDHostNetwork(system(FreeBSDTools(netlink=netlink)))
    with pytest.raises(KernelError) as info:
        host.add_route(MP, route("10.1.0.0/16", "10.99.0.7"))  # not on any link
    assert info.value.errno is None
    assert info.value.message == f"route add 10.1.0.0/16 via 10.99.0.7 on ovpns0: {said}"


def test_del_route(tools: FreeBSDTools, host: FreeBSDHostNetwork) -> None:
    tools.configure(MP, "fd00::1/64")
    host.add_route(MP, route("2001:db8:5::/48", "fd00::6"))
    host.add_route(MP, route("2001:db8:6::1/128"))
    assert host.routes(MP) == [route("2001:db8:5::/48", "fd00::6"), route("2001:db8:6::1/128"),
                               route("fd00::/64")]  # fmt: skip
    host.del_route(MP, route("2001:db8:5::/48", "fd00::6"))
    host.del_route(MP, route("2001:db8:6::1/128"))
    assert tools.calls[-2:] == [
        [FREEBSD_ROUTE, "-n", "delete", "-inet6", "-net", "2001:db8:5::/48", "fd00::6"],
        [FREEBSD_ROUTE, "-n", "delete", "-inet6", "-host", "2001:db8:6::1", "-interface", MP],
    ]
    assert host.routes(MP) == [route("fd00::/64")]
    with pytest.raises(KernelError, match="not in table") as info:
        host.del_route(MP, route("2001:db8:5::/48", "fd00::6"))  # only prefix routes may be gone
    assert info.value.errno is None


def test_bad_route_never_reaches_route8(tools: FreeBSDTools, host: FreeBSDHostNetwork) -> None:
    with pytest.raises(ValidationError, match="address families differ"):
        host.add_route(MP, route("10.1.0.0/16", "fd00::7"))
    assert tools.calls == []


NOT_NETSTAT_JSON = [
    RunResult(0, "Routing tables\n\nInternet:\nDestination  Gateway  Flags  Netif Expire\n"),
    RunResult(0, json.dumps({"statistics": {"interface-information": {}}})),
    RunResult(0, json.dumps({"statistics": {"route-information": {"route-table": {
        "rt-family": ["Internet"]}}}})),
    RunResult(0, json.dumps({"statistics": {"route-information": {"route-table": {
        "rt-family": 2}}}})),
    RunResult(0, json.dumps({"statistics": {"route-information": {"route-table": []}}})),
    RunResult(0, json.dumps({"statistics": {"route-information": {"route-table": {
        "rt-family": [{"rt-entry": []}]}}}})),
    RunResult(0, json.dumps({"statistics": {"route-information": {"route-table": {
        "rt-family": [{"address-family": "Internet", "rt-entry": {"destination": "default"}}]
    }}}})),
    RunResult(0, json.dumps({"statistics": {"route-information": {"route-table": {
        "rt-family": [{"address-family": "Internet", "rt-entry": [
            {"destination": "10.1.0.0/33", "gateway": "link#3", "flags": "US",
             "interface-name": P2P}]}]}}}})),
]  # fmt: skip


@pytest.mark.parametrize(
    "reply",
    NOT_NETSTAT_JSON,
    ids=[
        "text",
        "no-routes",
        "strings",
        "number",
        "list",
        "no-family",
        "entry-object",
        "bad-entry",
    ],
)
def test_unexpected_netstat_output_is_a_kernel_error(
    tools: FreeBSDTools, host: FreeBSDHostNetwork, reply: RunResult
) -> None:
    tools.netstat_reply = reply
    with pytest.raises(KernelError, match="unexpected"):
        host.routes(P2P)


def test_failing_netstat_is_a_kernel_error(tools: FreeBSDTools, host: FreeBSDHostNetwork) -> None:
    tools.netstat_reply = RunResult(1, "", "netstat: illegal option -- -\nusage: netstat ...\n")
    with pytest.raises(KernelError, match=r"--libxo json failed: usage: netstat"):
        host.routes(P2P)
    assert tools.calls == [list(NETSTAT_ROUTES_JSON)]


def test_the_real_tools_run_on_freebsd_only() -> None:
    with pytest.raises(BackendUnavailableError, match="cannot run on linux"):
        FreeBSDHostNetwork().addresses(P2P)
