"""Platform checks for the real-kernel suite: the guest, the ovpn module and its two netlink APIs.

These prove the ground the Linux backend's tests stand on (see
shared/spec/linux-ovpn-vm.md and linux-ovpn-netlink.md): a failure here
means the harness or the kernel is wrong, not the product.  They talk to the
kernel with pyroute2 directly, on purpose independent of ovpnctl's backend.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
import tempfile
from pathlib import Path

import pytest
from netns import NetnsPair, netns_exec, run_in_netns
from pyroute2 import GenericNetlinkSocket, IPRoute
from pyroute2.netlink import genlmsg, nla
from pyroute2.netlink.exceptions import NetlinkError

import ovpnctl

REPO_ROOT = Path(__file__).resolve().parents[2]

# Link facts from the netlink sheet, section 2.
OVPN_MODE_P2P = 0
OVPN_MODE_MP = 1
IFLA_OVPN_MODE = 1
ARPHRD_NONE = 0xFFFE
IFF_POINTOPOINT = 0x10
IFF_NOARP = 0x80
OVPN_DEFAULT_MTU = 1416

# Generic netlink facts from the netlink sheet, section 3.
OVPN_FAMILY_VERSION = 1
OVPN_MCGRP_PEERS = "peers"
OVPN_REQUEST_COMMANDS = {1, 2, 3, 4, 6, 7, 8, 10}  # PEER_NEW..PEER_DEL, KEY_NEW..KEY_SWAP, KEY_DEL
OVPN_NOTIFICATIONS = {5, 9, 11}  # PEER_DEL_NTF, KEY_SWAP_NTF, PEER_FLOAT_NTF (newer kernels)


class ovpn_link_data(nla):  # type: ignore[misc]  # noqa: N801 -- pyroute2 names nla classes so
    """IFLA_INFO_DATA for kind "ovpn"; pyroute2 0.9.7 ships none, so the kind is registered."""

    prefix = "IFLA_"
    nla_map = (("IFLA_OVPN_UNSPEC", "none"), ("IFLA_OVPN_MODE", "uint8"))


def link_summary(ipr: IPRoute, ifname: str) -> dict[str, object]:
    (msg,) = ipr.link("get", ifname=ifname)
    linkinfo = msg.get_attr("IFLA_LINKINFO")
    return {
        "kind": linkinfo.get_attr("IFLA_INFO_KIND"),
        "data": linkinfo.get_attr("IFLA_INFO_DATA"),
        "type": msg["ifi_type"],
        "flags": msg["flags"],
        "mtu": msg.get_attr("IFLA_MTU"),
    }


def loaded_modules() -> set[str]:
    return {line.split()[0] for line in Path("/proc/modules").read_text().splitlines()}


def link_names(ipr: IPRoute) -> set[str]:
    return {msg.get_attr("IFLA_IFNAME") for msg in ipr.link("dump")}


# --- the guest itself -----------------------------------------------------------------------


def test_guest_runs_the_kernel_whose_modules_modprobe_uses() -> None:
    release = os.uname().release
    modules = Path(os.environ["OVPN_KDIR"], "lib", "modules", release)
    assert (modules / "modules.dep").is_file(), f"no modules for the running {release}"
    assert Path("/proc/sys/kernel/modprobe").read_text().strip() == "/run/vm/bin/modprobe"


def test_root_is_read_only_and_scratch_is_writable() -> None:
    with pytest.raises(OSError) as excinfo:
        (REPO_ROOT / "guest-write-probe").write_text("")
    assert excinfo.value.errno == errno.EROFS
    assert tempfile.gettempdir() == "/run/tmp"
    with tempfile.NamedTemporaryFile() as scratch:
        scratch.write(b"writable")
    assert sys.dont_write_bytecode


def test_the_checkout_is_what_gets_imported() -> None:
    assert Path(ovpnctl.__file__).resolve().is_relative_to(REPO_ROOT / "ovpnctl")


# --- the module -----------------------------------------------------------------------------


def test_ovpn_module_and_its_udp_tunnel_dependencies_are_loaded(ovpn_module: None) -> None:
    loaded = loaded_modules()
    assert {"ovpn", "veth"} <= loaded
    # Built-in dependencies would not be listed; the Debian config builds them as modules.
    assert {"udp_tunnel", "ip6_udp_tunnel"} <= loaded


def test_kernel_requests_modules_through_the_guest_modprobe(netns: str) -> None:
    # A link kind whose module is not loaded makes the kernel call
    # request_module("rtnl-link-dummy") through /proc/sys/kernel/modprobe: the
    # path ovpn's AEAD templates take on KEY_NEW (gcm, chacha20poly1305 are
    # modules on 6.17).  AF_ALG is no proxy for that: on 7.3.4 it refuses the
    # library-backed built-in gcm(aes) with ENOENT although /proc/crypto lists it.
    def exercise() -> set[str]:
        with IPRoute() as ipr:
            ipr.link("add", ifname="autoload0", kind="dummy")
            names = link_names(ipr)
            ipr.link("del", ifname="autoload0")
            return names

    assert "autoload0" in run_in_netns(netns, exercise)
    assert "dummy" in loaded_modules()


# --- namespaces and veth (the topology helpers) ---------------------------------------------


def test_netns_pair_passes_ipv4_and_ipv6(netns_pair: NetnsPair) -> None:
    left, right = netns_pair.left, netns_pair.right
    for target in (right.ipv4.ip, right.ipv6.ip):
        netns_exec(left.netns, ["ping", "-c", "1", "-W", "5", str(target)])


def test_sockets_keep_the_namespace_they_were_created_in(netns_pair: NetnsPair) -> None:
    left, right = netns_pair.left, netns_pair.right

    def bound_udp(address: str) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((address, 0))
        return sock

    # The test's own thread stays in the initial namespace, which lacks the address.
    with pytest.raises(OSError) as excinfo:
        bound_udp(str(left.ipv4.ip))
    assert excinfo.value.errno == errno.EADDRNOTAVAIL

    sender = run_in_netns(left.netns, bound_udp, str(left.ipv4.ip))
    receiver = run_in_netns(right.netns, bound_udp, str(right.ipv4.ip))
    with sender, receiver:
        receiver.settimeout(10)
        sender.sendto(b"across the veth", receiver.getsockname())
        payload, source = receiver.recvfrom(64)
        assert source == sender.getsockname()
    assert payload == b"across the veth"


# --- rtnetlink: the ovpn link ---------------------------------------------------------------


def test_p2p_link_is_created_and_deleted_with_kind_only(netns: str) -> None:
    def exercise() -> tuple[dict[str, object], set[str]]:
        with IPRoute() as ipr:
            ipr.link("add", ifname="ovpn-p2p", kind="ovpn")
            summary = link_summary(ipr, "ovpn-p2p")
            ipr.link("del", ifname="ovpn-p2p")
            return summary, link_names(ipr)

    summary, names_after = run_in_netns(netns, exercise)
    assert summary["kind"] == "ovpn"
    # Unregistered kind: pyroute2 hands back IFLA_INFO_DATA as hex text; the
    # nested IFLA_OVPN_MODE (len 5, type 1) carries 0 = P2P, the default.
    data = bytes.fromhex(str(summary["data"]).replace(":", ""))
    assert data[:5] == bytes([5, 0, IFLA_OVPN_MODE, 0, OVPN_MODE_P2P])
    assert summary["type"] == ARPHRD_NONE
    assert isinstance(summary["flags"], int)
    assert summary["flags"] & (IFF_POINTOPOINT | IFF_NOARP) == IFF_POINTOPOINT | IFF_NOARP
    assert summary["mtu"] == OVPN_DEFAULT_MTU
    assert "ovpn-p2p" not in names_after


def test_mp_link_via_ifla_ovpn_mode(netns: str) -> None:
    def exercise() -> tuple[object, int]:
        with IPRoute() as ipr:
            # pyroute2 0.9.7 types IFLA_INFO_DATA of unknown kinds as raw bytes and
            # cannot encode IFLA_OVPN_MODE; registering the kind's nla class fixes that.
            registered = "ovpn" not in ipr.list_link_kind()
            if registered:
                ipr.register_link_kind(module={"ovpn": ovpn_link_data})
            try:
                ipr.link("add", ifname="ovpn-mp", kind="ovpn", ovpn_mode=OVPN_MODE_MP)
                data = link_summary(ipr, "ovpn-mp")["data"]
                mode = data.get_attr("IFLA_OVPN_MODE")  # type: ignore[attr-defined]
                with pytest.raises(NetlinkError) as excinfo:
                    ipr.link("add", ifname="ovpn-bad", kind="ovpn", ovpn_mode=2)
                ipr.link("del", ifname="ovpn-mp")
            finally:
                if registered:
                    ipr.unregister_link_kind("ovpn")
            return mode, excinfo.value.code

    mode, bad_mode_error = run_in_netns(netns, exercise)
    assert mode == OVPN_MODE_MP
    assert bad_mode_error == errno.ERANGE  # the policy allows 0..1 only


# --- generic netlink: the ovpn family -------------------------------------------------------


def test_ovpn_genl_family_resolves_with_its_peers_group(ovpn_module: None) -> None:
    genl = GenericNetlinkSocket()
    try:
        genl.bind("ovpn", genlmsg)
        family = genl.discovery("ovpn")
        groups = dict(genl.mcast_groups)
        family_id = genl.prid
    finally:
        genl.close()
    assert family_id > 0x10  # dynamically assigned, above nlctrl's fixed id
    assert family.get_attr("CTRL_ATTR_VERSION") == OVPN_FAMILY_VERSION
    assert groups.get(OVPN_MCGRP_PEERS, 0) > 0
    ops = {op.get_attr("CTRL_ATTR_OP_ID") for op in family.get_attr("CTRL_ATTR_OPS")}
    assert ops == OVPN_REQUEST_COMMANDS
    assert not ops & OVPN_NOTIFICATIONS
