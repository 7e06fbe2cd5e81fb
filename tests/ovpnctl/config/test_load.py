"""Loading and validating tunnel config files (TOML and JSON)."""

from __future__ import annotations

import ipaddress
import json
import os
import textwrap
from pathlib import Path

import pytest

from ovpnctl.config import ConfigValidationError, load_config, parse_config
from ovpnctl.endpoint import Endpoint
from ovpnctl.errors import ConfigError, ExitCode
from ovpnctl.keys import Cipher
from ovpnctl.model import Keepalive, Mode, Transport

GOOD = """\
[interface]
name = "ovpn7"
mode = "subnet"
listen = ["0.0.0.0:1194", "[::]:1195"]
address = ["10.8.0.1/24", "fd00::1/64"]
readd_on_timeout = true

[[peer]]
id = 1
remote = "192.0.2.2:1194"
vpn_ipv4 = "10.8.0.2"
routes = ["192.168.2.0/24"]
keepalive = { interval = 10, timeout = 60 }

[peer.key]
id = 0
encrypt = "keys/a-to-b"
decrypt = "keys/b-to-a"

[peer.secondary_key]
id = 1
cipher = "chacha20-poly1305"
encrypt = "/abs/next-a-to-b"
decrypt = "/abs/next-b-to-a"

[[peer]]
id = 2
remote = "[2001:db8::2]:1194"
vpn_ipv6 = "fd00::2"
routes = ["fd02::/64"]
"""


