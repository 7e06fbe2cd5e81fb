"""Carry out a `Plan`: one interface at a time, all of it or (as far as possible) none.

* A lock per interface (`flock` on `RUN_DIR/IFACE.lock`) serialises concurrent runs, so
  two appliers never plan against the same state and then interleave their changes.
* Steps run in plan order. When one fails, the steps already done are undone in reverse
  order; the state file is rewritten to describe whatever the kernel now holds.
* Until the first irreversible step has run, that restores the state found at the start
  and the original error is raised, saying so. After it, some changes cannot be undone
  (see `ovpnctl.plan`); then `RollbackError` names exactly what remains changed.
* Key material enters the ledger before the kernel sees it. A rollback takes an entry
  out again only when the key provably never encrypted a packet: it only ever sat in
  the secondary slot, or it belonged to a peer added by this run whose transmit counter
  still reads zero.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import fcntl
import ipaddress
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

from ovpnctl.backend import Backend
from ovpnctl.config.paths import Paths, ensure_private_dir
from ovpnctl.config.record import AppliedState, read_record, write_record
from ovpnctl.config.schema import TunnelConfig
from ovpnctl.errors import ExitCode, OvpnError, RollbackError
from ovpnctl.hostnet import HostNetwork, Route
from ovpnctl.keys import KeySlot
from ovpnctl.ledger import KeyLedger
from ovpnctl.model import Mode
from ovpnctl.plan import (
    NOTHING,
    AddPeer,
    DeleteAddress,
    DeleteRoute,
    DestroyInterface,
    ExecContext,
    InstallKey,
    Plan,
    RemovePeer,
    Step,
    SwapKeys,
    build_plan,
)
from ovpnctl.socketpool import SocketPool

DEFAULT_LOCK_WAIT = 30.0
_LOCK_POLL = 0.05


class LockBusyError(OvpnError):
    """Another ovpnctl is changing the interface; try again when it is done."""

    exit_code = ExitCode.TEMPFAIL


@contextlib.contextmanager
def interface_lock(paths: Paths, ifname: str, *, wait: float = DEFAULT_LOCK_WAIT) -> Iterator[None]:
    """Hold the interface's lock, waiting up to `wait` seconds (0: fail at once)."""
    ensure_private_dir(paths.run_dir)
    path = paths.lock_file(ifname)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise
            if time.monotonic() >= deadline:
                holder = _lock_holder(fd)
                raise LockBusyError(
                    f"{ifname} is being changed by another ovpnctl{holder}; "
                    "try again when it has finished"
                )
            time.sleep(_LOCK_POLL)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _lock_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode().strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return f" (pid {text})" if text.isdigit() else ""


@dataclass
class ApplyResult:
    plan: Plan
    record: AppliedState | None
    executed: bool


def apply_config(
    config: TunnelConfig,
    *,
    backend: Backend,
    hostnet: HostNetwork,
    sockets: SocketPool,
    paths: Paths,
    ledger: KeyLedger | None = None,
    allow_key_reuse: bool = False,
    dry_run: bool = False,
    lock_wait: float = DEFAULT_LOCK_WAIT,
) -> ApplyResult:
    """Plan `config` against the kernel and (unless `dry_run`) carry the plan out."""
    if ledger is None:
        ledger = KeyLedger(paths.ledger, readonly=dry_run)
    lock = (
        contextlib.nullcontext()
        if dry_run
        else interface_lock(paths, config.interface, wait=lock_wait)
    )
    with lock:
        state_path = paths.state_file(config.interface)
        stored = read_record(state_path)
        plan = build_plan(
            config,
            backend=backend,
            hostnet=hostnet,
            ledger=ledger,
            sockets=sockets,
            record=stored,
            allow_key_reuse=allow_key_reuse,
            dry_run=dry_run,
        )
        try:
            if dry_run:
                return ApplyResult(plan, stored, executed=False)
            assert plan.start_record is not None
            record = copy.deepcopy(plan.start_record)
            ctx = ExecContext(
                backend=backend,
                hostnet=hostnet,
                sockets=sockets,
                ledger=ledger,
                mode=config.mode,
                transport=config.transport,
            )
            try:
                execute(plan, ctx, record)
                _describe_config(record, config)
                if plan.empty and stored is not None:
                    record.ifindex = stored.ifindex if record.ifindex is None else record.ifindex
                else:
                    record.ifindex = _ifindex(backend, config.interface)
            finally:
                if stored is None or record.to_json() != stored.to_json():
                    write_record(state_path, record)
            return ApplyResult(plan, record, executed=True)
        finally:
            plan.wipe()


