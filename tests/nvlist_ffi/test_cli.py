"""``python -m nvlist_ffi decode``: table and typed-JSON output, stdin, hex, sysexits codes."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from nvlist_ffi import NVList, pack, typed_json
from nvlist_ffi.__main__ import EX_DATAERR, EX_NOINPUT, EX_OK, EX_USAGE, main

SAMPLE = NVList(
    [
        ("peerid", 1),
        ("remote", NVList({"af": 2, "address": b"\xc0\x00\x02\x01", "port": 43524})),
        ("peers", [NVList({"in": 10}), NVList()]),
        ("name", b"\xff".decode("latin-1")),
        (b"\xff", None),
    ]
)


def _run(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    status = main(argv, stdout=out)
    return status, out.getvalue()


@pytest.fixture
def sample_file(tmp_path: Path) -> Path:
    path = tmp_path / "sample.bin"
    path.write_bytes(pack(SAMPLE))
    return path


def test_table_lists_every_pair(sample_file: Path) -> None:
    status, text = _run(["decode", str(sample_file)])
    assert status == EX_OK
    for expected in ("peerid", "remote", "address", "c0000201", "43524 (0xaa04)", "[1]", "0xff"):
        assert expected in text
    assert f"{len(pack(SAMPLE))} bytes" in text


def test_json_is_the_typed_json(sample_file: Path) -> None:
    status, text = _run(["decode", "--json", str(sample_file)])
    assert status == EX_OK
    assert typed_json.loads(text) == SAMPLE


def test_stdin_and_hex(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(pack(SAMPLE).hex().encode())))
    status, text = _run(["decode", "--json", "--hex", "-"])
    assert status == EX_OK
    assert typed_json.loads(text) == SAMPLE


def test_flags_default_to_the_buffer_header_and_can_be_forced(tmp_path: Path) -> None:
    path = tmp_path / "flags.bin"
    path.write_bytes(pack(NVList({"a": 1}, flags=2)))
    assert _run(["decode", "--json", str(path)])[0] == EX_OK
    assert _run(["decode", "--json", "--flags", "0", str(path)])[0] == EX_DATAERR


def test_errors_use_sysexits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.bin"
    broken.write_bytes(b"\x6c\x00\x00" + bytes(8) + bytes([9]) + bytes(7))
    assert _run(["decode", str(broken)])[0] == EX_DATAERR
    assert "EINVAL" in capsys.readouterr().err
    assert _run(["decode", str(tmp_path / "missing.bin")])[0] == EX_NOINPUT
    not_hex = tmp_path / "not-hex.txt"
    not_hex.write_text("zz")
    assert _run(["decode", "--hex", str(not_hex)])[0] == EX_DATAERR
    with pytest.raises(SystemExit) as exited:
        main(["decode"])
    assert exited.value.code == EX_USAGE


def test_json_mode_never_imports_rich(sample_file: Path) -> None:
    probe = (
        "import sys; from nvlist_ffi.__main__ import main; "
        f"status = main(['decode', '--json', {str(sample_file)!r}]); "
        "assert 'rich' not in sys.modules, 'rich imported'; sys.exit(status)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stderr
    assert typed_json.loads(result.stdout) == SAMPLE


def test_module_entry_point(sample_file: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "nvlist_ffi", "decode", str(sample_file)],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stderr
    assert "peerid" in result.stdout
