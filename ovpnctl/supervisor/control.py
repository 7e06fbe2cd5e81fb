"""The supervisor's control socket: one JSON request line in, one JSON reply line out.

AF_UNIX stream socket in the runtime directory (mode 0700), the socket itself mode 0600,
and the connecting process's credentials checked by the kernel's own report
(SO_PEERCRED on Linux, LOCAL_PEERCRED on FreeBSD): only root may drive a tunnel, and a
file mode alone would trust whoever managed to open the path.

Requests: `{"op": "status"}`, `{"op": "apply", "config": PATH, "allow_key_reuse": BOOL,
"dry_run": BOOL}`, `{"op": "peer-add", "peer": {...}}`, `{"op": "reload"}`. Replies:
`{"ok": true, ...}` or `{"ok": false, "error": MESSAGE, "exit_code": N}`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import stat
import struct
import sys
from collections.abc import Callable
from typing import Any

from ovpnctl.config.paths import ensure_private_dir
from ovpnctl.errors import ExitCode, OvpnError, ProtocolError

MAX_MESSAGE = 1 << 16
CLIENT_TIMEOUT = 5.0
# FreeBSD <sys/un.h>: SOL_LOCAL 0, LOCAL_PEERCRED 1; struct xucred starts with
# u_int cr_version (XUCRED_VERSION 0) and uid_t cr_uid.
_FREEBSD_SOL_LOCAL = 0
_FREEBSD_LOCAL_PEERCRED = 1
_XUCRED_VERSION = 0

Handler = Callable[[dict[str, Any]], dict[str, Any]]


class SupervisorBusyError(OvpnError):
    exit_code = ExitCode.TEMPFAIL


def peer_uid(conn: socket.socket) -> int | None:
    """The uid of the process at the other end, as the kernel reports it."""
    platform: str = sys.platform  # a plain str: both branches are checked on any OS
    if platform.startswith("linux"):
        raw = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", raw)
        return int(uid)
    if platform.startswith("freebsd"):
        level = getattr(socket, "SOL_LOCAL", _FREEBSD_SOL_LOCAL)
        option = getattr(socket, "LOCAL_PEERCRED", _FREEBSD_LOCAL_PEERCRED)
        raw = conn.getsockopt(level, option, 256)
        version, uid = struct.unpack_from("=II", raw)
        return int(uid) if version == _XUCRED_VERSION else None
    return None


def allowed_uids() -> set[int]:
    """Root, and (for a supervisor not running as root, e.g. in tests) its own user."""
    return {0, os.geteuid()}


class ControlServer:
    def __init__(self, path: str) -> None:
        self.path = path
        ensure_private_dir(os.path.dirname(path) or ".")
        _clear_stale(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)  # the socket file is created 0600
        try:
            sock.bind(path)
        finally:
            os.umask(old_umask)
        os.chmod(path, 0o600)
        sock.listen(8)
        sock.setblocking(False)
        self.sock = sock

    def fileno(self) -> int:
        return self.sock.fileno()

    def serve_one(self, handler: Handler) -> None:
        """Accept and answer one pending connection (call when the socket is readable)."""
        try:
            conn, _ = self.sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        with conn:
            conn.setblocking(True)
            conn.settimeout(CLIENT_TIMEOUT)
            try:
                uid = peer_uid(conn)
                if uid is None or uid not in allowed_uids():
                    _send(conn, _failure(f"uid {uid} may not control this tunnel", ExitCode.NOPERM))
                    return
                request = _receive(conn)
            except (OSError, ProtocolError) as exc:
                with contextlib.suppress(OSError):
                    _send(conn, _failure(f"bad request: {exc}", ExitCode.PROTOCOL))
                return
            try:
                reply = handler(request)
            except OvpnError as exc:
                reply = _failure(exc.message, exc.exit_code)
            except Exception as exc:  # keep the supervisor alive; report the bug
                reply = _failure(f"internal error: {type(exc).__name__}: {exc}", ExitCode.SOFTWARE)
            with contextlib.suppress(OSError):
                _send(conn, reply)

    def close(self) -> None:
        self.sock.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def _clear_stale(path: str) -> None:
    """Remove a socket left by a supervisor that died; refuse when one is alive."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise OvpnError(
            f"{path} exists and is not a socket; remove it", exit_code=ExitCode.CANTCREAT
        )
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        os.unlink(path)
        return
    finally:
        probe.close()
    raise SupervisorBusyError(f"another ovpnctl up is already running ({path} answers)")


def _failure(message: str, code: ExitCode) -> dict[str, Any]:
    return {"ok": False, "error": message, "exit_code": int(code)}


def _send(conn: socket.socket, message: dict[str, Any]) -> None:
    conn.sendall(json.dumps(message, separators=(",", ":")).encode() + b"\n")


def _receive(conn: socket.socket) -> dict[str, Any]:
    data = bytearray()
    while b"\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_MESSAGE:
            raise ProtocolError(f"message longer than {MAX_MESSAGE} bytes")
    line = bytes(data).split(b"\n", 1)[0]
    try:
        message = json.loads(line)
    except ValueError as exc:
        raise ProtocolError(f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise ProtocolError("a message must be a JSON object")
    return message


def request(path: str, message: dict[str, Any], *, timeout: float = 120.0) -> dict[str, Any]:
    """Send one request to the supervisor at `path` and return its reply."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except OSError as exc:
            raise OvpnError(
                f"cannot reach the supervisor at {path}: {exc.strerror or exc}",
                exit_code=ExitCode.UNAVAILABLE,
            ) from None
        _send(sock, message)
        return _receive(sock)
    except TimeoutError:
        raise OvpnError(
            f"the supervisor at {path} did not answer", exit_code=ExitCode.TEMPFAIL
        ) from None
    finally:
        sock.close()


def supervisor_listening(path: str) -> bool:
    """True when a live supervisor answers at `path`."""
    try:
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            return False
    except OSError:
        return False
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError as exc:
        if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
            return False
        raise
    finally:
        probe.close()
    return True


def raise_for_reply(reply: dict[str, Any]) -> dict[str, Any]:
    """Turn a failure reply back into the error the supervisor met."""
    if reply.get("ok"):
        return reply
    code = reply.get("exit_code", ExitCode.SOFTWARE)
    try:
        exit_code = ExitCode(int(code))
    except (TypeError, ValueError):
        exit_code = ExitCode.PROTOCOL
    raise OvpnError(str(reply.get("error", "the supervisor refused")), exit_code=exit_code)
