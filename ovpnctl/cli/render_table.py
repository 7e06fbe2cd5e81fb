"""Human output: rich tables for `show`, event lines, and `--dry-run` request tables.

Only imported on table paths (see `output`). A value the kernel cannot report is shown
as a dim dash and explained under the table, so "unknown" is never mistaken for zero.
Key material in a dry run is shown as its length unless the user passed --show-keys.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ovpnctl.cli import render_json
from ovpnctl.model import Event, InterfaceState, PeerState, Traffic

UNKNOWN = Text("—", style="dim")


def interfaces(
    console: Console, states: Sequence[InterfaceState], backend: str, caps: frozenset[str]
) -> None:
    if not states:
        console.print(Text(f"no ovpn interfaces ({backend})", style="dim"))
        return
    for index, state in enumerate(states):
        if index:
            console.print()
        _interface(console, state, caps)


def _interface(console: Console, state: InterfaceState, caps: frozenset[str]) -> None:
    head = Text()
    head.append("interface ", style="bold")
    head.append(state.name, style="bold green")
    for label, value in (
        ("backend", state.backend),
        ("mode", None if state.mode is None else state.mode.value),
        ("up", None if state.up is None else ("yes" if state.up else "no")),
        ("ifindex", state.ifindex),
        ("mtu", state.mtu),
        ("pending events", state.pending_events),
    ):
        head.append(f"  {label} ", style="dim")
        head.append("—" if value is None else str(value))
    console.print(head)
    if state.counters:
        console.print(_counters_table(state))
    table, note = _peers_table(state, caps)
    console.print(table)
    if note:
        console.print(Text(note, style="dim"))


def _counters_table(state: InterfaceState) -> Table:
    table = Table(title="interface counters", title_justify="left", show_edge=False)
    table.add_column("counter")
    table.add_column("in", justify="right")
    table.add_column("out", justify="right")
    table.add_column("note")
    for counter in state.counters:
        out = Text(f"{counter.tx:,}")
        note = Text("")
        if counter.note:
            out.stylize("yellow")
            out.append(" !", style="bold yellow")
            note = Text(counter.note, style="yellow")
        table.add_row(counter.name, f"{counter.rx:,}", out, note)
    return table


_PEER_COLUMNS = ("remote", "local", "vpn ipv4", "vpn ipv6", "keepalive")


def _peers_table(state: InterfaceState, caps: frozenset[str]) -> tuple[Table, str | None]:
    """One row per peer, and a note for under it. A column the kernel reported for no
    peer is left out and named in the note instead of being a wall of dashes."""
    keys_readable = render_json.READ_KEYS in caps
    rows = [_peer_cells(peer, keys_readable=keys_readable) for peer in state.peers]
    names = ["peer", *_PEER_COLUMNS, "rx (tunnel)", "tx (tunnel)", "rx (link)", "tx (link)"]
    names.append("keys")
    unknown = [
        index
        for index, _name in enumerate(names)
        if rows and all(row[index] is UNKNOWN for row in rows)
    ]
    table = Table(title="peers", title_justify="left", show_edge=False)
    for index, name in enumerate(names):
        if index not in unknown:
            table.add_column(name, justify="right" if name.startswith(("rx", "tx")) else "left")
    for row in rows:
        table.add_row(*(cell for index, cell in enumerate(row) if index not in unknown))
    # Linux reports every field, so a missing one is unset; FreeBSD cannot read them back.
    readable = "read-peer-config" in caps
    notes = []
    shown = [i for i in range(len(names)) if i not in unknown]
    if any(row[i] is UNKNOWN for row in rows for i in shown):
        notes.append("— = not set" if readable else "— = not reported by the kernel")
    hidden = [names[index] for index in unknown]
    if hidden:
        what = "not set for any peer" if readable else "not reported by the kernel"
        notes.append(f"{what}: " + ", ".join(hidden))
    if not state.peers:
        return table, "no peers"
    return table, (f"{state.backend}: " + "; ".join(notes)) if notes else None


def _peer_cells(peer: PeerState, *, keys_readable: bool) -> list[Text | str]:
    cells: list[Text | str] = [
        str(peer.peer_id),
        _maybe(peer.remote),
        _maybe(peer.local),
        _maybe(peer.vpn_ipv4),
        _maybe(peer.vpn_ipv6),
        _maybe(peer.keepalive),
        _direction(peer.vpn, "rx"),
        _direction(peer.vpn, "tx"),
        _direction(peer.link, "rx"),
        _direction(peer.link, "tx"),
    ]
    if not keys_readable:
        cells.append(UNKNOWN)
    elif not peer.keys:
        cells.append(Text("none", style="dim"))
    else:
        cells.append(
            ", ".join(
                f"{key.slot.name.lower()} id {key.key_id} {key.cipher.value}" for key in peer.keys
            )
        )
    return cells


def _maybe(value: object) -> Text | str:
    return UNKNOWN if value is None else str(value)


def _direction(traffic: Traffic | None, which: str) -> Text | str:
    if traffic is None:
        return UNKNOWN
    packets = traffic.rx_packets if which == "rx" else traffic.tx_packets
    octets = traffic.rx_bytes if which == "rx" else traffic.tx_bytes
    return f"{packets:,} pkt / {_size(octets)}"


def _size(octets: int) -> str:
    value = float(octets)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{octets} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def event(console: Console, value: Event) -> None:
    line = Text()
    line.append(value.interface, style="bold")
    if value.kind.value == "pending":
        count = value.raw.get("pending")
        line.append(f" {'—' if count is None else count} event(s) queued, not consumed")
        console.print(line)
        return
    line.append(f" peer {'—' if value.peer_id is None else value.peer_id} ")
    line.append(value.kind.value, style="bold cyan")
    if value.reason is not None:
        line.append(f" reason {value.reason.value}")
    if value.address is not None:
        line.append(f" address {value.address}")
    if value.key_id is not None:
        line.append(f" key-id {value.key_id}")
    if value.final is not None:
        line.append(
            f" final rx {_direction(value.final, 'rx')} tx {_direction(value.final, 'tx')}",
            style="dim",
        )
    if value.raw_type is not None and value.kind.value == "unknown":
        line.append(f" (raw type {value.raw_type})", style="dim")
    console.print(line)


# -- dry run ------------------------------------------------------------------------------

_HEADLINE_FIELDS = ("netlink", "ioctl", "family", "interface", "command")
_BODY_FIELDS = ("request", "attrs")  # flattened without their own name as a prefix
_NOT_ROWS = frozenset({*_HEADLINE_FIELDS, "hex", "placeholders", "keys_shown"})


def planned_calls(
    console: Console, calls: Sequence[Mapping[str, Any]], *, show_keys: bool, verbose: bool
) -> None:
    if not calls:
        console.print(Text("dry run: no kernel request needed", style="dim"))
        return
    for number, call in enumerate(calls, 1):
        _planned_call(console, number, len(calls), call, show_keys=show_keys, verbose=verbose)


def _planned_call(
    console: Console,
    number: int,
    total: int,
    call: Mapping[str, Any],
    *,
    show_keys: bool,
    verbose: bool,
) -> None:
    secret = render_json.carries_keys(call)
    hide = secret and not show_keys
    shown: Mapping[str, Any] = render_json.hide_keys(call) if hide else call
    placeholders = dict(call.get("placeholders") or {})
    head = Text(f"dry run {number}/{total}: ", style="dim")
    head.append(
        " ".join(str(shown[name]) for name in _HEADLINE_FIELDS if name in shown), style="bold"
    )
    console.print(head)
    rows: list[tuple[str, str, Text | str]] = []
    for name, value in shown.items():
        if name in _NOT_ROWS:
            continue
        if name in _BODY_FIELDS:
            if value is None:
                rows.append(("(request)", "", Text("none: ifd_len 0", style="dim")))
            else:
                rows.extend(_flatten("", value, hide=hide))
        else:
            rows.extend(_flatten(name, value, hide=hide))
    if rows:
        table = Table(show_edge=False, pad_edge=False, box=None, header_style="dim")
        table.add_column("field")
        table.add_column("type")
        table.add_column("value", overflow="fold")
        fbsd = str(call.get("ioctl", "")).startswith("SIOC")
        for path, kind, text in rows:
            cell = _freebsd_annotation(path, text) if fbsd else text
            note = placeholders.pop(path, None)
            if hide and render_json.is_secret_name(path.rsplit(".", 1)[-1]):
                note = None  # "<N bytes hidden>" says it already
            if note is not None:
                cell = Text(str(cell)) if not isinstance(cell, Text) else cell
                cell.append(f"  <- placeholder: {note}", style="yellow")
            table.add_row(path, kind, cell)
        console.print(table)
    for name, note in placeholders.items():
        console.print(Text(f"  {name}: {note}", style="yellow"))
    if secret and not show_keys:
        console.print(Text("  key material hidden; add --show-keys to print it", style="yellow"))
    if verbose and call.get("hex"):
        if secret and not show_keys:
            console.print(Text("  hex hidden: it contains the key material", style="dim"))
        else:
            console.print(Text(f"  packed ({len(str(call['hex'])) // 2} bytes):", style="dim"))
            console.print(str(call["hex"]), overflow="fold", soft_wrap=False)


def _flatten(path: str, value: Any, *, hide: bool) -> Iterable[tuple[str, str, Text | str]]:
    """Rows `(path, type, value)` for a typed-JSON nvlist or a plain nested mapping.

    With `hide`, a key-material field shows only its length.
    """
    leaf = path.rsplit(".", 1)[-1]
    if hide and render_json.is_secret_name(leaf):
        yield path, _kind(value), Text(_hidden_text(value), style="yellow")
        return
    if isinstance(value, Mapping) and value.get("type") == "nvlist":
        items = value.get("items", [])
        if not items:
            yield path or "(request)", "nvlist", Text("(empty)", style="dim")
        for name, inner in items:
            yield from _flatten(_join(path, str(name)), inner, hide=hide)
        return
    if isinstance(value, Mapping) and value.get("type") == "nvlist_array":
        for index, element in enumerate(value.get("value", [])):
            yield from _flatten(f"{path}[{index}]", element, hide=hide)
        return
    if isinstance(value, Mapping) and "type" in value:
        kind = str(value["type"])
        if "hex" in value:
            yield path, kind, _annotated_hex(path, str(value["hex"]))
        else:
            yield path, kind, str(value.get("value"))
        return
    if isinstance(value, Mapping):
        if not value:
            yield path, "", Text("(empty)", style="dim")
        for name, inner in value.items():
            yield from _flatten(_join(path, str(name)), inner, hide=hide)
        return
    if value is None:
        yield path, "", Text("(none)", style="dim")
        return
    yield path, type(value).__name__, str(value)


def _kind(value: Any) -> str:
    return str(value.get("type", "")) if isinstance(value, Mapping) else type(value).__name__


def _hidden_text(value: Any) -> str:
    if isinstance(value, Mapping):
        value = value.get("hex", "")
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes hidden>"
    text = str(value)
    if all(ch in "0123456789abcdefABCDEF" for ch in text):
        return f"<{len(text) // 2} bytes hidden>"
    return text  # the backend's own stand-in, e.g. "<32 bytes hidden>"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _annotated_hex(path: str, hexdigits: str) -> Text | str:
    """Binary values; a 4- or 16-byte address is also shown in its usual notation."""
    leaf = path.rsplit(".", 1)[-1].lower()
    if "address" in leaf or "ipv4" in leaf or "ipv6" in leaf:
        raw = bytes.fromhex(hexdigits)
        if len(raw) in (4, 16):
            text = Text(hexdigits)
            text.append(f"  ({ipaddress.ip_address(raw)})", style="dim")
            return text
    return hexdigits


def _freebsd_annotation(path: str, cell: Text | str) -> Text | str:
    """Spell out the values FreeBSD encodes unusually (ports, address families, ifmode)."""
    if not isinstance(cell, str) or not cell.isdigit():
        return cell
    from ovpnctl.freebsd import requests  # noqa: PLC0415 - only for FreeBSD records

    value = int(cell)
    leaf = path.rsplit(".", 1)[-1]
    note = None
    if leaf == "port":
        note = f"port {requests.host_port(value)}, in network byte order"
    elif leaf == "af":
        version = requests.IP_VERSION_BY_AF.get(value)
        note = f"FreeBSD AF_INET{'6' if version == 6 else ''}" if version else None
    elif leaf == "ifmode":
        mode = {flags: mode for mode, flags in requests.IFMODE_BY_MODE.items()}.get(value)
        note = f"{value:#x}" + (f" = {mode.value}" if mode else "")
    if note is None:
        return cell
    text = Text(cell)
    text.append(f"  ({note})", style="dim")
    return text
