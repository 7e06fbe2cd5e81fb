"""The key ledger: keyed fingerprints of used key material, never the material."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from ovpnctl.errors import OvpnError
from ovpnctl.ledger import KeyLedger, LedgerEntry, LedgerError

KEY = bytes(range(32))
IV = bytes(range(100, 108))


def entry(peer: int = 1, direction: str = "encrypt") -> LedgerEntry:
    return LedgerEntry("2026-01-01T00:00:00Z", "ovpn0", peer, 0, direction, "/k/a")


def test_fingerprint_is_keyed_by_the_ledger_salt(tmp_path: Path) -> None:
    one = KeyLedger(str(tmp_path / "a" / "ledger.json"))
    two = KeyLedger(str(tmp_path / "b" / "ledger.json"))
    assert one.fingerprint(KEY, IV) == one.fingerprint(KEY + IV)  # parts == concatenation
    assert one.fingerprint(KEY, IV) == KeyLedger(one.path).fingerprint(KEY, IV)  # persisted
    assert one.fingerprint(KEY, IV) != two.fingerprint(KEY, IV)  # unlinkable across hosts
    assert one.fingerprint(KEY, IV) != one.fingerprint(KEY, bytes(8))
    assert len(one.fingerprint(KEY, IV)) == 32
    assert one.salt_id != two.salt_id and len(one.salt_id) == 16


def test_record_lookup_forget(tmp_path: Path) -> None:
    ledger = KeyLedger(str(tmp_path / "ledger.json"))
    fp = ledger.fingerprint(KEY, IV)
    other = ledger.fingerprint(IV, KEY)
    assert ledger.lookup([fp, other]) == {}
    ledger.record({fp: entry()})
    ledger.record({fp: entry(peer=9)})  # the first use is what counts
    assert ledger.lookup([fp, other]) == {fp: entry()}
    assert len(KeyLedger(ledger.path)) == 1
    ledger.forget([fp])
    assert ledger.lookup([fp]) == {}


def test_file_holds_no_key_material_and_is_private(tmp_path: Path) -> None:
    directory = tmp_path / "db"
    ledger = KeyLedger(str(directory / "ledger.json"))
    ledger.record({ledger.fingerprint(KEY, IV): entry()})
    raw = Path(ledger.path).read_bytes()
    for form in (KEY, KEY.hex().encode(), base64.b64encode(KEY + IV), IV.hex().encode()):
        assert form not in raw
    assert stat.S_IMODE(os.stat(ledger.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    data = json.loads(raw)
    assert data["format"] == "ovpnctl-key-ledger" and data["version"] == 1


def test_a_damaged_ledger_is_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "ledger.json"
    path.write_text('{"format": "something else"}')
    with pytest.raises(LedgerError) as info:
        KeyLedger(str(path)).lookup(["00"])
    assert "refusing to start a new one over it" in info.value.message
    assert path.read_text() == '{"format": "something else"}'


def test_readonly_ledger_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "db" / "ledger.json"
    ledger = KeyLedger(str(path), readonly=True)
    fp = ledger.fingerprint(KEY, IV)
    assert ledger.fingerprint(KEY, IV) == fp  # one throw-away salt per object
    assert ledger.lookup([fp]) == {}
    with pytest.raises(LedgerError):
        ledger.record({fp: entry()})
    assert not path.parent.exists()


def test_two_writers_both_land(tmp_path: Path) -> None:
    path = str(tmp_path / "ledger.json")
    first, second = KeyLedger(path), KeyLedger(path)
    a, b = first.fingerprint(KEY, IV), second.fingerprint(IV, KEY)
    first.record({a: entry()})
    second.record({b: entry(peer=2)})
    assert set(KeyLedger(path).lookup([a, b])) == {a, b}


def test_group_writable_directory_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "open"
    directory.mkdir()
    directory.chmod(0o775)
    with pytest.raises(OvpnError) as info:
        KeyLedger(str(directory / "ledger.json")).lookup([])
    assert "writable by group or others" in info.value.message