def _describe_config(record: AppliedState, config: TunnelConfig) -> None:
    record.mode = config.mode.value
    record.transport = config.transport.value
    record.listen = [str(endpoint) for endpoint in config.listen]
    record.readd_on_timeout = config.readd_on_timeout
    record.config_source = os.path.abspath(config.source)


def _ifindex(backend: Backend, ifname: str) -> int | None:
    try:
        return backend.state(ifname).ifindex
    except OvpnError:
        return None


# -- execution -------------------------------------------------------------------------


def execute(plan: Plan, ctx: ExecContext, record: AppliedState) -> None:
    """Run every step; on failure undo what was done and raise (see the module docstring)."""
    steps = plan.steps
    done: list[Step] = []
    for number, step in enumerate(steps, 1):
        try:
            step.run(ctx)
        except BaseException as exc:
            _settle_failed_step(step, ctx, record)
            _roll_back(plan, done, ctx, record, failed=(number, step, exc))
            raise  # _roll_back raises; this keeps type checkers informed
        step.record(record)
        done.append(step)


def _settle_failed_step(step: Step, ctx: ExecContext, record: AppliedState) -> None:
    """A key install can fail after the kernel took the key (FreeBSD starts the link in
    the same call): put an empty slot back to empty; forget an overwritten one."""
    if not isinstance(step, InstallKey) or step.peer_id is None:
        return
    if step.slot_was_empty:
        with contextlib.suppress(OvpnError):
            ctx.backend.del_key(step.ifname, step.peer_id, step.slot)
        return
    peer = record.peers.get(step.peer_id)
    if peer is not None:  # the slot now holds the old key or the new one: unknown
        peer.keys.pop("primary" if step.slot is KeySlot.PRIMARY else "secondary", None)


def _roll_back(
    plan: Plan,
    done: list[Step],
    ctx: ExecContext,
    record: AppliedState,
    *,
    failed: tuple[int, Step, BaseException],
) -> None:
    number, failed_step, cause = failed
    total = len(plan.steps)
    tx = _tx_packets(ctx, plan.config.interface, done)
    frozen: set[int] = set()  # peers whose remaining changes must stay as they are
    remaining: list[str] = []
    undo_failed: list[str] = []
    undone = 0
    for position, step in reversed(list(enumerate(done))):
        later = done[position + 1 :]
        if step.undo is None:
            remaining.append(step.describe())
            if step.peer_id is not None:
                frozen.add(step.peer_id)
            continue
        if step.peer_id is not None and step.peer_id in frozen:
            remaining.append(step.describe())
            continue
        if step.undo is not NOTHING:
            assert isinstance(step.undo, Step)
            try:
                step.undo.run(ctx)
            except BaseException as exc:  # keep going: undo as much as possible
                undo_failed.append(f"{step.describe()} ({_message(exc)})")
                if step.peer_id is not None:
                    frozen.add(step.peer_id)
                continue
            step.undo.record(record)
        undone += 1
        if isinstance(step, InstallKey):
            _forget_unused_install(ctx, step, later, done, tx)
    if (
        isinstance(failed_step, InstallKey)
        and failed_step.slot_was_empty
        and failed_step.peer_id not in frozen
    ):
        # It may have reached the kernel before failing; it was taken out again above.
        _forget_unused_install(ctx, failed_step, [], done, tx)
    what = f"step {number} of {total} ({failed_step.describe()}) failed: {_message(cause)}"
    if remaining or undo_failed:
        parts = [f"{plan.config.interface}: {what}; undid {undone} earlier step(s)"]
        if remaining:
            parts.append("these changes cannot be undone and remain: " + "; ".join(remaining))
        if undo_failed:
            parts.append("undoing these failed: " + "; ".join(undo_failed))
        raise RollbackError(", but ".join(parts)) from cause
    summary = (
        f"{plan.config.interface}: {what}; "
        + (f"undid the {undone} step(s) before it, " if undone else "")
        + "nothing was changed"
    )
    if isinstance(cause, OvpnError):
        error = copy.copy(cause)
        error.args = (summary, *cause.args[1:])
        raise error from cause
    raise cause


