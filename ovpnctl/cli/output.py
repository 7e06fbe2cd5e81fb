"""Where output goes and in which form, decided once per invocation.

Two modes, as `wg show` vs `wg show dump`: `--json` writes stable JSON documents (or
one JSON object per line for streams) built by `render_json`, and never imports rich;
otherwise `render_table` draws rich tables, importing rich only then. Data goes to
stdout; notes, warnings and errors go to stderr, so `ovpnctl ... --json | jq` always
sees pure JSON.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import click

from ovpnctl.cli import render_json
from ovpnctl.cli.exits import OutputClosed

if TYPE_CHECKING:
    from rich.console import Console

    from ovpnctl.model import Event, InterfaceState

_NON_TTY_WIDTH = 120  # tables piped to a file should not wrap at 80 columns
P = ParamSpec("P")
R = TypeVar("R")


def _to_stdout(write: Callable[P, R]) -> Callable[P, R]:
    """A closed stdout ends the command quietly with EX_IOERR (see exits.OutputClosed)."""

    @functools.wraps(write)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return write(*args, **kwargs)
        except BrokenPipeError:
            raise OutputClosed from None

    return guarded


class Output:
    def __init__(self, *, json_mode: bool, verbose: int = 0) -> None:
        self.json_mode = json_mode
        self.verbose = verbose
        self._console: Console | None = None

    # -- primitives -------------------------------------------------------------------
    @_to_stdout
    def document(self, obj: Any) -> None:
        """One JSON document (`show`): indented, for people reading it too."""
        click.echo(json.dumps(obj, indent=2))

    @_to_stdout
    def record(self, obj: Any) -> None:
        """One JSON object per line (streams: events, dry-run requests), flushed."""
        click.echo(json.dumps(obj, separators=(", ", ": ")))
        sys.stdout.flush()

    @_to_stdout
    def text(self, line: str) -> None:
        click.echo(line)

    def note(self, message: str) -> None:
        """A diagnostic for the person at the terminal; never part of the data."""
        click.echo(message, err=True)

    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console  # noqa: PLC0415 - tables only

            class TableConsole(Console):
                def on_broken_pipe(self) -> None:
                    """rich would exit with status 1; ovpnctl's is EX_IOERR, like JSON's."""
                    raise OutputClosed

            # An explicit COLUMNS wins even on a terminal: serial consoles (and some
            # remote shells) report a width that has nothing to do with the screen.
            width = _columns() if "COLUMNS" in os.environ or not sys.stdout.isatty() else None
            # rich uses 80x25 on a TERM=dumb terminal unless it is given both dimensions.
            height = _lines() if width is not None else None
            self._console = TableConsole(
                width=width, height=height, highlight=False, soft_wrap=False
            )
        return self._console

    # -- what commands show -------------------------------------------------------------
    @_to_stdout
    def interfaces(
        self, states: Iterable[InterfaceState], backend: str, capabilities: Iterable[str]
    ) -> None:
        items = list(states)
        caps = frozenset(capabilities)
        if self.json_mode:
            self.document(render_json.show_document(items, backend, caps))
            return
        from ovpnctl.cli import render_table  # noqa: PLC0415

        render_table.interfaces(self.console(), items, backend, caps)

    @_to_stdout
    def event(self, event: Event) -> None:
        if self.json_mode:
            self.record(render_json.event(event))
            return
        from ovpnctl.cli import render_table  # noqa: PLC0415

        render_table.event(self.console(), event)

    @_to_stdout
    def planned_calls(self, calls: Iterable[Mapping[str, Any]], *, show_keys: bool) -> None:
        verbose = self.verbose > 0
        if self.json_mode:
            for call in calls:
                self.record(render_json.planned_call(call, show_keys=show_keys, verbose=verbose))
            return
        from ovpnctl.cli import render_table  # noqa: PLC0415

        render_table.planned_calls(
            self.console(), list(calls), show_keys=show_keys, verbose=verbose
        )


def _lines() -> int:
    value = os.environ.get("LINES", "")
    return int(value) if value.isdigit() and int(value) > 0 else 25


def _columns() -> int:
    try:
        return max(40, int(os.environ.get("COLUMNS", "")))
    except ValueError:
        return _NON_TTY_WIDTH
