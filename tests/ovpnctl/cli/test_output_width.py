"""Table width: COLUMNS is honoured on a terminal too, since serial consoles misreport it.

rich alone ignores COLUMNS on a TERM=dumb terminal and uses 80 columns, which is what
the demo's log (a serial console in the QEMU guest) showed.
"""

from __future__ import annotations

import io

import pytest

from ovpnctl.cli.output import Output


class _FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_explicit_columns_win_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdout", _FakeTerminal())
    monkeypatch.setenv("COLUMNS", "140")
    monkeypatch.setenv("TERM", "dumb")
    assert Output(json_mode=False).console().width == 140


def test_pipes_without_columns_get_the_wide_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdout", io.StringIO())
    monkeypatch.delenv("COLUMNS", raising=False)
    assert Output(json_mode=False).console().width == 120
