"""Turn parsed TOML/JSON data into a `TunnelConfig`, reporting every problem found.

Each field is checked by the same constructors the rest of ovpnctl uses (`Endpoint.parse`,
`Keepalive`, `check_peer_id`, ...), so the config file cannot accept a value the `peer`
commands would refuse. A bad field is recorded and skipped, never fatal, so one run
lists every mistake; cross-field rules (one peer in p2p mode, unique ids and addresses,
routes needing a gateway in mp mode) run on whatever parsed cleanly.
"""

from __future__ import annotations

import difflib
import enum
import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from ovpnctl.config.issues import Issues
from ovpnctl.config.locate import KeyPath
from ovpnctl.config.schema import (
    DEFAULT_CIPHER,
    INTERFACE_KEYS,
    KEEPALIVE_KEYS,
    KEY_KEYS,
    PEER_KEYS,
    KeySpec,
    PeerSpec,
    TcpRole,
    TunnelConfig,
    remote_text,
)
from ovpnctl.endpoint import Endpoint, IPAddress, IPInterface, IPNetwork, parse_vpn_address
from ovpnctl.errors import OvpnError
from ovpnctl.ids import KEEPALIVE_MAX, check_key_id, check_peer_id
from ovpnctl.keys import Cipher
from ovpnctl.model import Keepalive, Mode, Transport

IFNAME_MAX = 15  # IFNAMSIZ - 1 on both kernels
_IFNAME = re.compile(r"[A-Za-z0-9_.-]+")
TOP_KEYS = {"interface": "the interface section (required)", "peer": "one [[peer]] per peer"}

T = TypeVar("T")
E = TypeVar("E", bound=enum.Enum)


def build_config(
    data: Mapping[str, Any], issues: Issues, *, base_dir: str, key_dir: str | None = None
) -> TunnelConfig | None:
    """Validate `data`; return the config, or None when `issues` received anything.

    `base_dir` anchors a relative `key_dir`; `key_dir` (a command-line override) wins over
    the file's own.
    """
    _unknown_keys(data, (), TOP_KEYS, issues)
    iface_raw = data.get("interface")
    if iface_raw is None or not isinstance(iface_raw, Mapping):
        # Without the section, "name missing" and friends would only repeat this.
        reason = "missing section [interface]" if iface_raw is None else "must be a table"
        issues.add(("interface",), reason)
        _peers(
            data.get("peer", []),
            listen=[],
            transport=Transport.UDP,
            key_dir=base_dir,
            mode=Mode.P2P,
            issues=issues,
        )
        return None
    _unknown_keys(iface_raw, ("interface",), INTERFACE_KEYS, issues)

    at = ("interface",)
    name = _field(iface_raw, at, "name", issues, _ifname, required=True)
    mode = _field(iface_raw, at, "mode", issues, _enum_text(Mode.parse)) or Mode.P2P
    transport_of = _enum_value(Transport, "transport")
    transport = _field(iface_raw, at, "transport", issues, transport_of) or Transport.UDP
    listen = _listen(iface_raw, at, transport, issues)
    addresses = _list_field(iface_raw, at, "address", issues, _ip_interface)
    readd = _field(iface_raw, at, "readd_on_timeout", issues, _bool) or False
    file_key_dir = _field(iface_raw, at, "key_dir", issues, _text)
    chosen = key_dir if key_dir is not None else file_key_dir
    resolved_key_dir = os.path.abspath(os.path.join(base_dir, chosen or "."))

    peers = _peers(
        data.get("peer", []),
        listen=listen,
        transport=transport,
        key_dir=resolved_key_dir,
        mode=mode,
        issues=issues,
    )
    if issues or name is None:
        return None
    return TunnelConfig(
        interface=name,
        mode=mode,
        transport=transport,
        listen=tuple(listen),
        addresses=tuple(addresses),
        peers=tuple(peers),
        readd_on_timeout=readd,
        key_dir=resolved_key_dir,
        source=issues.source,
        lines=issues.lines,
    )


# -- sections -------------------------------------------------------------------------


def _peers(
    peers_raw: Any,
    *,
    listen: list[Endpoint],
    transport: Transport,
    key_dir: str,
    mode: Mode,
    issues: Issues,
) -> list[PeerSpec]:
    if isinstance(peers_raw, Mapping):  # `[peer]` written instead of `[[peer]]`
        issues.add(("peer",), "write each peer as [[peer]] (an array of tables)")
        return []
    if not isinstance(peers_raw, list):
        issues.add(("peer",), "must be an array of tables ([[peer]])")
        return []
    peers: list[PeerSpec] = []
    facts: list[_PeerFacts] = []
    for index, peer_raw in enumerate(peers_raw):
        peer, fact = _peer(
            peer_raw,
            ("peer", index),
            listen=listen,
            transport=transport,
            key_dir=key_dir,
            issues=issues,
        )
        if peer is not None:
            peers.append(peer)
        if fact is not None:
            facts.append(fact)
    _cross_checks(mode, facts, issues)
    _tcp_checks(peers, issues)
    return peers


