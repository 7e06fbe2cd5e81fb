"""The ioctl seam: everything the FreeBSD backend asks of the kernel goes through here.

`DrvSpecTransport` is the whole surface: SIOC[SG]DRVSPEC with a caller-owned buffer,
interface create/destroy, cloner and group listing, flags/MTU, module loading. Three
implementations exist: `IoctlTransport` (the real kernel, FreeBSD only), `DryRunTransport`
(records what would be sent, touches nothing, works on any OS) and, in the tests, a model of
the kernel built from the spec sheet. Failures are `OSError`s carrying the kernel's errno;
the backend turns them into explained `KernelError`s.

Buffers: requests are passed as a `bytearray` the caller owns (and wipes: key material
travels this way); the kernel reads them in place through a ctypes view, no extra copy.
"""

from __future__ import annotations

import ctypes
import errno
import socket
from typing import Any, Protocol

from nvlist_ffi import typed_json, unpack
from ovpnctl.freebsd.commands import command_name
from ovpnctl.freebsd.ifdrv import (
    IFG_REQ_SIZE,
    IFNAMSIZ,
    Abi,
    clonereq_total,
    host_abi,
    ifgroupreq_len,
    ifreq_flags,
    ifreq_int,
    ifreq_name,
    pack_clonereq,
    pack_ifdrv,
    pack_ifgroupreq,
    pack_ifreq,
    split_names,
    unpack_ifdrv,
)

IF_OVPN_MODULE = "if_ovpn"


class DrvSpecTransport(Protocol):
    """What the FreeBSD backend needs from a kernel. Errors: OSError with errno set."""

    def set_drvspec(self, ifname: str, cmd: int, request: bytearray | None) -> None:
        """SIOCSDRVSPEC; `request` None means `ifd_len` 0 / `ifd_data` NULL."""

    def get_drvspec(self, ifname: str, cmd: int, buf: bytearray) -> int:
        """SIOCGDRVSPEC into `buf`; returns the reply length (`ifd_len` after the call)."""

    def create_interface(self, name: str) -> str:
        """SIOCIFCREATE2; returns the name the kernel chose (unit appended if none given)."""

    def destroy_interface(self, name: str) -> None:
        """SIOCIFDESTROY."""

    def cloners(self) -> list[str]:
        """SIOCIFGCLONERS: names of the registered interface cloners."""

    def load_module(self, module: str) -> None:
        """kldload(2) the module (EEXIST when already loaded is not an error)."""

    def group_members(self, group: str) -> list[str]:
        """SIOCGIFGMEMB: interfaces in a group ([] when the group does not exist)."""

    def interface_flags(self, ifname: str) -> int:
        """SIOCGIFFLAGS (flags | flagshigh << 16)."""

    def interface_mtu(self, ifname: str) -> int:
        """SIOCGIFMTU."""

    def interface_index(self, ifname: str) -> int:
        """if_nametoindex(3)."""

    def close(self) -> None:
        """Release the control socket; idempotent."""


