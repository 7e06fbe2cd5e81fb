"""The shipped example configs load, and the two demo sites mirror each other."""

from __future__ import annotations

from pathlib import Path

import pytest

from ovpnctl.config import load_config
from ovpnctl.config.schema import TcpRole
from ovpnctl.model import Transport

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.mark.parametrize(
    "name", ["site-a.toml", "site-b.toml", "hub.json", "tcp-server.toml", "tcp-client.toml"]
)
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


def test_the_tcp_client_is_one_of_the_servers_peers() -> None:
    server = load_config(str(EXAMPLES / "tcp-server.toml"), key_dir="/k")
    client = load_config(str(EXAMPLES / "tcp-client.toml"), key_dir="/k")
    assert server.transport is client.transport is Transport.TCP
    (pc,) = client.peers
    ps = server.peer(pc.peer_id)
    assert ps is not None
    assert (ps.tcp, pc.tcp) == (TcpRole.ACCEPT, TcpRole.CONNECT)
    assert pc.remote == ps.listen == server.listen[0]  # the client dials where it listens
    assert ps.key is not None and pc.key is not None
    assert (ps.key.encrypt, ps.key.decrypt) == (pc.key.decrypt, pc.key.encrypt)
    assert ps.key.key_id == pc.key.key_id and ps.key.cipher is pc.key.cipher
    assert server.interface != client.interface