def _listen(
    raw: Mapping[str, Any], at: KeyPath, transport: Transport, issues: Issues
) -> list[Endpoint]:
    value = raw.get("listen")
    path = (*at, "listen")
    if value is None:
        if transport is Transport.UDP:
            issues.add(path, "missing: a UDP tunnel needs a local ADDRESS:PORT to bind to")
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        issues.add(path, "must be an ADDRESS:PORT string or a non-empty list of them")
        return []
    endpoints: list[Endpoint] = []
    for index, item in enumerate(items):
        item_path = path if isinstance(value, str) else (*path, index)
        endpoint = _checked(item, item_path, issues, _endpoint("listen"))
        if endpoint is None:
            continue
        if endpoint in endpoints:
            issues.add(item_path, f"{endpoint} is listed twice")
            continue
        clash = next((e for e in endpoints if binds_overlap(e, endpoint)), None)
        if clash is not None:
            issues.add(
                item_path,
                f"{endpoint} and {clash} cannot both be bound: same port, and one address "
                "covers the other",
            )
            continue
        endpoints.append(endpoint)
    return endpoints


def binds_overlap(a: Endpoint, b: Endpoint) -> bool:
    """Whether binding both `a` and `b` fails with EADDRINUSE (even with SO_REUSEADDR,
    once one of them listens): same port, and the same address or a wildcard covering
    the other. `[::]` covers IPv4 too, since ovpnctl opens it dual-stack."""
    if a.port != b.port or a.port == 0:
        return False
    if a.address == b.address:
        return True
    for wide, other in ((a, b), (b, a)):
        if wide.address.is_unspecified and (
            wide.address.version == other.address.version
            or wide.address == ipaddress.IPv6Address("::")
        ):
            return True
    return False


def _peer(
    raw: Any,
    at: KeyPath,
    *,
    listen: list[Endpoint],
    transport: Transport,
    key_dir: str,
    issues: Issues,
) -> tuple[PeerSpec | None, _PeerFacts | None]:
    """The peer, when valid, and the facts cross-checks need (even when it is not)."""
    if not isinstance(raw, Mapping):
        issues.add(at, "each peer must be a table")
        return None, None
    _unknown_keys(raw, at, PEER_KEYS, issues)
    before = len(issues)
    peer_id = _field(raw, at, "id", issues, _int_checked(check_peer_id), required=True)
    role = _tcp_role(raw, at, transport, issues)
    accepting = role is TcpRole.ACCEPT
    unsure = transport is Transport.TCP and role is None  # a bad tcp value: already said
    remote = _field(
        raw, at, "remote", issues, _endpoint("remote", any_port=accepting or unsure),
        required=True,
    )  # fmt: skip
    if remote is not None and remote.port == 0 and not (accepting or unsure):
        issues.add((*at, "remote"), "port 0 cannot be a destination")
    wanted_listen = _field(raw, at, "listen", issues, _endpoint("listen"))
    local = _field(raw, at, "local", issues, _ip_address)
    if accepting and local is not None:
        issues.add(
            (*at, "local"),
            "an accepting peer's connection arrives on its listen address; set listen instead",
        )
    vpn4 = _field(raw, at, "vpn_ipv4", issues, _vpn(4))
    vpn6 = _field(raw, at, "vpn_ipv6", issues, _vpn(6))
    keepalive = _keepalive(raw, at, issues)
    routes = _list_field(raw, at, "routes", issues, _network)
    key = _key(raw, at, "key", key_dir, issues)
    secondary = _key(raw, at, "secondary_key", key_dir, issues)
    if secondary is not None and key is None and "key" not in raw:
        issues.add((*at, "secondary_key"), "a secondary key needs a primary [peer.key]")
    if key is not None and secondary is not None:
        if key.key_id == secondary.key_id:
            issues.add(
                (*at, "secondary_key", "id"),
                f"key id {key.key_id} is already the primary key's id; the receiver picks "
                "the slot by key id, so the two must differ",
            )
        if key.cipher is not secondary.cipher and Cipher.NONE in (key.cipher, secondary.cipher):
            issues.add((*at, "secondary_key", "cipher"), "cannot mix cipher none with a real one")
    if remote is not None and local is not None and remote.unmapped().family != local.version:
        issues.add((*at, "local"), f"{local} is not of the same IP version as remote {remote}")

    chosen_listen = None
    if role is TcpRole.CONNECT:
        # A dialling socket binds only where told to; the kernel picks its source otherwise.
        if remote is not None and wanted_listen is not None:
            chosen_listen = _pick_listen(remote, wanted_listen, listen, (*at, "listen"), issues)
    elif remote is not None and (listen or wanted_listen is not None):
        chosen_listen = _pick_listen(remote, wanted_listen, listen, (*at, "listen"), issues)
    elif accepting and remote is not None:
        issues.add(
            (*at, "tcp"),
            "an accepting peer needs interface.listen: the ADDRESS:PORT to accept it on",
        )
    facts = _PeerFacts(at, peer_id, vpn4, vpn6, tuple(routes))
    if len(issues) != before or peer_id is None or remote is None:
        return None, facts
    if chosen_listen is None and transport is Transport.UDP:
        return None, facts  # no listen at all: already reported on interface.listen
    spec = PeerSpec(
        peer_id=peer_id,
        remote=remote,
        listen=chosen_listen,
        local=local,
        vpn_ipv4=vpn4,
        vpn_ipv6=vpn6,
        keepalive=keepalive,
        routes=tuple(routes),
        key=key,
        secondary_key=secondary,
        tcp=role,
        where=at,
    )
    return spec, facts


