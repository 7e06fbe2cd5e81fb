"""NVLIST_BACKEND selection: auto falls back to pure, libnv is insisted on, bad values refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import nvlist_ffi
from nvlist_ffi import NVList, NVListError, backend, codec


@pytest.fixture(autouse=True)
def fresh_choice(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("NVLIST_LIBNV", raising=False)
    backend.reset()
    yield
    backend.reset()


SAMPLE = NVList({"peerid": 1, "remote": NVList({"af": 2, "address": b"\xc0\x00\x02\x01"})})


def test_pure_is_used_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NVLIST_BACKEND", "pure")
    assert nvlist_ffi.backend_name() == "pure"
    assert nvlist_ffi.pack(SAMPLE) == codec.pack(SAMPLE)
    assert nvlist_ffi.unpack(codec.pack(SAMPLE)) == SAMPLE
    assert nvlist_ffi.unpack(bytearray(codec.pack(SAMPLE))) == SAMPLE


def test_auto_falls_back_to_pure_without_a_binding(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NVLIST_BACKEND", "auto")
    monkeypatch.setattr(backend, "_LIBNV_MODULE", "nvlist_ffi._no_such_binding")
    assert nvlist_ffi.backend_name() == "pure"


def test_auto_falls_back_to_pure_without_libnv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NVLIST_BACKEND", raising=False)
    monkeypatch.setenv("NVLIST_LIBNV", "/nonexistent/libnv.so.1")
    assert nvlist_ffi.backend_name() == "pure"
    assert nvlist_ffi.pack(SAMPLE) == codec.pack(SAMPLE)


@pytest.mark.parametrize("module", ["nvlist_ffi._no_such_binding", None])
def test_insisting_on_libnv_fails_clearly(
    monkeypatch: pytest.MonkeyPatch, module: str | None
) -> None:
    monkeypatch.setenv("NVLIST_BACKEND", "libnv")
    if module is not None:
        monkeypatch.setattr(backend, "_LIBNV_MODULE", module)
    else:
        monkeypatch.setenv("NVLIST_LIBNV", "/nonexistent/libnv.so.1")
    with pytest.raises(NVListError) as caught:
        nvlist_ffi.pack(SAMPLE)
    assert caught.value.errno_name == "ENOENT"
    assert "NVLIST_BACKEND=libnv" in str(caught.value)


def test_unknown_backend_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NVLIST_BACKEND", "fast")
    with pytest.raises(NVListError) as caught:
        nvlist_ffi.backend_name()
    assert caught.value.errno_name == "EINVAL"


def test_auto_prefers_a_loadable_libnv(
    monkeypatch: pytest.MonkeyPatch, libnv_model_builds: Any
) -> None:
    """With a loadable libnv (here the C test model of libnv from conftest), auto picks it."""
    monkeypatch.setenv("NVLIST_LIBNV", str(libnv_model_builds.prefixed))
    monkeypatch.setenv("NVLIST_BACKEND", "auto")
    assert nvlist_ffi.backend_name() == "libnv"
    assert nvlist_ffi.pack(SAMPLE) == codec.pack(SAMPLE)
    assert nvlist_ffi.unpack(codec.pack(SAMPLE)) == SAMPLE
