"""TcpLinks: listening for accepting TCP peers and dialling connecting ones, on loopback.

Real sockets, a real pool and a real event log; only time is injected, so back-off is
measured on a clock the test moves and nothing here sleeps. The loop steps the links as
`Supervisor.step` does: register, select, handle what they own, then tick. Waiting for
the network is a select loop with a bounded number of short rounds.
"""

from __future__ import annotations

import errno
import io
import ipaddress
import os
import selectors
import socket
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ovpnctl.config import TunnelConfig, parse_config
from ovpnctl.endpoint import Endpoint
from ovpnctl.errors import KernelError
from ovpnctl.socketpool import SocketPool
from ovpnctl.supervisor.log import EventLog
from ovpnctl.supervisor.tcplinks import TcpLinks

IFNAME = "ovpn0"
STEP = 0.05  # longest real wait of one select round
ROUNDS = 200  # rounds before a wait for the network gives up (10 s at most)
REFUSED = os.strerror(errno.ECONNREFUSED)


class FakeClock:
    """Monotonic time that moves only when the test moves it."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing is bound to right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _bindable(*hosts: str) -> bool:
    for host in hosts:
        with socket.socket() as sock:
            try:
                sock.bind((host, 0))
            except OSError:
                return False
    return True


# Linux answers on all of 127/8; FreeBSD's lo0 has only 127.0.0.1 unless aliased.
needs_more_loopback = pytest.mark.skipif(
    not _bindable("127.0.0.2", "127.0.0.3"),
    reason="needs 127.0.0.2 and 127.0.0.3 on loopback (FreeBSD: ifconfig lo0 alias)",
)


class Harness:
    """One TcpLinks with its pool, log and clock, plus the test's own sockets."""

    def __init__(self, tmp_path: Path, **options: Any) -> None:
        self.tmp_path = tmp_path
        self.clock = FakeClock()
        self.pool = SocketPool(holds_tunnel=True)
        self.stream = io.StringIO()
        self.log = EventLog(stream=self.stream)
        self.links = TcpLinks(self.pool, self.log, clock=self.clock, **options)
        self.handled: list[bool] = []  # what each handle() returned
        self.mine: list[socket.socket] = []

    # -- configs and sockets -------------------------------------------------------------
    def config(self, text: str) -> TunnelConfig:
        return parse_config(
            textwrap.dedent(text), source="tunnel.toml", base_dir=str(self.tmp_path)
        )

    def configure(self, text: str) -> TunnelConfig:
        config = self.config(text)
        self.links.configure(config)
        return config

    def server(self, host: str = "127.0.0.1") -> tuple[socket.socket, int]:
        """A listening socket the links can dial (never accepted from unless asked)."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        self.mine.append(sock)
        sock.bind((host, 0))
        sock.listen(8)
        sock.settimeout(5)
        return sock, int(sock.getsockname()[1])

    def client(
        self, port: int, *, source: str = "127.0.0.1", source_port: int = 0, to: str = ""
    ) -> socket.socket:
        """A connection to a listener of the links, from `source`:`source_port`."""
        family = socket.AF_INET6 if ":" in source else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        self.mine.append(sock)
        sock.settimeout(5)
        sock.bind((source, source_port))
        sock.connect((to or ("::1" if family == socket.AF_INET6 else "127.0.0.1"), port))
        return sock

    # -- the loop ------------------------------------------------------------------------
    def step(self, timeout: float = STEP) -> None:
        with selectors.DefaultSelector() as selector:
            self.links.register(selector)
            ready = selector.select(self.links.wait_hint(timeout))
        for key, _ in ready:
            assert TcpLinks.owns(key.data), key.data
            self.handled.append(self.links.handle(key.data))
        self.links.tick()

    def run_until(self, done: Callable[[], bool], what: str) -> None:
        for _ in range(ROUNDS):
            if done():
                return
            self.step()
        assert done(), f"never happened: {what}; log: {self.log.records}"

    def wait_for(self, event: str, count: int = 1) -> dict[str, Any]:
        """Step until `event` has been logged `count` times; the last such record."""
        self.run_until(lambda: len(self.events(event)) >= count, f"{count} x {event}")
        return self.events(event)[-1]

    def events(self, event: str) -> list[dict[str, Any]]:
        return [r for r in self.log.records if r["event"] == event]

    def registered(self) -> dict[Any, Any]:
        """What the links would have a selector watch: data -> socket."""
        with selectors.DefaultSelector() as selector:
            self.links.register(selector)
            return {key.data: key.fileobj for key in selector.get_map().values()}

    def close(self) -> None:
        self.links.close()
        self.pool.close()
        for sock in self.mine:
            sock.close()


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def factory(**options: Any) -> Harness:
        harness = Harness(tmp_path, **options)
        made.append(harness)
        return harness

    yield factory
    for harness in made:
        harness.close()


@pytest.fixture
def h(make: Callable[..., Harness]) -> Harness:
    return make()


def closed(sock: socket.socket) -> bool:
    return sock.fileno() == -1


def here(sock: socket.socket) -> str:
    return str(Endpoint.from_sockaddr(sock.getsockname()))


def there(sock: socket.socket) -> str:
    return str(Endpoint.from_sockaddr(sock.getpeername()))


def accepting(port: int, *remotes: str, listen: str = "") -> str:
    """An mp TCP config with one accepting peer per remote (ids 1, 2, ...)."""
    peers = "".join(
        f'[[peer]]\nid = {n}\nremote = "{remote}"\ntcp = "accept"\nvpn_ipv4 = "10.0.0.{n + 1}"\n\n'
        for n, remote in enumerate(remotes, start=1)
    )
    return (
        f'[interface]\nname = "{IFNAME}"\nmode = "mp"\ntransport = "tcp"\n'
        f'listen = "{listen or f"127.0.0.1:{port}"}"\n\n{peers}'
    )


def connecting(*remotes: str) -> str:
    """An mp TCP config with one connecting peer per remote (ids 1, 2, ...)."""
    peers = "".join(
        f'[[peer]]\nid = {n}\nremote = "{remote}"\nvpn_ipv4 = "10.0.0.{n + 1}"\n\n'
        for n, remote in enumerate(remotes, start=1)
    )
    return f'[interface]\nname = "{IFNAME}"\nmode = "mp"\ntransport = "tcp"\n\n{peers}'


# -- accepting --------------------------------------------------------------------------------


@needs_more_loopback
def test_an_accepted_connection_is_offered_to_its_peer(h: Harness) -> None:
    port = free_port()
    h.configure(accepting(port, "127.0.0.3", "127.0.0.1"))
    (listening,) = h.events("tcp-listening")
    assert (listening["interface"], listening["address"]) == (IFNAME, f"127.0.0.1:{port}")
    client = h.client(port)
    record = h.wait_for("tcp-accepted")
    assert record["peer"] == 2
    assert record["source"] == here(client)
    assert record["address"] == f"127.0.0.1:{port}"
    assert record["interface"] == IFNAME and record["level"] == "info"
    assert h.handled == [True]
    sock = h.pool.tcp_ready(IFNAME, 2)
    assert sock is not None and there(sock) == here(client)
    assert sock.getblocking()
    assert h.pool.tcp_ready(IFNAME, 1) is None
    assert f"event=tcp-accepted interface={IFNAME} peer=2" in h.stream.getvalue()
    client.sendall(b"hello")
    sock.settimeout(5)
    assert sock.recv(5) == b"hello"


@needs_more_loopback
def test_a_connection_from_no_peers_address_is_refused(h: Harness) -> None:
    port = free_port()
    h.configure(accepting(port, "127.0.0.1"))
    client = h.client(port, source="127.0.0.2")
    record = h.wait_for("tcp-refused")
    assert record["level"] == "warning"
    assert record["reason"] == "matches no accepting peer"
    assert record["source"] == here(client)
    assert record["address"] == f"127.0.0.1:{port}"
    assert h.handled == [False]
    assert h.pool.tcp_ready(IFNAME, 1) is None
    assert client.recv(1) == b""  # closed at once
    assert h.events("tcp-accepted") == []


def test_a_newer_connection_replaces_one_still_waiting(h: Harness) -> None:
    port = free_port()
    h.configure(accepting(port, "127.0.0.1"))
    first = h.client(port)
    h.wait_for("tcp-accepted")
    older = h.pool.tcp_ready(IFNAME, 1)
    assert older is not None
    second = h.client(port)
    h.wait_for("tcp-accepted", 2)
    newer = h.pool.tcp_ready(IFNAME, 1)
    assert newer is not None and there(newer) == here(second)
    assert closed(older)
    assert first.recv(1) == b""


def test_a_connection_for_a_peer_in_use_is_refused(h: Harness) -> None:
    port = free_port()
    h.configure(accepting(port, "127.0.0.1"))
    first = h.client(port)
    h.wait_for("tcp-accepted")
    in_use = h.pool.take_tcp(IFNAME, 1)
    second = h.client(port)
    record = h.wait_for("tcp-refused")
    assert record["reason"] == "peer 1 is already connected"
    assert record["source"] == here(second)
    assert second.recv(1) == b""
    assert not closed(in_use) and there(in_use) == here(first)
    assert h.pool.tcp_ready(IFNAME, 1) is None
    assert h.handled == [True, False]


def test_a_remote_port_matches_only_that_source_port(h: Harness) -> None:
    port = free_port()
    first_port, second_port, other_port = free_port(), free_port(), free_port()
    assert len({first_port, second_port, other_port}) == 3
    h.configure(accepting(port, f"127.0.0.1:{first_port}", f"127.0.0.1:{second_port}"))
    h.client(port, source_port=second_port)
    assert h.wait_for("tcp-accepted")["peer"] == 2
    stranger = h.client(port, source_port=other_port)
    record = h.wait_for("tcp-refused")
    assert record["source"] == f"127.0.0.1:{other_port}"
    assert record["reason"] == "matches no accepting peer"
    assert stranger.recv(1) == b""
    h.client(port, source_port=first_port)
    assert h.wait_for("tcp-accepted", 2)["peer"] == 1
    assert h.pool.tcp_ready(IFNAME, 1) is not None and h.pool.tcp_ready(IFNAME, 2) is not None


def test_the_listen_address_tells_peers_with_one_remote_apart(h: Harness) -> None:
    first, second = free_port(), free_port()
    h.configure(
        f"""\
        [interface]
        name = "{IFNAME}"
        mode = "mp"
        transport = "tcp"
        listen = ["127.0.0.1:{first}", "127.0.0.1:{second}"]

        [[peer]]
        id = 1
        remote = "127.0.0.1"
        tcp = "accept"
        listen = "127.0.0.1:{first}"
        vpn_ipv4 = "10.0.0.2"

        [[peer]]
        id = 2
        remote = "127.0.0.1"
        tcp = "accept"
        listen = "127.0.0.1:{second}"
        vpn_ipv4 = "10.0.0.3"
        """
    )
    h.client(second)
    record = h.wait_for("tcp-accepted")
    assert (record["peer"], record["address"]) == (2, f"127.0.0.1:{second}")
    h.client(first)
    record = h.wait_for("tcp-accepted", 2)
    assert (record["peer"], record["address"]) == (1, f"127.0.0.1:{first}")


def test_a_dual_stack_listener_matches_ipv4_and_ipv6_sources(h: Harness) -> None:
    port = free_port("::")
    h.configure(accepting(port, "127.0.0.1", "::1", listen=f"[::]:{port}"))
    v4 = h.client(port)
    first = h.wait_for("tcp-accepted")
    assert first["peer"] == 1
    assert first["address"] == f"[::]:{port}"
    # The source arrives v4-mapped and still matches the plain IPv4 remote.
    mapped = ipaddress.ip_address("::ffff:127.0.0.1")
    assert first["source"] == str(Endpoint(mapped, v4.getsockname()[1]))
    v6 = h.client(port, source="::1")
    second = h.wait_for("tcp-accepted", 2)
    assert second["peer"] == 2 and second["source"] == here(v6)


# -- dialling ---------------------------------------------------------------------------------


def test_a_dial_that_answers_is_offered(h: Harness) -> None:
    server, port = h.server()
    h.configure(connecting(f"127.0.0.1:{port}"))
    record = h.wait_for("tcp-connected")
    sock = h.pool.tcp_ready(IFNAME, 1)
    assert sock is not None and sock.getblocking()
    assert there(sock) == f"127.0.0.1:{port}"
    assert record["peer"] == 1 and record["interface"] == IFNAME
    assert record["remote"] == f"127.0.0.1:{port}"
    assert record["local"] == here(sock)
    assert h.handled == [True]
    far, address = server.accept()
    with far:
        assert str(Endpoint.from_sockaddr(address)) == here(sock)
    assert h.events("tcp-connect-failed") == []


def test_no_second_dial_while_a_connection_waits_or_is_in_use(h: Harness) -> None:
    _, port = h.server()
    h.configure(connecting(f"127.0.0.1:{port}"))
    h.wait_for("tcp-connected")
    for in_use in (False, True):
        if in_use:
            h.pool.take_tcp(IFNAME, 1)
        h.clock.now += 3600
        for _ in range(3):
            h.step()
            assert ("tcp-dial", 1) not in h.registered()
        assert len(h.events("tcp-connected")) == 1
        assert h.links.wait_hint(None) is None
    # The connection is lost: the next dial starts (its back-off has long passed).
    h.pool.drop_tcp(IFNAME, 1)
    h.wait_for("tcp-connected", 2)


@needs_more_loopback
def test_a_dial_binds_to_its_explicit_listen_or_local(h: Harness) -> None:
    _, port = h.server()
    bound = free_port()
    h.configure(
        f"""\
        [interface]
        name = "{IFNAME}"
        mode = "mp"
        transport = "tcp"
        listen = "127.0.0.1:{bound}"

        [[peer]]
        id = 1
        remote = "127.0.0.1:{port}"
        listen = "127.0.0.1:{bound}"
        vpn_ipv4 = "10.0.0.2"

        [[peer]]
        id = 2
        remote = "127.0.0.1:{port}"
        local = "127.0.0.2"
        vpn_ipv4 = "10.0.0.3"
        """
    )
    h.wait_for("tcp-connected", 2)
    first = h.pool.tcp_ready(IFNAME, 1)
    second = h.pool.tcp_ready(IFNAME, 2)
    assert first is not None and second is not None
    assert here(first) == f"127.0.0.1:{bound}"
    assert here(second).startswith("127.0.0.2:")


def test_a_failed_dial_backs_off_doubling_up_to_retry_max(make: Callable[..., Harness]) -> None:
    h = make(retry_first=1.0, retry_max=5.0)
    port = free_port()  # nothing listens there
    h.configure(connecting(f"127.0.0.1:{port}"))
    for count, wait in enumerate([1.0, 2.0, 4.0, 5.0, 5.0], start=1):
        failed_at = h.clock.now
        record = h.wait_for("tcp-connect-failed", count)
        assert record["retry_in"] == wait
        assert record["error"] == REFUSED
        assert record["peer"] == 1 and record["level"] == "warning"
        assert record["remote"] == f"127.0.0.1:{port}"
        due = failed_at + wait
        assert h.links.wait_hint(60.0) == pytest.approx(wait)
        # Just before it is due, no attempt starts, however often the loop turns.
        h.clock.now = due - 0.01
        for _ in range(3):
            h.step()
            assert ("tcp-dial", 1) not in h.registered()
        assert len(h.events("tcp-connect-failed")) == count
        assert h.links.wait_hint(60.0) == pytest.approx(0.01)
        h.clock.now = due
    assert h.pool.tcp_ready(IFNAME, 1) is None


def test_a_dial_that_hangs_times_out(make: Callable[..., Harness]) -> None:
    h = make(connect_timeout=3.0)
    _, port = h.server()
    h.configure(connecting(f"127.0.0.1:{port}"))
    h.links.tick()  # starts the dial; the test never lets select finish it
    attempt = h.registered()[("tcp-dial", 1)]
    assert h.links.wait_hint(60.0) == pytest.approx(3.0)
    h.clock.now += 2.99
    h.links.tick()
    assert h.events("tcp-connect-failed") == [] and not closed(attempt)
    h.clock.now += 0.01
    assert h.links.wait_hint(60.0) == 0.0
    h.links.tick()
    (record,) = h.events("tcp-connect-failed")
    assert record["error"] == "timed out" and record["retry_in"] == 1.0
    assert closed(attempt)
    assert h.registered() == {}
    assert h.pool.tcp_ready(IFNAME, 1) is None


def test_a_successful_dial_also_waits_before_the_next(h: Harness) -> None:
    """A connection that never becomes a peer (the apply failed) is not redialled at once."""
    _, port = h.server()
    h.configure(connecting(f"127.0.0.1:{port}"))
    h.wait_for("tcp-connected")
    connected_at = h.clock.now
    h.links.refused()
    h.clock.now = connected_at + 0.99
    for _ in range(3):
        h.step()
        assert ("tcp-dial", 1) not in h.registered()
    assert len(h.events("tcp-connected")) == 1
    h.clock.now = connected_at + 1.0
    h.wait_for("tcp-connected", 2)


# -- refused() and connected() -------------------------------------------------------------


@needs_more_loopback
def test_refused_closes_the_waiting_connections_only(h: Harness) -> None:
    listen = free_port()
    _, port = h.server()
    h.configure(
        f"""\
        [interface]
        name = "{IFNAME}"
        mode = "mp"
        transport = "tcp"
        listen = "127.0.0.1:{listen}"

        [[peer]]
        id = 1
        remote = "127.0.0.1"
        tcp = "accept"
        vpn_ipv4 = "10.0.0.2"

        [[peer]]
        id = 2
        remote = "127.0.0.1:{port}"
        vpn_ipv4 = "10.0.0.3"

        [[peer]]
        id = 3
        remote = "127.0.0.3"
        tcp = "accept"
        vpn_ipv4 = "10.0.0.4"
        """
    )
    h.wait_for("tcp-connected")
    in_use_client = h.client(listen, source="127.0.0.3")
    h.wait_for("tcp-accepted")
    in_use = h.pool.take_tcp(IFNAME, 3)
    waiting_client = h.client(listen)
    h.wait_for("tcp-accepted", 2)
    accepted, dialled = h.pool.tcp_ready(IFNAME, 1), h.pool.tcp_ready(IFNAME, 2)
    assert accepted is not None and dialled is not None
    h.links.refused()
    assert closed(accepted) and closed(dialled)
    assert h.pool.tcp_ready(IFNAME, 1) is None and h.pool.tcp_ready(IFNAME, 2) is None
    assert [(r["peer"], r["reason"]) for r in h.events("tcp-closed")] == [
        (1, "not added"),
        (2, "not added"),
    ]
    assert waiting_client.recv(1) == b""
    assert not closed(in_use) and h.pool.tcp_peers(IFNAME) == {3}
    in_use_client.sendall(b"x")
    in_use.settimeout(5)
    assert in_use.recv(1) == b"x"


def test_connected_resets_the_back_off(make: Callable[..., Harness]) -> None:
    h = make(retry_first=1.0, retry_max=30.0)
    port = free_port()
    h.configure(connecting(f"127.0.0.1:{port}"))
    assert h.wait_for("tcp-connect-failed")["retry_in"] == 1.0
    h.clock.now += 1.0
    assert h.wait_for("tcp-connect-failed", 2)["retry_in"] == 2.0
    h.clock.now += 2.0
    h.links.connected({1, 99})  # 99: not a dialled peer, ignored
    assert h.wait_for("tcp-connect-failed", 3)["retry_in"] == 1.0


# -- configure ----------------------------------------------------------------------------------


def test_configure_drops_listeners_and_dials_the_config_no_longer_has(h: Harness) -> None:
    kept_port, dropped_port = free_port(), free_port()
    _, server_port = h.server()
    template = """\
        [interface]
        name = "{ifname}"
        mode = "mp"
        transport = "tcp"
        listen = [{listen}]

        [[peer]]
        id = 1
        remote = "127.0.0.1"
        tcp = "accept"
        listen = "127.0.0.1:{kept}"
        vpn_ipv4 = "10.0.0.2"

        [[peer]]
        id = 3
        remote = "127.0.0.1:{server}"
        vpn_ipv4 = "10.0.0.4"
        {extra}
        """
    extra = f"""
        [[peer]]
        id = 2
        remote = "127.0.0.1"
        tcp = "accept"
        listen = "127.0.0.1:{dropped_port}"
        vpn_ipv4 = "10.0.0.3"

        [[peer]]
        id = 4
        remote = "127.0.0.1:{server_port}"
        vpn_ipv4 = "10.0.0.5"
        """
    both = f'"127.0.0.1:{kept_port}", "127.0.0.1:{dropped_port}"'
    fields = {"ifname": IFNAME, "kept": kept_port, "server": server_port}
    h.configure(template.format(listen=both, extra=extra, **fields))
    h.links.tick()  # both dials start; select never finishes them before the change
    before = h.registered()
    kept = Endpoint.parse(f"127.0.0.1:{kept_port}")
    dropped = Endpoint.parse(f"127.0.0.1:{dropped_port}")
    assert set(before) == {
        ("tcp-accept", kept),
        ("tcp-accept", dropped),
        ("tcp-dial", 3),
        ("tcp-dial", 4),
    }

    h.configure(template.format(listen=f'"127.0.0.1:{kept_port}"', extra="", **fields))
    after = h.registered()
    assert set(after) == {("tcp-accept", kept), ("tcp-dial", 3)}
    assert closed(before[("tcp-accept", dropped)]) and closed(before[("tcp-dial", 4)])
    assert after[("tcp-accept", kept)] is before[("tcp-accept", kept)]  # not reopened
    assert after[("tcp-dial", 3)] is before[("tcp-dial", 3)]  # the same attempt goes on
    assert len(h.events("tcp-listening")) == 2
    with pytest.raises(ConnectionRefusedError):
        h.client(dropped_port)
    # Peer 4 is never dialled again, however long the loop runs.
    h.wait_for("tcp-connected")
    h.clock.now += 3600
    for _ in range(5):
        h.step()
    assert [r["peer"] for r in h.events("tcp-connected")] == [3]
    assert h.events("tcp-connect-failed") == []
    assert h.links.status() == {"connected": [], "waiting": [1, 3]}


def test_configure_restarts_the_dial_of_a_changed_peer(make: Callable[..., Harness]) -> None:
    h = make(retry_first=1.0, retry_max=30.0)
    closed_port = free_port()
    h.configure(connecting(f"127.0.0.1:{closed_port}"))
    h.wait_for("tcp-connect-failed")
    h.clock.now += 1.0
    assert h.wait_for("tcp-connect-failed", 2)["retry_in"] == 2.0
    _, port = h.server()
    h.configure(connecting(f"127.0.0.1:{port}"))
    # The changed peer is dialled at once, not after the old back-off.
    assert h.links.wait_hint(60.0) == 0.0
    record = h.wait_for("tcp-connected")
    assert record["remote"] == f"127.0.0.1:{port}"


def test_a_udp_config_stops_everything(h: Harness) -> None:
    port = free_port()
    _, server_port = h.server()
    h.configure(
        f"""\
        [interface]
        name = "{IFNAME}"
        mode = "mp"
        transport = "tcp"
        listen = "127.0.0.1:{port}"

        [[peer]]
        id = 1
        remote = "127.0.0.1"
        tcp = "accept"
        vpn_ipv4 = "10.0.0.2"

        [[peer]]
        id = 2
        remote = "127.0.0.1:{server_port}"
        vpn_ipv4 = "10.0.0.3"
        """
    )
    h.links.tick()
    before = h.registered()
    assert len(before) == 2
    h.configure(
        f"""\
        [interface]
        name = "{IFNAME}"
        listen = "127.0.0.1:{port}"

        [[peer]]
        id = 1
        remote = "127.0.0.1:1194"
        """
    )
    assert h.registered() == {}
    assert all(closed(sock) for sock in before.values())
    assert h.links.wait_hint(None) is None
    assert h.links.status() == {"connected": [], "waiting": []}


def test_a_listen_address_in_use_is_a_kernel_error(h: Harness) -> None:
    taken, port = h.server()
    with pytest.raises(KernelError) as info:
        h.configure(accepting(port, "127.0.0.1"))
    assert info.value.errno == errno.EADDRINUSE
    assert info.value.command == "listen"
    assert info.value.message == (
        f"cannot listen for TCP peers on 127.0.0.1:{port}: {os.strerror(errno.EADDRINUSE)}"
    )
    assert not closed(taken)


# -- wait_hint, status, close ---------------------------------------------------------------------


def test_wait_hint(make: Callable[..., Harness]) -> None:
    h = make(retry_first=1.0, connect_timeout=4.0)
    assert h.links.wait_hint(None) is None  # nothing configured
    assert h.links.wait_hint(2.5) == 2.5
    port = free_port()
    h.configure(accepting(port, "127.0.0.1"))
    assert h.links.wait_hint(None) is None  # listening needs no deadline
    assert h.links.wait_hint(2.5) == 2.5
    _, server_port = h.server()
    h.configure(connecting(f"127.0.0.1:{server_port}"))
    assert h.links.wait_hint(2.5) == 0.0  # a dial is due now
    assert h.links.wait_hint(None) == 0.0
    h.clock.now += 7  # overdue is still "now", never negative
    assert h.links.wait_hint(None) == 0.0
    h.links.tick()  # the attempt starts: the hint is its time-out
    assert h.links.wait_hint(None) == pytest.approx(4.0)
    h.clock.now += 1.5
    assert h.links.wait_hint(None) == pytest.approx(2.5)
    assert h.links.wait_hint(1.0) == 1.0


def test_status_lists_connected_and_waiting_peers(h: Harness) -> None:
    listen = free_port()
    _, port = h.server()
    h.configure(
        f"""\
        [interface]
        name = "{IFNAME}"
        mode = "mp"
        transport = "tcp"
        listen = "127.0.0.1:{listen}"

        [[peer]]
        id = 5
        remote = "127.0.0.1"
        tcp = "accept"
        vpn_ipv4 = "10.0.0.2"

        [[peer]]
        id = 2
        remote = "127.0.0.1:{port}"
        vpn_ipv4 = "10.0.0.3"
        """
    )
    assert h.links.status() == {"connected": [], "waiting": [2, 5]}
    h.client(listen)
    h.wait_for("tcp-accepted")
    assert h.links.status() == {"connected": [], "waiting": [2, 5]}  # offered, not added
    h.pool.take_tcp(IFNAME, 5)
    assert h.links.status() == {"connected": [5], "waiting": [2]}
    h.wait_for("tcp-connected")
    h.pool.take_tcp(IFNAME, 2)
    assert h.links.status() == {"connected": [2, 5], "waiting": []}


def test_close_closes_listeners_and_attempts(h: Harness) -> None:
    listen = free_port()
    _, port = h.server()
    h.configure(
        f"""\
        [interface]
        name = "{IFNAME}"
        mode = "mp"
        transport = "tcp"
        listen = "127.0.0.1:{listen}"

        [[peer]]
        id = 1
        remote = "127.0.0.1"
        tcp = "accept"
        vpn_ipv4 = "10.0.0.2"

        [[peer]]
        id = 2
        remote = "127.0.0.1:{port}"
        vpn_ipv4 = "10.0.0.3"
        """
    )
    h.links.tick()
    before = h.registered()
    assert len(before) == 2
    h.links.close()
    assert all(closed(sock) for sock in before.values())
    assert h.registered() == {}
    h.clock.now += 3600
    h.links.tick()
    assert h.registered() == {}
