"""Drain a server out of the gateway's HAProxy before its restart, and put it back after.

    >>> stats = parse_stat(["# pxname,svname,qcur,qmax,scur,status", "chat,gpu02-chat,0,,3,UP"])
    >>> stats["chat"]["gpu02-chat"]
    ServerStat(status='UP', sessions=3, queued=0)
    >>> refusal(stats, "chat", "gpu02-chat")
    'it is the last healthy server of chat (no other server is UP)'

The rollout (gpufleet.operations.rollout) calls `take_out` before it restarts a server and
`put_back` once the new (or rolled-back) version passed its gate. Both talk to HAProxy's admin
socket on every `gateway` host over pyinfra's own SSH connection, with the host's python3 (no
socat needed): `set server <backend>/<server> state drain|ready` and `show stat` (the session
counts). No config rewrite, no reload. A server the gateway does not know is left alone.
"""

from __future__ import annotations

import csv
import shlex
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Sends one line of commands to the admin socket and prints the answer (stdlib only).
_CLIENT = (
    "import socket,sys\n"
    "s=socket.socket(socket.AF_UNIX)\n"
    "s.connect(sys.argv[1])\n"
    "s.sendall(sys.argv[2].encode()+b'\\n')\n"
    "out=b''\n"
    "while True:\n"
    "    b=s.recv(65536)\n"
    "    if not b: break\n"
    "    out+=b\n"
    "sys.stdout.write(out.decode())\n"
)
POLL_S = 0.5
# printed instead of running the client when the gateway has no admin socket (yet)
NO_SOCKET = "gpufleet: no admin socket"

Run = Callable[[str], tuple[bool, str]]  # shell command on a gateway host -> (ok, output)


@dataclass(frozen=True)
class Drain:
    """Where one server sits in the balancer: tasks/services.py builds it per server."""

    gateways: tuple[str, ...]  # inventory names of the `gateway` group
    backend: str
    server: str
    timeout_s: int  # longest wait for in-flight requests to finish (and for UP after)

    def __repr__(self) -> str:
        return f"Drain({self.backend}/{self.server} via {','.join(self.gateways)})"


@dataclass(frozen=True)
class ServerStat:
    status: str  # UP, DOWN, DRAIN, MAINT, "UP 1/2", "no check"...
    sessions: int  # scur: requests in flight on that server
    queued: int  # qcur: requests waiting for a slot on it

    @property
    def healthy(self) -> bool:
        return self.status.split()[0] in ("UP", "no")  # "no check" = always taken as up


def admin_command(socket: str, commands: str) -> str:
    """The shell line that sends `commands` (`;`-separated) to HAProxy's admin socket."""
    client = shlex.join(["python3", "-c", _CLIENT, socket, commands])
    return f"if [ -S {shlex.quote(socket)} ]; then {client}; else echo {shlex.quote(NO_SOCKET)}; fi"


def parse_stat(lines: list[str]) -> dict[str, dict[str, ServerStat]]:
    """`show stat` CSV -> backend -> server -> ServerStat (FRONTEND/BACKEND rows dropped)."""
    rows = [line for line in lines if line.strip()]
    if not rows or not rows[0].startswith("# "):
        raise ValueError(f"not `show stat` output: {rows[:1]}")
    header = rows[0][2:].split(",")
    stats: dict[str, dict[str, ServerStat]] = {}
    for row in csv.DictReader(rows[1:], fieldnames=header):
        if row["svname"] in ("FRONTEND", "BACKEND"):
            continue
        stat = ServerStat(row["status"], int(row["scur"] or 0), int(row["qcur"] or 0))
        stats.setdefault(row["pxname"], {})[row["svname"]] = stat
    return stats


def refusal(stats: dict[str, dict[str, ServerStat]], backend: str, server: str) -> str | None:
    """Why `server` must not be drained: it is healthy and no other server of its backend is."""
    servers = stats.get(backend, {})
    if server not in servers or not servers[server].healthy:
        return None  # draining a server that takes no traffic loses nothing
    others = [s for name, s in servers.items() if name != server and s.healthy]
    if others:
        return None
    states = ", ".join(f"{n} {s.status}" for n, s in servers.items() if n != server)
    return f"it is the last healthy server of {backend} ({states or 'no other server is UP'})"


