"""Declarative tunnel configuration: the file format, its validation and its writer.

`load_config` reads a TOML (or JSON) file into a validated `TunnelConfig`, reporting
every mistake as `file:line: key.path: reason`; `config_to_data` + `dumps_toml` write
one back. Nothing in this package talks to a kernel.
"""

from ovpnctl.config.issues import ConfigIssue, ConfigValidationError
from ovpnctl.config.load import load_config, parse_config
from ovpnctl.config.schema import KeySpec, PeerSpec, TunnelConfig
from ovpnctl.config.write import config_to_data, dumps_json, dumps_toml

__all__ = [
    "ConfigIssue",
    "ConfigValidationError",
    "KeySpec",
    "PeerSpec",
    "TunnelConfig",
    "config_to_data",
    "dumps_json",
    "dumps_toml",
    "load_config",
    "parse_config",
]
