"""`showconf`: the running state of an interface, written as a config file.

The kernel is the authority for what exists (the interface, its mode, which peers) and,
on Linux, for each peer's addresses and keepalive; the state file `apply` wrote fills
in the rest. Key material cannot be read back from either kernel, so keys appear as the
paths of the files ovpnctl installed them from — and the output says so, because those
files may have changed since. A peer nobody recorded, on a kernel that cannot describe
it (FreeBSD), is left out with a comment rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ovpnctl.backend import Backend, Capability
from ovpnctl.config.paths import Paths
from ovpnctl.config.record import AppliedKey, AppliedPeer, AppliedState, read_record
from ovpnctl.config.schema import TcpRole, remote_text
from ovpnctl.endpoint import Endpoint
from ovpnctl.errors import ExitCode, OvpnError
from ovpnctl.hostnet import HostNetwork
from ovpnctl.model import InterfaceState, Mode, PeerState


@dataclass
class RunningConfig:
    data: dict[str, Any]
    comments: list[str] = field(default_factory=list)


def running_config(
    ifname: str, *, backend: Backend, hostnet: HostNetwork, paths: Paths
) -> RunningConfig:
    if ifname not in backend.interfaces():
        raise OvpnError(
            f"{ifname}: no such {backend.name} DCO interface", exit_code=ExitCode.NOINPUT
        )
    state = backend.state(ifname)
    record = read_record(paths.state_file(ifname))
    if record is not None and (
        record.backend != backend.name
        or (record.ifindex is not None and state.ifindex not in (None, record.ifindex))
    ):
        record = None  # describes an earlier interface of the same name
    comments = [
        f"Running configuration of {ifname} ({backend.name} DCO), written by ovpnctl showconf.",
        "Key material cannot be read back from any kernel: each key below names the file",
        "ovpnctl installed it from (recorded in its state file, never the key itself).",
        "If a file changed since, the kernel still holds the old key.",
    ]
    if record is None:
        comments.append("ovpnctl has no state file for this interface: only what the kernel")
        comments.append("reports is shown, and keys are missing.")
    mode = state.mode or Mode(record.mode if record and record.mode else "p2p")
    interface: dict[str, Any] = {"name": ifname, "mode": mode.value}
    interface["transport"] = (record.transport if record else None) or "udp"
    if record is not None and record.listen:
        interface["listen"] = list(record.listen)
    addresses = hostnet.addresses(ifname)
    if addresses:
        interface["address"] = [str(a) for a in addresses]
    interface["readd_on_timeout"] = bool(record and record.readd_on_timeout)
    data: dict[str, Any] = {"interface": interface}
    peers = []
    for peer in state.peers:
        entry = _peer(peer, record, state, backend, comments)
        if entry is not None:
            peers.append(entry)
    if peers:
        data["peer"] = peers
    return RunningConfig(data, comments)


def _peer(
    peer: PeerState,
    record: AppliedState | None,
    state: InterfaceState,
    backend: Backend,
    comments: list[str],
) -> dict[str, Any] | None:
    recorded: AppliedPeer | None = record.peers.get(peer.peer_id) if record else None
    readable = Capability.READ_PEER_CONFIG in backend.capabilities
    if recorded is None and not (readable and peer.remote is not None):
        comments.append(
            f"peer {peer.peer_id} is left out: the {backend.name} kernel does not report its "
            "configuration and ovpnctl did not install it."
        )
        return None
    out: dict[str, Any] = {"id": peer.peer_id}
    if recorded is not None:
        out["remote"] = remote_text(Endpoint.parse(recorded.remote, what="recorded remote"))
        if recorded.tcp is not None:
            out["tcp"] = recorded.tcp
        several = record is not None and len(record.listen) > 1
        if recorded.listen and (several or recorded.tcp == TcpRole.CONNECT.value):
            out["listen"] = recorded.listen
        if recorded.local:
            out["local"] = recorded.local
    else:
        out["remote"] = str(peer.remote)
    vpn4 = peer.vpn_ipv4 if readable else (recorded.vpn_ipv4 if recorded else None)
    vpn6 = peer.vpn_ipv6 if readable else (recorded.vpn_ipv6 if recorded else None)
    if vpn4 is not None:
        out["vpn_ipv4"] = str(vpn4)
    if vpn6 is not None:
        out["vpn_ipv6"] = str(vpn6)
    routes = _routes_of(peer.peer_id, vpn4, vpn6, record, state)
    if routes:
        out["routes"] = routes
    keepalive: tuple[int, int] | None
    if readable and peer.keepalive is not None:
        keepalive = (peer.keepalive.interval, peer.keepalive.timeout)
    else:
        keepalive = recorded.keepalive if recorded else None
    if keepalive is not None and keepalive != (0, 0):
        out["keepalive"] = {"interval": keepalive[0], "timeout": keepalive[1]}
    if recorded is not None:
        for slot, name in (("primary", "key"), ("secondary", "secondary_key")):
            key = recorded.keys.get(slot)
            if key is not None:
                out[name] = _key(key)
        if "secondary_key" in out and "key" not in out:
            del out["secondary_key"]  # not expressible; the primary slot is empty
            comments.append(f"peer {peer.peer_id} has a secondary key but no primary key.")
    return out


def _routes_of(
    peer_id: int,
    vpn4: object,
    vpn6: object,
    record: AppliedState | None,
    state: InterfaceState,
) -> list[str]:
    if record is None:
        return []
    if state.mode is Mode.MULTIPOINT:
        gateways = {str(a) for a in (vpn4, vpn6) if a is not None}
        return [net for net, via in record.routes if via in gateways]
    return [net for net, via in record.routes if via is None] if len(state.peers) == 1 else []


def _key(key: AppliedKey) -> dict[str, Any]:
    out: dict[str, Any] = {"id": key.key_id, "cipher": key.cipher}
    if key.encrypt_file is not None:
        out["encrypt"] = key.encrypt_file
        out["decrypt"] = key.decrypt_file
    return out
