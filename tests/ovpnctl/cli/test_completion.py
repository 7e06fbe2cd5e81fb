"""Shell completion: the scripts, and what click's completion protocol answers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ovpnctl.cli.conftest import Cli

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_script(run: Cli, shell: str) -> None:
    result = run("completion", shell)
    assert result.exit_code == 0
    assert "_OVPNCTL_COMPLETE" in result.stdout
    assert f"{shell}_complete" in result.stdout


def complete(words: str) -> list[str]:
    """Ask `python -m ovpnctl` for completions as bash would."""
    env = {
        **os.environ,
        "_OVPNCTL_COMPLETE": "bash_complete",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
        "PYTHONPATH": str(REPO),
    }
    done = subprocess.run(
        [sys.executable, "-m", "ovpnctl"], env=env, capture_output=True, text=True, check=True
    )
    return [line.split(",", 1)[1] for line in done.stdout.splitlines()]


def test_commands_options_and_values_complete() -> None:
    assert complete("ovpnctl pe") == ["peer"]
    assert complete("ovpnctl key ") == ["add", "del", "swap"]
    assert "--remote" in complete("ovpnctl peer add ovpn0 1 --")
    assert complete("ovpnctl key add ovpn0 1 --cipher CHA") == ["CHACHA20-POLY1305"]
    assert complete("ovpnctl iface create --mode ") == ["p2p", "mp"]
    assert complete("ovpnctl key del ovpn0 1 --slot s") == ["secondary"]
