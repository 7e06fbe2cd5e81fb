"""TCP peers in config files: the `tcp` role, accept peers' bare-address remotes, the
rules that let the supervisor tell whose an incoming connection is, and writing it back."""

from __future__ import annotations

import ipaddress
import json
import textwrap
import tomllib
from pathlib import Path

import pytest

from ovpnctl.config import (
    ConfigValidationError,
    TunnelConfig,
    config_to_data,
    dumps_json,
    dumps_toml,
    load_config,
    parse_config,
)
from ovpnctl.config.schema import PeerSpec, TcpRole, remote_text
from ovpnctl.endpoint import Endpoint
from ovpnctl.errors import ExitCode
from ovpnctl.model import Transport

SOURCE = "tunnel.toml"


def parse(text: str) -> TunnelConfig:
    return parse_config(textwrap.dedent(text), source=SOURCE)


def issues_of(text: str) -> list[str]:
    with pytest.raises(ConfigValidationError) as info:
        parse(text)
    assert info.value.exit_code == ExitCode.CONFIG
    return [str(issue) for issue in info.value.issues]


def ep(text: str) -> Endpoint:
    return Endpoint.parse(text)


# -- the role -------------------------------------------------------------------------


def test_tcp_roles_and_the_connect_default() -> None:
    config = parse(
        """\
        [interface]
        name = "ovpn1"
        mode = "mp"
        transport = "tcp"
        listen = "127.0.0.1:443"

        [[peer]]
        id = 1
        remote = "192.0.2.1:1194"
        vpn_ipv4 = "10.0.0.2"

        [[peer]]
        id = 2
        remote = "192.0.2.2:1194"
        tcp = "CONNECT"
        vpn_ipv4 = "10.0.0.3"

        [[peer]]
        id = 3
        remote = "192.0.2.3:1194"
        tcp = " accept "
        vpn_ipv4 = "10.0.0.4"
        """
    )
    assert config.transport is Transport.TCP
    assert [p.tcp for p in config.peers] == [TcpRole.CONNECT, TcpRole.CONNECT, TcpRole.ACCEPT]


def test_udp_peers_have_no_role_and_refuse_the_key() -> None:
    config = parse(
        """\
        [interface]
        name = "ovpn1"
        listen = "127.0.0.1:1194"

        [[peer]]
        id = 1
        remote = "192.0.2.1:1194"
        """
    )
    assert config.peers[0].tcp is None
    assert issues_of(
        """\
        [interface]
        name = "ovpn1"
        listen = "127.0.0.1:1194"

        [[peer]]
        id = 1
        remote = "192.0.2.1:1194"
        tcp = "connect"
        """
    ) == [f'{SOURCE}:8: peer[0].tcp: only for interface.transport = "tcp"']


def test_unknown_or_mistyped_role() -> None:
    found = issues_of(
        """\
        [interface]
        name = "ovpn1"
        mode = "mp"
        transport = "tcp"

        [[peer]]
        id = 1
        remote = "192.0.2.1:1194"
        tcp = "server"
        vpn_ipv4 = "10.0.0.2"

        [[peer]]
        id = 2
        remote = "192.0.2.2:1194"
        tcp = 1
        vpn_ipv4 = "10.0.0.3"
        """
    )
    assert found == [
        f"{SOURCE}:9: peer[0].tcp: unknown tcp role 'server'; choose connect or accept",
        f"{SOURCE}:15: peer[1].tcp: must be a non-empty string, not an integer",
    ]


# -- remotes --------------------------------------------------------------------------


