"""The `ovpn` generic netlink family: commands, attribute sets, enums, discovery.

Everything numeric about the family lives in these tables (from the kernel's uAPI header
`linux/ovpn.h`, checked against the live policy; see the Linux netlink sheet). The
family id and the `peers` multicast group id are assigned by the kernel at runtime, so
they are looked up with CTRL_CMD_GETFAMILY (through pyroute2) every time a backend
connects, and optional features are read from the live policy (CTRL_CMD_GETPOLICY),
never guessed from a kernel version string.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Any

from ovpnctl.errors import BackendUnavailableError, KernelError, ProtocolError
from ovpnctl.keys import Cipher, KeySlot
from ovpnctl.linux.nla import Attr, AttrSet, Items, Kind, decode_attrs, encode_into
from ovpnctl.model import DeleteReason

FAMILY_NAME = "ovpn"
FAMILY_VERSION = 1
MCAST_GROUP_PEERS = "peers"

GENLMSGHDR = struct.Struct("=BBH")  # cmd, version, reserved
NLMSG_HDRLEN = 16


class Cmd(enum.IntEnum):
    """`enum ovpn_cmd`; the names are the kernel's minus the OVPN_CMD_ prefix."""

    PEER_NEW = 1
    PEER_SET = 2
    PEER_GET = 3
    PEER_DEL = 4
    PEER_DEL_NTF = 5
    KEY_NEW = 6
    KEY_GET = 7
    KEY_SWAP = 8
    KEY_SWAP_NTF = 9
    KEY_DEL = 10
    PEER_FLOAT_NTF = 11  # newer kernels only (7.x); 6.17 floats silently

    @property
    def kernel_name(self) -> str:
        return f"OVPN_CMD_{self.name}"


KEYDIR = AttrSet(
    "keydir",
    (
        Attr(1, "OVPN_A_KEYDIR_CIPHER_KEY", Kind.SECRET),
        Attr(2, "OVPN_A_KEYDIR_NONCE_TAIL", Kind.SECRET),
    ),
)

KEYCONF = AttrSet(
    "keyconf",
    (
        Attr(1, "OVPN_A_KEYCONF_PEER_ID", Kind.U32),
        Attr(2, "OVPN_A_KEYCONF_SLOT", Kind.U32),
        # u32 in requests and KEY_GET replies; KEY_SWAP_NTF carries a 2-byte payload
        # (the kernel writes it with nla_put_u16), so this decodes 2 or 4 bytes.
        Attr(3, "OVPN_A_KEYCONF_KEY_ID", Kind.UINT),
        Attr(4, "OVPN_A_KEYCONF_CIPHER_ALG", Kind.U32),
        Attr(5, "OVPN_A_KEYCONF_ENCRYPT_DIR", Kind.NEST, KEYDIR),
        Attr(6, "OVPN_A_KEYCONF_DECRYPT_DIR", Kind.NEST, KEYDIR),
    ),
)

PEER = AttrSet(
    "peer",
    (
        Attr(1, "OVPN_A_PEER_ID", Kind.U32),
        Attr(2, "OVPN_A_PEER_REMOTE_IPV4", Kind.IPV4),
        Attr(3, "OVPN_A_PEER_REMOTE_IPV6", Kind.IPV6),
        Attr(4, "OVPN_A_PEER_REMOTE_IPV6_SCOPE_ID", Kind.U32),
        Attr(5, "OVPN_A_PEER_REMOTE_PORT", Kind.BE16),
        Attr(6, "OVPN_A_PEER_SOCKET", Kind.U32),
        Attr(7, "OVPN_A_PEER_SOCKET_NETNSID", Kind.S32),
        Attr(8, "OVPN_A_PEER_VPN_IPV4", Kind.IPV4),
        Attr(9, "OVPN_A_PEER_VPN_IPV6", Kind.IPV6),
        Attr(10, "OVPN_A_PEER_LOCAL_IPV4", Kind.IPV4),
        Attr(11, "OVPN_A_PEER_LOCAL_IPV6", Kind.IPV6),
        Attr(12, "OVPN_A_PEER_LOCAL_PORT", Kind.BE16),
        Attr(13, "OVPN_A_PEER_KEEPALIVE_INTERVAL", Kind.U32),
        Attr(14, "OVPN_A_PEER_KEEPALIVE_TIMEOUT", Kind.U32),
        Attr(15, "OVPN_A_PEER_DEL_REASON", Kind.U32),
        Attr(16, "OVPN_A_PEER_VPN_RX_BYTES", Kind.UINT),
        Attr(17, "OVPN_A_PEER_VPN_TX_BYTES", Kind.UINT),
        Attr(18, "OVPN_A_PEER_VPN_RX_PACKETS", Kind.UINT),
        Attr(19, "OVPN_A_PEER_VPN_TX_PACKETS", Kind.UINT),
        Attr(20, "OVPN_A_PEER_LINK_RX_BYTES", Kind.UINT),
        Attr(21, "OVPN_A_PEER_LINK_TX_BYTES", Kind.UINT),
        Attr(22, "OVPN_A_PEER_LINK_RX_PACKETS", Kind.UINT),
        Attr(23, "OVPN_A_PEER_LINK_TX_PACKETS", Kind.UINT),
        Attr(24, "OVPN_A_PEER_TX_ID", Kind.U32),  # newer kernels only
    ),
)
PEER_ATTR_TX_ID = 24

