"""A real `ovpnctl up` process in a namespace, as an init system runs it, and its log.

Shared by the UDP and TCP supervisor tests: the process logs JSON lines on stderr,
which a reader thread collects so a test can wait for a record without racing it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TIMEOUT = 90.0  # generous: Python starts slowly under TCG


class UpProcess:
    def __init__(
        self, netns: str, config: Path, env: dict[str, str], extra: tuple[str, ...] = ()
    ) -> None:
        self.netns = netns
        self.env = env
        self.records: list[dict[str, Any]] = []
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", netns, sys.executable, "-m", "ovpnctl", "up",
             "--json-log", "--poll-interval", "0.2", *extra, str(config)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            try:
                self.records.append(json.loads(line))
            except ValueError:
                self.records.append({"event": "unparsed", "line": line})

    def wait_for(
        self, what: str, predicate: Callable[[dict[str, Any]], bool], *, since: int = 0
    ) -> dict[str, Any]:
        """The first matching record at index `since` or later.

        Records arrive from the reader thread meanwhile: each pass looks at a snapshot and
        moves `seen` past exactly what it looked at, so none slips through unexamined."""
        deadline = time.monotonic() + TIMEOUT
        seen = since
        while time.monotonic() < deadline:
            exited = self.proc.poll() is not None
            batch = self.records[seen:]
            for record in batch:
                if predicate(record):
                    return record
            seen += len(batch)
            if exited and not self.reader.is_alive() and seen == len(self.records):
                break
            time.sleep(0.05)
        raise AssertionError(f"no {what} in the supervisor's log: {self.records}")

    def ovpnctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["ip", "netns", "exec", self.netns, sys.executable, "-m", "ovpnctl", *args],
            capture_output=True, text=True, env=self.env, timeout=TIMEOUT, check=False,
        )  # fmt: skip
        if check and proc.returncode != 0:
            raise AssertionError(f"ovpnctl {' '.join(args)}: {proc.returncode} {proc.stderr}")
        return proc

    def peers(self, ifname: str) -> list[int]:
        shown = json.loads(self.ovpnctl("--json", "show", ifname).stdout)
        return sorted(p["peer_id"] for p in shown["interfaces"][0]["peers"])

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        status = self.proc.wait(TIMEOUT)
        self.reader.join(5)
        return status
