"""Startup stays light: `--version` and every `--json` path never import rich.

Each case runs the CLI in a fresh interpreter and reports which heavy modules ended up
in `sys.modules`. The table case is the control: it must import rich, which proves the
check can see an import when one happens. `show` runs on the kernel model through the
bench launcher (bench/model_launcher.py), exactly as the benchmark measures it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
HEAVY = ("rich", "click", "nvlist_ffi", "cffi", "pyroute2")

SNIPPET = """
import json, sys
sys.path.insert(0, {repo!r})
if {model!r}:
    sys.path.insert(0, {bench!r})
    import model_launcher
    model_launcher.install()
from ovpnctl.cli.main import main
try:
    main({args!r})
except SystemExit as exc:
    code = exc.code
loaded = [name for name in {heavy!r} if name in sys.modules]
sys.stderr.write("\\nREPORT " + json.dumps({{"code": code, "loaded": loaded}}) + "\\n")
"""


def loaded_modules(args: list[str], *, model: bool = False) -> list[str]:
    code = SNIPPET.format(
        repo=str(REPO), bench=str(REPO / "bench"), model=model, args=args, heavy=HEAVY
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    report = json.loads(done.stderr.rsplit("REPORT ", 1)[1])
    assert report["code"] in (0, None), done.stderr
    return list(report["loaded"])


def test_version_imports_nothing_heavy() -> None:
    """Not even click: scripts run `ovpnctl --version` to detect the tool."""
    assert loaded_modules(["--version"]) == []
    assert loaded_modules(["--json", "--version"]) == ["click"]  # the full CLI answers


def test_help_does_not_import_rich() -> None:
    assert "rich" not in loaded_modules(["--help"])
    assert "rich" not in loaded_modules(["peer", "add", "--help"])


@pytest.mark.parametrize(
    "args",
    [
        ["--json", "--backend", "freebsd", "peer", "del", "ovpn0", "1", "--dry-run"],
        ["--json", "-v", "--backend", "freebsd", "iface", "create", "--dry-run"],
        ["--json", "--backend", "linux", "peer", "set", "ovpn0", "1", "--keepalive", "1/9", "-n"],
        ["--json", "genkey", "--cipher", "AES-256-GCM"],
        ["completion", "bash"],
    ],
)
def test_json_paths_do_not_import_rich(args: list[str]) -> None:
    assert "rich" not in loaded_modules(args)


def test_show_json_on_the_model_does_not_import_rich() -> None:
    loaded = loaded_modules(["--json", "show"], model=True)
    assert "rich" not in loaded
    assert "nvlist_ffi" in loaded  # it did talk to the (model) kernel
    assert "pyroute2" not in loaded
    if not sys.platform.startswith("freebsd") and not os.environ.get("NVLIST_LIBNV"):
        assert "cffi" not in loaded  # no libnv here: looking for one is a dlopen, no binding


def test_show_table_imports_rich() -> None:
    assert "rich" in loaded_modules(["show"], model=True)


@pytest.mark.parametrize("json_mode", [True, False])
def test_closed_stdout_exits_ioerr_quietly(json_mode: bool) -> None:
    """`ovpnctl show | head`: the reader is gone before the first write."""
    argv = [sys.executable, str(REPO / "bench" / "model_launcher.py")]
    argv += ["--json", "show"] if json_mode else ["show"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # long before the child has started up
    stderr = proc.stderr.read()
    assert proc.wait() == 74
    assert stderr == b""
