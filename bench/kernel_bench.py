"""ovpnctl's Linux backend against a minimal raw-netlink loop, on the real ovpn driver.

Runs inside the QEMU guest (it needs the ovpn module and root), from the repository root:

    python3 tools/vm/vm-run --kernel-root "$(tools/vm/get-kernel)" \\
        --env PYTHONPATH="$PWD" -- "$(python3 -c 'import sys; print(sys.executable)')" \\
        bench/kernel_bench.py [--peers 1000]

Two MP interfaces, each with its own UDP socket on loopback. The baseline (`RawOvpn`,
below) writes PEER_NEW / KEY_NEW / PEER_GET requests with struct and a bare AF_NETLINK
socket, one request and one ack at a time, and decodes only the counters; ovpnctl does the
same work through `LinuxBackend` (validation, socket checks, model objects, error
mapping). Printed: seconds for each and the ratio library / raw (target <= 2).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable

from ovpnctl.endpoint import Endpoint
from ovpnctl.keys import Cipher, KeyConfig, KeyDirection, KeySlot
from ovpnctl.linux.backend import LinuxBackend
from ovpnctl.model import Mode, PeerConfig

# -- the raw baseline: everything it needs, from the netlink sheet ------------------------
NETLINK_GENERIC, GENL_ID_CTRL, CTRL_CMD_GETFAMILY = 16, 0x10, 3
CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME = 1, 2
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x4, 0x300
NLMSG_ERROR, NLMSG_DONE, NLA_F_NESTED = 2, 3, 0x8000
CMD_PEER_NEW, CMD_PEER_GET, CMD_KEY_NEW = 1, 3, 6
A_IFINDEX, A_PEER, A_KEYCONF = 1, 2, 3
PEER_ID, PEER_REMOTE_IPV4, PEER_REMOTE_PORT, PEER_SOCKET, PEER_VPN_IPV4 = 1, 2, 5, 6, 8
PEER_STATS = range(16, 24)
KC_PEER_ID, KC_SLOT, KC_KEY_ID, KC_CIPHER, KC_ENC, KC_DEC = 1, 2, 3, 4, 5, 6
KD_KEY, KD_NONCE = 1, 2
HDR = struct.Struct("=IHHII")


def nla(atype: int, payload: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(payload), atype) + payload
    return raw + bytes(-len(raw) % 4)


def nest(atype: int, *parts: bytes) -> bytes:
    return nla(atype | NLA_F_NESTED, b"".join(parts))


def u32(atype: int, value: int) -> bytes:
    return nla(atype, struct.pack("=I", value))


class RawOvpn:
    """The least a client can do: build bytes, send, wait for the ack."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
        self.sock.bind((0, 0))
        self.seq = 0
        reply = self.transact(GENL_ID_CTRL, CTRL_CMD_GETFAMILY,
                              nla(CTRL_ATTR_FAMILY_NAME, b"ovpn\0"))[0]  # fmt: skip
        self.family = next(
            struct.unpack_from("=H", reply, off)[0]
            for atype, off, _ in self.attrs(reply, 4)
            if atype == CTRL_ATTR_FAMILY_ID
        )

    @staticmethod
    def attrs(data: bytes, offset: int, end: int | None = None) -> list[tuple[int, int, int]]:
        out, end = [], len(data) if end is None else end
        while offset + 4 <= end:
            length, atype = struct.unpack_from("=HH", data, offset)
            out.append((atype & 0x3FFF, offset + 4, length - 4))
            offset += (length + 3) & ~3
        return out

    def transact(self, family: int, cmd: int, body: bytes, dump: bool = False) -> list[bytes]:
        self.seq += 1
        flags = NLM_F_REQUEST | (NLM_F_DUMP if dump else NLM_F_ACK)
        payload = struct.pack("=BBH", cmd, 1, 0) + body
        self.sock.send(HDR.pack(16 + len(payload), family, flags, self.seq, 0) + payload)
        replies = []
        while True:
            data = self.sock.recv(1 << 16)
            offset = 0
            while offset < len(data):
                length, mtype, _flags, _seq, _pid = HDR.unpack_from(data, offset)
                if mtype in (NLMSG_ERROR, NLMSG_DONE):
                    err = struct.unpack_from("=i", data, offset + 16)[0]
                    if err:
                        raise OSError(-err, os.strerror(-err))
                    return replies
                replies.append(data[offset + 16 : offset + length])
                offset += (length + 3) & ~3

    def peer_new(self, ifindex: int, peer_id: int, fd: int, port: int, vpn: bytes) -> None:
        peer = nest(A_PEER, u32(PEER_ID, peer_id), nla(PEER_REMOTE_IPV4, bytes([127, 0, 0, 2])),
                    nla(PEER_REMOTE_PORT, struct.pack("!H", port)), u32(PEER_SOCKET, fd),
                    nla(PEER_VPN_IPV4, vpn))  # fmt: skip
        self.transact(self.family, CMD_PEER_NEW, u32(A_IFINDEX, ifindex) + peer)

    def key_new(self, ifindex: int, peer_id: int, enc: bytes, dec: bytes) -> None:
        def keydir(atype: int, material: bytes) -> bytes:
            return nest(atype, nla(KD_KEY, material[:32]), nla(KD_NONCE, material[32:]))

        conf = nest(A_KEYCONF, u32(KC_PEER_ID, peer_id), u32(KC_SLOT, 0), u32(KC_KEY_ID, 0),
                    u32(KC_CIPHER, 1), keydir(KC_ENC, enc), keydir(KC_DEC, dec))  # fmt: skip
        self.transact(self.family, CMD_KEY_NEW, u32(A_IFINDEX, ifindex) + conf)

    def peer_stats(self, ifindex: int) -> dict[int, dict[int, int]]:
        out = {}
        for reply in self.transact(self.family, CMD_PEER_GET, u32(A_IFINDEX, ifindex), True):
            for atype, off, length in self.attrs(reply, 4):
                if atype != A_PEER:
                    continue
                fields = {t: reply[o : o + n] for t, o, n in self.attrs(reply, off, off + length)}
                out[struct.unpack("=I", fields[PEER_ID])[0]] = {
                    t: int.from_bytes(fields[t], sys.byteorder) for t in PEER_STATS if t in fields
                }
        return out


