"""The out-of-line ABI module: built by setup.py, bound like the parsed declarations, never stale.

Source trees have no generated module (the binding parses its declarations there), so these
tests use one generated into a temporary directory exactly as the build step does (conftest's
``libnv_abi_module``) and make the package find it. Every test of the binding itself runs on
both FFIs through the ``libnv_model`` fixture.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import nvlist_ffi
from nvlist_ffi import _libnv_cdef, libnv

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def generated_ffi(libnv_abi_module: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The FFI the binding gets when the package holds a generated module."""
    name = _libnv_cdef.abi_module_name()
    assert name not in sys.modules
    package_path = [*nvlist_ffi.__path__, str(libnv_abi_module.parent)]
    monkeypatch.setattr(nvlist_ffi, "__path__", package_path)
    monkeypatch.setattr(libnv._State, "ffi", None)
    try:
        yield libnv._get_ffi()
    finally:
        sys.modules.pop(name, None)


def test_the_generated_module_is_used(generated_ffi: Any) -> None:
    assert generated_ffi is sys.modules[_libnv_cdef.abi_module_name()].ffi


def test_without_a_generated_module_the_declarations_are_parsed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import cffi

    monkeypatch.setattr(libnv._State, "ffi", None)
    assert isinstance(libnv._get_ffi(), cffi.FFI)


def test_the_generated_module_spares_the_parse(
    libnv_abi_module: Path, libnv_model_builds: Any
) -> None:
    """In a fresh process that binds libnv: neither pycparser nor the cffi package loads."""
    script = (
        "import json, sys\n"
        "import nvlist_ffi\n"
        f"nvlist_ffi.__path__.append({str(libnv_abi_module.parent)!r})\n"
        "nvlist_ffi.pack(nvlist_ffi.NVList({'a': 1}))\n"
        "backend = nvlist_ffi.backend_name()\n"
        "print(json.dumps({'backend': backend, 'modules': sorted(sys.modules)}))\n"
    )
    env = {**os.environ, libnv.LIBNV_ENV: str(libnv_model_builds.prefixed)}
    env.pop("NVLIST_BACKEND", None)
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    report = json.loads(done.stdout)
    assert report["backend"] == "libnv"
    assert _libnv_cdef.abi_module_name() in report["modules"]
    assert "pycparser" not in report["modules"]
    assert "cffi" not in report["modules"]


def test_changed_declarations_name_another_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """A module generated before the declarations changed is not found, so not used."""
    before = _libnv_cdef.abi_module_name()
    monkeypatch.setattr(_libnv_cdef, "NV_H", _libnv_cdef.NV_H.replace("int flags", "int fl"))
    assert _libnv_cdef.abi_module_name() != before


def test_the_package_build_generates_the_module(tmp_path: Path) -> None:
    """setup.py's cffi_modules hook writes the module into what build_py installs."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("setup.py", "setup.cfg", "pyproject.toml"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(
        REPO / "nvlist_ffi", source / "nvlist_ffi", ignore=shutil.ignore_patterns("__pycache__")
    )
    (source / "ovpnctl").mkdir()
    shutil.copy(REPO / "ovpnctl" / "__init__.py", source / "ovpnctl" / "__init__.py")
    build = tmp_path / "build"
    subprocess.run(
        [sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(build)],
        cwd=source,
        capture_output=True,
        check=True,
    )
    module = _libnv_cdef.abi_module_name().rsplit(".", 1)[1]
    generated = build / "nvlist_ffi" / f"{module}.py"
    assert generated.is_file()
    assert f"FFI('{_libnv_cdef.abi_module_name()}'" in generated.read_text()
