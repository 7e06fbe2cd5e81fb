"""Shared fixtures for the nvlist_ffi tests."""

from __future__ import annotations

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


@pytest.fixture
def libnv_model(
    libnv_model_builds: LibnvModelBuilds, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """``nvlist_ffi.libnv`` pointed at the prefixed model through ``$NVLIST_LIBNV``."""
    from nvlist_ffi import libnv

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