def write(tmp_path: Path, text: str, name: str = "tunnel.toml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def issues_of(path: str) -> list[str]:
    with pytest.raises(ConfigValidationError) as info:
        load_config(path)
    assert info.value.exit_code == ExitCode.CONFIG
    return [str(issue) for issue in info.value.issues]


def test_good_toml_loads_every_field(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    config = load_config(path)
    assert config.interface == "ovpn7"
    assert config.mode is Mode.MULTIPOINT
    assert config.transport is Transport.UDP
    assert config.listen == (Endpoint.parse("0.0.0.0:1194"), Endpoint.parse("[::]:1195"))
    assert [str(a) for a in config.addresses] == ["10.8.0.1/24", "fd00::1/64"]
    assert config.readd_on_timeout is True
    first, second = config.peers
    assert first.peer_id == 1
    assert first.listen == Endpoint.parse("0.0.0.0:1194")
    assert first.vpn_ipv4 == ipaddress.ip_address("10.8.0.2")
    assert first.keepalive == Keepalive(10, 60)
    assert first.routes == (ipaddress.ip_network("192.168.2.0/24"),)
    assert first.key is not None and first.secondary_key is not None
    assert first.key.cipher is Cipher.AES_256_GCM  # the default
    assert first.key.encrypt == os.path.join(str(tmp_path), "keys/a-to-b")
    assert first.secondary_key.cipher is Cipher.CHACHA20_POLY1305
    assert first.secondary_key.encrypt == "/abs/next-a-to-b"
    # An IPv6 remote picks the IPv6 socket without being told.
    assert second.listen == Endpoint.parse("[::]:1195")
    assert second.key is None


def test_json_with_the_same_schema_gives_the_same_config(tmp_path: Path) -> None:
    import tomllib

    data = tomllib.loads(GOOD)
    toml_config = load_config(write(tmp_path, GOOD))
    json_config = load_config(write(tmp_path, json.dumps(data, indent=2), "tunnel.json"))
    assert json_config == toml_config


def test_key_dir_override_and_relative_key_dir(tmp_path: Path) -> None:
    text = GOOD.replace("readd_on_timeout = true", 'key_dir = "secrets"')
    path = write(tmp_path, text)
    config = load_config(path)
    assert config.peers[0].key is not None
    assert config.peers[0].key.encrypt == str(tmp_path / "secrets" / "keys/a-to-b")
    overridden = load_config(path, key_dir="/run/k")
    assert overridden.peers[0].key is not None
    assert overridden.peers[0].key.encrypt == "/run/k/keys/a-to-b"


def test_every_error_is_reported_with_line_and_key_path(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        [interface]
        name = "this-name-is-far-too-long"
        mode = "bridge"
        listen = "0.0.0.0:99999"

        [[peer]]
        id = 16777216
        remote = "192.0.2.2"
        keepalive = { interval = 60, timeout = 10 }
        colour = "blue"

        [peer.key]
        id = 8
        cipher = "AES-GCM-SIV"
        encrypt = "same"
        decrypt = "same"
        """,
    )
    found = issues_of(path)
    expected = [
        f"{path}:2: interface.name: 'this-name-is-far-too-long' is longer than 15 characters",
        f"{path}:3: interface.mode: unknown mode 'bridge'; choose p2p or mp (alias subnet)",
        f"{path}:4: interface.listen: listen '0.0.0.0:99999': port 99999 is out of range (0-65535)",
        f"{path}:7: peer[0].id: peer id 16777216 is out of range (0-16777215)",
        f"{path}:8: peer[0].remote: remote '192.0.2.2': missing port (write ADDRESS:PORT)",
        f"{path}:9: peer[0].keepalive: keepalive timeout (10s) must be longer than the "
        "interval (60s), or the peer is dropped between two pings",
        f"{path}:10: peer[0].colour: unknown key; known: id, remote, tcp, listen, local, vpn_ipv4, "
        "vpn_ipv6, keepalive, routes, key, secondary_key",
        f"{path}:13: peer[0].key.id: key id 8 is out of range (0-7)",
        f"{path}:14: peer[0].key.cipher: unknown cipher 'AES-GCM-SIV'; choose one of none, "
        "AES-128-GCM, AES-192-GCM, AES-256-GCM, CHACHA20-POLY1305",
    ]
    assert found[: len(expected)] == expected
    # The cipher was unknown, so the default is assumed and the shared file still reported.
    assert found[len(expected) :] == [
        f"{path}:16: peer[0].key.decrypt: is the same file as encrypt: both ends would "
        "encrypt with one key and IV, reusing nonces; generate one file per direction"
    ]


def test_cross_peer_rules(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        [interface]
        name = "ovpn1"
        mode = "mp"
        listen = "0.0.0.0:1194"

        [[peer]]
        id = 1
        remote = "192.0.2.1:1194"
        vpn_ipv4 = "10.0.0.2"
        routes = ["10.9.0.0/16"]

        [[peer]]
        id = 1
        remote = "192.0.2.2:1194"
        vpn_ipv4 = "10.0.0.2"
        routes = [
          "10.9.0.0/16",
          "fd00::/64",
        ]

        [[peer]]
        id = 3
        remote = "192.0.2.3:1194"
        """,
    )
    assert issues_of(path) == [
        f"{path}:13: peer[1].id: peer id 1 is used twice",
        f"{path}:15: peer[1].vpn_ipv4: 10.0.0.2 is already another peer's address",
        f"{path}:17: peer[1].routes[0]: 10.9.0.0/16 is already routed to another peer",
        f"{path}:18: peer[1].routes[1]: an IPv6 route in mp mode goes via the peer's "
        "vpn_ipv6, which is not set",
        f"{path}:21: peer[2]: mp mode needs vpn_ipv4 and/or vpn_ipv6: the kernel picks the "
        "peer by them",
    ]


def test_p2p_rules(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        [interface]
        name = "ovpn1"
        listen = "0.0.0.0:1194"

        [[peer]]
        id = 1
        remote = "192.0.2.1:1194"
        vpn_ipv4 = "10.0.0.2"

        [[peer]]
        id = 2
        remote = "192.0.2.2:1194"
        """,
    )
    found = issues_of(path)
    assert found == [
        f"{path}:8: peer[0].vpn_ipv4: p2p mode sends everything to its one peer; VPN "
        "addresses are for mp mode",
        f'{path}:10: peer[1]: p2p mode carries exactly one peer, 2 are configured; use mode = "mp"',
    ]


def test_key_rules(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        [interface]
        name = "ovpn1"
        listen = "0.0.0.0:1194"

        [[peer]]
        id = 1
        remote = "192.0.2.1:1194"
        secondary_key = { id = 2, encrypt = "x", decrypt = "y" }

        [[peer]]
        id = 2
        remote = "192.0.2.1:1194"
        key = { id = 2, cipher = "none", encrypt = "x" }
        """,
    )
    found = issues_of(path)
    assert f"{path}:8: peer[0].secondary_key: a secondary key needs a primary [peer.key]" in found
    assert f"{path}:13: peer[1].key.encrypt: cipher none takes no key file" in found


def test_same_key_id_in_both_slots(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        [interface]
        name = "ovpn1"
        listen = "0.0.0.0:1194"

        [[peer]]
        id = 1
        remote = "192.0.2.1:1194"
        key = { id = 3, encrypt = "a", decrypt = "b" }
        secondary_key = { id = 3, encrypt = "c", decrypt = "d" }
        """,
    )
    assert issues_of(path) == [
        f"{path}:9: peer[0].secondary_key.id: key id 3 is already the primary key's id; the "
        "receiver picks the slot by key id, so the two must differ"
    ]


def test_listen_selection_errors(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        [interface]
        name = "ovpn1"
        mode = "mp"
        listen = ["0.0.0.0:1194", "0.0.0.0:1194"]

        [[peer]]
        id = 1
        remote = "[2001:db8::1]:1194"
        vpn_ipv6 = "fd00::2"

        [[peer]]
        id = 2
        remote = "192.0.2.1:1194"
        listen = "0.0.0.0:2000"
        vpn_ipv4 = "10.0.0.2"
        """,
    )
    assert issues_of(path) == [
        f"{path}:4: interface.listen[1]: 0.0.0.0:1194 is listed twice",
        f"{path}:6: peer[0].listen: no interface.listen address can reach IPv6 remote "
        "[2001:db8::1]:1194",
        f"{path}:14: peer[1].listen: 0.0.0.0:2000 is not one of interface.listen",
    ]


def test_ipv4_remote_may_use_a_dual_stack_socket(tmp_path: Path) -> None:
    config = parse_config(
        '[interface]\nname="ovpn1"\nlisten="[::]:1194"\n[[peer]]\nid=1\nremote="192.0.2.1:1194"\n'
    )
    assert config.peers[0].listen == Endpoint.parse("[::]:1194")


def test_tcp_needs_no_listen_address() -> None:
    config = parse_config(
        '[interface]\nname="ovpn1"\ntransport="tcp"\n[[peer]]\nid=1\nremote="192.0.2.1:443"\n'
    )
    assert config.transport is Transport.TCP
    assert config.peers[0].listen is None


def test_udp_needs_a_listen_address() -> None:
    with pytest.raises(ConfigValidationError) as info:
        parse_config('[interface]\nname="ovpn1"\n', source="x.toml")
    assert str(info.value) == (
        "x.toml:1: interface.listen: missing: a UDP tunnel needs a local ADDRESS:PORT to bind to"
    )


def test_missing_interface_section_and_wrong_types() -> None:
    with pytest.raises(ConfigValidationError) as info:
        parse_config("peer = 3\nintreface = 1\n", source="x.toml")
    assert [str(i) for i in info.value.issues] == [
        "x.toml:1: peer: must be an array of tables ([[peer]])",
        "x.toml:2: intreface: unknown key; did you mean 'interface'?",
        "x.toml: interface: missing section [interface]",
    ]


def test_single_peer_table_instead_of_array() -> None:
    with pytest.raises(ConfigValidationError) as info:
        parse_config('[interface]\nname="o"\nlisten="0.0.0.0:1"\n[peer]\nid=1\n', source="x")
    assert str(info.value) == "x:4: peer: write each peer as [[peer]] (an array of tables)"


def test_type_errors_name_the_type() -> None:
    with pytest.raises(ConfigValidationError) as info:
        parse_config(
            '[interface]\nname=3\nlisten="0.0.0.0:1"\nreadd_on_timeout="yes"\n'
            '[[peer]]\nid="1"\nremote="192.0.2.1:1"\nkeepalive=5\nroutes=[1]\n',
            source="x",
        )
    assert [str(i) for i in info.value.issues] == [
        "x:2: interface.name: must be a non-empty string, not an integer",
        "x:4: interface.readd_on_timeout: must be true or false, not a string",
        "x:6: peer[0].id: must be an integer, not a string",
        "x:8: peer[0].keepalive: must be a table { interval = SECONDS, timeout = SECONDS }",
        "x:9: peer[0].routes[0]: must be a non-empty string, not an integer",
    ]


def test_route_with_host_bits_is_refused() -> None:
    with pytest.raises(ConfigValidationError) as info:
        parse_config(
            '[interface]\nname="o"\nlisten="0.0.0.0:1"\n'
            '[[peer]]\nid=1\nremote="192.0.2.1:1"\nroutes=["10.1.2.3/24"]\n',
            source="x",
        )
    assert str(info.value) == (
        "x:7: peer[0].routes[0]: '10.1.2.3/24' is not a NETWORK/PREFIX "
        "(10.1.2.3/24 has host bits set)"
    )


def test_toml_syntax_error_has_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[interface]\nname = "ovpn0"\nlisten = [\n')
    assert issues_of(path) == [f"{path}:3: invalid TOML: Invalid value"]
    path = write(tmp_path, '[interface]\nname = ovpn0\nlisten = "0.0.0.0:1"\n')
    assert issues_of(path) == [f"{path}:2: invalid TOML: Invalid value"]


def test_json_errors_have_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '{\n "interface": {\n  "name": "ovpn0",\n  "listen": ["0.0.0.0:1194",\n'
        '   "0.0.0.0:x"]\n },\n "peer": [{"id": 1,\n   "remote": "bad"}]\n}\n',
        "t.json",
    )
    assert issues_of(path) == [
        f"{path}:5: interface.listen[1]: listen '0.0.0.0:x': port 'x' is not a number",
        f"{path}:8: peer[0].remote: remote 'bad': missing port (write ADDRESS:PORT)",
    ]
    broken = write(tmp_path, '{\n "interface": {\n  "name": }\n}', "b.json")
    found = issues_of(broken)
    assert found == [f"{broken}:3: invalid JSON: Expecting value"]


def test_json_top_level_must_be_an_object(tmp_path: Path) -> None:
    assert issues_of(write(tmp_path, "[1, 2]", "t.json")) == [
        f"{tmp_path / 't.json'}:1: the top level must be a JSON object"
    ]


def test_missing_file_is_noinput(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(str(tmp_path / "nope.toml"))
    assert info.value.exit_code == ExitCode.NOINPUT


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_bytes(b'[interface]\nname = "\xff"\n')
    assert issues_of(str(path)) == [f"{path}:2: not valid UTF-8"]
