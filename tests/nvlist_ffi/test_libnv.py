"""The libnv binding's loading, error mapping and depth handling, on the C test model of libnv."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from nvlist_ffi import backend, codec, libnv
from nvlist_ffi.errors import NVListError
from nvlist_ffi.model import BoolArray, CString, NumberArray, NVList, NVListArray, StringArray

SAMPLE = NVList(
    [
        ("null", None),
        ("bool", True),
        ("number", 2**64 - 1),
        ("string", "AES-256-GCM"),
        ("cstring", CString(b"\xff\xfe")),
        (b"\xffname", b"\x00\x01binary"),
        ("bools", BoolArray([True, False, 2])),
        ("numbers", NumberArray([0, 1, 2**64 - 1])),
        ("strings", StringArray(["", "x", CString(b"\x80")])),
        ("child", NVList([("in", 10), ("out", 20)], flags=1)),
        ("peers", NVListArray([NVList([("peerid", 1)]), NVList(flags=2)])),
    ]
)


def _forced(pairs: list[tuple[Any, Any]], flags: int = 0) -> NVList:
    """A list holding pairs NVList.add would refuse, to reach libnv's own checks through the
    binding (as a list whose IGNORE_CASE folding differed from libnv's strcasecmp would)."""
    nvl = NVList(flags=flags)
    for name, value in pairs:
        nvl._names.append(name)
        nvl._values.append(value)
    return nvl


# -- loading ------------------------------------------------------------


def test_env_override_loads_that_file(libnv_model: Any, libnv_model_builds: Any) -> None:
    info = libnv_model.info()
    assert info.path == str(libnv_model_builds.prefixed)
    assert info.prefix == "FreeBSD_"
    assert info.missing_optional == ()
    assert libnv_model.available()
    assert libnv_model.unpack(libnv_model.pack(SAMPLE)) == SAMPLE


def test_unprefixed_names_are_the_fallback(
    libnv_model_builds: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(libnv.LIBNV_ENV, str(libnv_model_builds.unprefixed))
    assert libnv.info().prefix == ""
    assert libnv.pack(SAMPLE) == codec.pack(SAMPLE)


def test_the_env_setting_is_reread(
    libnv_model_builds: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(libnv.LIBNV_ENV, str(libnv_model_builds.prefixed))
    assert libnv.info().prefix == "FreeBSD_"
    monkeypatch.setenv(libnv.LIBNV_ENV, str(libnv_model_builds.unprefixed))
    assert libnv.info().prefix == ""


def test_missing_env_path_is_an_error_naming_it(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "libnv.so.1"
    monkeypatch.setenv(libnv.LIBNV_ENV, str(missing))
    assert not libnv.available()
    with pytest.raises(libnv.LibnvLoadError) as caught:
        libnv.load()
    assert caught.value.errno == errno.ENOENT
    assert str(missing) in str(caught.value)
    assert "$NVLIST_LIBNV" in str(caught.value)
    with pytest.raises(OSError):
        libnv.pack(NVList())


def test_nothing_found_lists_every_name_tried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(libnv.LIBNV_ENV, raising=False)
    monkeypatch.setattr(libnv, "DEFAULT_NAMES", ("libnv-absent.so.1", "libnv-absent.so.0"))
    assert libnv.available() is False
    with pytest.raises(libnv.LibnvLoadError) as caught:
        libnv.load()
    message = str(caught.value)
    assert "libnv-absent.so.1" in message
    assert "libnv-absent.so.0" in message
    assert message.index("libnv-absent.so.1") < message.index("libnv-absent.so.0")


def test_a_library_without_libnv_symbols_is_refused(libnv_model: Any) -> None:
    libc = "libc.so.6" if sys.platform.startswith("linux") else "libc.so.7"
    with pytest.raises(libnv.LibnvLoadError) as caught:
        libnv.open_library(libc)
    assert "FreeBSD_nvlist_create" in str(caught.value)
    assert "nvlist_create" in str(caught.value)


def test_a_library_missing_a_required_function_is_refused(libnv_model: Any, tmp_path: Any) -> None:
    source = tmp_path / "partial.c"
    source.write_text("void *FreeBSD_nvlist_create(int flags) { (void)flags; return 0; }\n")
    target = tmp_path / "libnv.so.1"
    compiler = os.environ.get("CC") or shutil.which("gcc") or "cc"
    subprocess.run([compiler, "-shared", "-fPIC", "-o", str(target), str(source)], check=True)
    with pytest.raises(libnv.LibnvLoadError) as caught:
        libnv.open_library(str(target))
    assert caught.value.errno == errno.ENOSYS
    assert "FreeBSD_nvlist_destroy" in str(caught.value)


PROBE_SCRIPT = """
import json, sys
events = []
sys.addaudithook(
    lambda event, args: events.append(event)
    if event.startswith(("subprocess.", "os.posix_spawn", "os.exec", "os.fork", "os.system"))
    else None
)
import nvlist_ffi
from nvlist_ffi import libnv
nvlist_ffi.pack(nvlist_ffi.NVList({"a": 1}))
report = {
    "backend": nvlist_ffi.backend_name(),
    "imported": [name for name in ("cffi", "pycparser") if name in sys.modules],
    "spawned": events,
}
try:
    libnv.load()
except OSError as exc:
    report["error"] = str(exc)
print(json.dumps(report))
"""


def _probe_in_fresh_process(library: str) -> dict[str, Any]:
    env = {**os.environ, libnv.LIBNV_ENV: library}
    env.pop(backend.BACKEND_ENV, None)
    done = subprocess.run(
        [sys.executable, "-c", PROBE_SCRIPT], env=env, capture_output=True, text=True, check=True
    )
    report: dict[str, Any] = json.loads(done.stdout)
    return report


@pytest.mark.parametrize("found", ["nothing", "not libnv"])
def test_looking_for_libnv_in_vain_is_cheap(found: str, tmp_path: Any) -> None:
    """The auto backend looks for libnv in every process that packs. Without one, that is a
    dlopen per name: no cffi, no cdef parse, no ldconfig/compiler subprocess."""
    libc = "libc.so.6" if sys.platform.startswith("linux") else "libc.so.7"
    library = str(tmp_path / "libnv.so.1") if found == "nothing" else libc
    report = _probe_in_fresh_process(library)
    assert report["backend"] == "pure"
    assert report["imported"] == []
    assert report["spawned"] == []
    assert library in report["error"]


def test_a_found_libnv_is_bound_without_subprocesses(libnv_model_builds: Any) -> None:
    """The control for the test above: the same script sees cffi once libnv is there."""
    report = _probe_in_fresh_process(str(libnv_model_builds.prefixed))
    assert report["backend"] == "libnv"
    assert "cffi" in report["imported"]
    assert report["spawned"] == []
    assert "error" not in report


def test_a_bare_library_name_is_looked_up_like_cffi_does() -> None:
    """A bare name (explicit only) goes through ctypes.util.find_library, as before."""
    with pytest.raises(libnv.LibnvLoadError) as caught:
        libnv.open_library("c")
    assert "c (has neither FreeBSD_nvlist_create or nvlist_create)" in str(caught.value)
    with pytest.raises(libnv.LibnvLoadError) as caught:
        libnv.open_library("nv-no-such-library")
    assert "no library called 'nv-no-such-library'" in str(caught.value)


def test_array_functions_are_optional(libnv_model_builds: Any, libnv_model: Any) -> None:
    old = libnv.open_library(str(libnv_model_builds.no_arrays))
    assert "nvlist_add_nvlist_array" in old.info().missing_optional
    assert "cnvlist_get_bool_array" in old.info().missing_optional
    flat = NVList([("a", 1), ("c", NVList([("s", "x")]))])
    assert old.pack(flat) == codec.pack(flat)
    assert old.unpack(codec.pack(flat)) == flat
    for value in (NumberArray([1]), BoolArray([True]), StringArray(["x"]), NVListArray([NVList()])):
        with pytest.raises(NVListError) as caught:
            old.pack(NVList([("array", value)]))
        assert caught.value.errno == errno.EOPNOTSUPP
        # The model still decodes arrays; reading one back needs the getter the library lacks.
        with pytest.raises(NVListError) as caught:
            old.unpack(codec.pack(NVList([("array", value)])))
        assert caught.value.errno == errno.EOPNOTSUPP


def test_backend_uses_the_binding(libnv_model: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import nvlist_ffi

    monkeypatch.setenv(backend.BACKEND_ENV, "libnv")
    backend.reset()
    try:
        assert backend.backend_name() == "libnv"
        assert nvlist_ffi.backend.pack(SAMPLE) == codec.pack(SAMPLE)
        assert nvlist_ffi.backend.unpack(codec.pack(SAMPLE)) == SAMPLE
    finally:
        backend.reset()


# -- unpack guards and errno mapping --------------------------------------------------------------


@pytest.mark.parametrize("flags", [4, 8, 0x80, -1, 256])
def test_unpack_flags_outside_public_mask_never_reach_libnv(libnv_model: Any, flags: int) -> None:
    # The model aborts the process on these, as libnv does; reaching here means it was not called.
    with pytest.raises(NVListError) as caught:
        libnv_model.unpack(codec.pack(NVList()), flags)
    assert caught.value.errno == errno.EINVAL
    assert caught.value.offset is None


def test_unpack_flags_must_match_the_header(libnv_model: Any) -> None:
    data = codec.pack(NVList([("a", 1), ("a", 2)], flags=2))
    with pytest.raises(NVListError) as caught:
        libnv_model.unpack(data, 0)
    assert caught.value.errno == errno.EILSEQ
    assert libnv_model.unpack(data, 2).items() == [("a", 1), ("a", 2)]


def test_rejection_without_errno_becomes_einval(libnv_model: Any) -> None:
    up_marker = bytes.fromhex("ff0100" + "00" * 16 + "00")
    data = bytes.fromhex("6c0000" + "00" * 8) + len(up_marker).to_bytes(8, "little") + up_marker
    with pytest.raises(NVListError) as caught:
        libnv_model.unpack(data)
    assert caught.value.errno == errno.EINVAL
    assert "libnv rejected" in str(caught.value)


def test_unpack_takes_any_bytes_like_and_refuses_the_rest(libnv_model: Any) -> None:
    data = codec.pack(SAMPLE)
    assert libnv_model.unpack(bytearray(data)) == SAMPLE
    assert libnv_model.unpack(memoryview(data)) == SAMPLE
    with pytest.raises(NVListError):
        libnv_model.unpack(12)  # type: ignore[arg-type]


def test_raw_bool_array_bytes_survive(libnv_model: Any) -> None:
    nvl = NVList([("b", BoolArray([2, False, 255, True]))])
    data = libnv_model.pack(nvl)
    assert data == codec.pack(nvl)
    decoded = libnv_model.unpack(data)
    assert list(decoded["b"]) == [2, False, 255, True]
    assert [type(x) for x in decoded["b"]] == [int, bool, int, bool]


def test_duplicate_names_in_order_with_no_unique(libnv_model: Any) -> None:
    nvl = NVList([("k", 1), ("k", "two"), ("K", None)], flags=2)
    assert libnv_model.unpack(libnv_model.pack(nvl), 2).items() == nvl.items()


@pytest.mark.parametrize(
    ("pairs", "flags", "name"),
    [
        ([("a", 1), ("a", 2)], 0, "EEXIST"),
        ([("Name", 1), ("NAME", "x")], 1, "EEXIST"),
        ([("n" * 2048, 1)], 0, "ENAMETOOLONG"),
        ([("b", b"")], 0, "EINVAL"),
        ([("n", NumberArray())], 0, "EINVAL"),
        ([("s", StringArray())], 0, "EINVAL"),
        ([("l", NVListArray())], 0, "EINVAL"),
        ([("x", 1), ("x", 2), ("y", b""), ("z", 3)], 0, "EEXIST"),
    ],
)
def test_libnv_build_errors_map_to_errno_names(
    libnv_model: Any, pairs: list[tuple[Any, Any]], flags: int, name: str
) -> None:
    with pytest.raises(NVListError) as caught:
        libnv_model.pack(_forced(pairs, flags))
    assert caught.value.errno_name == name
    assert caught.value.offset is None
    assert "libnv refused" in str(caught.value)


def test_errors_in_nested_lists_name_the_path(libnv_model: Any) -> None:
    inner = _forced([("d", 1), ("d", 2)])
    nvl = NVList([("a", 1), ("c", NVList([("ok", 1), ("deeper", inner)]))])
    with pytest.raises(NVListError) as caught:
        libnv_model.pack(nvl)
    assert caught.value.errno == errno.EEXIST
    assert "'c'" in str(caught.value)
    assert "'deeper'" in str(caught.value)
    element = NVList([("peers", NVListArray([NVList(), _forced([("p", 1), ("p", 1)])]))])
    with pytest.raises(NVListError) as caught:
        libnv_model.pack(element)
    assert caught.value.errno == errno.EEXIST
    assert "[1]" in str(caught.value)


def test_nul_bytes_are_refused_before_libnv_truncates_them(libnv_model: Any) -> None:
    for pairs in ([("a\0b", 1)], [("s", "a\0b")], [("s", StringArray(["a\0"]))]):
        with pytest.raises(NVListError) as caught:
            libnv_model.pack(_forced(pairs))
        assert caught.value.errno == errno.EINVAL


def test_array_mutated_after_adding_is_an_nvlist_error(libnv_model: Any) -> None:
    """Wrappers are lists: a bad element appended later must not escape as a cffi error."""
    for bad in (-5, 2**64, "x"):
        nvl = NVList()
        nvl.add("n", NumberArray([1, 2]))
        nvl["n"].append(bad)
        with pytest.raises(NVListError) as caught:
            libnv_model.pack(nvl)
        assert caught.value.errno == errno.EINVAL
        assert "'n'" in str(caught.value)


def test_error_paths_destroy_what_they_created(
    libnv_model: Any, libnv_model_live_lists: Any
) -> None:
    before = libnv_model_live_lists()
    broken = [
        _forced([("a", 1), ("a", 2)]),
        NVList([("c", NVList([("x", _forced([("d", 1), ("d", 1)]))]))]),
        NVList([("l", NVListArray([NVList([("k", 1)]), _forced([("b", b"")])]))]),
        NVList(
            [
                ("l", NVListArray([NVList([("k", NVList([("z", 1)]))])])),
                ("m", _forced([("n" * 4096, 1)])),
            ]
        ),
    ]
    for nvl in broken:
        with pytest.raises(NVListError):
            libnv_model.pack(nvl)
    assert libnv_model_live_lists() == before


# -- depth ------------------------------------------------------------


def _chain(depth: int, in_array: bool) -> NVList:
    inner = NVList([("leaf", depth)])
    for _ in range(depth - 1):
        inner = NVList([("a" if in_array else "d", NVListArray([inner]) if in_array else inner)])
    return inner


@pytest.mark.parametrize(("depth", "in_array"), [(2500, False), (1000, True)])
def test_deep_nesting_is_iterative(libnv_model: Any, depth: int, in_array: bool) -> None:
    assert sys.getrecursionlimit() < depth * 2
    nvl = _chain(depth, in_array)
    data = libnv_model.pack(nvl)
    assert data == codec.pack(nvl)
    assert libnv_model.unpack(data) == nvl


# -- the model is as unforgiving as libnv ----------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        "lib.FreeBSD_nvlist_unpack(data, len(data), 4)",
        "lib.FreeBSD_nvlist_create(8)",
        "lib.FreeBSD_nvlist_get_number(lib.FreeBSD_nvlist_create(0), b'missing')",
    ],
)
def test_model_aborts_where_libnv_does(libnv_model_builds: Any, call: str) -> None:
    """Misuse kills the process in the model as in libnv, so a binding that misused libnv could
    not pass these tests by luck."""
    script = textwrap.dedent(
        f"""
        import cffi
        ffi = cffi.FFI()
        ffi.cdef('''
            typedef struct nvlist nvlist_t;
            nvlist_t *FreeBSD_nvlist_create(int flags);
            nvlist_t *FreeBSD_nvlist_unpack(const char *buf, size_t size, int flags);
            uint64_t FreeBSD_nvlist_get_number(const nvlist_t *nvl, const char *name);
        ''')
        lib = ffi.dlopen({str(libnv_model_builds.prefixed)!r})
        data = bytes.fromhex("6c" + "00" * 18)
        assert lib.FreeBSD_nvlist_unpack(data, len(data), 0) != ffi.NULL
        {call}
        print("survived")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == -6, result.stderr
    assert "survived" not in result.stdout


# -- conversion from libnv ----------------------------------------------------------


@pytest.mark.parametrize("flags", [0, 1, 2])
def test_unpacked_pairs_are_found_by_name_whichever_way_they_were_stored(
    libnv_model: Any, flags: int
) -> None:
    """Scalars are appended as libnv delivered them, nested lists and arrays through `add`
    (which builds the name index): a scalar after one of those must still be indexed."""
    original = NVList(
        [
            ("first", 1),
            ("Nested", NVList([("inner", 2)])),
            ("after", 3),
            ("numbers", NumberArray([4, 5])),
            ("Last", "five"),
            ("none", None),
            ("yes", True),
        ],
        flags=flags,
    )
    got = libnv_model.unpack(libnv_model.pack(original), flags)  # libnv wants them matched
    assert got == original and got.flags == flags
    assert (got["first"], got["after"], got["Last"], got["none"], got["yes"]) == (
        1,
        3,
        "five",
        None,
        True,
    )
    assert got["Nested"]["inner"] == 2
    if flags & 1:  # IGNORE_CASE: lookups fold, as strcasecmp does
        assert (got["AFTER"], got["last"], got["nested"]["inner"]) == (3, "five", 2)
    else:
        with pytest.raises(KeyError):
            got["AFTER"]
    # The index the lookups use also refuses a second pair of a taken name.
    if not flags & 2:
        with pytest.raises(NVListError) as info:
            got.add("Last" if not flags & 1 else "LAST", 6)
        assert info.value.errno_name == "EEXIST"