OVPN = AttrSet(
    "ovpn",
    (
        Attr(1, "OVPN_A_IFINDEX", Kind.U32),
        Attr(2, "OVPN_A_PEER", Kind.NEST, PEER),
        Attr(3, "OVPN_A_KEYCONF", Kind.NEST, KEYCONF),
    ),
)
OVPN_A_PEER = 2

# enum ovpn_cipher_alg
CIPHER_ALG: dict[Cipher, int] = {
    Cipher.NONE: 0,
    Cipher.AES_128_GCM: 1,
    Cipher.AES_192_GCM: 1,
    Cipher.AES_256_GCM: 1,
    Cipher.CHACHA20_POLY1305: 2,
}
CIPHER_ALG_AES_GCM = 1
CIPHER_ALG_CHACHA20_POLY1305 = 2

# enum ovpn_del_peer_reason -> the shared model
DEL_REASON: dict[int, DeleteReason] = {
    0: DeleteReason.TEARDOWN,
    1: DeleteReason.REQUESTED,  # OVPN_DEL_PEER_REASON_USERSPACE
    2: DeleteReason.EXPIRED,
    3: DeleteReason.TRANSPORT_ERROR,
    4: DeleteReason.TRANSPORT_DISCONNECT,
}
DEL_REASON_NAMES = {
    0: "TEARDOWN",
    1: "USERSPACE",
    2: "EXPIRED",
    3: "TRANSPORT_ERROR",
    4: "TRANSPORT_DISCONNECT",
}

SLOT_NAMES = {KeySlot.PRIMARY: "primary", KeySlot.SECONDARY: "secondary"}


def cipher_from_alg(alg: int, key_length: int | None = None) -> Cipher:
    """The kernel reports AES-GCM without its key size; KEY_GET never returns the key,
    so AES-GCM reads back as AES-256-GCM unless the caller knows better."""
    if alg == CIPHER_ALG_CHACHA20_POLY1305:
        return Cipher.CHACHA20_POLY1305
    if alg == CIPHER_ALG_AES_GCM:
        return {16: Cipher.AES_128_GCM, 24: Cipher.AES_192_GCM}.get(
            key_length or 32, Cipher.AES_256_GCM
        )
    if alg == 0:
        return Cipher.NONE
    raise ProtocolError(f"the kernel reported unknown cipher algorithm {alg}")


def encode_genl(cmd: Cmd, items: Items) -> bytearray:
    """A generic netlink payload: the 4-byte genl header, then the top-level attributes.

    A bytearray, so that a caller sending key material can wipe it afterwards."""
    return encode_into(bytearray(GENLMSGHDR.pack(cmd, FAMILY_VERSION, 0)), OVPN, items)


def encode_request(cmd: Cmd, items: Items) -> bytearray:
    """`encode_genl` behind 16 reserved bytes that NetlinkSocket.transact fills with the
    netlink header, so the whole request is built, sent and wiped in one buffer."""
    buf = bytearray(NLMSG_HDRLEN)
    buf += GENLMSGHDR.pack(cmd, FAMILY_VERSION, 0)
    return encode_into(buf, OVPN, items)


def decode_genl(payload: bytes) -> tuple[int, dict[str, Any]]:
    """(command number, attributes) of a reply or notification."""
    if len(payload) < GENLMSGHDR.size:
        raise ProtocolError("truncated generic netlink message")
    cmd = payload[0]
    return cmd, decode_attrs(OVPN, payload, GENLMSGHDR.size)


