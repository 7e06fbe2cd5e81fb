"""Where ovpnctl keeps its own files, and why each lives where it does.

* The **key ledger** must outlive reboots: re-installing a key after a reboot reuses
  nonces just as surely as doing it twice in a row. It goes to persistent storage
  (`/var/db/ovpnctl` on FreeBSD, `/var/lib/ovpnctl` on Linux).
* The **state files** (what `apply` installed), **locks** and **control sockets**
  describe the running kernel, which a reboot forgets; they go to the runtime
  directory (`/var/run/ovpnctl`, `/run/ovpnctl`), so a stale record cannot survive the
  state it describes.

`OVPNCTL_STATE_DIR` and `OVPNCTL_RUN_DIR` override both (tests, read-only images).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from ovpnctl.errors import ExitCode, OvpnError

STATE_DIR_ENV = "OVPNCTL_STATE_DIR"
RUN_DIR_ENV = "OVPNCTL_RUN_DIR"


def _default_state_dir() -> str:
    return "/var/db/ovpnctl" if sys.platform.startswith("freebsd") else "/var/lib/ovpnctl"


def _default_run_dir() -> str:
    return "/var/run/ovpnctl" if sys.platform.startswith("freebsd") else "/run/ovpnctl"


@dataclass(frozen=True, slots=True)
class Paths:
    state_dir: str
    run_dir: str

    @classmethod
    def from_env(cls, *, state_dir: str | None = None, run_dir: str | None = None) -> Paths:
        return cls(
            state_dir=state_dir or os.environ.get(STATE_DIR_ENV) or _default_state_dir(),
            run_dir=run_dir or os.environ.get(RUN_DIR_ENV) or _default_run_dir(),
        )

    @property
    def ledger(self) -> str:
        return os.path.join(self.state_dir, "key-ledger.json")

    def state_file(self, ifname: str) -> str:
        return os.path.join(self.run_dir, f"{ifname}.json")

    def lock_file(self, ifname: str) -> str:
        return os.path.join(self.run_dir, f"{ifname}.lock")

    def control_socket(self, ifname: str) -> str:
        return os.path.join(self.run_dir, f"{ifname}.sock")


def ensure_private_dir(path: str) -> None:
    """Create `path` (mode 0700) if missing; refuse one others can write to."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.stat(path)
    except OSError as exc:
        raise OvpnError(
            f"{path}: cannot create directory ({exc.strerror})", exit_code=ExitCode.CANTCREAT
        ) from None
    if st.st_mode & 0o022:
        raise OvpnError(
            f"{path}: writable by group or others (mode {st.st_mode & 0o777:04o}); "
            f"run chmod 700 {path}",
            exit_code=ExitCode.NOPERM,
        )


def write_atomic(path: str, data: bytes, *, mode: int = 0o600) -> None:
    """Replace `path` with `data` so a crash leaves either the old or the new file."""
    tmp = f"{path}.tmp.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