def test_accept_peers_may_give_a_bare_address() -> None:
    config = parse(
        """\
        [interface]
        name = "ovpn1"
        mode = "mp"
        transport = "tcp"
        listen = ["127.0.0.1:443", "[::1]:443"]

        [[peer]]
        id = 1
        remote = "192.0.2.1"
        tcp = "accept"
        vpn_ipv4 = "10.0.0.2"

        [[peer]]
        id = 2
        remote = "2001:db8::2"
        tcp = "accept"
        vpn_ipv4 = "10.0.0.3"

        [[peer]]
        id = 3
        remote = "[2001:db8::3]"
        tcp = "accept"
        vpn_ipv4 = "10.0.0.4"

        [[peer]]
        id = 4
        remote = "192.0.2.4:0"
        tcp = "accept"
        vpn_ipv4 = "10.0.0.5"

        [[peer]]
        id = 5
        remote = "192.0.2.5:40000"
        tcp = "accept"
        vpn_ipv4 = "10.0.0.6"
        """
    )
    remotes = [p.remote for p in config.peers]
    assert remotes == [
        ep("192.0.2.1:0"),
        ep("[2001:db8::2]:0"),
        ep("[2001:db8::3]:0"),
        ep("192.0.2.4:0"),
        ep("192.0.2.5:40000"),
    ]
    # Each is awaited on the listen address of its own family.
    assert [str(p.listen) for p in config.peers] == [
        "127.0.0.1:443",
        "[::1]:443",
        "[::1]:443",
        "127.0.0.1:443",
        "127.0.0.1:443",
    ]


def test_connect_peers_need_a_real_destination() -> None:
    assert issues_of(
        """\
        [interface]
        name = "ovpn1"
        mode = "mp"
        transport = "tcp"

        [[peer]]
        id = 1
        remote = "192.0.2.1"
        vpn_ipv4 = "10.0.0.2"

        [[peer]]
        id = 2
        remote = "192.0.2.2:0"
        tcp = "connect"
        vpn_ipv4 = "10.0.0.3"
        """
    ) == [
        f"{SOURCE}:8: peer[0].remote: remote '192.0.2.1': missing port (write ADDRESS:PORT)",
        f"{SOURCE}:13: peer[1].remote: port 0 cannot be a destination",
    ]


# -- accept peers: listen and local -----------------------------------------------------


def test_an_accept_peer_needs_interface_listen() -> None:
    assert issues_of(
        """\
        [interface]
        name = "ovpn1"
        transport = "tcp"

        [[peer]]
        id = 1
        remote = "192.0.2.1"
        tcp = "accept"
        """
    ) == [
        f"{SOURCE}:8: peer[0].tcp: an accepting peer needs interface.listen: the "
        "ADDRESS:PORT to accept it on"
    ]


def test_an_accept_peer_refuses_local() -> None:
    assert issues_of(
        """\
        [interface]
        name = "ovpn1"
        transport = "tcp"
        listen = "127.0.0.1:443"

        [[peer]]
        id = 1
        remote = "192.0.2.1"
        tcp = "accept"
        local = "127.0.0.1"
        """
    ) == [
        f"{SOURCE}:10: peer[0].local: an accepting peer's connection arrives on its listen "
        "address; set listen instead"
    ]


def test_an_accept_peers_listen_must_be_configured_and_reach_it() -> None:
    assert issues_of(
        """\
        [interface]
        name = "ovpn1"
        mode = "mp"
        transport = "tcp"
        listen = ["127.0.0.1:443", "[::1]:443"]

        [[peer]]
        id = 1
        remote = "192.0.2.1"
        tcp = "accept"
        listen = "127.0.0.1:444"
        vpn_ipv4 = "10.0.0.2"

        [[peer]]
        id = 2
        remote = "192.0.2.2"
        tcp = "accept"
        listen = "[::1]:443"
        vpn_ipv4 = "10.0.0.3"
        """
    ) == [
        f"{SOURCE}:11: peer[0].listen: 127.0.0.1:444 is not one of interface.listen",
        f"{SOURCE}:18: peer[1].listen: socket [::1]:443 cannot reach IPv4 remote 192.0.2.2",
    ]


def test_a_dual_stack_listener_carries_ipv4_accept_peers() -> None:
    config = parse(
        """\
        [interface]
        name = "ovpn1"
        transport = "tcp"
        listen = "[::]:443"

        [[peer]]
        id = 1
        remote = "192.0.2.1"
        tcp = "accept"
        """
    )
    assert config.peers[0].listen == ep("[::]:443")


# -- accept peers: telling connections apart ---------------------------------------------

