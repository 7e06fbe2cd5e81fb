"""VNET jails for the real-kernel tests, and running tunnel steps inside them.

The jails share the host's filesystem (`path=/`), so the interpreter running pytest (the
tox venv) and this checkout are usable inside them; each tunnel step is one process in
one jail (`jail_side.py`). That works because if_ovpn keeps its own reference to a peer's
UDP socket: the process that added the peer may exit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Jail:
    name: str
    epair: str  # the epair end moved into this jail
    address: str  # its address on the epair (/24)


def run(*argv: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip() or proc.stdout}"
        )
    return proc


def jexec(
    jail: Jail, *argv: str, check: bool = True, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return run("jexec", jail.name, *argv, check=check, timeout=timeout)


def create_jail_pair() -> tuple[Jail, Jail]:
    tag = os.getpid()
    names = (f"ovpnctl_a_{tag}", f"ovpnctl_b_{tag}")
    created: list[str] = []
    epair_a = ""
    try:
        for name in names:
            run("jail", "-c", f"name={name}", "path=/", "vnet", "persist", f"host.hostname={name}")
            created.append(name)
        epair_a = run("ifconfig", "epair", "create").stdout.strip()  # e.g. epair3a
        epair_b = epair_a[:-1] + "b"
        jails = (Jail(names[0], epair_a, "192.0.2.1"), Jail(names[1], epair_b, "192.0.2.2"))
        for jail in jails:
            run("ifconfig", jail.epair, "vnet", jail.name)
            jexec(jail, "ifconfig", "lo0", "inet", "127.0.0.1/8", "up")
            jexec(jail, "ifconfig", jail.epair, "inet", f"{jail.address}/24", "up")
        return jails
    except BaseException:
        for name in created:
            run("jail", "-r", name, check=False)
        if epair_a:
            run("ifconfig", epair_a, "destroy", check=False)
        raise


def destroy_jail_pair(jails: tuple[Jail, Jail]) -> None:
    for jail in jails:
        # older kernels do not destroy ovpn interfaces with the VNET: do it explicitly
        listed = jexec(jail, "ifconfig", "-g", "openvpn", check=False).stdout.split()
        for ifname in listed:
            jexec(jail, "ifconfig", ifname, "destroy", check=False)
        run("jail", "-r", jail.name, check=False)
    run("ifconfig", jails[0].epair, "destroy", check=False)  # back on the host after -r


def side(jail: Jail, step: str, **args: Any) -> Any:
    """Run one tunnel step (jail_side.py) inside `jail`; return its JSON answer."""
    env_path = f"PYTHONPATH={REPO_ROOT}"
    proc = jexec(
        jail,
        "env",
        env_path,
        "NVLIST_BACKEND=" + os.environ.get("NVLIST_BACKEND", "auto"),
        sys.executable,
        "-m",
        "tests.freebsd.jail_side",
        step,
        json.dumps(args),
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"step {step} in {jail.name} failed: {proc.stderr.strip()}")
    return json.loads(proc.stdout)
