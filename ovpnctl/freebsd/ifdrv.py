"""Kernel structure layouts and ioctl numbers for if_ovpn, per ABI.

FreeBSD encodes the argument size into every ioctl number (`_IOC`), so the numbers
depend on `sizeof(struct ifdrv)`: 40 bytes on LP64 (amd64, aarch64), 28 on ILP32 (i386,
armv7). Both the numbers and the byte layouts are computed here from one table, for the
running platform or an explicitly chosen ABI (tests check every ABI against the sheet).

Nothing here performs I/O; `transport` issues the ioctls.
"""

from __future__ import annotations

import platform
import struct
from dataclasses import dataclass

from ovpnctl.errors import ValidationError

IFNAMSIZ = 16  # including the terminating NUL

# <sys/ioccom.h>
IOCPARM_MASK = 0x1FFF
IOC_VOID = 0x20000000
IOC_OUT = 0x40000000
IOC_IN = 0x80000000
IOC_INOUT = IOC_IN | IOC_OUT

# Interface flags (<net/if.h>), FreeBSD values.
IFF_UP = 0x1
IFF_BROADCAST = 0x2
IFF_POINTOPOINT = 0x10
IFF_DRV_RUNNING = 0x40
IFF_MULTICAST = 0x8000

IFREQ_SIZE = 32  # 16-byte name + 16-byte union on every supported ABI
IFG_REQ_SIZE = 16  # struct ifg_req: one interface or group name
# Interface groups of ovpn instances: FreeBSD puts every cloned interface into a group
# named after its cloner: "openvpn" upstream, "ovpn" in the OPNsense tree.
OVPN_GROUPS = ("openvpn", "ovpn")
OVPN_NAME_PREFIX = "ovpn"  # the cloner matches names by this prefix
IF_MAXUNIT = 0x7FFF


def ioc(inout: int, group: str, num: int, length: int) -> int:
    """`_IOC(inout, group, num, len)` from <sys/ioccom.h>."""
    return inout | ((length & IOCPARM_MASK) << 16) | (ord(group) << 8) | num


def io(group: str, num: int) -> int:
    """`_IO(group, num)`: no argument (used for the OVPN_* `ifd_cmd` values)."""
    return ioc(IOC_VOID, group, num, 0)


@dataclass(frozen=True, slots=True)
class Abi:
    """Pointer / `long` / `size_t` width of a FreeBSD ABI; every layout follows from it."""

    name: str
    word: int  # sizeof(unsigned long) == sizeof(size_t) == sizeof(void *)

    @property
    def _w(self) -> str:
        return "Q" if self.word == 8 else "I"

    @property
    def ifdrv_format(self) -> str:
        """`struct ifdrv`: name[16], unsigned long cmd, size_t len, void *data; no padding."""
        return f"={IFNAMSIZ}s{self._w}{self._w}{self._w}"

    @property
    def ifdrv_size(self) -> int:
        return struct.calcsize(self.ifdrv_format)

    @property
    def clonereq_format(self) -> str:
        """`struct if_clonereq`: int total, int count, char *buffer."""
        return f"=ii{self._w}"

    @property
    def ifgroupreq_format(self) -> str:
        """`struct ifgroupreq`: name[16], u_int len, union {name[16]; pointer}.

        The union is pointer-aligned: 4 bytes of padding precede it on LP64."""
        pad = "4x" if self.word == 8 else ""
        return f"={IFNAMSIZ}sI{pad}{self._w}{IFNAMSIZ - self.word}x"

    def struct_size(self, kind: str) -> int:
        sizes = {
            "ifdrv": self.ifdrv_size,
            "ifreq": IFREQ_SIZE,
            "if_clonereq": struct.calcsize(self.clonereq_format),
            "ifgroupreq": struct.calcsize(self.ifgroupreq_format),
        }
        return sizes[kind]

    def ioctl(self, name: str) -> int:
        """The request number of a socket ioctl on this ABI, from `IOCTLS`."""
        inout, group, num, kind = IOCTLS[name]
        return ioc(inout, group, num, self.struct_size(kind))


ABIS: dict[str, Abi] = {
    "amd64": Abi("amd64", 8),
    "aarch64": Abi("aarch64", 8),
    "i386": Abi("i386", 4),
    "armv7": Abi("armv7", 4),
}

# The socket ioctls ovpnctl issues: (direction, group, number, argument struct).
# Source: <sys/sockio.h>. The numbers differ per ABI only through the struct size.
IOCTLS: dict[str, tuple[int, str, int, str]] = {
    "SIOCSDRVSPEC": (IOC_IN, "i", 123, "ifdrv"),
    "SIOCGDRVSPEC": (IOC_INOUT, "i", 123, "ifdrv"),
    "SIOCIFCREATE2": (IOC_INOUT, "i", 124, "ifreq"),
    "SIOCIFDESTROY": (IOC_IN, "i", 121, "ifreq"),
    "SIOCIFGCLONERS": (IOC_INOUT, "i", 120, "if_clonereq"),
    "SIOCGIFGMEMB": (IOC_INOUT, "i", 138, "ifgroupreq"),
    "SIOCGIFFLAGS": (IOC_INOUT, "i", 17, "ifreq"),
    "SIOCGIFMTU": (IOC_INOUT, "i", 51, "ifreq"),
}