def _tcp_role(
    raw: Mapping[str, Any], at: KeyPath, transport: Transport, issues: Issues
) -> TcpRole | None:
    """The peer's role; None for UDP, and for a TCP peer whose `tcp` value is invalid."""
    if transport is Transport.UDP:
        if "tcp" in raw:
            issues.add((*at, "tcp"), 'only for interface.transport = "tcp"')
        return None
    if "tcp" not in raw:
        return TcpRole.CONNECT
    return _field(raw, at, "tcp", issues, _enum_value(TcpRole, "tcp role"))


def _tcp_checks(peers: list[PeerSpec], issues: Issues) -> None:
    """Rules between TCP peers: the supervisor must be able to tell whose an incoming
    connection is, and a dialling socket must not bind where a listener does."""
    accepting = [p for p in peers if p.tcp is TcpRole.ACCEPT]
    listeners = sorted({p.listen for p in accepting if p.listen is not None}, key=str)
    for port_zero in (e for e in listeners if e.port == 0):
        peer = next(p for p in accepting if p.listen == port_zero)
        issues.add(
            (*peer.where, "listen"),
            f"an accepting peer waits on {port_zero}, a port the kernel picks at random and "
            "nobody can connect to; give listen a port",
        )
    for index, peer in enumerate(accepting):
        for earlier in accepting[:index]:
            if earlier.listen == peer.listen and (
                earlier.accepts(peer.remote) or peer.accepts(earlier.remote)
            ):
                issues.add(
                    (*peer.where, "remote"),
                    f"a connection from {peer.remote.address} to {peer.listen} could be peer "
                    f"{earlier.peer_id}'s or peer {peer.peer_id}'s; give each its own remote "
                    "address or port",
                )
                break
    for peer in peers:
        if peer.tcp is not TcpRole.CONNECT or peer.listen is None:
            continue
        clash = next((e for e in listeners if binds_overlap(e, peer.listen)), None)
        if clash is not None:
            issues.add(
                (*peer.where, "listen"),
                f"accepting peers listen on {clash}; a dialling socket cannot bind "
                f"{peer.listen} beside it",
            )


@dataclass(frozen=True, slots=True)
class _PeerFacts:
    """What cross-peer rules look at, gathered even from a peer with other mistakes."""

    where: KeyPath
    peer_id: int | None
    vpn_ipv4: IPAddress | None
    vpn_ipv6: IPAddress | None
    routes: tuple[IPNetwork, ...]


def _pick_listen(
    remote: Endpoint,
    wanted: Endpoint | None,
    listen: list[Endpoint],
    path: KeyPath,
    issues: Issues,
) -> Endpoint | None:
    family = remote.unmapped().family
    if wanted is not None:
        if wanted not in listen:
            issues.add(path, f"{wanted} is not one of interface.listen")
            return None
        if not _carries(wanted, family):
            issues.add(
                path, f"socket {wanted} cannot reach IPv{family} remote {remote_text(remote)}"
            )
            return None
        return wanted
    for endpoint in listen:  # same family first
        if endpoint.unmapped().family == family:
            return endpoint
    for endpoint in listen:  # then a dual-stack IPv6 wildcard
        if _carries(endpoint, family):
            return endpoint
    issues.add(
        path, f"no interface.listen address can reach IPv{family} remote {remote_text(remote)}"
    )
    return None


