"""Route and pf rendering (pure), and execution through a recording runner."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pytest

from ovpnctl.errors import BackendUnavailableError, KernelError, ValidationError
from ovpnctl.routes import (
    PolicyRoute,
    Route,
    RunResult,
    add_route,
    check_anchor,
    delete_route,
    load_pf_anchor,
    parse_network,
    render_freebsd,
    render_linux,
    render_pf_anchor,
    render_pf_rule,
    run,
    subprocess_runner,
)


def net(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return parse_network(text)


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


class Recorder:
    def __init__(self, returncode: int = 0, stderr: str = "") -> None:
        self.calls: list[tuple[list[str], str | None]] = []
        self.result = RunResult(returncode, "", stderr)

    def __call__(self, argv: Sequence[str], *, stdin: str | None = None) -> RunResult:
        self.calls.append((list(argv), stdin))
        return self.result


@pytest.mark.parametrize(
    ("route", "freebsd", "linux"),
    [
        (
            Route(net("10.1.0.0/16"), "ovpn0"),
            "/sbin/route -n add -inet -net 10.1.0.0/16 -interface ovpn0",
            "ip route add 10.1.0.0/16 dev ovpn0",
        ),
        (
            Route(net("10.1.0.0/16"), "ovpn0", ip("10.8.0.6")),
            "/sbin/route -n add -inet -net 10.1.0.0/16 10.8.0.6",
            "ip route add 10.1.0.0/16 via 10.8.0.6 dev ovpn0",
        ),
        (
            Route(net("10.1.2.3"), "ovpn0", ip("10.8.0.6")),
            "/sbin/route -n add -inet -host 10.1.2.3 10.8.0.6",
            "ip route add 10.1.2.3/32 via 10.8.0.6 dev ovpn0",
        ),
        (
            Route(net("2001:db8:5::/48"), "ovpn1", ip("fd00::6")),
            "/sbin/route -n add -inet6 -net 2001:db8:5::/48 fd00::6",
            "ip -6 route add 2001:db8:5::/48 via fd00::6 dev ovpn1",
        ),
        (
            Route(net("2001:db8:5::/48"), "ovpn1"),
            "/sbin/route -n add -inet6 -net 2001:db8:5::/48 -interface ovpn1",
            "ip -6 route add 2001:db8:5::/48 dev ovpn1",
        ),
        (
            Route(net("2001:db8:6::1"), "ovpn1"),
            "/sbin/route -n add -inet6 -host 2001:db8:6::1 -interface ovpn1",
            "ip -6 route add 2001:db8:6::1/128 dev ovpn1",
        ),
    ],
)
def test_route_rendering(route: Route, freebsd: str, linux: str) -> None:
    assert " ".join(render_freebsd(route)) == freebsd
    assert " ".join(render_linux(route)) == linux
    assert render_freebsd(route, "delete")[2] == "delete"
    assert " ".join(render_freebsd(route, "delete")) == freebsd.replace(" add ", " delete ")
    assert render_linux(route, "delete")[render_linux(route).index("add")] == "del"


def test_route_validation() -> None:
    with pytest.raises(ValidationError, match="address families differ"):
        Route(net("10.0.0.0/8"), "ovpn0", ip("fd00::1"))
    with pytest.raises(ValidationError, match="is not valid"):
        Route(net("10.0.0.0/8"), "ovpn0; reboot")
    with pytest.raises(ValidationError, match="is not a network"):
        parse_network("10.0.0.1/8")  # host bits set
    with pytest.raises(ValidationError, match="is not a network"):
        parse_network("ten")


def test_routes_run_through_the_runner() -> None:
    runner = Recorder()
    route = Route(net("10.1.0.0/16"), "ovpn0", ip("10.8.0.6"))
    add_route(route, system="freebsd", runner=runner)
    delete_route(route, system="linux", runner=runner)
    assert runner.calls == [
        (["/sbin/route", "-n", "add", "-inet", "-net", "10.1.0.0/16", "10.8.0.6"], None),
        (["ip", "route", "del", "10.1.0.0/16", "via", "10.8.0.6", "dev", "ovpn0"], None),
    ]


def test_route_failure_is_one_line() -> None:
    runner = Recorder(
        1,
        "route: writing to routing socket: File exists\n"
        "add net 10.1.0.0: gateway 10.8.0.6 fib 0: route already in table\n",
    )
    with pytest.raises(KernelError) as info:
        add_route(
            Route(net("10.1.0.0/16"), "ovpn0", ip("10.8.0.6")), system="freebsd", runner=runner
        )
    assert info.value.message == (
        "/sbin/route -n add -inet -net 10.1.0.0/16 10.8.0.6 failed: add net 10.1.0.0: "
        "gateway 10.8.0.6 fib 0: route already in table"
    )
    with pytest.raises(KernelError, match="failed: exit status 2"):
        add_route(Route(net("10.1.0.0/16"), "ovpn0"), system="linux", runner=Recorder(2))


def test_a_failure_said_on_stdout_is_the_detail() -> None:
    """route(8) with netlink says why only in its status line, on stdout."""

    def route8(argv: Sequence[str], *, stdin: str | None = None) -> RunResult:
        return RunResult(1, "delete net 10.1.0.0: gateway ovpn0 fib 0: not in table\n", "")

    with pytest.raises(
        KernelError, match=r"failed: delete net 10\.1\.0\.0: gateway ovpn0 fib 0: not in table$"
    ):
        run(["/sbin/route", "-n", "delete"], route8)
    with pytest.raises(KernelError, match=r"^pfctl -a x -f - failed: exit status 1$"):
        run(["pfctl", "-a", "x", "-f", "-"], Recorder(1, "  \n"))


def test_pf_rules() -> None:
    lan = PolicyRoute("ovpn0", ip("10.8.0.6"), source=net("192.168.1.0/24"), arriving_on="em1")
    assert render_pf_rule(lan) == (
        "pass in quick on em1 route-to (ovpn0 10.8.0.6) inet from 192.168.1.0/24 to any keep state"
    )
    v6 = PolicyRoute("ovpn0", ip("fd00::6"), destination=net("2001:db8:9::/48"))
    assert render_pf_rule(v6) == (
        "pass out quick route-to (ovpn0 fd00::6) inet6 from any to 2001:db8:9::/48 keep state"
    )
    with pytest.raises(ValidationError, match="different address families"):
        PolicyRoute("ovpn0", ip("10.8.0.6"), destination=net("2001:db8::/32"))


def test_pf_anchor_text_and_caveat() -> None:
    v4 = PolicyRoute("ovpn0", ip("10.8.0.6"), destination=net("10.9.0.0/16"))
    v6 = PolicyRoute("ovpn0", ip("fd00::6"))
    text = render_pf_anchor([v4, v6])
    lines = text.splitlines()
    assert lines[0].startswith("# generated by ovpnctl")
    assert "IPv4 route-to" in lines[1]
    assert lines[-2:] == [render_pf_rule(v4), render_pf_rule(v6)]
    assert "IPv4 route-to" not in render_pf_anchor([v6])


def test_pf_anchor_loaded_only_through_pfctl() -> None:
    runner = Recorder()
    rules = [PolicyRoute("ovpn0", ip("fd00::6"))]
    load_pf_anchor("ovpnctl/ovpn0", rules, runner=runner)
    assert runner.calls == [(["pfctl", "-a", "ovpnctl/ovpn0", "-f", "-"], render_pf_anchor(rules))]


@pytest.mark.parametrize("anchor", ["_reserved", "a b", "", "x//y", "/abs", "x;y"])
def test_bad_anchor_names(anchor: str) -> None:
    with pytest.raises(ValidationError, match="pf anchor"):
        check_anchor(anchor)


def test_missing_tool_is_unavailable() -> None:
    with pytest.raises(BackendUnavailableError, match="command not found"):
        subprocess_runner(["ovpnctl-no-such-tool-xyz"])
    assert subprocess_runner(["true"]).returncode == 0


def test_a_tool_that_hangs_is_a_kernel_error() -> None:
    with pytest.raises(KernelError, match=r"^sleep 5: no answer within 0 s$"):
        subprocess_runner(["sleep", "5"], timeout=0)
