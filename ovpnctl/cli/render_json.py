"""The stable JSON forms of `show`, `events` and `--dry-run` (documented in ovpnctl(8)).

Scripts depend on these, so the rules are fixed: every documented key is always
present; a value the kernel cannot report is `null` (never a made-up 0); enums are
their lowercase model values; addresses are objects, not "addr:port" strings. A new
field may be added; a field is never renamed or removed without changing `SHOW_SCHEMA`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ovpnctl.endpoint import Endpoint, IPAddress
    from ovpnctl.keys import KeyInfo
    from ovpnctl.model import Event, InterfaceState, Keepalive, PeerState, Traffic

SHOW_SCHEMA = "ovpnctl-show/1"
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")

# Names of request fields holding key material: FreeBSD key-direction nvlist pairs
# (`key`, `iv`) and Linux keydir attributes (`..._CIPHER_KEY`, `..._NONCE_TAIL`).
_SECRET_EXACT = frozenset({"key", "iv"})
_SECRET_SUFFIXES = ("cipher_key", "nonce_tail")


READ_KEYS = "read-keys"  # Capability.READ_KEYS.value


def show_document(
    states: Iterable[InterfaceState], backend: str, capabilities: Iterable[str]
) -> dict[str, Any]:
    caps = sorted(capabilities)
    keys_readable = READ_KEYS in caps
    return {
        "schema": SHOW_SCHEMA,
        "backend": backend,
        "capabilities": caps,
        "interfaces": [interface(state, keys_readable=keys_readable) for state in states],
    }


def interface(state: InterfaceState, *, keys_readable: bool = True) -> dict[str, Any]:
    return {
        "name": state.name,
        "backend": state.backend,
        "mode": None if state.mode is None else state.mode.value,
        "up": state.up,
        "ifindex": state.ifindex,
        "mtu": state.mtu,
        "pending_events": state.pending_events,
        "counters": [
            {"name": c.name, "rx": c.rx, "tx": c.tx, "note": c.note} for c in state.counters
        ],
        "peers": [peer(p, keys_readable=keys_readable) for p in state.peers],
    }


def peer(state: PeerState, *, keys_readable: bool = True) -> dict[str, Any]:
    """`keys` is null (not []) when the kernel cannot list installed keys (FreeBSD)."""
    return {
        "peer_id": state.peer_id,
        "remote": endpoint(state.remote),
        "local": endpoint(state.local),
        "vpn_ipv4": address(state.vpn_ipv4),
        "vpn_ipv6": address(state.vpn_ipv6),
        "keepalive": keepalive(state.keepalive),
        "vpn": traffic(state.vpn),
        "link": traffic(state.link),
        "keys": [key_info(k) for k in state.keys] if keys_readable else None,
        "tx_id": state.tx_id,
    }


def endpoint(value: Endpoint | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {"address": str(value.address), "port": value.port, "scope_id": value.scope_id}


def address(value: IPAddress | None) -> str | None:
    return None if value is None else str(value)


def keepalive(value: Keepalive | None) -> dict[str, int] | None:
    if value is None:
        return None
    return {"interval": value.interval, "timeout": value.timeout}


def traffic(value: Traffic | None) -> dict[str, int] | None:
    if value is None:
        return None
    return {
        "rx_packets": value.rx_packets,
        "tx_packets": value.tx_packets,
        "rx_bytes": value.rx_bytes,
        "tx_bytes": value.tx_bytes,
    }


def key_info(value: KeyInfo) -> dict[str, Any]:
    return {"slot": value.slot.name.lower(), "key_id": value.key_id, "cipher": value.cipher.value}


def event(value: Event) -> dict[str, Any]:
    """`pending` is the queued-notification count of a `pending` event, else null."""
    count = value.raw.get("pending") if value.kind.value == "pending" else None
    return {
        "event": value.kind.value,
        "interface": value.interface,
        "peer_id": value.peer_id,
        "reason": None if value.reason is None else value.reason.value,
        "final": traffic(value.final),
        "address": endpoint(value.address),
        "key_id": value.key_id,
        "pending": count if isinstance(count, int) else None,
        "raw_type": value.raw_type,
        "raw": _plain(value.raw),
    }


def planned_call(call: Mapping[str, Any], *, show_keys: bool, verbose: bool) -> dict[str, Any]:
    """A recorded request as printed by `--dry-run --json`.

    The backend's record is passed through with two changes: `hex` (the packed bytes)
    only with -v, and, unless --show-keys, key material replaced by zero bytes of the
    same length, so `request` stays valid typed JSON of the right shape. A request that
    carries key material says which happened in `keys_shown`; its `hex` is dropped
    unless keys are shown (a backend's bytes cannot be redacted field by field).
    """
    out = {name: value for name, value in call.items() if name != "hex"}
    secret = carries_keys(call)
    if secret and not show_keys:
        out = hide_keys(out)
    if verbose and "hex" in call and (show_keys or not secret):
        out["hex"] = call["hex"]
    if secret:
        out["keys_shown"] = show_keys
    return out


def is_secret_name(name: object) -> bool:
    if not isinstance(name, str):
        return False
    lowered = name.lower()
    return lowered in _SECRET_EXACT or lowered.endswith(_SECRET_SUFFIXES)


def carries_keys(value: Any) -> bool:
    """True when any (nested) field of a recorded request is key material."""
    if isinstance(value, Mapping):
        return any(
            is_secret_name(name) or carries_keys(inner)
            for name, inner in value.items()
            if name != "hex"
        )
    if isinstance(value, list | tuple):
        if _is_named_pair(value) and is_secret_name(value[0]):
            return True
        return any(carries_keys(inner) for inner in value)
    return False


def hide_keys(value: Any) -> Any:
    """A deep copy with every key-material value replaced by zeros of its length."""
    import copy  # noqa: PLC0415 - dry runs of key requests only

    return _hide(copy.deepcopy(value))


def _hide(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            name: _hidden(inner) if is_secret_name(name) else _hide(inner)
            for name, inner in value.items()
        }
    if isinstance(value, list):
        if _is_named_pair(value) and is_secret_name(value[0]):
            return [value[0], _hidden(value[1])]
        return [_hide(inner) for inner in value]
    return value


def _hidden(value: Any) -> Any:
    """Zeros of the secret's length, in the secret's own representation."""
    if isinstance(value, Mapping) and isinstance(value.get("hex"), str):
        return {**value, "hex": "00" * (len(value["hex"]) // 2)}
    if isinstance(value, str):
        # Hex digits become zeros; anything else is already a backend's own stand-in.
        return "0" * len(value) if _HEX_DIGITS.issuperset(value) else value
    if isinstance(value, bytes | bytearray):
        return bytes(len(value))
    return None


def _is_named_pair(value: list[Any] | tuple[Any, ...]) -> bool:
    """A typed-JSON nvlist item: `[name, {"type": ...}]`."""
    return (
        len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], Mapping)
        and "type" in value[1]
    )


def _plain(value: Any) -> Any:
    """Make an event's raw payload JSON-safe (bytes as hex, addresses as text)."""
    if isinstance(value, Mapping):
        return {str(name): _plain(inner) for name, inner in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(inner) for inner in value]
    if isinstance(value, bytes | bytearray):
        return {"hex": bytes(value).hex()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)  # addresses and enums by their usual text
