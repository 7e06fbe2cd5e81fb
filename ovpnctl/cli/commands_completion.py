"""`ovpnctl completion SHELL`: print the shell's completion script."""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

COMPLETE_VAR = "_OVPNCTL_COMPLETE"
SHELLS = ("bash", "zsh", "fish")


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print a completion script for SHELL (bash, zsh or fish). Touches no kernel.

    The script calls ovpnctl with _OVPNCTL_COMPLETE set; interface names are
    completed from the running kernel when it can be asked.

    \b
    Examples:
      eval "$(ovpnctl completion bash)"
      ovpnctl completion zsh > "${fpath[1]}/_ovpnctl"
      ovpnctl completion fish > ~/.config/fish/completions/ovpnctl.fish
    """
    from ovpnctl.cli.root import cli  # noqa: PLC0415 - the root group imports this module

    completer_class = get_completion_class(shell)
    assert completer_class is not None  # click ships all three
    completer = completer_class(cli, {}, "ovpnctl", COMPLETE_VAR)
    click.echo(completer.source())
