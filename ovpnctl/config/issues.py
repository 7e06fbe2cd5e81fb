"""Configuration problems, collected rather than raised one at a time.

An appliance operator fixing a config file should see every mistake in one run, each
as `file:line: key.path: reason` (the shape compilers and editors understand), and
nothing may touch the kernel while any remain. `Issues` gathers them during loading,
key-file reading and planning; `raise_if_any` turns them into one `ConfigError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ovpnctl.config.locate import PathPart, SourceMap, format_path
from ovpnctl.errors import ConfigError, ExitCode


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem: where it is and why it is wrong."""

    source: str
    line: int | None
    path: tuple[PathPart, ...]
    reason: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        if self.path:
            return f"{where}: {format_path(self.path)}: {self.reason}"
        return f"{where}: {self.reason}"


class ConfigValidationError(ConfigError):
    """Every issue found in a config file; `str()` lists them one per line."""

    def __init__(self, issues: Sequence[ConfigIssue], *, exit_code: ExitCode | None = None) -> None:
        self.issues = tuple(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues), exit_code=exit_code)


@dataclass
class Issues:
    """An accumulator bound to one source file and its line map."""

    source: str
    lines: SourceMap = field(default_factory=SourceMap)
    found: list[ConfigIssue] = field(default_factory=list)

    def add(self, path: Sequence[PathPart], reason: str) -> None:
        self.found.append(ConfigIssue(self.source, self.lines.line_of(path), tuple(path), reason))

    def __bool__(self) -> bool:
        return bool(self.found)

    def __len__(self) -> int:
        return len(self.found)

    def raise_if_any(self) -> None:
        if self.found:
            ordered = sorted(self.found, key=lambda issue: (issue.line is None, issue.line or 0))
            raise ConfigValidationError(ordered)
