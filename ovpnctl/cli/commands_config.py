"""`ovpnctl apply` and `ovpnctl showconf`: declarative tunnels from config files."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ovpnctl.backend import Backend
from ovpnctl.cli.common import dry_run_option, pass_state
from ovpnctl.cli.params import IFACE
from ovpnctl.cli.state import CliState
from ovpnctl.errors import BackendUnavailableError, OvpnError

if TYPE_CHECKING:
    from ovpnctl.hostnet import HostNetwork
    from ovpnctl.socketpool import SocketPool

F = TypeVar("F", bound=Callable[..., Any])


def paths_options(func: F) -> F:
    func = click.option(
        "--run-dir",
        envvar="OVPNCTL_RUN_DIR",
        type=click.Path(file_okay=False),
        help="Runtime directory for state files, locks and control sockets "
        "(default /run/ovpnctl, FreeBSD /var/run/ovpnctl).",
    )(func)
    return click.option(
        "--state-dir",
        envvar="OVPNCTL_STATE_DIR",
        type=click.Path(file_okay=False),
        help="Persistent directory for the key ledger "
        "(default /var/lib/ovpnctl, FreeBSD /var/db/ovpnctl).",
    )(func)


def key_dir_option(func: F) -> F:
    return click.option(
        "--key-dir",
        type=click.Path(file_okay=False),
        help="Resolve relative key file paths against DIR instead of the config's key_dir "
        "(for read-only config images with keys provisioned elsewhere).",
    )(func)


def reuse_option(func: F) -> F:
    return click.option(
        "--allow-key-reuse",
        is_flag=True,
        help="Install key material the ledger has seen before. This restarts the packet "
        "counter under the same key and IV: AES-GCM nonces repeat and the tunnel's "
        "confidentiality and integrity are lost. Only for keys that never carried traffic.",
    )(func)


def report_failure(exc: OvpnError) -> int:
    """Print a (possibly multi-line) library error, one `ovpnctl:` line per problem."""
    for line in exc.message.splitlines() or [""]:
        click.echo(f"ovpnctl: {line}", err=True)
    return int(exc.exit_code)


def host_network(backend_name: str) -> HostNetwork:
    """The host networking of a backend's kernel (tests replace this)."""
    from ovpnctl.hostnet import get_host_network  # noqa: PLC0415

    return get_host_network(backend_name)


def socket_pool(*, holds_tunnel: bool) -> SocketPool:
    """Where new peers' sockets come from (tests replace this)."""
    from ovpnctl.socketpool import SocketPool  # noqa: PLC0415

    return SocketPool(holds_tunnel=holds_tunnel)


def _planning_backend(state: CliState, dry_run: bool) -> Backend:
    try:
        return state.backend()
    except BackendUnavailableError:
        if not dry_run:
            raise
    state.output.note(
        "ovpnctl: this kernel's state cannot be read here; the plan assumes the interface "
        "does not exist yet"
    )
    return state.backend(dry_run=True)


