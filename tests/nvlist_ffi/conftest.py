"""Shared fixtures for the nvlist_ffi tests."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# -- libnv binding: the C test model of libnv ------------------------------------------------------

LIBNV_MODEL_SOURCE = Path(__file__).resolve().parent / "libnv_model" / "nvmodel.c"

# Variant -> (file name, extra compiler flags). The file names are the real sonames so that what
# the binding is pointed at looks like a FreeBSD /lib.
_LIBNV_MODEL_VARIANTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "prefixed": ("libnv.so.1", ("-DNVMODEL_PREFIX=FreeBSD_",)),
    "unprefixed": ("libnv.so.0", ("-DNVMODEL_PREFIX=",)),
    "no_arrays": ("libnv.so.0", ("-DNVMODEL_PREFIX=", "-DNVMODEL_NO_ARRAYS")),
}


@dataclass(frozen=True)
class LibnvModelBuilds:
    """Paths of the compiled C model of libnv (see libnv_model/nvmodel.c: a model, not libnv)."""

    prefixed: Path
    """FreeBSD 14 shape: libnv.so.1 exporting FreeBSD_nvlist_* names."""
    unprefixed: Path
    """Pre-14 shape: libnv.so.0 exporting nvlist_* names."""
    no_arrays: Path
    """Pre-12 shape: unprefixed and without any array function."""


@pytest.fixture(scope="session")
def libnv_model_builds(tmp_path_factory: pytest.TempPathFactory) -> LibnvModelBuilds:
    """Compile the C model of libnv once per session (gcc is part of the CI image)."""
    compiler = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        pytest.fail("the libnv binding tests need gcc (or $CC) to build the libnv test model")
    root = tmp_path_factory.mktemp("libnv_model")
    paths: dict[str, Path] = {}
    builds: list[tuple[list[str], subprocess.Popen[str]]] = []
    for variant, (soname, defines) in _LIBNV_MODEL_VARIANTS.items():
        target = root / variant / soname
        target.parent.mkdir()
        command = [
            compiler,
            "-std=c11",
            "-D_DEFAULT_SOURCE",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-shared",
            "-fPIC",
            "-fvisibility=hidden",
            f"-Wl,-soname,{soname}",
            *defines,
            "-o",
            str(target),
            str(LIBNV_MODEL_SOURCE),
        ]
        process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        builds.append((command, process))
        paths[variant] = target
    for command, process in builds:
        _, stderr = process.communicate()
        if process.returncode != 0:
            pytest.fail(f"building the libnv test model failed:\n{' '.join(command)}\n{stderr}")
    return LibnvModelBuilds(**paths)


@pytest.fixture(scope="session")
def libnv_abi_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The out-of-line ABI module, generated as the package build does (``_libnv_build``), in
    a directory of its own: ``<dir>/nvlist_ffi/_libnv_abi_<digest>.py``. Source trees have none."""
    from nvlist_ffi import _libnv_build, _libnv_cdef

    module = _libnv_cdef.abi_module_name().rsplit(".", 1)[1]
    target = tmp_path_factory.mktemp("libnv_abi") / "nvlist_ffi" / f"{module}.py"
    target.parent.mkdir()
    _libnv_build.make_builder().emit_python_code(str(target))
    return target


@pytest.fixture(scope="session")
def libnv_generated_ffi(libnv_abi_module: Path) -> Any:
    """The FFI of the generated module, loaded without registering it in ``sys.modules``."""
    from nvlist_ffi import _libnv_cdef

    spec = importlib.util.spec_from_file_location(_libnv_cdef.abi_module_name(), libnv_abi_module)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ffi


@pytest.fixture(params=["parsed", "generated"])
def libnv_model(
    request: pytest.FixtureRequest,
    libnv_model_builds: LibnvModelBuilds,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Any]:
    """``nvlist_ffi.libnv`` pointed at the prefixed model through ``$NVLIST_LIBNV``, once with
    the declarations parsed at run time (source trees, editable installs) and once with the
    FFI of the module the package build generates (installed packages)."""
    from nvlist_ffi import libnv

    if request.param == "generated":
        monkeypatch.setattr(libnv._State, "ffi", request.getfixturevalue("libnv_generated_ffi"))
        monkeypatch.setattr(libnv._State, "key", None)
        monkeypatch.setattr(libnv._State, "value", None)
    monkeypatch.setenv(libnv.LIBNV_ENV, str(libnv_model_builds.prefixed))
    libnv.load()
    yield libnv


@pytest.fixture
def libnv_model_live_lists(libnv_model_builds: LibnvModelBuilds) -> Callable[[], int]:
    """How many nvlists the prefixed model holds right now (``nvmodel_live_lists``, an export of
    the model only, not libnv API): lets tests prove the binding destroys every list it creates."""
    import cffi

    ffi = cffi.FFI()
    ffi.cdef("long nvmodel_live_lists(void);")
    lib = ffi.dlopen(str(libnv_model_builds.prefixed))
    return lambda: int(lib.nvmodel_live_lists())


# -- golden vectors ------------------------------------------------------------


def _shared_dir() -> Path:
    override = os.environ.get("OVPNCTL_SHARED")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / ".." / "shared"


@dataclass(frozen=True)
class LibnvGolden:
    """The libnv golden vectors (shared/golden/README.md), loaded once."""

    valid_dir: Path
    valid: dict[str, Any]
    reject_dir: Path
    reject: dict[str, Any]


@pytest.fixture(scope="session")
def libnv_golden() -> LibnvGolden:
    """The golden manifests; missing vectors are a failure, never a skip."""
    golden = _shared_dir() / "golden"
    valid_manifest = golden / "nvlist" / "manifest.json"
    reject_manifest = golden / "nvlist-reject" / "manifest.json"
    for manifest in (valid_manifest, reject_manifest):
        if not manifest.is_file():
            pytest.fail(
                f"golden vectors missing: {manifest} (set OVPNCTL_SHARED to the shared dir)"
            )
    return LibnvGolden(
        valid_dir=valid_manifest.parent,
        valid=json.loads(valid_manifest.read_text()),
        reject_dir=reject_manifest.parent,
        reject=json.loads(reject_manifest.read_text()),
    )
