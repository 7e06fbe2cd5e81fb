"""`ovpnctl up` with TCP peers on the real Linux driver: one side accepts, one dials.

Both sites are real `python -m ovpnctl up` processes. The dialling site starts first,
so it must keep retrying until the accepting site listens. Then, in order: the tunnel
carries traffic both ways; when the dialling site stops, the accepting site's kernel
drops the peer and the supervisor lets the connection go and listens on; a restart
with the same key files connects but is refused on both sides (the ledger: the packet
counter would restart under the same key and IV); with fresh key files the next
connection is added on both sides; SIGTERM ends every supervisor cleanly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from netns import NetnsPair, netns_exec
from up_process import UpProcess

from ovpnctl.config import parse_config
from ovpnctl.keyfile import generate_material, write_material
from ovpnctl.keys import Cipher

PORT = 1443
PING = ["ping", "-n", "-c", "3", "-i", "0.2", "-W", "3"]


def accepting_config(pair: NetnsPair) -> str:
    return f"""
[interface]
name = "ovpnta0"
mode = "mp"
transport = "tcp"
listen = "{pair.left.ipv4.ip}:{PORT}"
address = ["10.9.0.1/24"]

[[peer]]
id = 3
tcp = "accept"
remote = "{pair.right.ipv4.ip}"
vpn_ipv4 = "10.9.0.2"
keepalive = {{ interval = 1, timeout = 20 }}
key = {{ id = 0, cipher = "CHACHA20-POLY1305", encrypt = "ta", decrypt = "tb" }}
"""


def dialling_config(pair: NetnsPair) -> str:
    return f"""
[interface]
name = "ovpntb0"
transport = "tcp"
address = ["10.9.0.2/24"]

[[peer]]
id = 3
remote = "{pair.left.ipv4.ip}:{PORT}"
keepalive = {{ interval = 1, timeout = 20 }}
key = {{ id = 0, cipher = "CHACHA20-POLY1305", encrypt = "tb", decrypt = "ta" }}
"""


def start(pair_ns: str, config: Path, tmp: Path, name: str) -> UpProcess:
    env = {
        **os.environ,
        "OVPNCTL_RUN_DIR": str(tmp / f"run-{name}"),
        "OVPNCTL_STATE_DIR": str(tmp / f"db-{name}"),
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
    }
    return UpProcess(pair_ns, config, env, extra=("--connect-retry", "1"))


def event(name: str, **fields: Any) -> Any:
    return lambda r: r["event"] == name and all(r.get(k) == v for k, v in fields.items())


def added(r: dict[str, Any]) -> bool:
    return r["event"] == "change" and r.get("step", "").startswith("add peer 3 on TCP connection")


def fresh_key(path: Path) -> None:
    """New material, replaced atomically (a supervisor may read the file at any time)."""
    new = path.with_name(f".{path.name}.new")
    new.unlink(missing_ok=True)
    write_material(str(new), generate_material(Cipher.CHACHA20_POLY1305))
    new.replace(path)


def lossless(netns: str, *args: str) -> bool:
    return " 0% packet loss" in netns_exec(netns, [*PING, *args], check=False).stdout


def test_tcp_peers_connect_reconnect_and_need_fresh_keys(
    netns_pair: NetnsPair, tmp_path: Path
) -> None:
    pair = netns_pair
    keydir = tmp_path / "keys"
    keydir.mkdir(mode=0o700)
    for name in ("ta", "tb"):
        fresh_key(keydir / name)
    a_file = keydir / "accepting.toml"  # relative key paths resolve beside it
    b_file = keydir / "dialling.toml"
    a_file.write_text(accepting_config(pair))
    b_file.write_text(dialling_config(pair))

    b = start(pair.right.netns, b_file, tmp_path, "b")
    a: UpProcess | None = None
    b2: UpProcess | None = None
    b3: UpProcess | None = None
    try:
        b.wait_for("the start", event("up"))
        failed = b.wait_for("a refused dial", event("tcp-connect-failed", peer=3))
        assert failed["error"] == "Connection refused" and failed["retry_in"] <= 1
        assert not any(added(r) for r in b.records)  # nothing to add without a connection

        a = start(pair.left.netns, a_file, tmp_path, "a")
        a.wait_for("the listener", event("tcp-listening", address=f"{pair.left.ipv4.ip}:{PORT}"))
        accepted = a.wait_for("the accepted connection", event("tcp-accepted", peer=3))
        assert accepted["source"].startswith(f"{pair.right.ipv4.ip}:")
        a.wait_for("peer 3 added on A", added)
        b.wait_for("peer 3 added on B", added)
        assert lossless(pair.left.netns, "10.9.0.2")
        assert lossless(pair.right.netns, "10.9.0.1")
        # showconf writes the accepting peer back as the file says it: role, bare address.
        shown = parse_config(a.ovpnctl("showconf", "ovpnta0").stdout, source="shown.toml")
        wanted = parse_config(a_file.read_text(), source=str(a_file), base_dir=str(keydir))
        assert (shown.transport, shown.listen) == (wanted.transport, wanted.listen)
        assert shown.peers == wanted.peers

        # B goes away: A's kernel sees the connection end and drops the peer; A lets its
        # socket go and keeps listening.
        assert b.stop() == 0
        deleted = a.wait_for("the deletion", event("kernel-peer-deleted", peer=3))
        assert deleted["reason"] in ("transport-disconnect", "transport-error")
        a.wait_for("the closed connection", event("tcp-closed", peer=3, reason="peer gone"))

        # Same key files: both ends connect, and both refuse to install the keys again.
        since = len(a.records)
        b2 = start(pair.right.netns, b_file, tmp_path, "b")
        refusal = event("apply-failed", reason="tcp-connection")
        refused_a = a.wait_for("A's refusal", refusal, since=since)
        assert "already installed" in refused_a["error"]
        a.wait_for("A closing it", event("tcp-closed", peer=3, reason="not added"), since=since)
        refused_b = b2.wait_for("B's refusal", refusal)
        assert "already installed" in refused_b["error"]
        assert not any(added(r) for r in b2.records)
        assert b2.stop() == 0

        # Fresh material (rotated while no dial runs, so both ends read the same files):
        # the first connection is added on both sides.
        for name in ("ta", "tb"):
            fresh_key(keydir / name)
        since = len(a.records)
        b3 = start(pair.right.netns, b_file, tmp_path, "b")
        a.wait_for("the re-add on A", added, since=since)
        b3.wait_for("the re-add on B", added)
        assert lossless(pair.right.netns, "10.9.0.1")
    finally:
        statuses = [p.stop() for p in (b3, b2, a, b) if p is not None]
    assert statuses == [0] * len(statuses), (a and a.records, b3 and b3.records)
    for netns, ifname in ((pair.left.netns, "ovpnta0"), (pair.right.netns, "ovpntb0")):
        gone = netns_exec(netns, ["ip", "link", "show", ifname], check=False)
        assert gone.returncode != 0, f"{ifname} outlived its supervisor"
