"""Read a tunnel config file (TOML, or JSON with the same schema) into a `TunnelConfig`.

Appliance web UIs tend to emit JSON while people write TOML, so both are accepted and
validated by the same code; the format is chosen by the file name (`.json`) or, for any
other name, by whether the text starts with `{`.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from typing import Any

from ovpnctl.config.issues import ConfigIssue, ConfigValidationError, Issues
from ovpnctl.config.locate import scan_json, scan_toml
from ovpnctl.config.schema import TunnelConfig
from ovpnctl.config.validate import build_config
from ovpnctl.errors import ConfigError, ExitCode

MAX_CONFIG_BYTES = 1 << 20  # far above any real tunnel file; stops reading a device forever
_TOML_POSITION = re.compile(r"\(at line (\d+), column \d+\)|\(at end of document\)")


def load_config(path: str, *, key_dir: str | None = None) -> TunnelConfig:
    """Load and validate `path`; raise `ConfigError` listing every problem found."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file", exit_code=ExitCode.NOINPUT) from None
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot read config file ({exc.strerror})", exit_code=ExitCode.NOINPUT
        ) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES} bytes; not a config file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigValidationError(
            [ConfigIssue(path, _line_at(raw, exc.start), (), "not valid UTF-8")]
        ) from None
    base_dir = os.path.dirname(os.path.abspath(path))
    return parse_config(text, source=path, base_dir=base_dir, key_dir=key_dir)


def parse_config(
    text: str,
    *,
    source: str = "<config>",
    base_dir: str = ".",
    key_dir: str | None = None,
    fmt: str | None = None,
) -> TunnelConfig:
    """Validate config text. `fmt` is "toml" or "json"; None guesses from name and text."""
    chosen = fmt or _guess_format(source, text)
    data: dict[str, Any]
    if chosen == "json":
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigValidationError(
                [ConfigIssue(source, exc.lineno, (), f"invalid JSON: {exc.msg}")]
            ) from None
        if not isinstance(loaded, dict):
            raise ConfigValidationError(
                [ConfigIssue(source, 1, (), "the top level must be a JSON object")]
            )
        data = loaded
        lines = scan_json(text)
    elif chosen == "toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            message = str(exc)
            match = _TOML_POSITION.search(message)
            line = None
            if match:
                line = int(match.group(1)) if match.group(1) else text.count("\n") or 1
            reason = _TOML_POSITION.sub("", message).strip()
            raise ConfigValidationError(
                [ConfigIssue(source, line, (), f"invalid TOML: {reason}")]
            ) from None
        lines = scan_toml(text)
    else:
        raise ConfigError(f"{source}: unknown config format {chosen!r}; use toml or json")
    issues = Issues(source, lines)
    config = build_config(data, issues, base_dir=base_dir, key_dir=key_dir)
    issues.raise_if_any()
    assert config is not None  # build_config returns None only alongside issues
    return config


def _guess_format(source: str, text: str) -> str:
    if source.endswith(".json"):
        return "json"
    if source.endswith(".toml"):
        return "toml"
    return "json" if text.lstrip().startswith("{") else "toml"


def _line_at(raw: bytes, offset: int) -> int:
    return raw.count(b"\n", 0, offset) + 1
