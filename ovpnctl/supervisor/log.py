"""The supervisor's log: one structured line per happening, for journald, syslog or a file.

Two forms of the same record: logfmt (`time=... level=info event=peer-deleted peer=1
reason=expired`), which people and `grep` read well, and `--json-log` (one JSON object per
line), which log shippers parse without guessing. Values never include key material.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

from ovpnctl.model import Event, EventKind


class EventLog:
    def __init__(self, *, json_lines: bool = False, stream: TextIO | None = None) -> None:
        self.json_lines = json_lines
        self.stream = stream if stream is not None else sys.stderr
        self.records: list[dict[str, Any]] = []  # what was logged, for tests and status

    def emit(self, event: str, *, level: str = "info", **fields: Any) -> None:
        record: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "level": level,
            "event": event,
        }
        record.update({k: v for k, v in fields.items() if v is not None})
        self.records.append(record)
        if self.json_lines:
            line = json.dumps(record, separators=(",", ":"), default=str)
        else:
            line = " ".join(f"{key}={_logfmt(value)}" for key, value in record.items())
        self.stream.write(line + "\n")
        self.stream.flush()

    def kernel_event(self, event: Event) -> None:
        fields: dict[str, Any] = {"interface": event.interface, "peer": event.peer_id}
        if event.reason is not None:
            fields["reason"] = event.reason.value
        if event.address is not None:
            fields["address"] = str(event.address)
        if event.key_id is not None:
            fields["key_id"] = event.key_id
        if event.final is not None:
            fields["rx_packets"] = event.final.rx_packets
            fields["tx_packets"] = event.final.tx_packets
            fields["rx_bytes"] = event.final.rx_bytes
            fields["tx_bytes"] = event.final.tx_bytes
        if event.raw_type is not None and event.kind is EventKind.UNKNOWN:
            fields["raw_type"] = event.raw_type
        level = (
            "warning" if event.kind in (EventKind.PEER_DELETED, EventKind.ROTATE_KEY) else "info"
        )
        self.emit(f"kernel-{event.kind.value}", level=level, **fields)


def _logfmt(value: Any) -> str:
    text = str(value)
    if text == "" or any(ch in text for ch in ' "=\\') or "\n" in text:
        return json.dumps(text)
    return text
