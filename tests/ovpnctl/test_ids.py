"""Identifier ranges shared by both kernels."""

from __future__ import annotations

import re

import pytest

from ovpnctl.errors import ExitCode, ValidationError
from ovpnctl.ids import KEY_ID_MAX, PEER_ID_MAX, check_key_id, check_peer_id, parse_int


def test_limits() -> None:
    assert PEER_ID_MAX == 0xFFFFFF  # 24 bits survive on the wire
    assert KEY_ID_MAX == 7  # 3 bits


@pytest.mark.parametrize("value", [0, 1, PEER_ID_MAX])
def test_peer_ids_accepted(value: int) -> None:
    assert check_peer_id(value) == value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "out of range"),
        (PEER_ID_MAX + 1, "out of range"),
        (True, "not an integer"),
        (1.0, "not an integer"),
        ("1", "not an integer"),
    ],
)
def test_peer_ids_refused(value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        check_peer_id(value)  # type: ignore[arg-type]
    assert info.value.exit_code is ExitCode.DATAERR


def test_key_ids() -> None:
    assert [check_key_id(i) for i in range(8)] == list(range(8))
    for bad in (-1, 8, False):
        with pytest.raises(ValidationError):
            check_key_id(bad)


@pytest.mark.parametrize(("text", "value"), [("17", 17), (" 0x11 ", 17), ("0", 0), ("0o21", 17)])
def test_parse_int(text: str, value: int) -> None:
    assert parse_int(text, "peer id") == value


@pytest.mark.parametrize("text", ["", "x", "1.5", "017", "0x"])
def test_parse_int_names_the_option(text: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(f"peer id {text!r} is not a number")):
        parse_int(text, "peer id")
