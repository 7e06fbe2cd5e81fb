"""The one object every command receives (`ctx.obj`): backend choice and output mode.

The root group fills it from the global options once; commands never look at those
options themselves. Tests put their own `CliState` on the context (CliRunner `obj=`) with
a `backend_factory` that builds a backend over a kernel model, which is the only seam the
CLI has: everything below it is the real library code.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ovpnctl.backend import Backend
    from ovpnctl.cli.output import Output
    from ovpnctl.routes import Runner


class BackendFactory(Protocol):
    """Same signature as `ovpnctl.backend.get_backend`."""

    def __call__(self, name: str | None = None, *, dry_run: bool = False) -> Backend: ...


def _default_factory(name: str | None = None, *, dry_run: bool = False) -> Backend:
    # Imported on first use so `--version`, `--help` and completion stay light.
    from ovpnctl.backend import get_backend  # noqa: PLC0415

    return get_backend(name, dry_run=dry_run)


@dataclass
class CliState:
    backend_name: str | None = None  # None: the running OS's backend
    json: bool = False
    verbose: int = 0
    backend_factory: BackendFactory = _default_factory
    runner: Runner | None = None  # runs route(8)/ip(8)/pfctl(8); None: the real tools
    _backends: list[Backend] = field(default_factory=list, repr=False)
    _output: Output | None = field(default=None, repr=False)

    @property
    def output(self) -> Output:
        if self._output is None:
            from ovpnctl.cli.output import Output  # noqa: PLC0415 - not needed by --version

            self._output = Output(json_mode=self.json, verbose=self.verbose)
        return self._output

    @property
    def command_runner(self) -> Runner:
        if self.runner is None:
            from ovpnctl.routes import subprocess_runner  # noqa: PLC0415

            return subprocess_runner
        return self.runner

    def backend(self, *, dry_run: bool = False) -> Backend:
        """A backend for this invocation; closed when the command finishes."""
        backend = self.backend_factory(self.backend_name, dry_run=dry_run)
        self._backends.append(backend)
        return backend

    @contextmanager
    def change(self, *, dry_run: bool, show_keys: bool = False) -> Iterator[Backend]:
        """A backend for a mutating command.

        In a dry run the backend records each request instead of issuing it; they are
        printed when the command's body has finished (and only if it succeeded, so a
        validation error never leaves half a plan on stdout).
        """
        backend = self.backend(dry_run=dry_run)
        backend.show_keys = show_keys
        yield backend
        if dry_run:
            self.output.planned_calls(backend.planned_calls, show_keys=show_keys)

    def close(self) -> None:
        while self._backends:
            self._backends.pop().close()
