"""Fixtures for CLI tests: click's runner with the real FreeBSD backend behind a seam.

`CliState.backend_factory` is the only thing replaced. Dry runs use the real
`FreeBSDBackend(dry_run=True)` (it records requests and touches nothing on any OS);
kernel-facing runs use the real `FreeBSDBackend` over the if_ovpn kernel model
(tests/ovpnctl/freebsd/kernel_model.py, built from the spec sheet). A factory with no
kernel fails the test if a backend is ever asked for: that is how "bad input never
reaches the kernel" is asserted for input rejected while parsing.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ovpnctl.backend import Backend
from ovpnctl.cli import commands_peer
from ovpnctl.cli.main import cli
from ovpnctl.cli.state import CliState
from ovpnctl.freebsd.backend import FreeBSDBackend
from tests.ovpnctl.freebsd.kernel_model import KernelModel


@dataclass
class Factory:
    """Builds backends for the CLI and remembers them."""

    transport: Any = None  # a kernel model; None = no kernel may be touched
    build: Callable[..., Backend] | None = None  # overrides the FreeBSD backend entirely
    made: list[Backend] = field(default_factory=list)
    now: float = 0.0  # the backend's clock; its sleeps advance it and the model's timers

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        if self.transport is not None:
            self.transport.advance_time(seconds)

    def __call__(self, name: str | None = None, *, dry_run: bool = False) -> Backend:
        if self.build is not None:
            backend = self.build(name, dry_run=dry_run)
        elif dry_run:
            backend = FreeBSDBackend(dry_run=True)
        else:
            if self.transport is None:
                raise AssertionError("this test expected no kernel access at all")
            backend = FreeBSDBackend(
                transport=self.transport, sleep=self.sleep, clock=lambda: self.now
            )
        self.made.append(backend)
        return backend

    @property
    def planned(self) -> list[dict[str, Any]]:
        return [call for backend in self.made for call in backend.planned_calls]


@dataclass
class Cli:
    factory: Factory
    runner: Any = None  # stands in for route(8)/ip(8)/pfctl(8) when set

    def __call__(self, *args: str, input: bytes | str | None = None) -> Result:
        state = CliState(backend_factory=self.factory, runner=self.runner)
        return CliRunner().invoke(cli, list(args), obj=state, input=input, catch_exceptions=False)


@pytest.fixture
def factory() -> Factory:
    return Factory()


@pytest.fixture
def run(factory: Factory) -> Cli:
    return Cli(factory)


@pytest.fixture
def kernel(factory: Factory, monkeypatch: pytest.MonkeyPatch) -> KernelModel:
    """The if_ovpn kernel model behind every non-dry-run backend of the test.

    `peer add` opens its own UDP socket; the model learns about it (family, bound
    address) the way the real kernel would find it in the process's descriptor table.
    """
    model = KernelModel()
    factory.transport = model
    real_open = commands_peer.open_udp_socket

    def open_and_adopt(*args: Any, **kwargs: Any) -> socket.socket:
        sock = real_open(*args, **kwargs)
        model.adopt(sock)
        return sock

    monkeypatch.setattr(commands_peer, "open_udp_socket", open_and_adopt)
    return model


def key_file(directory: Path, name: str, data: bytes, mode: int = 0o600) -> str:
    path = directory / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(path, mode)
    return str(path)


def one_line(result: Result) -> str:
    """The single stderr line a failure must produce."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]