def _carries(listen: Endpoint, family: int) -> bool:
    if listen.unmapped().family == family:
        return True
    return family == 4 and listen.address == ipaddress.IPv6Address("::")


def _keepalive(raw: Mapping[str, Any], at: KeyPath, issues: Issues) -> Keepalive | None:
    value = raw.get("keepalive")
    path = (*at, "keepalive")
    if value is None:
        return None
    if not isinstance(value, Mapping):
        issues.add(path, "must be a table { interval = SECONDS, timeout = SECONDS }")
        return None
    _unknown_keys(value, path, KEEPALIVE_KEYS, issues)
    positive = _int_range(1, KEEPALIVE_MAX)
    interval = _field(value, path, "interval", issues, positive, required=True)
    timeout = _field(value, path, "timeout", issues, positive, required=True)
    if interval is None or timeout is None:
        return None
    return _checked((interval, timeout), path, issues, lambda pair: Keepalive(pair[0], pair[1]))


def _key(
    raw: Mapping[str, Any], at: KeyPath, name: str, key_dir: str, issues: Issues
) -> KeySpec | None:
    value = raw.get(name)
    path = (*at, name)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        issues.add(path, "must be a table with id, cipher, encrypt and decrypt")
        return None
    _unknown_keys(value, path, KEY_KEYS, issues)
    before = len(issues)
    key_id = _field(value, path, "id", issues, _int_checked(check_key_id), required=True)
    cipher = _field(value, path, "cipher", issues, _enum_text(Cipher.parse)) or DEFAULT_CIPHER
    files: dict[str, str | None] = {}
    for direction in ("encrypt", "decrypt"):
        if cipher is Cipher.NONE:
            if direction in value:
                issues.add((*path, direction), "cipher none takes no key file")
            files[direction] = None
            continue
        text = _field(value, path, direction, issues, _text, required=True)
        files[direction] = None if text is None else os.path.join(key_dir, text)
    if files["encrypt"] is not None and files["encrypt"] == files["decrypt"]:
        issues.add(
            (*path, "decrypt"),
            "is the same file as encrypt: both ends would encrypt with one key and IV, "
            "reusing nonces; generate one file per direction",
        )
    if len(issues) != before or key_id is None:
        return None
    return KeySpec(key_id, cipher, files["encrypt"], files["decrypt"], where=path)


def _cross_checks(mode: Mode, peers: list[_PeerFacts], issues: Issues) -> None:
    seen_ids: dict[int, KeyPath] = {}
    seen_vpn: dict[IPAddress, KeyPath] = {}
    seen_routes: dict[IPNetwork, KeyPath] = {}
    if mode is Mode.P2P and len(peers) > 1:
        issues.add(
            peers[1].where,
            f'p2p mode carries exactly one peer, {len(peers)} are configured; use mode = "mp"',
        )
    for peer in peers:
        if peer.peer_id is None:
            pass
        elif peer.peer_id in seen_ids:
            issues.add((*peer.where, "id"), f"peer id {peer.peer_id} is used twice")
        else:
            seen_ids[peer.peer_id] = peer.where
        vpn = [a for a in (peer.vpn_ipv4, peer.vpn_ipv6) if a is not None]
        if mode is Mode.P2P and vpn:
            field = "vpn_ipv4" if peer.vpn_ipv4 is not None else "vpn_ipv6"
            issues.add(
                (*peer.where, field),
                "p2p mode sends everything to its one peer; VPN addresses are for mp mode",
            )
        if mode is Mode.MULTIPOINT and not vpn:
            issues.add(
                peer.where,
                "mp mode needs vpn_ipv4 and/or vpn_ipv6: the kernel picks the peer by them",
            )
        for address in vpn:
            field = f"vpn_ipv{address.version}"
            if address in seen_vpn:
                issues.add((*peer.where, field), f"{address} is already another peer's address")
            seen_vpn.setdefault(address, peer.where)
        for index, route in enumerate(peer.routes):
            path = (*peer.where, "routes", index)
            if route in seen_routes:
                issues.add(path, f"{route} is already routed to another peer")
            seen_routes.setdefault(route, path)
            gateway = peer.vpn_ipv4 if route.version == 4 else peer.vpn_ipv6
            if mode is Mode.MULTIPOINT and gateway is None:
                issues.add(
                    path,
                    f"an IPv{route.version} route in mp mode goes via the peer's "
                    f"vpn_ipv{route.version}, which is not set",
                )