@click.command("apply")
@click.argument("config_file", metavar="FILE", type=click.Path(dir_okay=False))
@dry_run_option
@reuse_option
@key_dir_option
@click.option(
    "--lock-wait",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds to wait while another ovpnctl changes the same interface.",
)
@paths_options
@pass_state
@click.pass_context
def apply(  # noqa: PLR0917 - one parameter per click option
    ctx: click.Context,
    state: CliState,
    config_file: str,
    dry_run: bool,
    allow_key_reuse: bool,
    key_dir: str | None,
    lock_wait: float,
    state_dir: str | None,
    run_dir: str | None,
) -> None:
    """Make the kernel match the tunnel described in FILE (TOML or JSON).

    Reads what the kernel has (and, where it cannot tell, what ovpnctl
    recorded last time), prints the difference as a plan, and makes only
    those changes: interface, addresses, peers, keepalive, routes and key
    rotation (new key into the secondary slot, swap, delete the old one).
    Applying the same file again changes nothing.

    If a change fails half-way, everything already done is undone and the
    interface is as before. Steps that can never be undone (removing a peer
    or a key: its key must not be installed twice) run last; a failure after
    one of them says exactly what remains changed (exit 70).

    Key material installed before is refused (see --allow-key-reuse): with
    static AES-GCM keys, installing a key twice reuses nonces.

    When `ovpnctl up` runs the interface, the file is applied by it (it holds
    the sockets). Otherwise: on Linux apply cannot add peers (they would die
    with this command) and on FreeBSD it can add peers only to an interface
    without peers or with the sockets of the process that created them.

    \b
    Examples:
      ovpnctl apply /etc/ovpnctl/ovpn0.toml --dry-run
      ovpnctl apply /etc/ovpnctl/ovpn0.toml
    """
    from ovpnctl.apply import apply_config  # noqa: PLC0415
    from ovpnctl.config import load_config  # noqa: PLC0415
    from ovpnctl.config.paths import Paths  # noqa: PLC0415
    from ovpnctl.supervisor.control import (  # noqa: PLC0415
        raise_for_reply,
        request,
        supervisor_listening,
    )

    paths = Paths.from_env(state_dir=state_dir, run_dir=run_dir)
    try:
        config = load_config(config_file, key_dir=key_dir)
        control = paths.control_socket(config.interface)
        if supervisor_listening(control):
            message = {
                "op": "apply",
                "config": os.path.abspath(config_file),
                "dry_run": dry_run,
                "allow_key_reuse": allow_key_reuse,
            }
            if key_dir is not None:
                message["key_dir"] = os.path.abspath(key_dir)
            reply = raise_for_reply(request(control, message))
            state.output.note(f"ovpnctl: handed to the ovpnctl up supervisor of {config.interface}")
            _print_plan(state, reply["plan"], reply["lines"], dry_run=dry_run, executed=not dry_run)
            return
        backend = _planning_backend(state, dry_run)
        hostnet = host_network(backend.name)
        try:
            result = apply_config(
                config,
                backend=backend,
                hostnet=hostnet,
                sockets=socket_pool(holds_tunnel=False),
                paths=paths,
                allow_key_reuse=allow_key_reuse,
                dry_run=dry_run,
                lock_wait=lock_wait,
            )
        finally:
            hostnet.close()
    except OvpnError as exc:
        ctx.exit(report_failure(exc))
    _print_plan(
        state, result.plan.to_json(), result.plan.lines(), dry_run=dry_run, executed=result.executed
    )


def _print_plan(
    state: CliState, plan: dict[str, object], lines: list[str], *, dry_run: bool, executed: bool
) -> None:
    out = state.output
    if out.json_mode:
        out.document({"dry_run": dry_run, "executed": executed, "plan": plan})
        return
    for line in lines:
        out.text(line)
    if dry_run:
        out.note("ovpnctl: dry run: nothing was changed")


@click.command("showconf")
@click.argument("iface", type=IFACE)
@paths_options
@pass_state
@click.pass_context
def showconf(
    ctx: click.Context, state: CliState, iface: str, state_dir: str | None, run_dir: str | None
) -> None:
    """Print the running configuration of IFACE as a config file (TOML).

    What the kernel reports, completed from ovpnctl's state file. No kernel
    can return key material: keys are written as the key files ovpnctl
    installed them from, and a comment says so. With --json: the same
    content in the JSON form `apply` also accepts.

    \b
    Examples:
      ovpnctl showconf ovpn0 > ovpn0.toml
      ovpnctl --json showconf ovpn0
    """
    from ovpnctl.config import dumps_json, dumps_toml  # noqa: PLC0415
    from ovpnctl.config.paths import Paths  # noqa: PLC0415
    from ovpnctl.config.running import running_config  # noqa: PLC0415

    paths = Paths.from_env(state_dir=state_dir, run_dir=run_dir)
    try:
        backend = state.backend()
        hostnet = host_network(backend.name)
        try:
            running = running_config(iface, backend=backend, hostnet=hostnet, paths=paths)
        finally:
            hostnet.close()
    except OvpnError as exc:
        ctx.exit(report_failure(exc))
    if state.output.json_mode:
        click.echo(dumps_json(running.data), nl=False)
    else:
        click.echo(dumps_toml(running.data, comments=running.comments), nl=False)
