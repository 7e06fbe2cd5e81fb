"""Endpoint parsing and the conversions both kernels depend on."""

from __future__ import annotations

import ipaddress
import re
import socket

import pytest

from ovpnctl.endpoint import Endpoint, parse_vpn_address
from ovpnctl.errors import ValidationError


@pytest.mark.parametrize(
    ("text", "address", "port", "scope"),
    [
        ("192.0.2.1:1194", "192.0.2.1", 1194, 0),
        (" 192.0.2.1:0 ", "192.0.2.1", 0, 0),
        ("[2001:db8::1]:443", "2001:db8::1", 443, 0),
        ("[fe80::1%7]:1194", "fe80::1", 1194, 7),
        ("[::ffff:192.0.2.1]:1", "::ffff:192.0.2.1", 1, 0),
        ("[::]:65535", "::", 65535, 0),
    ],
)
def test_parse(text: str, address: str, port: int, scope: int) -> None:
    ep = Endpoint.parse(text)
    assert (ep.address, ep.port, ep.scope_id) == (ipaddress.ip_address(address), port, scope)
    assert Endpoint.parse(str(ep)) == ep  # str() round-trips


def test_scope_by_interface_name() -> None:
    index, name = socket.if_nameindex()[0]
    assert Endpoint.parse(f"[fe80::1%{name}]:1").scope_id == index


@pytest.mark.parametrize(
    ("text", "default", "address", "port"),
    [
        ("192.0.2.1", 1194, "192.0.2.1", 1194),
        ("2001:db8::1", 1, "2001:db8::1", 1),
        ("[::1]", 5, "::1", 5),
    ],
)
def test_default_port(text: str, default: int, address: str, port: int) -> None:
    ep = Endpoint.parse(text, default_port=default)
    assert (str(ep.address), ep.port) == (address, port)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "remote: empty address"),
        ("192.0.2.1", "missing port"),
        ("192.0.2.1:x", "port 'x' is not a number"),
        ("192.0.2.1:65536", "out of range"),
        ("192.0.2.1:-1", "is not a number"),
        ("192.0.2.1:", "is not a number"),
        ("192.0.2.1:\u0661\u0662", "is not a number"),  # Arabic-Indic digits
        ("host.example:1", "is not an IP address"),
        ("[2001:db8::1:1", "missing ']'"),
        ("[2001:db8::1]1", "expected ':PORT'"),
        ("192.0.2.1%1:1", "a scope id needs an IPv6 address"),
        ("[fe80::1%no-such-if0]:1", "no interface named 'no-such-if0'"),
        ("[fe80::1%\u0661]:1", "no interface named"),
        ("1.2.3.4:5:6", "missing port"),  # several colons: read as a bare IPv6 address
    ],
)
def test_parse_errors_name_the_option(text: str, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)) as info:
        Endpoint.parse(text, what="remote")
    assert info.value.message.startswith("remote")


def test_construction_checks() -> None:
    v4 = ipaddress.ip_address("192.0.2.1")
    v6 = ipaddress.ip_address("fe80::1")
    with pytest.raises(ValidationError, match="port 70000 is out of range"):
        Endpoint(v4, 70000)
    with pytest.raises(ValidationError, match="cannot carry a scope id"):
        Endpoint(v4, 1, 3)
    with pytest.raises(ValidationError, match="scope id"):
        Endpoint(v6, 1, 1 << 32)


def test_mapping_both_ways() -> None:
    plain = Endpoint.parse("192.0.2.1:1194")
    mapped = plain.mapped()
    assert str(mapped) == "[::ffff:c000:201]:1194"
    assert mapped.is_v4_mapped and mapped.family == 6
    assert mapped.unmapped() == plain
    assert plain.unmapped() is plain and plain.is_v4_mapped is False
    v6 = Endpoint.parse("[2001:db8::1]:1")
    assert v6.mapped() is v6 and v6.unmapped() is v6


def test_packed_and_sockaddr() -> None:
    assert Endpoint.parse("192.0.2.1:1").packed == bytes([192, 0, 2, 1])
    assert Endpoint.parse("192.0.2.1:1").sockaddr() == ("192.0.2.1", 1)
    ep = Endpoint.parse("[fe80::1%3]:5")
    assert len(ep.packed) == 16
    assert ep.sockaddr() == ("fe80::1", 5, 0, 3)


def test_endpoints_are_values() -> None:
    a = Endpoint.parse("192.0.2.1:1")
    assert a == Endpoint.parse("192.0.2.1:1") and hash(a) == hash(Endpoint.parse("192.0.2.1:1"))
    with pytest.raises(AttributeError):
        a.port = 2  # type: ignore[misc]


@pytest.mark.parametrize(("text", "version"), [("10.8.0.2", 4), (" fd00::2 ", 6), ("fe80::2", 6)])
def test_vpn_addresses(text: str, version: int) -> None:
    assert parse_vpn_address(text, version, "--vpn-ip").version == version


@pytest.mark.parametrize(
    ("text", "version", "message"),
    [
        ("10.8.0.2", 6, "is not an IPv6 address"),
        ("fd00::1", 4, "is not an IPv4 address"),
        ("0.0.0.0", 4, "cannot be a peer's tunnel address"),
        ("::", 6, "cannot be a peer's tunnel address"),
        ("224.0.0.1", 4, "cannot be a peer's tunnel address"),
        ("127.0.0.1", 4, "cannot be a peer's tunnel address"),
        ("255.255.255.255", 4, "cannot be a peer's tunnel address"),
        ("10.8.0.0/24", 4, "is not an IP address"),
    ],
)
def test_vpn_address_errors(text: str, version: int, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        parse_vpn_address(text, version, "--vpn-ip")