# -- fields ---------------------------------------------------------------------------


def _unknown_keys(
    raw: Mapping[str, Any], at: KeyPath, known: Mapping[str, str], issues: Issues
) -> None:
    for key in raw:
        if key in known:
            continue
        close = difflib.get_close_matches(str(key), list(known), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(known)}"
        issues.add((*at, key), f"unknown key{hint}")


def _field(
    raw: Mapping[str, Any],
    at: KeyPath,
    key: str,
    issues: Issues,
    parse: Callable[[Any], T],
    *,
    required: bool = False,
) -> T | None:
    path = (*at, key)
    if key not in raw:
        if required:
            issues.add(path, "missing (required)")
        return None
    return _checked(raw[key], path, issues, parse)


def _checked(value: Any, path: KeyPath, issues: Issues, parse: Callable[[Any], T]) -> T | None:
    try:
        return parse(value)
    except _FieldError as exc:
        issues.add(path, str(exc))
    except OvpnError as exc:
        issues.add(path, exc.message)
    return None


class _FieldError(Exception):
    """A field-level reason; becomes one issue."""


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _FieldError(f"must be a non-empty string, not {_kind(value)}")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _FieldError(f"must be true or false, not {_kind(value)}")
    return value


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _FieldError(f"must be an integer, not {_kind(value)}")
    return value


def _int_checked(check: Callable[[int], int]) -> Callable[[Any], int]:
    return lambda value: check(_int(value))


def _int_range(low: int, high: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        number = _int(value)
        if not low <= number <= high:
            raise _FieldError(f"{number} is out of range ({low}-{high})")
        return number

    return parse


def _enum_text(parse: Callable[[str], T]) -> Callable[[Any], T]:
    return lambda value: parse(_text(value))


def _ifname(value: Any) -> str:
    name = _text(value)
    if len(name) > IFNAME_MAX:
        raise _FieldError(f"{name!r} is longer than {IFNAME_MAX} characters")
    if not _IFNAME.fullmatch(name) or name in (".", ".."):
        raise _FieldError(f"{name!r} may only contain letters, digits, '_', '.' and '-'")
    return name


def _endpoint(what: str, *, any_port: bool = False) -> Callable[[Any], Endpoint]:
    """`any_port`: a bare ADDRESS is allowed and means port 0."""
    default = 0 if any_port else None
    return lambda value: Endpoint.parse(_text(value), default_port=default, what=what)


def _enum_value(kind: type[E], what: str) -> Callable[[Any], E]:
    def parse(value: Any) -> E:
        text = _text(value).strip().lower()
        for member in kind:
            if member.value == text:
                return member
        choices = " or ".join(str(m.value) for m in kind)
        raise _FieldError(f"unknown {what} {value!r}; choose {choices}")

    return parse


def _ip_address(value: Any) -> IPAddress:
    text = _text(value)
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise _FieldError(f"{text!r} is not an IP address") from None


def _vpn(version: int) -> Callable[[Any], IPAddress]:
    return lambda value: parse_vpn_address(_text(value), version, f"vpn_ipv{version}")


def _network(value: Any) -> IPNetwork:
    text = _text(value)
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise _FieldError(f"{text!r} is not a NETWORK/PREFIX ({exc})") from None


def _ip_interface(value: Any) -> IPInterface:
    text = _text(value)
    if "/" not in text:
        raise _FieldError(f"{text!r} needs a prefix length (ADDRESS/PREFIX)")
    try:
        return ipaddress.ip_interface(text)
    except ValueError:
        raise _FieldError(f"{text!r} is not an ADDRESS/PREFIX") from None


def _list_field(
    raw: Mapping[str, Any], at: KeyPath, key: str, issues: Issues, parse: Callable[[Any], T]
) -> list[T]:
    """A string or a list of strings, each parsed; problems are reported per item."""
    if key not in raw:
        return []
    value = raw[key]
    path = (*at, key)
    if isinstance(value, str):
        item = _checked(value, path, issues, parse)
        return [] if item is None else [item]
    if not isinstance(value, list):
        issues.add(path, f"must be a string or a list of strings, not {_kind(value)}")
        return []
    parsed: list[T] = []
    for index, item in enumerate(value):
        result = _checked(item, (*path, index), issues, parse)
        if result is None:
            continue
        if result in parsed:
            issues.add((*path, index), f"{item!r} is listed twice")
            continue
        parsed.append(result)
    return parsed


def _kind(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    for kind, name in names.items():
        if type(value) is kind:
            return name
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a table"
    return type(value).__name__
