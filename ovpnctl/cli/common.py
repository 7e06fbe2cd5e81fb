"""Decorators every command module shares: the state object and the dry-run options."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from ovpnctl.cli.state import CliState

F = TypeVar("F", bound=Callable[..., Any])

pass_state = click.make_pass_decorator(CliState, ensure=True)


def dry_run_option(func: F) -> F:
    return click.option(
        "--dry-run",
        "-n",
        is_flag=True,
        help="Validate and encode every kernel request (or system command), print them "
        "and change nothing. Needs no privileges; --backend freebsd works on any OS.",
    )(func)


def show_keys_option(func: F) -> F:
    return click.option(
        "--show-keys",
        is_flag=True,
        help="With --dry-run: print key material in the request dump instead of its "
        "length. Anyone who sees the output can decrypt the tunnel.",
    )(func)