def host_abi() -> Abi:
    """The ABI of this Python process (a 32-bit Python on a 64-bit kernel is ILP32)."""
    word = struct.calcsize("P")
    machine = platform.machine().lower()
    if word == 8:
        return ABIS["aarch64"] if machine in ("arm64", "aarch64") else ABIS["amd64"]
    return ABIS["armv7"] if machine.startswith("arm") else ABIS["i386"]


def ovpn_command(n: int) -> int:
    """An if_ovpn `ifd_cmd` value: `_IO('D', n)`."""
    return io("D", n)


# -- names ------------------------------------------------------------------------------


def encode_ifname(name: str) -> bytes:
    """The NUL-padded 16-byte `ifr_name`/`ifd_name` field; refuses what cannot fit."""
    check_ifname(name)
    return name.encode("ascii").ljust(IFNAMSIZ, b"\0")


def decode_ifname(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("ascii", "replace")


def check_ifname(name: str) -> str:
    """Any existing interface name: 1-15 printable ASCII characters, no `/` or spaces."""
    if not isinstance(name, str) or not name:
        raise ValidationError("interface name is empty")
    if not name.isascii() or not name.isprintable() or any(c in name for c in " /:"):
        raise ValidationError(f"interface name {name!r} contains characters FreeBSD refuses")
    if len(name) >= IFNAMSIZ:
        raise ValidationError(
            f"interface name {name!r} is {len(name)} characters; FreeBSD allows at most "
            f"{IFNAMSIZ - 1}"
        )
    return name


def check_clone_name(name: str) -> str:
    """A name SIOCIFCREATE2 will hand to the if_ovpn cloner (§1.2 of the sheet).

    The cloner claims names starting with `ovpn`; from the first digit on, the rest must
    be a unit number without a leading zero, at most IF_MAXUNIT. Without a unit the kernel
    appends the first free one, so the name must leave room for it.
    """
    check_ifname(name)
    if not name.startswith(OVPN_NAME_PREFIX):
        raise ValidationError(
            f"interface name {name!r} must start with {OVPN_NAME_PREFIX!r} "
            "(the if_ovpn cloner only claims such names)"
        )
    first_digit = next((i for i, c in enumerate(name) if c.isdigit()), None)
    if first_digit is None:
        if len(name) + 1 >= IFNAMSIZ:
            raise ValidationError(
                f"interface name {name!r} leaves no room for the unit number the kernel appends"
            )
        return name
    unit = name[first_digit:]
    if not unit.isdigit() or (len(unit) > 1 and unit[0] == "0"):
        raise ValidationError(
            f"interface name {name!r}: everything from the first digit must be a unit number "
            "without leading zeros (e.g. ovpn0, ovpn12)"
        )
    if int(unit) > IF_MAXUNIT:
        raise ValidationError(f"interface name {name!r}: unit {unit} exceeds {IF_MAXUNIT}")
    return name


# -- struct packing -----------------------------------------------------------------------


def pack_ifdrv(abi: Abi, ifname: str, cmd: int, length: int, data_address: int) -> bytearray:
    return bytearray(
        struct.pack(abi.ifdrv_format, encode_ifname(ifname), cmd, length, data_address)
    )


def unpack_ifdrv(abi: Abi, buf: bytes | bytearray) -> tuple[str, int, int, int]:
    """(name, cmd, len, data address) of a packed `struct ifdrv`."""
    name, cmd, length, data = struct.unpack(abi.ifdrv_format, bytes(buf[: abi.ifdrv_size]))
    return decode_ifname(name), cmd, length, data


def pack_ifreq(ifname: str) -> bytearray:
    buf = bytearray(IFREQ_SIZE)
    buf[:IFNAMSIZ] = encode_ifname(ifname)
    return buf


def ifreq_name(buf: bytes | bytearray) -> str:
    return decode_ifname(bytes(buf[:IFNAMSIZ]))


def ifreq_flags(buf: bytes | bytearray) -> int:
    """`ifr_flags | ifr_flagshigh << 16` (two shorts at the start of the union)."""
    low, high = struct.unpack_from("=HH", buf, IFNAMSIZ)
    flags: int = low | (high << 16)
    return flags


def ifreq_int(buf: bytes | bytearray) -> int:
    """The `int` at the start of the union (`ifr_mtu`)."""
    value: int = struct.unpack_from("=i", buf, IFNAMSIZ)[0]
    return value


def pack_clonereq(abi: Abi, count: int, buffer_address: int) -> bytearray:
    return bytearray(struct.pack(abi.clonereq_format, 0, count, buffer_address))


def clonereq_total(abi: Abi, buf: bytes | bytearray) -> int:
    total: int = struct.unpack_from(abi.clonereq_format, buf)[0]
    return total


def pack_ifgroupreq(abi: Abi, group: str, length: int, buffer_address: int) -> bytearray:
    return bytearray(
        struct.pack(abi.ifgroupreq_format, encode_ifname(group), length, buffer_address)
    )


def ifgroupreq_len(abi: Abi, buf: bytes | bytearray) -> int:
    length: int = struct.unpack_from(abi.ifgroupreq_format, buf)[1]
    return length


def split_names(buf: bytes | bytearray, count: int) -> list[str]:
    """Names from an array of 16-byte slots (cloner list, group members); empty slots skipped."""
    names = [decode_ifname(bytes(buf[i * IFNAMSIZ : (i + 1) * IFNAMSIZ])) for i in range(count)]
    return [n for n in names if n]