class IoctlTransport:
    """The real kernel: ioctls on an AF_LOCAL datagram socket, as OpenVPN issues them.

    Any socket works for these ioctls; AF_LOCAL also works on kernels built without INET.
    """

    def __init__(self, abi: Abi | None = None) -> None:
        import fcntl  # noqa: PLC0415 - only meaningful (and only imported) on FreeBSD

        self._fcntl = fcntl
        self.abi = abi or host_abi()
        self._sock: socket.socket | None = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._libc: Any = None

    def _ioctl(self, name: str, arg: bytearray) -> None:
        if self._sock is None:
            raise OSError(errno.EBADF, "the control socket is closed")
        self._fcntl.ioctl(self._sock.fileno(), self.abi.ioctl(name), arg, True)

    def set_drvspec(self, ifname: str, cmd: int, request: bytearray | None) -> None:
        if not request:
            self._ioctl("SIOCSDRVSPEC", pack_ifdrv(self.abi, ifname, cmd, 0, 0))
            return
        view = (ctypes.c_char * len(request)).from_buffer(request)
        try:
            ifd = pack_ifdrv(self.abi, ifname, cmd, len(request), ctypes.addressof(view))
            self._ioctl("SIOCSDRVSPEC", ifd)
        finally:
            del view  # release the export so the caller can wipe/resize its buffer

    def get_drvspec(self, ifname: str, cmd: int, buf: bytearray) -> int:
        view = (ctypes.c_char * len(buf)).from_buffer(buf) if buf else None
        try:
            address = ctypes.addressof(view) if view is not None else 0
            ifd = pack_ifdrv(self.abi, ifname, cmd, len(buf), address)
            self._ioctl("SIOCGDRVSPEC", ifd)
        finally:
            del view
        return unpack_ifdrv(self.abi, ifd)[2]

    def create_interface(self, name: str) -> str:
        ifr = pack_ifreq(name)
        self._ioctl("SIOCIFCREATE2", ifr)
        return ifreq_name(ifr)

    def destroy_interface(self, name: str) -> None:
        self._ioctl("SIOCIFDESTROY", pack_ifreq(name))

    def cloners(self) -> list[str]:
        req = pack_clonereq(self.abi, 0, 0)
        self._ioctl("SIOCIFGCLONERS", req)
        total = clonereq_total(self.abi, req)
        if total == 0:
            return []
        names = bytearray(total * IFNAMSIZ)
        view = (ctypes.c_char * len(names)).from_buffer(names)
        try:
            req = pack_clonereq(self.abi, total, ctypes.addressof(view))
            self._ioctl("SIOCIFGCLONERS", req)
        finally:
            del view
        return split_names(names, min(total, clonereq_total(self.abi, req)))

    def load_module(self, module: str) -> None:
        if self._libc is None:
            # find_library runs ldconfig in a subprocess: pay for it only when loading a module.
            import ctypes.util  # noqa: PLC0415

            self._libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        if self._libc.kldload(module.encode()) < 0:
            err = ctypes.get_errno()
            if err != errno.EEXIST:
                raise OSError(err, f"kldload {module}: {errno.errorcode.get(err, err)}")

    def group_members(self, group: str) -> list[str]:
        for _attempt in range(8):  # members may come and go between the two calls
            req = pack_ifgroupreq(self.abi, group, 0, 0)
            try:
                self._ioctl("SIOCGIFGMEMB", req)
            except OSError as exc:
                if exc.errno == errno.ENOENT:
                    return []  # no interface has ever joined the group
                raise
            length = ifgroupreq_len(self.abi, req)
            if length == 0:
                return []
            members = bytearray(length)
            view = (ctypes.c_char * length).from_buffer(members)
            try:
                req = pack_ifgroupreq(self.abi, group, length, ctypes.addressof(view))
                self._ioctl("SIOCGIFGMEMB", req)
            except OSError as exc:
                if exc.errno == errno.EINVAL:
                    continue  # a member was added meanwhile: ask for the size again
                raise
            finally:
                del view
            return split_names(members, length // IFG_REQ_SIZE)
        raise OSError(errno.EAGAIN, f"members of group {group} keep changing")

    def interface_flags(self, ifname: str) -> int:
        ifr = pack_ifreq(ifname)
        self._ioctl("SIOCGIFFLAGS", ifr)
        return ifreq_flags(ifr)

    def interface_mtu(self, ifname: str) -> int:
        ifr = pack_ifreq(ifname)
        self._ioctl("SIOCGIFMTU", ifr)
        return ifreq_int(ifr)

    def interface_index(self, ifname: str) -> int:
        return socket.if_nametoindex(ifname)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class DryRunTransport:
    """Records each ioctl that would be issued, as JSON-ready dicts; issues nothing.

    A record: `{"ioctl", "interface", "command", "request", "hex"}` where `request` is the
    typed JSON (golden schema) of the packed request and `hex` its bytes; START_VPN has no
    request (`null`, `""`). Reading kernel state is impossible here and says so.
    """

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records

    def set_drvspec(self, ifname: str, cmd: int, request: bytearray | None) -> None:
        data = bytes(request) if request else b""
        decoded = typed_json.to_obj(unpack(data, 0)) if data else None
        self.records.append(
            {
                "ioctl": "SIOCSDRVSPEC",
                "interface": ifname,
                "command": command_name(cmd),
                "request": decoded,
                "hex": data.hex(),
            }
        )

    def annotate(self, placeholders: dict[str, str]) -> None:
        """Mark values in the latest record that stand in for what exists only at run time."""
        self.records[-1].setdefault("placeholders", {}).update(placeholders)

    def get_drvspec(self, ifname: str, cmd: int, buf: bytearray) -> int:
        raise _cannot_read(f"{command_name(cmd)} on {ifname}")

    def create_interface(self, name: str) -> str:
        self.records.append({"ioctl": "SIOCIFCREATE2", "interface": name})
        return name

    def destroy_interface(self, name: str) -> None:
        self.records.append({"ioctl": "SIOCIFDESTROY", "interface": name})

    def cloners(self) -> list[str]:
        raise _cannot_read("the cloner list")

    def load_module(self, module: str) -> None:
        raise _cannot_read(f"whether {module} is loaded")

    def group_members(self, group: str) -> list[str]:
        raise _cannot_read(f"the members of group {group}")

    def interface_flags(self, ifname: str) -> int:
        raise _cannot_read(f"the flags of {ifname}")

    def interface_mtu(self, ifname: str) -> int:
        raise _cannot_read(f"the MTU of {ifname}")

    def interface_index(self, ifname: str) -> int:
        raise _cannot_read(f"the index of {ifname}")

    def close(self) -> None:
        return None


def _cannot_read(what: str) -> OSError:
    return OSError(errno.EOPNOTSUPP, f"a dry run cannot read {what} from the kernel")