OVERLAP = """\
[interface]
name = "ovpn1"
mode = "mp"
transport = "tcp"
listen = ["127.0.0.1:443", "127.0.0.1:444", "[::]:445"]

[[peer]]
id = 1
remote = "{first}"
tcp = "accept"
listen = "{first_listen}"
vpn_ipv4 = "10.0.0.2"

[[peer]]
id = 2
remote = "{second}"
tcp = "accept"
listen = "{second_listen}"
vpn_ipv4 = "10.0.0.3"
"""


def overlap(
    first: str, second: str, first_listen: str = "127.0.0.1:443", second_listen: str = ""
) -> str:
    return OVERLAP.format(
        first=first,
        second=second,
        first_listen=first_listen,
        second_listen=second_listen or first_listen,
    )


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("192.0.2.1", "192.0.2.1"),  # both from any port
        ("192.0.2.1", "192.0.2.1:5000"),  # any port covers the specific one
        ("192.0.2.1:5000", "192.0.2.1"),  # ... whichever comes first
        ("192.0.2.1:5000", "192.0.2.1:5000"),
    ],
)
def test_two_accept_peers_that_could_own_one_connection(first: str, second: str) -> None:
    assert issues_of(overlap(first, second)) == [
        f"{SOURCE}:16: peer[1].remote: a connection from 192.0.2.1 to 127.0.0.1:443 could be "
        "peer 1's or peer 2's; give each its own remote address or port"
    ]


def test_a_mapped_remote_overlaps_its_ipv4_form() -> None:
    text = overlap("192.0.2.1", "::ffff:192.0.2.1", first_listen="[::]:445")
    mapped = ipaddress.ip_address("::ffff:192.0.2.1")  # spelled per Python version
    assert issues_of(text) == [
        f"{SOURCE}:16: peer[1].remote: a connection from {mapped} to [::]:445 could "
        "be peer 1's or peer 2's; give each its own remote address or port"
    ]


@pytest.mark.parametrize(
    ("first", "second", "first_listen", "second_listen"),
    [
        ("192.0.2.1:5000", "192.0.2.1:5001", "127.0.0.1:443", ""),  # ports tell them apart
        ("192.0.2.1", "192.0.2.2", "127.0.0.1:443", ""),  # addresses do
        ("192.0.2.1", "192.0.2.1", "127.0.0.1:443", "127.0.0.1:444"),  # listens do
    ],
)
def test_accept_peers_that_can_be_told_apart(
    first: str, second: str, first_listen: str, second_listen: str
) -> None:
    config = parse(overlap(first, second, first_listen, second_listen))
    assert [p.peer_id for p in config.peers] == [1, 2]


def test_each_ambiguous_peer_is_reported_once() -> None:
    found = issues_of(
        """\
        [interface]
        name = "ovpn1"
        mode = "mp"
        transport = "tcp"
        listen = "127.0.0.1:443"

        [[peer]]
        id = 1
        remote = "192.0.2.1"
        tcp = "accept"
        vpn_ipv4 = "10.0.0.2"

        [[peer]]
        id = 2
        remote = "192.0.2.1:7"
        tcp = "accept"
        vpn_ipv4 = "10.0.0.3"

        [[peer]]
        id = 3
        remote = "192.0.2.1:7"
        tcp = "accept"
        vpn_ipv4 = "10.0.0.4"
        """
    )
    assert found == [
        f"{SOURCE}:15: peer[1].remote: a connection from 192.0.2.1 to 127.0.0.1:443 could be "
        "peer 1's or peer 2's; give each its own remote address or port",
        f"{SOURCE}:21: peer[2].remote: a connection from 192.0.2.1 to 127.0.0.1:443 could be "
        "peer 1's or peer 3's; give each its own remote address or port",
    ]


# -- connect peers: where they bind -----------------------------------------------------


