"""`ovpnctl up`: run one tunnel in the foreground for an init system."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from ovpnctl.cli import commands_config
from ovpnctl.cli.commands_config import (
    key_dir_option,
    paths_options,
    report_failure,
    reuse_option,
)
from ovpnctl.cli.common import pass_state
from ovpnctl.cli.state import CliState
from ovpnctl.errors import OvpnError

if TYPE_CHECKING:
    from ovpnctl.supervisor.run import Supervisor


def build_supervisor(config_file: str, **kwargs: Any) -> Supervisor:
    """The supervisor `up` runs, taking SIGTERM/SIGINT/SIGHUP for the whole process.

    Tests replace this with one built with `install_signals=False` and stop it with
    `request_stop()`: in-process, a real signal would go to the test runner itself.
    """
    from ovpnctl.supervisor.run import Supervisor  # noqa: PLC0415

    return Supervisor(config_file, **kwargs)


@click.command("up")
@click.argument("config_file", metavar="FILE", type=click.Path(dir_okay=False))
@click.option(
    "--json-log",
    is_flag=True,
    help="Log one JSON object per line instead of key=value lines (both on stderr).",
)
@click.option(
    "--readd-on-timeout/--no-readd-on-timeout",
    default=None,
    help="Re-apply the config when the kernel drops a peer after its keepalive timeout "
    "(default: the config's readd_on_timeout). Re-adding needs fresh key material.",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.05),
    default=1.0,
    show_default=True,
    help="Seconds between reads of the kernel's notifications.",
)
@click.option(
    "--connect-retry",
    type=click.FloatRange(min=0.1, max=3600),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="TCP: the longest wait between two attempts to reach a connecting peer "
    "(the wait starts at 1 s and doubles after each failure).",
)
@reuse_option
@key_dir_option
@paths_options
@pass_state
@click.pass_context
def up(  # noqa: PLR0917 - one parameter per click option
    ctx: click.Context,
    state: CliState,
    config_file: str,
    json_log: bool,
    readd_on_timeout: bool | None,
    poll_interval: float,
    connect_retry: float,
    allow_key_reuse: bool,
    key_dir: str | None,
    state_dir: str | None,
    run_dir: str | None,
) -> None:
    """Bring up the tunnel in FILE and supervise it until SIGTERM or SIGINT.

    Applies FILE like `ovpnctl apply`, then stays in the foreground holding
    the transport sockets: Linux removes a peer as soon as its socket closes,
    and FreeBSD accepts one socket per interface, so peers can only be added
    later by the process that holds it.

    \b
    SIGHUP       re-read FILE and apply the difference
    SIGTERM/INT  tear down what was set up (an interface `up` created is
                 destroyed) and exit 0

    TCP tunnels: the kernel takes a peer only as a connected socket, so `up`
    dials each `tcp = "connect"` peer (retrying with back-off, see
    --connect-retry) and listens for each `tcp = "accept"` peer, and adds
    the peer once its connection is made. A peer whose connection ends is
    dialled or awaited again; re-adding it needs fresh key material.

    Every kernel notification (peer deleted, key exhausted, peer floated) is
    logged on stderr, as key=value lines or, with --json-log, JSON lines.
    Other commands reach the supervisor through a root-only control socket,
    RUN_DIR/IFACE.sock: `ovpnctl apply` for the same interface and
    `ovpnctl peer add` are carried out by it.

    \b
    Examples:
      ovpnctl up /etc/ovpnctl/ovpn0.toml
      ovpnctl up --json-log --readd-on-timeout site-a.toml
    """
    from ovpnctl.config.paths import Paths  # noqa: PLC0415
    from ovpnctl.supervisor.log import EventLog  # noqa: PLC0415
    from ovpnctl.supervisor.run import UpOptions  # noqa: PLC0415

    paths = Paths.from_env(state_dir=state_dir, run_dir=run_dir)
    options = UpOptions(
        key_dir=key_dir,
        allow_key_reuse=allow_key_reuse,
        readd_on_timeout=readd_on_timeout,
        poll_interval=poll_interval,
        connect_retry=connect_retry,
    )
    try:
        backend = state.backend()
        hostnet = commands_config.host_network(backend.name)
        try:
            supervisor = build_supervisor(
                config_file,
                backend=backend,
                hostnet=hostnet,
                paths=paths,
                log=EventLog(json_lines=json_log),
                options=options,
                pool=commands_config.socket_pool(holds_tunnel=True),
            )
            supervisor.run()
        finally:
            hostnet.close()
    except OvpnError as exc:
        ctx.exit(report_failure(exc))
