"""Runs the real contrib/rc.d/ovpnctl under /bin/sh against models of the FreeBSD parts.

Linux has no rc.subr or daemon(8), and the script names both by absolute path. The
rig therefore runs a copy of the script with exactly three strings rewritten: the
rc.subr path, the daemon path and the run directory. It points them at the models in
rc_d_model/ and at a per-test directory; nothing else in the script changes. pgrep and
pwait are models in the rig's PATH (a fresh Linux machine need not have procps, and has
no pwait); install and kill are the Linux ones. One test removes pwait, so the script's
wait_for_pids fallback runs too.

Every process the script starts inherits RC_MODEL_TOKEN, a value unique to the rig.
`kill_all` finds those processes through /proc/PID/environ and SIGKILLs them. Cleanup
therefore catches the detached daemon supervisors and their children even when a test
fails part-way, and it never touches a process the rig did not start.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "contrib" / "rc.d" / "ovpnctl"
MODELS = Path(__file__).resolve().parent / "rc_d_model"
MODEL_FILES = ("rc.subr", "daemon", "pwait", "pgrep", "ovpnctl_up")

# The FreeBSD paths the script hard-codes, each with the line it appears in. The value
# is a template for the rewritten line.
FREEBSD_PATHS = {
    "rc_subr": (". /etc/rc.subr\n", ". {rc_subr}\n"),
    "daemon": ("\t\t/usr/sbin/daemon ", "\t\t{daemon} "),
    "rundir": ('ovpnctl_rundir="/var/run/ovpnctl"\n', 'ovpnctl_rundir="{rundir}"\n'),
}
TEARDOWN_SECONDS = "0.15"
RC_TIMEOUT = 20.0
POLL_TIMEOUT = 10.0


def rewrite_script(text: str, **targets: Path) -> str:
    """The script with each FreeBSD path swapped for a model path.

    Each original line must occur exactly once, so a change to the script cannot
    leave a FreeBSD path behind unnoticed or rewrite a line the tests did not mean.
    """
    for key, (original, template) in FREEBSD_PATHS.items():
        count = text.count(original)
        if count != 1:
            raise ValueError(f"{original.strip()!r} occurs {count} times in the script, not once")
        target = str(targets[key])
        if not re.fullmatch(r"[\w/.+-]+", target):
            raise ValueError(f"{target!r} would need shell quoting in the script")
        replacement = template.format(**{key: target})
        text = text.replace(original, replacement)
    for freebsd_path in ("/etc/rc.subr", "/usr/sbin/", "/var/run"):
        if freebsd_path in text:
            raise ValueError(f"{freebsd_path} is still in the rewritten script")
    return text


@dataclass(frozen=True)
class UpRecord:
    """What one `ovpnctl up` stand-in process recorded: its argv and the signals it saw."""

    pid: int
    argv: list[str]
    events: list[str]


class RcRig:
    """One test's FreeBSD stand-in: an rc.conf, a config dir, a run dir, a syslog file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.etc = root / "etc"
        self.state = root / "state"
        self.confdir = root / "conf"
        self.rundir = root / "run" / "ovpnctl"
        self.bin = root / "bin"
        self.models = root / "model"
        self.syslog = root / "syslog"
        self.token = f"rc-d-test-{uuid.uuid4().hex}"
        for directory in (self.etc, self.state, self.confdir, self.bin, self.models):
            directory.mkdir(parents=True)
        for name in MODEL_FILES:
            shutil.copyfile(MODELS / name, self.models / name)
            (self.models / name).chmod(0o755)
        self.program = self.models / "ovpnctl_up"
        self.script = root / "ovpnctl.rc"
        self.script.write_text(
            rewrite_script(
                SCRIPT.read_text(),
                rc_subr=self.models / "rc.subr",
                daemon=self.models / "daemon",
                rundir=self.rundir,
            )
        )
        # service(8) runs scripts with a scrubbed environment; so does the rig.
        self.env = {
            "HOME": "/",
            "PATH": f"{self.bin}:/usr/sbin:/usr/bin:/sbin:/bin",
            "TMPDIR": str(root),
            "RC_MODEL_ETC": str(self.etc),
            "RC_MODEL_STATE": str(self.state),
            "RC_MODEL_SYSLOG": str(self.syslog),
            "RC_MODEL_TEARDOWN": TEARDOWN_SECONDS,
            "RC_MODEL_TOKEN": self.token,
        }
        self.configure()
        self.install_tool_models()

    def configure(self, **settings: str | None) -> None:
        """Writes rc.conf: enabled, this rig's confdir and stand-in program, then `settings`.

        A setting of None leaves that variable out, so the script's default applies.
        """
        values: dict[str, str | None] = {
            "ovpnctl_enable": "YES",
            "ovpnctl_confdir": str(self.confdir),
            "ovpnctl_program": str(self.program),
        }
        values.update(settings)
        lines = [
            f"{key}={shlex.quote(value)}" for key, value in values.items() if value is not None
        ]
        (self.etc / "rc.conf").write_text("\n".join(lines) + "\n")

    def install_tool_models(self) -> None:
        """FreeBSD always has pwait(1) and pgrep(1): every rig starts with their models."""
        for tool in ("pwait", "pgrep"):
            shutil.copyfile(self.models / tool, self.bin / tool)
            (self.bin / tool).chmod(0o755)

    def remove_pwait(self) -> None:
        """For the script's fallback to rc.subr's wait_for_pids."""
        (self.bin / "pwait").unlink()

    def config_file(self, tunnel: str, suffix: str = ".toml") -> Path:
        path = self.confdir / f"{tunnel}{suffix}"
        path.write_text(f"# {tunnel}: the stand-in never reads this\n")
        return path

    def rc(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`service ovpnctl ARGS...`: the script copy under /bin/sh with the rig's env."""
        return subprocess.run(
            ["/bin/sh", str(self.script), *args],
            env=self.env,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=RC_TIMEOUT,
            check=False,
        )

    def pidfile(self, tunnel: str) -> Path:
        return self.rundir / f"{tunnel}.up.pid"

    def daemon_pidfile(self, tunnel: str) -> Path:
        return self.rundir / f"{tunnel}.daemon.pid"

    def pidfile_pid(self, tunnel: str) -> int | None:
        return _pid_in(self.pidfile(tunnel))

    def daemon_pid(self, tunnel: str) -> int | None:
        return _pid_in(self.daemon_pidfile(tunnel))

    def records(self) -> dict[int, UpRecord]:
        found = {}
        for path in self.state.glob("up.*"):
            if not path.name[3:].isdigit():
                continue  # the stand-in's "up.PID.new" before its rename
            lines = path.read_text().splitlines()
            pid = int(path.name[3:])
            argv = [line[4:] for line in lines if line.startswith("arg ")]
            events = [line for line in lines if not line.startswith("arg ")]
            found[pid] = UpRecord(pid, argv, events)
        return found

    def record(self, pid: int) -> UpRecord:
        return self.records()[pid]

    def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + POLL_TIMEOUT
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {POLL_TIMEOUT}s waiting for {what}")
            time.sleep(0.01)

    def wait_up(self, tunnel: str) -> UpRecord:
        """The record of the process in the tunnel's pid file, once it can take signals."""

        def recorded() -> bool:
            pid = self.pidfile_pid(tunnel)
            return pid is not None and pid in self.records()

        self.wait_for(recorded, f"{tunnel} to be up")
        pid = self.pidfile_pid(tunnel)
        assert pid is not None
        return self.record(pid)

    def syslog_lines(self) -> list[str]:
        return self.syslog.read_text().splitlines() if self.syslog.exists() else []

    def processes(self) -> list[int]:
        """Pids of live processes started through this rig (zombies have no environ)."""
        needle = f"RC_MODEL_TOKEN={self.token}\0".encode()
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                environ = Path("/proc", entry, "environ").read_bytes()
            except OSError:
                continue
            if needle in environ:
                pids.append(int(entry))
        return pids

    def kill_all(self) -> None:
        deadline = time.monotonic() + POLL_TIMEOUT
        while pids := self.processes():
            if time.monotonic() > deadline:
                raise AssertionError(f"processes {pids} survived SIGKILL")
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)


def is_running(pid: int) -> bool:
    """True while `pid` exists and has not exited (a zombie counts as exited)."""
    try:
        stat = Path("/proc", str(pid), "stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _pid_in(path: Path) -> int | None:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    return int(text) if text.strip() else None