# -- the comparison -------------------------------------------------------------------------


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


CHUNK = 50  # peers per timed slice


def vpn_address(i: int) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(0x0A000000 + i)  # 10.0.0.0 + i


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peers", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5, help="stats runs (best is kept)")
    args = parser.parse_args()
    n = args.peers
    subprocess.run(["modprobe", "ovpn"], check=False, capture_output=True)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=False)

    lib = LinuxBackend()
    raw_if, lib_if, warm_if = "bench-raw", "bench-lib", "bench-warm"
    for name in (raw_if, lib_if, warm_if):
        lib.create_interface(name, Mode.MULTIPOINT)
        lib.start(name)
    raw_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    raw_sock.bind(("127.0.0.1", 40000))
    lib_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    lib_sock.bind(("127.0.0.1", 40001))
    material = [(os.urandom(40), os.urandom(40)) for _ in range(n)]

    # Everything a caller has prepared before talking to the kernel, for both sides.
    peers = [
        PeerConfig(i + 1, Endpoint.parse(f"127.0.0.2:{1000 + i}"), vpn_ipv4=vpn_address(i + 1))
        for i in range(n)
    ]
    keys = [
        KeyConfig(
            i + 1, 0, KeySlot.PRIMARY,
            KeyDirection.from_material(Cipher.AES_256_GCM, bytearray(enc)),
            KeyDirection.from_material(Cipher.AES_256_GCM, bytearray(dec)),
        )
        for i, (enc, dec) in enumerate(material)
    ]  # fmt: skip

    # Before the clock starts: both sides look the family up, and one key is installed
    # so that the kernel has loaded the AEAD modules (request_module runs modprobe).
    raw = RawOvpn()
    raw_index = socket.if_nametoindex(raw_if)
    print(f"ovpn driver features: {lib.features}")
    warm_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    warm_sock.bind(("127.0.0.1", 40002))
    lib.add_peer(warm_if, PeerConfig(1, Endpoint.parse("127.0.0.2:999"),
                                     vpn_ipv4=vpn_address(1)), warm_sock)  # fmt: skip
    lib.new_key(warm_if, KeyConfig(1, 0, KeySlot.PRIMARY, keys[0].encrypt, keys[0].decrypt))

    def raw_add(chunk: range) -> None:
        fd = raw_sock.fileno()
        for i in chunk:
            enc, dec = material[i]
            raw.peer_new(raw_index, i + 1, fd, 1000 + i, vpn_address(i + 1).packed)
            raw.key_new(raw_index, i + 1, enc, dec)

    def lib_add(chunk: range) -> None:
        for i in chunk:
            lib.add_peer(lib_if, peers[i], lib_sock)
            lib.new_key(lib_if, keys[i])

    # The guest shares two host cores with everything else running there, so both sides
    # run interleaved in slices: a change of load then hits both alike.
    t_raw = t_lib = 0.0
    for start in range(0, n, CHUNK):
        chunk = range(start, min(start + CHUNK, n))
        t_raw += timed(lambda: raw_add(chunk))  # noqa: B023 - called at once
        t_lib += timed(lambda: lib_add(chunk))  # noqa: B023 - called at once
    results = [(f"add {n} peers + {n} keys", t_raw, t_lib)]
    raw_stats = raw.peer_stats(raw_index)
    lib_stats = lib.peer_states(lib_if, with_keys=False)
    assert len(raw_stats) == n and len(lib_stats) == n, (len(raw_stats), len(lib_stats))
    s_raw = s_lib = float("inf")
    for _ in range(args.runs):
        s_raw = min(s_raw, timed(lambda: raw.peer_stats(raw_index)))
        s_lib = min(s_lib, timed(lambda: lib.peer_states(lib_if, with_keys=False)))
    results.append((f"stats of {n} peers (one dump)", s_raw, s_lib))

    print(f"kernel {os.uname().release}, {n} peers, interleaved in slices of {CHUNK}; ", end="")
    print(f"stats: best of {args.runs}")
    print(f"{'operation':<34} {'raw (s)':>9} {'ovpnctl (s)':>12} {'ratio':>7}")
    worst = 0.0
    for label, t_raw, t_lib in results:
        ratio = t_lib / t_raw
        worst = max(worst, ratio)
        print(f"{label:<34} {t_raw:>9.3f} {t_lib:>12.3f} {ratio:>6.2f}x")
    print(
        f"per peer: raw {results[0][1] / n * 1e3:.3f} ms, ovpnctl {results[0][2] / n * 1e3:.3f} ms"
    )
    for name in (raw_if, lib_if, warm_if):
        lib.destroy_interface(name)
    lib.close()
    print("target: ovpnctl <= 2x the raw loop:", "met" if worst <= 2.0 else "NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
