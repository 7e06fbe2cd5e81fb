"""man/ovpnctl.8: lint-clean mdoc that documents every command, option and choice.

The coverage check walks the real click command tree, so a command or option added
without documentation fails here. It reads the mdoc source (`Cm`/`Fl` macros), which
needs no formatter; the lint check needs mandoc(1), installed by .ci/run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from ovpnctl.cli.main import cli
from ovpnctl.cli.params import _ChoiceLike

MAN = Path(__file__).resolve().parents[3] / "man" / "ovpnctl.8"


def source() -> str:
    return MAN.read_text(encoding="utf-8")


def walk(
    command: click.Command, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None
            yield from walk(sub, (*path, name))


def documented_flag(text: str, flag: str) -> bool:
    """`--remote` is written `Fl -remote`, `-n` is `Fl n` in mdoc."""
    body = flag[1:]  # mdoc's Fl adds one dash
    return re.search(rf"Fl {re.escape(body)}(?![\w-])", text) is not None


def documented_word(text: str, word: str) -> bool:
    """A command keyword or choice, written with `Cm` (alone or in `Cm a | b | c`)."""
    pattern = rf"\bCm\b[^\n]*(?<![\w-]){re.escape(word)}(?![\w-])"
    return re.search(pattern, text) is not None


def test_mandoc_lint_is_clean() -> None:
    mandoc = shutil.which("mandoc")
    if mandoc is None:
        pytest.skip("mandoc is not installed (.ci/run installs it)")
    # -Wwarning: "style" messages only report manuals absent from this host (ovpn(4) is
    # FreeBSD's) and the host's outdated mandoc.db; everything about the page itself counts.
    done = subprocess.run(
        [mandoc, "-Tlint", "-Wwarning", str(MAN)], capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_every_command_is_documented() -> None:
    text = source()
    paths = [path for path, _ in walk(cli) if path]
    assert ("peer", "add") in paths and ("route", "pf-rules") in paths  # the walk works
    missing = [" ".join(p) for p in paths if not re.search(rf"Cm {' '.join(p)}\b", text)]
    assert missing == []


def test_every_option_and_choice_is_documented() -> None:
    text = source()
    missing = []
    for path, command in walk(cli):
        for param in command.params:
            if not isinstance(param, click.Option):
                continue
            for flag in [*param.opts, *param.secondary_opts]:
                if not documented_flag(text, flag):
                    missing.append(f"{' '.join(path) or 'ovpnctl'} {flag}")
            choices: tuple[str, ...] = ()
            if isinstance(param.type, click.Choice):
                choices = tuple(str(c) for c in param.type.choices)
            elif isinstance(param.type, _ChoiceLike):
                choices = param.type.choices
            for choice in choices:
                if not documented_word(text, choice):
                    missing.append(f"{' '.join(path)} {param.opts[0]} {choice}")
        for param in command.params:
            if isinstance(param, click.Argument) and isinstance(param.type, click.Choice):
                for choice in param.type.choices:
                    if not documented_word(text, str(choice)):
                        missing.append(f"{' '.join(path)} {choice}")
    assert missing == []


def test_required_sections_and_references() -> None:
    text = source()
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "KEY FILES", "JSON OUTPUT",
                    "ENVIRONMENT", "EXIT STATUS", "EXAMPLES", "SEE ALSO"):  # fmt: skip
        assert f".Sh {section}\n" in text, section
    for variable in ("NVLIST_BACKEND", "NVLIST_LIBNV"):
        assert f".It Ev {variable}\n" in text
    for page in ("ovpn 4", "ifconfig 8", "openvpn 8", "pf.conf 5", "wg 8"):
        assert f".Xr {page}" in text, page
    assert '"schema": "ovpnctl-show/1"' in text  # the schema version the code emits


def test_configuration_keys_are_documented() -> None:
    from ovpnctl.config.schema import INTERFACE_KEYS, KEEPALIVE_KEYS, KEY_KEYS, PEER_KEYS

    text = source()
    section = text[text.index(".Sh CONFIGURATION FILE") : text.index(".Sh JSON OUTPUT")]
    keys = {*INTERFACE_KEYS, *PEER_KEYS, *KEEPALIVE_KEYS, *KEY_KEYS}
    assert [k for k in sorted(keys) if not re.search(rf"\b{k}\b", section)] == []


def test_exit_status_lists_every_code() -> None:
    from ovpnctl.errors import ExitCode

    text = source()
    for code in ExitCode:
        if code is ExitCode.OK:
            continue
        assert re.search(rf"\.It {int(code)} Pq Dv EX_{code.name}\n", text), code.name
