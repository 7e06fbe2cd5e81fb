"""The kernel model must be able to fail: feed it the classic if_ovpn mistakes (§6 of the
sheet) by breaking ovpnctl on purpose, and check that each one is caught."""

from __future__ import annotations

import dataclasses

import pytest

from ovpnctl.endpoint import Endpoint
from ovpnctl.errors import KernelError
from ovpnctl.freebsd import commands, requests
from ovpnctl.freebsd.backend import FreeBSDBackend
from ovpnctl.model import PeerConfig

from .conftest import SocketFactory
from .kernel_model import KernelModel

PEER = PeerConfig(1, Endpoint.parse("192.0.2.1:1194"))


def test_linux_address_family_values_are_refused(
    backend: FreeBSDBackend, iface: str, udp: SocketFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(requests.AF_BY_IP_VERSION, 4, 10)  # not even AF_INET6 on FreeBSD
    with pytest.raises(KernelError, match="refused peer 1: a required field is malformed"):
        backend.add_peer(iface, PEER, udp())


def test_host_order_port_sends_traffic_elsewhere(
    backend: FreeBSDBackend,
    iface: str,
    kernel: KernelModel,
    udp: SocketFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(requests, "wire_port", lambda port, byteorder="little": port)
    backend.add_peer(iface, PEER, udp())
    assert kernel.interfaces[iface].peers[1].remote.port == 43524  # not 1194: caught


def test_wrong_command_number_is_refused(
    backend: FreeBSDBackend, iface: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = dataclasses.replace(commands.START_VPN, n=9)  # the retired OVPN_SEND_PKT
    monkeypatch.setattr(commands, "START_VPN", broken)
    with pytest.raises(KernelError, match="does not know this request"):
        backend.start(iface)


def test_wrong_direction_is_refused(backend: FreeBSDBackend, iface: str) -> None:
    # a SET command read with SIOCGDRVSPEC
    with pytest.raises(KernelError, match="does not know this request"):
        backend._get(iface, dataclasses.replace(commands.START_VPN, reply_size=lambda _n: 54))
