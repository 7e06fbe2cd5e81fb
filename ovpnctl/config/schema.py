"""The declarative tunnel description: what one interface and its peers should look like.

These values are the *desired* state; `ovpnctl.plan` compares them with what the kernel
(and the state file, where the kernel cannot tell) reports. They hold key file *paths*,
never key bytes: material is read only when a plan needs it, so loading, validating and
`showconf` never have secrets in memory.

The field tables below are the one description of the file format: the validator walks
them, and the documentation is written from them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ovpnctl.config.locate import KeyPath, SourceMap, format_path
from ovpnctl.endpoint import Endpoint, IPAddress, IPInterface, IPNetwork
from ovpnctl.keys import Cipher, KeySlot
from ovpnctl.model import Keepalive, Mode, PeerConfig, Transport

# key -> one-line meaning; the order is the order `showconf` writes them in.
INTERFACE_KEYS: dict[str, str] = {
    "name": "interface name (required; FreeBSD needs the prefix 'ovpn')",
    "mode": "p2p (one peer; default) or mp (alias subnet: many peers, routed by VPN address)",
    "transport": "udp (default) or tcp (Linux only; each peer has its own connection, "
    "made or awaited as peer.tcp says)",
    "listen": "local transport address(es) ADDRESS:PORT: where the UDP socket(s) bind, or "
    "with tcp where connections from accepting peers are awaited",
    "address": "tunnel address(es) of this host, ADDRESS/PREFIX",
    "key_dir": "directory that relative key file paths are resolved against "
    "(default: the config file's directory)",
    "readd_on_timeout": "ovpnctl up: re-add a peer the kernel deleted after its keepalive "
    "timeout (default false)",
}
PEER_KEYS: dict[str, str] = {
    "id": "peer id, 0-16777215; both ends of a tunnel use the same id (required)",
    "remote": "the peer's transport address ADDRESS:PORT (required; a tcp accept peer may "
    "give the ADDRESS alone, to accept it from any port)",
    "tcp": "connect (default: dial remote, retrying until it answers) or accept (wait for "
    "remote to connect to listen); transport tcp only",
    "listen": "which interface.listen socket carries this peer (default: the first one of "
    "the remote's address family); a tcp connect peer binds to it only when given",
    "local": "source address for packets to this peer (default: chosen by routing)",
    "vpn_ipv4": "the peer's tunnel IPv4 address (mp mode)",
    "vpn_ipv6": "the peer's tunnel IPv6 address (mp mode)",
    "keepalive": "{ interval = SECONDS, timeout = SECONDS }: ping when idle, drop when silent",
    "routes": "networks reached through this peer, NETWORK/PREFIX",
    "key": "the primary key: encrypts, and decrypts packets carrying its id",
    "secondary_key": "an optional second key that only decrypts until it is promoted to key",
}
KEEPALIVE_KEYS: dict[str, str] = {
    "interval": "seconds of silence before the kernel sends a ping",
    "timeout": "seconds without any received packet before the kernel deletes the peer",
}
KEY_KEYS: dict[str, str] = {
    "id": "key id 0-7 carried in every packet; must change on every rotation (required)",
    "cipher": "AES-256-GCM (default), AES-192-GCM, AES-128-GCM, CHACHA20-POLY1305 or none",
    "encrypt": "file with the transmit key || 8-byte IV (raw, hex or base64; mode 0600)",
    "decrypt": "file with the receive key || 8-byte IV (the peer's encrypt file)",
}

DEFAULT_CIPHER = Cipher.AES_256_GCM


class TcpRole(enum.Enum):
    """Which end of a TCP peer's connection this host is (OpenVPN's tcp-client/tcp-server).

    The kernel only ever sees a connected socket; who dialled matters to the supervisor,
    which keeps dialling a CONNECT peer and keeps listening for an ACCEPT peer.
    """

    CONNECT = "connect"
    ACCEPT = "accept"


def remote_text(remote: Endpoint) -> str:
    """A peer's remote as the config file writes it: port 0 (an accepting TCP peer's
    "any port") is the bare address, the form the validator reads back as port 0."""
    if remote.port != 0:
        return str(remote)
    text = str(remote)
    return text[: text.rindex(":")]


@dataclass(frozen=True, slots=True)
class KeySpec:
    """Which files hold a slot's key material. Paths are absolute after loading."""

    key_id: int
    cipher: Cipher
    encrypt: str | None  # None only for cipher none
    decrypt: str | None
    where: KeyPath = field(default=(), compare=False)  # e.g. ("peer", 0, "key")


@dataclass(frozen=True, slots=True)
class PeerSpec:
    peer_id: int
    remote: Endpoint
    listen: Endpoint | None  # one of TunnelConfig.listen; None: TCP connect, unbound
    local: IPAddress | None = None
    vpn_ipv4: IPAddress | None = None
    vpn_ipv6: IPAddress | None = None
    keepalive: Keepalive | None = None
    routes: tuple[IPNetwork, ...] = ()
    key: KeySpec | None = None
    secondary_key: KeySpec | None = None
    tcp: TcpRole | None = None  # None for UDP
    where: KeyPath = field(default=(), compare=False)  # ("peer", index)

    def accepts(self, source: Endpoint) -> bool:
        """Whether a connection from `source` is this (accepting) peer's; port 0 = any."""
        remote = self.remote.unmapped()
        src = source.unmapped()
        return remote.address == src.address and remote.port in (0, src.port)

    def keys(self) -> dict[KeySlot, KeySpec]:
        """The key each slot should hold (a missing slot should be empty)."""
        slots: dict[KeySlot, KeySpec] = {}
        if self.key is not None:
            slots[KeySlot.PRIMARY] = self.key
        if self.secondary_key is not None:
            slots[KeySlot.SECONDARY] = self.secondary_key
        return slots

    def peer_config(self, *, with_keepalive: bool = False) -> PeerConfig:
        """The kernel's view of this peer. Keepalive is set by a separate step unless asked.

        A TCP peer's addresses are its connection's, so the kernel is given none."""
        tcp = self.tcp is not None
        local = Endpoint(self.local, 0) if self.local is not None and not tcp else None
        return PeerConfig(
            peer_id=self.peer_id,
            remote=None if tcp else self.remote,
            local=local,
            vpn_ipv4=self.vpn_ipv4,
            vpn_ipv6=self.vpn_ipv6,
            keepalive=self.keepalive if with_keepalive else None,
        )


@dataclass(frozen=True, slots=True)
class TunnelConfig:
    """One interface, as a config file describes it."""

    interface: str
    mode: Mode = Mode.P2P
    transport: Transport = Transport.UDP
    listen: tuple[Endpoint, ...] = ()
    addresses: tuple[IPInterface, ...] = ()
    peers: tuple[PeerSpec, ...] = ()
    readd_on_timeout: bool = False
    key_dir: str | None = field(default=None, compare=False)  # only resolves key paths
    source: str = field(default="<config>", compare=False)
    lines: SourceMap = field(default_factory=SourceMap, compare=False, repr=False)

    def peer(self, peer_id: int) -> PeerSpec | None:
        for peer in self.peers:
            if peer.peer_id == peer_id:
                return peer
        return None

    def where(self, path: KeyPath) -> str:
        """`file:line: key.path` for messages raised after loading (planning, keys)."""
        line = self.lines.line_of(path)
        place = f"{self.source}:{line}" if line is not None else self.source
        return f"{place}: {format_path(path)}" if path else place