def test_connect_peers_bind_only_to_an_explicit_listen() -> None:
    config = parse(
        """\
        [interface]
        name = "ovpn1"
        mode = "mp"
        transport = "tcp"
        listen = ["127.0.0.1:443", "127.0.0.1:1194"]

        [[peer]]
        id = 1
        remote = "192.0.2.1:1194"
        vpn_ipv4 = "10.0.0.2"

        [[peer]]
        id = 2
        remote = "192.0.2.2:1194"
        listen = "127.0.0.1:1194"
        local = "127.0.0.1"
        vpn_ipv4 = "10.0.0.3"
        """
    )
    unbound, bound = config.peers
    assert unbound.listen is None  # not the first listen, although it could carry it
    assert bound.listen == ep("127.0.0.1:1194")
    assert bound.local == ipaddress.ip_address("127.0.0.1")


def test_a_connect_peers_listen_must_be_configured() -> None:
    assert issues_of(
        """\
        [interface]
        name = "ovpn1"
        transport = "tcp"

        [[peer]]
        id = 1
        remote = "192.0.2.1:1194"
        listen = "127.0.0.1:1194"
        """
    ) == [f"{SOURCE}:8: peer[0].listen: 127.0.0.1:1194 is not one of interface.listen"]


def test_a_connect_peer_cannot_bind_where_accept_peers_listen() -> None:
    assert issues_of(
        """\
        [interface]
        name = "ovpn1"
        mode = "mp"
        transport = "tcp"
        listen = ["127.0.0.1:443", "127.0.0.1:1194"]

        [[peer]]
        id = 1
        remote = "192.0.2.1"
        tcp = "accept"
        listen = "127.0.0.1:443"
        vpn_ipv4 = "10.0.0.2"

        [[peer]]
        id = 2
        remote = "192.0.2.2:1194"
        listen = "127.0.0.1:443"
        vpn_ipv4 = "10.0.0.3"

        [[peer]]
        id = 3
        remote = "192.0.2.3:1194"
        listen = "127.0.0.1:1194"
        vpn_ipv4 = "10.0.0.4"
        """
    ) == [
        f"{SOURCE}:17: peer[1].listen: accepting peers listen on 127.0.0.1:443; a dialling "
        "socket cannot bind 127.0.0.1:443 beside it"
    ]


# -- PeerSpec.accepts and remote_text -----------------------------------------------------


def accept_peer(remote: str) -> PeerSpec:
    return PeerSpec(
        peer_id=1,
        remote=Endpoint.parse(remote, default_port=0),
        listen=ep("127.0.0.1:443"),
        tcp=TcpRole.ACCEPT,
    )


def test_accepts_matches_address_and_port_zero_means_any() -> None:
    any_port = accept_peer("192.0.2.1")
    assert any_port.accepts(ep("192.0.2.1:1"))
    assert any_port.accepts(ep("192.0.2.1:65535"))
    assert any_port.accepts(ep("[::ffff:192.0.2.1]:40000"))  # from a dual-stack listener
    assert not any_port.accepts(ep("192.0.2.2:40000"))
    one_port = accept_peer("192.0.2.1:5000")
    assert one_port.accepts(ep("192.0.2.1:5000"))
    assert not one_port.accepts(ep("192.0.2.1:5001"))
    mapped = accept_peer("[::ffff:192.0.2.1]")
    assert mapped.accepts(ep("192.0.2.1:9"))
    v6 = accept_peer("2001:db8::1")
    assert v6.accepts(ep("[2001:db8::1]:9"))
    assert not v6.accepts(ep("[2001:db8::2]:9"))


@pytest.mark.parametrize(
    ("endpoint", "text"),
    [
        (Endpoint(ipaddress.ip_address("192.0.2.1"), 1194), "192.0.2.1:1194"),
        (Endpoint(ipaddress.ip_address("192.0.2.1"), 0), "192.0.2.1"),
        (Endpoint(ipaddress.ip_address("2001:db8::1"), 443), "[2001:db8::1]:443"),
        (Endpoint(ipaddress.ip_address("2001:db8::1"), 0), "[2001:db8::1]"),
        (Endpoint(ipaddress.ip_address("fe80::1"), 0, 3), "[fe80::1%3]"),
        (
            Endpoint(ipaddress.ip_address("::ffff:192.0.2.1"), 0),
            f"[{ipaddress.ip_address('::ffff:192.0.2.1')}]",
        ),
    ],
)
def test_remote_text_reads_back_as_the_same_remote(endpoint: Endpoint, text: str) -> None:
    assert remote_text(endpoint) == text
    assert Endpoint.parse(text, default_port=0) == endpoint