class Balancer:
    """One gateway host's HAProxy, through `run` (a shell command on that host)."""

    def __init__(self, name: str, run: Run, socket: str):
        self.name, self.run, self.socket = name, run, socket

    def command(self, commands: str) -> str:
        ok, out = self.run(admin_command(self.socket, commands))
        if not ok:
            raise DrainError(f"{self.name}: admin socket {self.socket}: {out.strip()[-200:]}")
        return out

    def stats(self) -> dict[str, dict[str, ServerStat]]:
        """{} when HAProxy is not there yet (tasks/gateway.py not run): nothing to drain."""
        out = self.command("show stat")
        if out.strip() == NO_SOCKET:
            return {}
        return parse_stat(out.splitlines())

    def set_state(self, backend: str, server: str, state: str) -> None:
        out = self.command(f"set server {backend}/{server} state {state}").strip()
        if out:  # HAProxy answers nothing on success
            raise DrainError(f"{self.name}: set server {backend}/{server} state {state}: {out}")


class DrainError(RuntimeError):
    """One line: which gateway, which server, what went wrong."""


def _lock(run_state: Any) -> threading.Lock:
    """This run's drain lock, kept on the pyinfra State (it ends with the run). pyinfra runs
    hosts in gevent greenlets (threading is patched): the lock makes "check that another server
    is healthy, then drain" one step across hosts draining at once."""
    lock = getattr(run_state, "gpufleet_drain_lock", None)
    if lock is None:
        lock = threading.Lock()
        setattr(run_state, "gpufleet_drain_lock", lock)  # noqa: B010 (State proxies setattr)
    return lock


def take_out(run_state: Any, balancers: list[Balancer], drain: Drain, log: Callable) -> None:
    """Drain `drain.server` on every gateway, then wait (<= timeout_s) for its in-flight
    requests to finish. Raises DrainError, changing nothing, when it is the last healthy one."""
    with _lock(run_state):
        known = []
        for balancer in balancers:
            stats = balancer.stats()
            if drain.server not in stats.get(drain.backend, {}):
                log(f"{balancer.name}: {drain.backend}/{drain.server} not in the balancer")
                continue
            why = refusal(stats, drain.backend, drain.server)
            if why:
                raise DrainError(f"will not drain {drain.backend}/{drain.server}: {why}")
            known.append(balancer)
        for balancer in known:
            balancer.set_state(drain.backend, drain.server, "drain")
    left = _wait(known, drain, lambda s: s.sessions + s.queued == 0)
    if left is None:
        log(f"drained {drain.backend}/{drain.server} on {_names(known)}")
    else:
        log(f"drain timeout ({drain.timeout_s}s): {left} still in flight; restarting anyway")


def put_back(balancers: list[Balancer], drain: Drain, log: Callable) -> None:
    """`state ready` on every gateway, then wait (<= timeout_s) until its checks say UP, so
    the next host's drain sees this one healthy."""
    known = [b for b in balancers if drain.server in b.stats().get(drain.backend, {})]
    for balancer in known:
        balancer.set_state(drain.backend, drain.server, "ready")
    left = _wait(known, drain, lambda s: s.healthy)
    if left is None:
        log(f"{drain.backend}/{drain.server} back in the balancer on {_names(known)}")
    else:
        log(f"{drain.backend}/{drain.server} set ready but not UP after {drain.timeout_s}s")


def _wait(balancers: list[Balancer], drain: Drain, done: Callable[[ServerStat], bool]):
    """None once `done` holds for the server on every balancer, else what is left at timeout."""
    deadline = time.monotonic() + drain.timeout_s
    while True:
        current = [b.stats()[drain.backend][drain.server] for b in balancers]
        if all(done(stat) for stat in current):
            return None
        if time.monotonic() >= deadline:
            return ", ".join(f"{s.status} {s.sessions} sessions" for s in current)
        time.sleep(POLL_S)


def _names(balancers: list[Balancer]) -> str:
    return ", ".join(b.name for b in balancers) or "-"


def balancers(run_state: Any, drain: Drain) -> list[Balancer]:
    """A Balancer per gateway host of `drain`, over pyinfra's SSH connection to it (opened
    here when the run did not include that host, e.g. `--limit gpu03`)."""
    from pyinfra.api import StringCommand

    found = []
    for name in drain.gateways:
        gateway = run_state.inventory.get_host(name)
        if not gateway.connected:
            gateway.connect(reason="to drain servers", raise_exceptions=True)

        def run(command: str, gateway=gateway) -> tuple[bool, str]:
            ok, output = gateway.run_shell_command(StringCommand("sh", "-c", shlex.quote(command)))
            return ok, "\n".join(line.line for line in output)

        socket = gateway.data.get("gateway_admin_socket", None)
        if not socket:
            raise DrainError(f"{name}: gateway_admin_socket is not set (group_data/gateway.py)")
        found.append(Balancer(name, run, socket))
    return found