def _message(exc: BaseException) -> str:
    if isinstance(exc, OvpnError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


def _tx_packets(ctx: ExecContext, ifname: str, done: list[Step]) -> dict[int, int | None]:
    """Transmit counters of peers this run added, read before they are removed again."""
    added = {step.peer_id for step in done if isinstance(step, AddPeer)}
    if not added:
        return {}
    try:
        peers = ctx.backend.state(ifname).peers
    except OvpnError:
        return {}
    out: dict[int, int | None] = {}
    for peer in peers:
        if peer.peer_id in added:
            counters = peer.link if peer.link is not None else peer.vpn
            out[peer.peer_id] = None if counters is None else counters.tx_packets
    return out


def _forget_unused_install(
    ctx: ExecContext,
    step: InstallKey,
    later: list[Step],
    done: list[Step],
    tx: dict[int, int | None],
) -> None:
    swapped = any(isinstance(s, SwapKeys) and s.peer_id == step.peer_id for s in later)
    new_peer = any(isinstance(s, AddPeer) and s.peer_id == step.peer_id for s in done)
    ever_primary = step.slot is KeySlot.PRIMARY or swapped
    if ever_primary and not new_peer:
        return
    packets = tx.get(step.peer_id) if step.peer_id is not None else None
    _forget_if_unused(ctx, step, tx_packets=packets, ever_primary=ever_primary)


def _forget_if_unused(
    ctx: ExecContext, step: InstallKey, *, tx_packets: int | None, ever_primary: bool
) -> None:
    if ever_primary and tx_packets != 0:
        return  # it may have encrypted something: its nonces are spent
    with contextlib.suppress(OvpnError):
        ctx.ledger.forget(step.key.fingerprints().values())


# -- teardown (ovpnctl up on exit) -----------------------------------------------------


def teardown(
    ifname: str,
    *,
    backend: Backend,
    hostnet: HostNetwork,
    paths: Paths,
    mode_hint: str | None = None,
) -> list[str]:
    """Undo what apply set up on `ifname`; return one line per change made.

    An interface ovpnctl created is destroyed (peers, addresses and routes go with it);
    on one it found, only the peers, routes and addresses it added are removed.
    """
    state_path = paths.state_file(ifname)
    record = read_record(state_path)
    done: list[str] = []
    if ifname not in backend.interfaces():
        write_record(state_path, None)
        return done
    if record is None:
        return done
    mode = Mode(record.mode or mode_hint or "p2p")
    steps: list[Step] = []
    if record.created:
        steps.append(DestroyInterface(ifname=ifname))
    else:
        for net, via in record.routes:
            gateway = None if via is None else ipaddress.ip_address(via)
            steps.append(
                DeleteRoute(ifname=ifname, route=Route(ipaddress.ip_network(net), gateway))
            )
        steps += [RemovePeer(ifname=ifname, peer_id=pid) for pid in sorted(record.peers)]
        steps += [
            DeleteAddress(ifname=ifname, address=ipaddress.ip_interface(a))
            for a in record.addresses
        ]
    ctx = ExecContext(
        backend=backend,
        hostnet=hostnet,
        sockets=SocketPool(holds_tunnel=False),
        ledger=KeyLedger(paths.ledger, readonly=True),
        mode=mode,
    )
    problems: list[str] = []
    for step in steps:
        try:
            step.run(ctx)
        except OvpnError as exc:
            problems.append(f"{step.describe()}: {exc.message}")
            continue
        step.record(record)
        done.append(step.describe())
    if problems:
        write_record(state_path, record)
        raise RollbackError(f"{ifname}: teardown incomplete: " + "; ".join(problems))
    write_record(state_path, None)
    return done


__all__ = [
    "ApplyResult",
    "LockBusyError",
    "apply_config",
    "execute",
    "interface_lock",
    "teardown",
]