# -- writing back --------------------------------------------------------------------------

ROUND_TRIP = """\
[interface]
name = "ovpn4"
mode = "mp"
transport = "tcp"
listen = ["127.0.0.1:443", "[::1]:443", "127.0.0.1:1194"]
address = ["10.8.0.1/24"]

[[peer]]
id = 1
remote = "192.0.2.1"
tcp = "accept"
vpn_ipv4 = "10.8.0.2"

[[peer]]
id = 2
remote = "2001:db8::2"
tcp = "accept"
vpn_ipv4 = "10.8.0.3"

[[peer]]
id = 3
remote = "192.0.2.3:5000"
tcp = "accept"
vpn_ipv4 = "10.8.0.4"

[[peer]]
id = 4
remote = "192.0.2.4:1194"
vpn_ipv4 = "10.8.0.5"
keepalive = { interval = 5, timeout = 30 }

[[peer]]
id = 5
remote = "192.0.2.5:1194"
tcp = "connect"
listen = "127.0.0.1:1194"
vpn_ipv4 = "10.8.0.6"
"""


def test_tcp_config_data_is_written_in_the_file_schema() -> None:
    data = config_to_data(parse(ROUND_TRIP))
    assert data["interface"]["transport"] == "tcp"
    peers = [
        {k: v for k, v in p.items() if k in ("id", "remote", "tcp", "listen")} for p in data["peer"]
    ]
    assert peers == [
        {"id": 1, "remote": "192.0.2.1", "tcp": "accept", "listen": "127.0.0.1:443"},
        {"id": 2, "remote": "[2001:db8::2]", "tcp": "accept", "listen": "[::1]:443"},
        {"id": 3, "remote": "192.0.2.3:5000", "tcp": "accept", "listen": "127.0.0.1:443"},
        {"id": 4, "remote": "192.0.2.4:1194", "tcp": "connect"},
        {"id": 5, "remote": "192.0.2.5:1194", "tcp": "connect", "listen": "127.0.0.1:1194"},
    ]


def test_one_listen_is_implied_for_accept_peers_but_written_for_connect_peers() -> None:
    config = parse(
        """\
        [interface]
        name = "ovpn4"
        mode = "mp"
        transport = "tcp"
        listen = "127.0.0.1:443"

        [[peer]]
        id = 1
        remote = "192.0.2.1"
        tcp = "accept"
        vpn_ipv4 = "10.8.0.2"

        [[peer]]
        id = 2
        remote = "192.0.2.2:443"
        vpn_ipv4 = "10.8.0.3"
        """
    )
    first, second = config_to_data(config)["peer"]
    assert "listen" not in first and "listen" not in second
    assert parse_config(dumps_toml(config_to_data(config)), source="out.toml") == config
    # A connect peer's listen is where it binds, not a default: written even when alone.
    bound = parse(
        """\
        [interface]
        name = "ovpn4"
        transport = "tcp"
        listen = "127.0.0.1:1194"

        [[peer]]
        id = 1
        remote = "192.0.2.1:443"
        listen = "127.0.0.1:1194"
        """
    )
    (peer,) = config_to_data(bound)["peer"]
    assert peer["listen"] == "127.0.0.1:1194"
    again = parse_config(dumps_toml(config_to_data(bound)), source="out.toml")
    assert again == bound and again.peers[0].listen == ep("127.0.0.1:1194")


def test_tcp_toml_round_trip(tmp_path: Path) -> None:
    original = parse(ROUND_TRIP)
    path = tmp_path / "out.toml"
    path.write_text(dumps_toml(config_to_data(original)))
    assert tomllib.loads(path.read_text())["peer"][1]["remote"] == "[2001:db8::2]"
    assert load_config(str(path)) == original


def test_tcp_json_round_trip(tmp_path: Path) -> None:
    original = parse(ROUND_TRIP)
    path = tmp_path / "out.json"
    path.write_text(dumps_json(config_to_data(original)))
    assert json.loads(path.read_text())["peer"][0]["remote"] == "192.0.2.1"
    assert load_config(str(path)) == original


