"""Golden-vector access for the pure-codec tests, loaded at import so cases can be parametrized.

The vectors live outside the repository (``../shared/golden``, or ``$OVPNCTL_SHARED/golden``).
When they are missing every golden test must fail, never skip: ``cases()`` then yields a single
``golden-missing`` parameter whose test fails with the path it looked at.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from nvlist_ffi import typed_json
from nvlist_ffi.model import NVList, NVListArray


def shared_dir() -> Path:
    """``$OVPNCTL_SHARED`` or the ``shared`` directory next to the repository."""
    override = os.environ.get("OVPNCTL_SHARED")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / ".." / "shared"


GOLDEN = shared_dir() / "golden"
VALID_DIR = GOLDEN / "nvlist"
REJECT_DIR = GOLDEN / "nvlist-reject"


def _manifest(directory: Path) -> dict[str, Any] | None:
    path = directory / "manifest.json"
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


VALID = _manifest(VALID_DIR)
REJECT = _manifest(REJECT_DIR)

MISSING = "golden-missing"


def require(manifest: dict[str, Any] | None, directory: Path) -> dict[str, Any]:
    """The manifest, or a test failure naming where it was expected."""
    if manifest is None:
        pytest.fail(f"golden vectors missing: {directory}/manifest.json (set OVPNCTL_SHARED)")
    return manifest


def params(manifest: dict[str, Any] | None, key: str = "cases") -> list[Any]:
    """``pytest.param`` per case (id = case id), or one failing placeholder when missing."""
    if manifest is None:
        return [pytest.param(None, id=MISSING)]
    return [pytest.param(case, id=case["id"]) for case in manifest[key]]


def case_or_fail(case: dict[str, Any] | None, directory: Path) -> dict[str, Any]:
    if case is None:
        pytest.fail(f"golden vectors missing: {directory}/manifest.json (set OVPNCTL_SHARED)")
    return case


def expected_nvlist(case: dict[str, Any]) -> NVList:
    """The content a case records, expanding ``nvlist_chain`` (README §3) without recursion."""
    if case.get("nvlist") is not None:
        return typed_json.from_obj(case["nvlist"])
    chain = case["nvlist_chain"]
    inner = typed_json.from_obj(
        {"type": "nvlist", "flags": 0, "items": [[chain["leaf_name"], chain["leaf"]]]}
    )
    for _ in range(chain["depth"] - 1):
        value: NVList | NVListArray = (
            inner if chain["container"] == "nvlist" else NVListArray([inner])
        )
        inner = NVList([(chain["link_name"], value)])
    return inner
