"""The one interface both kernel backends implement, and how one is chosen.

The CLI, `apply` and the `up` supervisor only ever talk to `Backend`, so one command set
and one JSON schema serve FreeBSD's if_ovpn and Linux's ovpn. Where the kernels differ in
what they *can* do (reading back peer addresses, TCP transports, who owns the socket) the
difference is a declared capability, not an `if sys.platform` in the callers.

Dry runs: a backend built with `dry_run=True` validates and encodes every request exactly
as it would for the kernel, records it in `planned_calls`, and touches nothing. That is
why FreeBSD requests can be previewed on any OS.
"""

from __future__ import annotations

import abc
import enum
import socket
import sys
from collections.abc import Iterator
from typing import Any, ClassVar

from ovpnctl.errors import BackendUnavailableError, UsageError
from ovpnctl.keys import KeyConfig, KeyInfo, KeySlot
from ovpnctl.model import Event, InterfaceState, Keepalive, Mode, PeerConfig

BACKEND_NAMES = ("freebsd", "linux")


class Capability(enum.Enum):
    """What a backend's kernel can do; callers branch on these, never on the OS name."""

    READ_PEER_CONFIG = "read-peer-config"  # remote/local/vpn/keepalive readable (Linux)
    READ_KEYS = "read-keys"  # key slot/id/cipher readable (Linux KEY_GET)
    INTERFACE_COUNTERS = "interface-counters"  # OVPN_GET_STATS (FreeBSD)
    TCP_TRANSPORT = "tcp-transport"  # Linux only
    KERNEL_HOLDS_SOCKET = "kernel-holds-socket"  # FreeBSD: peers survive our exit
    ONE_SOCKET_PER_INTERFACE = "one-socket-per-interface"  # FreeBSD
    MODE_CHANGE = "mode-change"  # FreeBSD: OVPN_SET_IFMODE before up; Linux: fixed at create
    EVENT_QUEUE = "event-queue"  # FreeBSD: kernel queue, reading consumes
    EVENT_MULTICAST = "event-multicast"  # Linux: every listener sees every event
    PEER_UPDATE = "peer-update"  # change remote/vpn addresses of a live peer (Linux)


class Backend(abc.ABC):
    """A kernel's DCO control plane. All methods raise `OvpnError` subclasses only."""

    name: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]]
    # Dry runs record key material only when this is True (`--show-keys`); otherwise a
    # backend records a stand-in of the same length. Set before calling `new_key`.
    show_keys: bool = False

    def __init__(self, *, dry_run: bool = False) -> None:
        self.dry_run = dry_run
        # One JSON-serialisable dict per request a dry run would have sent.
        self.planned_calls: list[dict[str, Any]] = []

    # -- interfaces -------------------------------------------------------------------
    @abc.abstractmethod
    def interfaces(self) -> list[str]:
        """Names of this kernel's DCO interfaces, sorted."""

    @abc.abstractmethod
    def state(self, ifname: str) -> InterfaceState:
        """Mode, flags, counters and peers of one interface, as far as the kernel tells."""

    @abc.abstractmethod
    def create_interface(self, name: str | None, mode: Mode) -> str:
        """Create an interface (auto-numbered when `name` is None); return its name."""

    @abc.abstractmethod
    def destroy_interface(self, ifname: str) -> None: ...

    @abc.abstractmethod
    def set_mode(self, ifname: str, mode: Mode) -> None:
        """Change p2p/mp; only before the interface is up (FreeBSD), else UsageError."""

    @abc.abstractmethod
    def start(self, ifname: str) -> None:
        """Bring the data channel up (FreeBSD OVPN_START_VPN; Linux: link up)."""

    # -- peers --------------------------------------------------------------------------
    @abc.abstractmethod
    def add_peer(self, ifname: str, peer: PeerConfig, sock: socket.socket | None) -> None:
        """Create a peer on `sock` (bound UDP, or connected TCP on Linux).

        `sock` is None only in a dry run, where a placeholder stands for the fd.
        """

    @abc.abstractmethod
    def set_keepalive(self, ifname: str, peer_id: int, keepalive: Keepalive) -> None: ...

    def update_peer(self, ifname: str, peer: PeerConfig) -> None:
        """Change a live peer's remote/local/VPN addresses where the kernel allows it."""
        raise UsageError(
            f"{self.name}: changing a live peer's addresses is not supported; "
            "delete and re-add the peer"
        )

    @abc.abstractmethod
    def del_peer(self, ifname: str, peer_id: int) -> None: ...

    # -- keys ---------------------------------------------------------------------------
    @abc.abstractmethod
    def new_key(self, ifname: str, key: KeyConfig) -> None:
        """Install `key` into its slot. The caller still owns and wipes `key`."""

    @abc.abstractmethod
    def swap_keys(self, ifname: str, peer_id: int) -> None: ...

    @abc.abstractmethod
    def del_key(self, ifname: str, peer_id: int, slot: KeySlot) -> None: ...

    def key_info(self, ifname: str, peer_id: int) -> tuple[KeyInfo, ...] | None:
        """Installed keys' metadata, or None when the kernel cannot report it (FreeBSD)."""
        return None

    # -- events -------------------------------------------------------------------------
    def pending_events(self, ifname: str) -> int | None:
        """Queued notifications without consuming them; None when the kernel has no queue."""
        return None

    @abc.abstractmethod
    def consume_events(self, ifname: str) -> list[Event]:
        """Drain the kernel's queue (FreeBSD; destructive for a running openvpn) or, on
        Linux, return the events already received by this process's listener."""

    @abc.abstractmethod
    def watch_events(
        self, ifname: str | None, *, consume: bool, timeout: float | None
    ) -> Iterator[Event]:
        """Yield events as they happen until `timeout` seconds pass (None = forever)."""

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release kernel handles (control sockets). Idempotent."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def default_backend_name() -> str:
    if sys.platform.startswith("freebsd"):
        return "freebsd"
    if sys.platform.startswith("linux"):
        return "linux"
    raise BackendUnavailableError(
        f"no DCO backend for {sys.platform}; use --backend freebsd --dry-run to preview requests"
    )


def get_backend(name: str | None = None, *, dry_run: bool = False) -> Backend:
    """Instantiate a backend; imports are lazy so `--version` stays fast."""
    chosen = name or default_backend_name()
    if chosen == "freebsd":
        from ovpnctl.freebsd.backend import FreeBSDBackend  # noqa: PLC0415

        return FreeBSDBackend(dry_run=dry_run)
    if chosen == "linux":
        from ovpnctl.linux.backend import LinuxBackend  # noqa: PLC0415

        return LinuxBackend(dry_run=dry_run)
    raise UsageError(f"unknown backend {chosen!r}; choose one of {', '.join(BACKEND_NAMES)}")