# -- binding: what the kernel would refuse with EADDRINUSE ---------------------------------


def test_a_bad_role_is_reported_alone() -> None:
    """An invalid role must not make a bare-address remote look like a second mistake, and a
    bad value on a UDP tunnel is one mistake, not two."""
    assert issues_of(
        """\
        [interface]
        name = "ovpn1"
        transport = "tcp"
        listen = "127.0.0.1:443"

        [[peer]]
        id = 1
        remote = "192.0.2.1"
        tcp = "acept"
        """
    ) == [f"{SOURCE}:9: peer[0].tcp: unknown tcp role 'acept'; choose connect or accept"]
    assert issues_of(
        """\
        [interface]
        name = "ovpn1"
        listen = "127.0.0.1:1194"

        [[peer]]
        id = 1
        remote = "192.0.2.1:1194"
        tcp = 7
        """
    ) == [f'{SOURCE}:8: peer[0].tcp: only for interface.transport = "tcp"']


@pytest.mark.parametrize(
    ("first", "second", "clash"),
    [
        ("0.0.0.0:1194", "192.0.2.1:1194", True),
        ("192.0.2.1:1194", "0.0.0.0:1194", True),
        ("[::]:1194", "0.0.0.0:1194", True),  # [::] is opened dual-stack
        ("[::]:1194", "[2001:db8::1]:1194", True),
        ("0.0.0.0:1194", "[2001:db8::1]:1194", False),
        ("0.0.0.0:1194", "0.0.0.0:1195", False),
        ("192.0.2.1:1194", "192.0.2.2:1194", False),
    ],
)
def test_interface_listen_addresses_must_be_bindable_together(
    first: str, second: str, clash: bool
) -> None:
    text = f"""\
        [interface]
        name = "ovpn1"
        listen = ["{first}", "{second}"]
        """
    if not clash:
        assert [str(e) for e in parse(text).listen] == [first, second]
        return
    assert issues_of(text) == [
        f"{SOURCE}:3: interface.listen[1]: {second} and {first} cannot both be bound: same "
        "port, and one address covers the other"
    ]


def test_a_connect_peer_cannot_bind_under_a_wildcard_listener() -> None:
    """Its listen must be one of interface.listen, so the overlap is reported there."""
    assert issues_of(
        """\
        [interface]
        name = "ovpn1"
        mode = "mp"
        transport = "tcp"
        listen = ["0.0.0.0:443", "127.0.0.1:443"]

        [[peer]]
        id = 1
        tcp = "accept"
        remote = "192.0.2.1"
        listen = "0.0.0.0:443"
        vpn_ipv4 = "10.0.0.2"

        [[peer]]
        id = 2
        remote = "192.0.2.2:1194"
        listen = "127.0.0.1:443"
        vpn_ipv4 = "10.0.0.3"
        """
    ) == [
        f"{SOURCE}:5: interface.listen[1]: 127.0.0.1:443 and 0.0.0.0:443 cannot both be "
        "bound: same port, and one address covers the other",
        f"{SOURCE}:17: peer[1].listen: 127.0.0.1:443 is not one of interface.listen",
    ]


def test_an_accepting_peer_needs_a_known_port() -> None:
    assert issues_of(
        """\
        [interface]
        name = "ovpn1"
        transport = "tcp"
        listen = "127.0.0.1:0"

        [[peer]]
        id = 1
        tcp = "accept"
        remote = "192.0.2.1"
        """
    ) == [
        f"{SOURCE}:6: peer[0].listen: an accepting peer waits on 127.0.0.1:0, a port the "
        "kernel picks at random and nobody can connect to; give listen a port"
    ]


def test_an_unknown_transport_names_the_two_there_are() -> None:
    assert issues_of(
        """\
        [interface]
        name = "ovpn1"
        transport = "quic"
        listen = "127.0.0.1:1194"
        """
    ) == [f"{SOURCE}:3: interface.transport: unknown transport 'quic'; choose udp or tcp"]
