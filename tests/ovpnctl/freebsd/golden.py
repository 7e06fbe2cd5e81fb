"""Access to the shared golden vectors (real libnv output) for the if_ovpn payloads.

The directory is `<repo>/../shared/golden` unless OVPNCTL_SHARED points elsewhere. A
missing directory is a hard failure, never a skip: these vectors are what the request
builders are checked against.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from nvlist_ffi import NVList, typed_json

REPO_ROOT = Path(__file__).resolve().parents[3]


def shared_dir() -> Path:
    override = os.environ.get("OVPNCTL_SHARED")
    return Path(override) if override else REPO_ROOT / ".." / "shared"


def golden_dir() -> Path:
    path = shared_dir() / "golden" / "nvlist"
    if not (path / "manifest.json").is_file():
        raise FileNotFoundError(
            f"golden vectors not found at {path}; set OVPNCTL_SHARED to the shared directory"
        )
    return path


@dataclass(frozen=True)
class GoldenCase:
    id: str
    data: bytes
    obj: dict[str, Any]
    tags: tuple[str, ...]

    @property
    def nvlist(self) -> NVList:
        return typed_json.from_obj(self.obj)

    @property
    def command(self) -> str:
        return next(t for t in self.tags if t.startswith("OVPN_"))


@cache
def ovpn_cases() -> dict[str, GoldenCase]:
    base = golden_dir()
    manifest = json.loads((base / "manifest.json").read_text())
    cases = {}
    for case in manifest["cases"]:
        if not case["id"].startswith("ovpn_"):
            continue
        data = (base / case["file"]).read_bytes()
        assert len(data) == case["size"], case["id"]
        cases[case["id"]] = GoldenCase(case["id"], data, case["nvlist"], tuple(case["tags"]))
    if not cases:
        raise AssertionError(f"no ovpn_* cases in {base / 'manifest.json'}")
    return cases


def case(case_id: str) -> GoldenCase:
    return ovpn_cases()[case_id]