@dataclass(frozen=True, slots=True)
class Features:
    """What the running kernel's ovpn driver supports, read from its live policy."""

    peer_attr_max: int  # highest attribute id any peer nest accepts
    commands: frozenset[int]  # commands that accept requests

    @property
    def tx_id(self) -> bool:
        """OVPN_A_PEER_TX_ID (asymmetric peer ids) is known."""
        return self.peer_attr_max >= PEER_ATTR_TX_ID

    @property
    def float_notifications(self) -> bool:
        """PEER_FLOAT_NTF is sent. Notification-only commands have no policy and no op
        entry, so this cannot be read directly: it arrived in the same uAPI revision as
        TX_ID (the sheet's 6.17 vs 7.3 comparison), which is what this tests. An op list
        that names the command settles it too."""
        return self.tx_id or Cmd.PEER_FLOAT_NTF in self.commands


@dataclass(frozen=True, slots=True)
class Family:
    id: int
    peers_group: int
    features: Features


def features_from_policy(policy: list[dict[str, Any]], commands: frozenset[int]) -> Features:
    """Find every policy reached through OVPN_A_PEER and take the largest attribute id.

    `policy` is the CTRL_CMD_GETPOLICY dump flattened to dicts
    `{"policy": idx, "attr": id, "nested_policy": idx|None, "maxtype": n|None}`.
    """
    peer_policies = {
        row["nested_policy"]
        for row in policy
        if row["attr"] == OVPN_A_PEER and row["nested_policy"] is not None
    }
    peer_max = 0
    for row in policy:
        if row["policy"] in peer_policies:
            peer_max = max(peer_max, row["attr"])
    for row in policy:
        if row["attr"] == OVPN_A_PEER and row["maxtype"] is not None:
            peer_max = max(peer_max, row["maxtype"])
    return Features(peer_attr_max=peer_max, commands=commands)


def resolve_family() -> Family:
    """Look up the family and group ids and read the policy, in this process's netns."""
    from pyroute2.netlink import genlmsg  # noqa: PLC0415 - pyroute2 only when live
    from pyroute2.netlink.exceptions import NetlinkError  # noqa: PLC0415
    from pyroute2.netlink.generic import GenericNetlinkSocket  # noqa: PLC0415

    class _Reply(genlmsg):  # type: ignore[misc]
        nla_map = (("OVPN_A_UNSPEC", "none"),)

    sock = GenericNetlinkSocket()
    try:
        try:
            sock.bind(FAMILY_NAME, _Reply)
        except NetlinkError as exc:
            if exc.code == 2:  # ENOENT: no such family
                raise BackendUnavailableError(
                    "the ovpn kernel module is not loaded (run `modprobe ovpn`; "
                    "it needs Linux 6.16 or newer)"
                ) from None
            raise KernelError(
                f"cannot look up the ovpn netlink family: {exc.args[-1]}", errno=exc.code
            ) from None
        groups = dict(sock.mcast_groups)
        if MCAST_GROUP_PEERS not in groups:
            raise ProtocolError("the ovpn netlink family has no 'peers' multicast group")
        info = sock.discovery(FAMILY_NAME)
        commands = frozenset(
            op.get_attr("CTRL_ATTR_OP_ID") for op in info.get_attr("CTRL_ATTR_OPS", [])
        )
        rows = _policy_rows(sock.policy(FAMILY_NAME))
        return Family(
            id=int(sock.prid),
            peers_group=int(groups[MCAST_GROUP_PEERS]),
            features=features_from_policy(rows, commands),
        )
    finally:
        sock.close()


def _policy_rows(messages: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for msg in messages:
        pol = msg.get_attr("CTRL_ATTR_POLICY")
        if not pol:
            continue
        for pol_entry in pol["attrs"]:
            pol_name, pol_nest = pol_entry[0], pol_entry[1]
            idx = int(pol_name[len("POLICY(") : -1])
            for attr_entry in pol_nest["attrs"]:
                attr_name, attr_nest = attr_entry[0], attr_entry[1]
                values = {cell[0]: cell[1] for cell in attr_nest["attrs"]}
                rows.append(
                    {
                        "policy": idx,
                        "attr": int(attr_name[len("ATTR(") : -1]),
                        "nested_policy": values.get("NL_POLICY_TYPE_ATTR_POLICY_IDX"),
                        "maxtype": values.get("NL_POLICY_TYPE_ATTR_POLICY_MAXTYPE"),
                    }
                )
    return rows
