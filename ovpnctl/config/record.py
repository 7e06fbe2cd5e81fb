"""The state file: what ovpnctl last installed on an interface, kept beside the kernel.

FreeBSD's if_ovpn cannot report a peer's addresses, keepalive or keys, and no kernel
reports key material, so without a record `apply` could not tell an unchanged peer from
a changed one, and `showconf` could not say which key files are in use. The record holds
exactly what was applied — endpoints, addresses, routes, key ids, key file paths and the
ledger's fingerprints of their material — and never key bytes. It is rewritten after
every apply, including one that rolled back, so it always describes the kernel.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field

from ovpnctl.config.paths import ensure_private_dir, write_atomic
from ovpnctl.errors import ExitCode, OvpnError

RECORD_FORMAT = "ovpnctl-applied-state"
RECORD_VERSION = 1


@dataclass(slots=True)
class AppliedKey:
    key_id: int
    cipher: str
    encrypt_file: str | None
    decrypt_file: str | None
    encrypt_fp: str | None  # ledger fingerprint of the material, None for cipher none
    decrypt_fp: str | None

    def same_material(self, other: AppliedKey) -> bool:
        return (
            self.cipher == other.cipher
            and self.encrypt_fp == other.encrypt_fp
            and self.decrypt_fp == other.decrypt_fp
        )


@dataclass(slots=True)
class AppliedPeer:
    peer_id: int
    remote: str
    listen: str | None = None
    local: str | None = None
    vpn_ipv4: str | None = None
    vpn_ipv6: str | None = None
    keepalive: tuple[int, int] | None = None
    keys: dict[str, AppliedKey] = field(default_factory=dict)  # "primary"/"secondary"
    tcp: str | None = None  # TcpRole value; None for UDP


@dataclass(slots=True)
class AppliedState:
    interface: str
    backend: str
    ledger_salt_id: str | None = None
    ifindex: int | None = None
    created: bool = False  # ovpnctl created the interface (so `up` may destroy it)
    mode: str | None = None
    transport: str | None = None
    listen: list[str] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)  # those ovpnctl added
    routes: list[tuple[str, str | None]] = field(default_factory=list)  # (network, via)
    readd_on_timeout: bool = False
    config_source: str | None = None
    peers: dict[int, AppliedPeer] = field(default_factory=dict)

    def to_json(self) -> str:
        data = asdict(self)
        data["peers"] = {str(pid): peer for pid, peer in data["peers"].items()}
        data = {"format": RECORD_FORMAT, "version": RECORD_VERSION, **data}
        return json.dumps(data, indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str) -> AppliedState:
        try:
            data = json.loads(text)
            if data.pop("format") != RECORD_FORMAT or data.pop("version") != RECORD_VERSION:
                raise ValueError("format")
            peers = {}
            for pid, raw in data.pop("peers").items():
                keys = {slot: AppliedKey(**key) for slot, key in raw.pop("keys").items()}
                keepalive = raw.pop("keepalive")
                peers[int(pid)] = AppliedPeer(
                    keys=keys,
                    keepalive=None if keepalive is None else (keepalive[0], keepalive[1]),
                    **raw,
                )
            routes = [
                (str(net), None if via is None else str(via)) for net, via in data.pop("routes")
            ]
            return cls(peers=peers, routes=routes, **data)
        except (ValueError, KeyError, TypeError, AttributeError, IndexError):
            raise OvpnError(
                f"{where}: damaged state file; remove it and re-apply with fresh keys",
                exit_code=ExitCode.DATAERR,
            ) from None


def read_record(path: str) -> AppliedState | None:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise OvpnError(
            f"{path}: cannot read state file ({exc.strerror})", exit_code=ExitCode.IOERR
        ) from None
    return AppliedState.from_json(text, path)


def write_record(path: str, record: AppliedState | None) -> None:
    """Write (or, for None, remove) the state file."""
    if record is None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    ensure_private_dir(os.path.dirname(path) or ".")
    write_atomic(path, record.to_json().encode(), mode=0o600)
