"""The shipped example configs load, and the two demo sites mirror each other."""

from __future__ import annotations

from pathlib import Path

import pytest

from ovpnctl.config import load_config

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.mark.parametrize("name", ["site-a.toml", "site-b.toml", "hub.json"])
def test_example_loads(name: str) -> None:
    config = load_config(str(EXAMPLES / name), key_dir="/k")
    assert config.peers
    for peer in config.peers:
        assert peer.key is not None and peer.key.encrypt is not None
        assert peer.key.encrypt.startswith("/k/")


def test_the_two_sites_mirror_each_other() -> None:
    a = load_config(str(EXAMPLES / "site-a.toml"), key_dir="/k")
    b = load_config(str(EXAMPLES / "site-b.toml"), key_dir="/k")
    (pa,), (pb,) = a.peers, b.peers
    assert pa.peer_id == pb.peer_id  # both ends of a tunnel use one id
    assert pa.remote == b.listen[0] and pb.remote == a.listen[0]
    assert pa.key is not None and pb.key is not None
    assert (pa.key.encrypt, pa.key.decrypt) == (pb.key.decrypt, pb.key.encrypt)
    assert pa.key.key_id == pb.key.key_id and pa.key.cipher is pb.key.cipher
    assert a.interface != b.interface  # distinct names: both may run on one host
