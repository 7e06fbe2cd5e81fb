"""Every command's --help teaches by example, and help never needs a kernel."""

from __future__ import annotations

import pytest

from ovpnctl.cli.main import cli
from tests.ovpnctl.cli.conftest import Cli, Factory
from tests.ovpnctl.cli.test_manpage import walk

PATHS = [path for path, _command in walk(cli)]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "ovpnctl")
def test_help_has_an_example(run: Cli, factory: Factory, path: tuple[str, ...]) -> None:
    result = run(*path, "--help")
    assert result.exit_code == 0
    assert "Example" in result.stdout, " ".join(path)
    assert factory.made == []
